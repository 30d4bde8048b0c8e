import { op } from '../../db/op.js';
import { COIN_COLUMNS, WALLET_COLUMNS } from '../rows.js';

// The pool writer's statements that payserv runs too (src/writer): status changes and declines,
// corrections, and signing reviewed coins and wallets. The pool's own writer runs the same ones.

/** n ids from a table's sequence ($1: n), in increasing order, taken before signing (the id is signed). */
const nextIds = (name: string, sequence: string) =>
  op<{ id: number }>(name, `SELECT nextval('${sequence}') AS id FROM generate_series(1, $1::int) ORDER BY 1`);

export const WRITES = {
  // ---- Chain locks (src/writer/locks.ts), held to the end of the transaction ----
  /** All credit and income writes of a coin; no row: no such coin. */
  lockCoin: op<{ id: number; tag: string; decimals: number }>(
    'writes.lockCoin',
    'SELECT id, tag, decimals FROM coins_coin WHERE id = $1 FOR UPDATE',
  ),
  /** A coin's decimals ($1: id): the finest amount of it the ledger takes (src/money/precision.ts). */
  coinDecimals: op<{ tag: string; decimals: number }>('writes.coinDecimals', 'SELECT tag, decimals FROM coins_coin WHERE id = $1'),
  /** The withdrawal chain of one account ($1 user, $2 coin). */
  lockAccountDebits: op(
    'writes.lockAccountDebits',
    "SELECT pg_advisory_xact_lock(hashtextextended('payserv:debits:' || $1::text || ':' || $2::text, 0))",
  ),
  /**
   * The same lock, not waited for (payserv's own writes): its key is the pool's too, so anyone with SQL
   * access can hold it; payserv then passes the account over instead of waiting behind them.
   */
  tryLockAccountDebits: op<{ ok: boolean }>(
    'writes.tryLockAccountDebits',
    "SELECT pg_try_advisory_xact_lock(hashtextextended('payserv:debits:' || $1::text || ':' || $2::text, 0)) AS ok",
  ),
  withdrawalIds: nextIds('writes.withdrawalIds', 'finances_withdrawal_transaction_id_seq'),
  incomeIds: nextIds('writes.incomeIds', 'finances_proxypool_transactions_id_seq'),
  creditIds: nextIds('writes.creditIds', 'finances_user_balance_transaction_id_seq'),

  // ---- Withdrawals (src/writer/withdrawals.ts) ----
  /** The last withdrawal row of an account ($1 user, $2 coin): the head a new row chains to. */
  debitHead: op<{ id: number; amount: string; debit_before: string; created_at: Date }>(
    'writes.debitHead',
    'SELECT id, amount, debit_before, created_at FROM finances_withdrawal_transaction WHERE user_id = $1 AND coin_id = $2 ORDER BY id DESC LIMIT 1',
  ),
  insertWithdrawal: op(
    'writes.insertWithdrawal',
    `INSERT INTO finances_withdrawal_transaction (id, user_id, coin_id, wallet_id, address, prev_id, amount, fee, debit_before, parent_id, created_at,
       status, status_seq, tx_hash, tx_fee, comment, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, NULL, NULL, $13, $11)`,
  ),
  insertStatusEntry: op(
    'writes.insertStatusEntry',
    `INSERT INTO finances_withdrawal_signatures (withdrawal_id, seq, status, tx_hash, tx_fee, comment, created_at, sig_key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
  ),
  // Only from the status and seq the change was decided from ($8, $9): no row back means it moved meanwhile.
  changeStatus: op<{ id: number }>(
    'writes.changeStatus',
    `UPDATE finances_withdrawal_transaction SET status = $2, status_seq = $3, tx_hash = $4, tx_fee = $5, comment = $6, updated_at = $7
     WHERE id = $1 AND status = $8 AND status_seq = $9 RETURNING id`,
  ),

  // ---- Pool income and credits (src/writer/credits.ts) ----
  poolHead: op<{ id: number; amount: string; balance_before: string; created_at: Date }>(
    'writes.poolHead',
    'SELECT id, amount, balance_before, created_at FROM finances_proxypool_transactions WHERE coin_id = $1 ORDER BY id DESC LIMIT 1',
  ),
  /** Each user's ($2: bigint[]) credit chain head on coin $1, in one statement; null columns: no credit yet. */
  creditHeads: op<{ user_id: number; id: number | null; amount: string | null; balance_before: string | null; created_at: Date | null }>(
    'writes.creditHeads',
    `SELECT u.user_id, c.id, c.amount::text AS amount, c.balance_before::text AS balance_before, c.created_at FROM unnest($2::bigint[]) AS u(user_id)
     LEFT JOIN LATERAL (SELECT id, amount, balance_before, created_at FROM finances_user_balance_transaction t
                        WHERE t.user_id = u.user_id AND t.coin_id = $1 ORDER BY id DESC LIMIT 1) c ON true`,
  ),
  // Many rows per statement: one array parameter per column.
  insertIncomes: op(
    'writes.insertIncomes',
    `INSERT INTO finances_proxypool_transactions (id, coin_id, prev_id, block_hash, kind, amount, balance_before, credit_count, created_at, sig_key_id, signature)
     SELECT id, $1, prev_id, block_hash, kind, amount, balance_before, credit_count, created_at, $2, signature
     FROM unnest($3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::numeric[], $8::numeric[], $9::int[], $10::timestamptz[], $11::bytea[])
       AS t(id, prev_id, block_hash, kind, amount, balance_before, credit_count, created_at, signature)`,
  ),
  insertCredits: op(
    'writes.insertCredits',
    `INSERT INTO finances_user_balance_transaction (id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature)
       SELECT id, user_id, $1, prev_id, block_hash, type, amount, balance_before, created_at, $2, signature
       FROM unnest($3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::numeric[], $9::numeric[], $10::timestamptz[], $11::bytea[])
         AS t(id, user_id, prev_id, block_hash, type, amount, balance_before, created_at, signature)`,
  ),

  // ---- The catalog: signatures after an operator's review (src/writer/coins.ts, wallets.ts) ----
  // Only the coin as reviewed ($4: its updated_at): no row back means it changed meanwhile.
  signCoin: op(
    'writes.signCoin',
    `UPDATE coins_coin SET sig_key_id = $2, signature = $3 WHERE id = $1 AND updated_at = $4 RETURNING ${COIN_COLUMNS}`,
  ),
  // The wallet to sign or retire, locked to the end of the transaction: two retries of one call decide in turn.
  lockWallet: op('writes.lockWallet', `SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE id = $1 FOR UPDATE`),
  // Only the wallet as reviewed ($5..$9): no row back means it changed meanwhile.
  signWallet: op(
    'writes.signWallet',
    `UPDATE users_userwallets SET signed_at = $2, sig_key_id = $3, signature = $4
     WHERE id = $1 AND address = $5 AND user_id = $6 AND coin_id = $7 AND active = $8 AND deleted = $9 RETURNING ${WALLET_COLUMNS}`,
  ),
} as const;
