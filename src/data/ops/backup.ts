import { op, type Op } from '../../db/op.js';

// Backup.Take's reads (src/payserv/backup.ts): every table of the schema, streamed by keyset pages on its
// primary key inside one REPEATABLE READ transaction, so the pages of all tables are one moment of the
// database and each page is an index seek (never an OFFSET scan). The same SQL on PostgreSQL and PGlite,
// and through dbgw (named operations like every other).

/** Every table of the schema (migrations 0001..0007), parents before the tables that refer to them: the order a restore inserts. */
export const BACKUP_TABLES = [
  'crypto_certs',
  'coins_coin',
  'users_userwallets',
  'finances_proxypool_transactions',
  'finances_user_balance_transaction',
  'finances_withdrawal_transaction',
  'finances_withdrawal_signatures',
  'finances_user_balance_checkpoints',
  'finances_coin_checkpoints',
  'payserv_audit',
  'payserv_alerts',
  'payserv_chain_txs',
  'payserv_nonces',
  'payserv_utxo_reservations',
  'payserv_autopay',
  'users_autopay_thresholds',
  'payserv_sent_watch',
] as const;

export type BackupTable = (typeof BACKUP_TABLES)[number];

/** Each table's primary key, column by column with its SQL type (composite keys in their index order). */
export const BACKUP_KEYS: Record<BackupTable, readonly (readonly [column: string, type: 'bigint' | 'integer' | 'text'])[]> = {
  crypto_certs: [['id', 'bigint']],
  coins_coin: [['id', 'integer']],
  users_userwallets: [['id', 'bigint']],
  finances_proxypool_transactions: [['id', 'bigint']],
  finances_user_balance_transaction: [['id', 'bigint']],
  finances_withdrawal_transaction: [['id', 'bigint']],
  finances_withdrawal_signatures: [
    ['withdrawal_id', 'bigint'],
    ['seq', 'integer'],
  ],
  finances_user_balance_checkpoints: [
    ['user_id', 'bigint'],
    ['coin_id', 'integer'],
  ],
  finances_coin_checkpoints: [['coin_id', 'integer']],
  payserv_audit: [['id', 'bigint']],
  payserv_alerts: [['id', 'bigint']],
  payserv_chain_txs: [['hash', 'text']],
  payserv_nonces: [
    ['chain', 'text'],
    ['address', 'text'],
  ],
  payserv_utxo_reservations: [
    ['coin_id', 'integer'],
    ['txid', 'text'],
    ['vout', 'integer'],
  ],
  payserv_autopay: [['coin_id', 'integer']],
  users_autopay_thresholds: [
    ['user_id', 'bigint'],
    ['coin_id', 'integer'],
  ],
  payserv_sent_watch: [['hash', 'text']],
};

/** A dumped row: its JSON text as to_jsonb gives it, and its key as text (k0, k1, ...), the next page's bound. */
export type BackupRow = { row: string } & Record<`k${number}`, string>;

const camel = (t: string) => t.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/**
 * A table's two page operations: `first` ($1 limit) and `after` (the key's columns $1..$n, then the limit),
 * both ordered by the primary key in the table's own collation, so its index serves every page. Keys come
 * back as text and go back cast to their type: exact for bigint, and the same value on every path.
 */
function pagesOf(t: BackupTable): { first: Op<BackupRow>; after: Op<BackupRow> } {
  const key = BACKUP_KEYS[t];
  const cols = key.map(([c]) => c).join(', ');
  const select = `SELECT to_jsonb(t)::text AS row, ${key.map(([c], i) => `${c}::text AS k${i}`).join(', ')} FROM ${t} t`;
  const bound = key.map(([, type], i) => `$${i + 1}::${type}`).join(', ');
  return {
    first: op<BackupRow>(`backup.${camel(t)}First`, `${select} ORDER BY ${cols} LIMIT $1`),
    after: op<BackupRow>(`backup.${camel(t)}After`, `${select} WHERE (${cols}) > (${bound}) ORDER BY ${cols} LIMIT $${key.length + 1}`),
  };
}

export const BACKUP_PAGES = Object.fromEntries(BACKUP_TABLES.map((t) => [t, pagesOf(t)])) as Record<
  BackupTable,
  { first: Op<BackupRow>; after: Op<BackupRow> }
>;

export const BACKUP = {
  /** The first statement of the backup's transaction: every later read sees the same snapshot. */
  snapshot: op('backup.snapshot', 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY'),
  /** Also the statement that takes the snapshot (the first one after SET TRANSACTION). */
  migrations: op<{ version: number; name: string; checksum: string }>(
    'backup.migrations',
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  ),
  ...Object.fromEntries(
    BACKUP_TABLES.flatMap((t) => [
      [`${camel(t)}First`, BACKUP_PAGES[t].first],
      [`${camel(t)}After`, BACKUP_PAGES[t].after],
    ]),
  ),
} as const;
