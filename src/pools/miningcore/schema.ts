// MiningCore's PostgreSQL tables that payserv's adapter reads and writes, as oliverw/miningcore creates them
// (src/Miningcore/Persistence/Postgres/Scripts/createdb.sql at a553f62, lines 21-90, copied verbatim but for the
// shares table and the first line, "SET ROLE miningcore;"). Tests create them in a real PostgreSQL from this text.
// The blackmennewstyle fork differs only in blocks: an extra "minereffort FLOAT NULL" column and, instead of the
// UNIQUE (poolid, blockheight, type) constraint, an index IDX_BLOCKS_POOL_BLOCK_TYPE on the same columns.

export const TABLES = {
  blocks: 'blocks',
  balances: 'balances',
  balanceChanges: 'balance_changes',
  minerSettings: 'miner_settings',
  payments: 'payments',
} as const;

/** Columns in createdb.sql's order; MiningCore's repositories name every column they write. */
export const COLUMNS = {
  blocks: [
    'id',
    'poolid',
    'blockheight',
    'networkdifficulty',
    'status',
    'type',
    'confirmationprogress',
    'effort',
    'transactionconfirmationdata',
    'miner',
    'reward',
    'source',
    'hash',
    'created',
  ],
  balances: ['poolid', 'address', 'amount', 'created', 'updated'],
  balanceChanges: ['id', 'poolid', 'address', 'amount', 'usage', 'tags', 'created'],
  minerSettings: ['poolid', 'address', 'paymentthreshold', 'created', 'updated'],
  payments: ['id', 'poolid', 'coin', 'address', 'amount', 'transactionconfirmationdata', 'created'],
} as const;

/** blocks.status: BlockStatus's names lower-cased (AutoMapperProfile: e.ToString().ToLower()). */
export const BLOCK_STATUSES = ['pending', 'orphaned', 'confirmed'] as const;
export type BlockStatus = (typeof BLOCK_STATUSES)[number];

/** The CREATE TABLE and CREATE INDEX statements, verbatim. */
export const MININGCORE_TABLES_SQL = `CREATE TABLE blocks
(
	id BIGSERIAL NOT NULL PRIMARY KEY,
	poolid TEXT NOT NULL,
	blockheight BIGINT NOT NULL,
	networkdifficulty DOUBLE PRECISION NOT NULL,
	status TEXT NOT NULL,
    type TEXT NULL,
    confirmationprogress FLOAT NOT NULL DEFAULT 0,
	effort FLOAT NULL,
	transactionconfirmationdata TEXT NOT NULL,
	miner TEXT NULL,
	reward decimal(28,12) NULL,
    source TEXT NULL,
    hash TEXT NULL,
	created TIMESTAMPTZ NOT NULL,

    CONSTRAINT BLOCKS_POOL_HEIGHT UNIQUE (poolid, blockheight, type) DEFERRABLE INITIALLY DEFERRED
);

CREATE INDEX IDX_BLOCKS_POOL_BLOCK_STATUS on blocks(poolid, blockheight, status);

CREATE TABLE balances
(
	poolid TEXT NOT NULL,
	address TEXT NOT NULL,
	amount decimal(28,12) NOT NULL DEFAULT 0,
	created TIMESTAMPTZ NOT NULL,
	updated TIMESTAMPTZ NOT NULL,

	primary key(poolid, address)
);

CREATE TABLE balance_changes
(
	id BIGSERIAL NOT NULL PRIMARY KEY,
	poolid TEXT NOT NULL,
	address TEXT NOT NULL,
	amount decimal(28,12) NOT NULL DEFAULT 0,
	usage TEXT NULL,
    tags text[] NULL,
	created TIMESTAMPTZ NOT NULL
);

CREATE INDEX IDX_BALANCE_CHANGES_POOL_ADDRESS_CREATED on balance_changes(poolid, address, created desc);
CREATE INDEX IDX_BALANCE_CHANGES_POOL_TAGS on balance_changes USING gin (tags);

CREATE TABLE miner_settings
(
	poolid TEXT NOT NULL,
	address TEXT NOT NULL,
	paymentthreshold decimal(28,12) NOT NULL,
	created TIMESTAMPTZ NOT NULL,
	updated TIMESTAMPTZ NOT NULL,

	primary key(poolid, address)
);

CREATE TABLE payments
(
	id BIGSERIAL NOT NULL PRIMARY KEY,
	poolid TEXT NOT NULL,
	coin TEXT NOT NULL,
	address TEXT NOT NULL,
	amount decimal(28,12) NOT NULL,
	transactionconfirmationdata TEXT NOT NULL,
	created TIMESTAMPTZ NOT NULL
);

CREATE INDEX IDX_PAYMENTS_POOL_COIN_WALLET on payments(poolid, coin, address);
`;

/**
 * The statements MiningCore runs to persist a payout (PaymentRepository.InsertAsync, then
 * BalanceRepository.AddAmountAsync with -amount and BALANCE_RESET_USAGE), in one transaction per batch, with
 * Dapper's @names turned into $n. AddAmountAsync inserts the balances row instead when there is none.
 */
export const PAYOUT_STATEMENTS = {
  insertPayment: `INSERT INTO payments(poolid, coin, address, amount, transactionconfirmationdata, created)
            VALUES($1, $2, $3, $4, $5, $6)`,
  insertBalanceChange: `INSERT INTO balance_changes(poolid, address, amount, usage, tags, created)
            VALUES($1, $2, $3, $4, $5, $6)`,
  updateBalance: `UPDATE balances SET amount = amount + $3, updated = now() at time zone 'utc'
                WHERE poolid = $1 AND address = $2`,
} as const;
