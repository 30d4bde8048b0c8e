import type { Queryable } from '../db/db.js';
import { streamPages } from '../db/stream.js';
import type { CertRow } from '../ledger/certbook.js';
import type { BlockCredits } from '../ledger/pool.js';
import type { Coin, CoinCheckpoint, Credit, PoolIncome, Signed, StatusSignature, UserCheckpoint, Wallet, Withdrawal } from '../ledger/records.js';
import { AmountError, parseAmount, type Amount } from '../money/amount.js';
import {
  COIN_CHECKPOINT_COLUMNS, COIN_COLUMNS, CREDIT_COLUMNS, INCOME_COLUMNS, USER_CHECKPOINT_COLUMNS, WALLET_COLUMNS,
  WITHDRAWAL_COLUMNS, toCoin, toCoinCheckpoint, toCredit, toIncome, toHistory, toUserCheckpoint, toWallet, toWithdrawal,
} from './rows.js';

// Every read of the ledger. Large tables are streamed by keyset pages: one page in memory at a time.

type R = Record<string, unknown>;

/** Coins are a small table, but still bounded: past this, something is wrong with the database. */
const COINS_MAX = 1000;
type AccountKey = { user: number; coin: number; id: number };

export async function loadCoins(db: Queryable): Promise<Signed<Coin>[]> {
  const rows = await db.query(`SELECT ${COIN_COLUMNS} FROM coins_coin ORDER BY id LIMIT ${COINS_MAX + 1}`);
  if (rows.length > COINS_MAX) throw new Error(`coins_coin has more than ${COINS_MAX} rows`);
  return rows.map(toCoin);
}

export async function* streamCertRows(db: Queryable): AsyncGenerator<CertRow> {
  const rows = streamPages<R, number>(db, (after, n) => ({
    sql: `SELECT id, key_id, role, cert_pem FROM crypto_certs WHERE id > $1 ORDER BY id LIMIT $2`, params: [after ?? 0, n],
  }), (r) => r.id as number, 500);
  for await (const r of rows) yield { id: r.id as number, keyId: String(r.key_id), role: String(r.role), certPem: String(r.cert_pem) };
}

export async function* streamWallets(db: Queryable): AsyncGenerator<Signed<Wallet>> {
  const rows = streamPages<R, number>(db, (after, n) => ({
    sql: `SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE id > $1 ORDER BY id LIMIT $2`, params: [after ?? 0, n],
  }), (r) => r.id as number);
  for await (const r of rows) yield toWallet(r);
}

export async function getWallet(db: Queryable, id: number): Promise<Signed<Wallet> | null> {
  const [r] = await db.query(`SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE id = $1`, [id]);
  return r ? toWallet(r) : null;
}

/** One account's credits after `afterId`, in id order. */
export async function* streamAccountCredits(db: Queryable, userId: number, coinId: number, afterId: number): AsyncGenerator<Signed<Credit>> {
  const rows = streamPages<R, number>(db, (after, n) => ({
    sql: `SELECT ${CREDIT_COLUMNS} FROM finances_user_balance_transaction WHERE user_id = $1 AND coin_id = $2 AND id > $3 ORDER BY id LIMIT $4`,
    params: [userId, coinId, after ?? afterId, n],
  }), (r) => r.id as number);
  for await (const r of rows) yield toCredit(r);
}

/** Every credit, ordered by account then id, so each account's history arrives whole and in order. */
export async function* streamAllCredits(db: Queryable): AsyncGenerator<Signed<Credit>> {
  const rows = streamPages<R, AccountKey>(db, (after, n) => ({
    sql: `SELECT ${CREDIT_COLUMNS} FROM finances_user_balance_transaction
          WHERE (user_id, coin_id, id) > ($1, $2, $3) ORDER BY user_id, coin_id, id LIMIT $4`,
    params: [after?.user ?? -1, after?.coin ?? -1, after?.id ?? -1, n],
  }), (r) => ({ user: r.user_id as number, coin: r.coin_id as number, id: r.id as number }));
  for await (const r of rows) yield toCredit(r);
}

export interface WithdrawalWithHistory {
  withdrawal: Withdrawal;
  history: StatusSignature[];
}

/**
 * A withdrawal row and its signed status entries in ONE statement, so both come from one snapshot: read
 * in two, a status change committed in between would show a row one entry behind its history, which
 * verification must (and would) take for tampering.
 */
const WITH_HISTORY = `${WITHDRAWAL_COLUMNS}, (SELECT coalesce(json_agg(json_build_object(
    'seq', s.seq, 'status', s.status, 'tx_hash', s.tx_hash, 'tx_fee', s.tx_fee::text, 'comment', s.comment,
    'created_at_ms', (extract(epoch FROM s.created_at) * 1000)::bigint, 'sig_key_id', s.sig_key_id, 'signature', encode(s.signature, 'hex'))
    ORDER BY s.seq), '[]'::json) FROM finances_withdrawal_signatures s WHERE s.withdrawal_id = w.id) AS history`;

function withHistory(r: R): WithdrawalWithHistory {
  const withdrawal = toWithdrawal(r);
  return { withdrawal, history: toHistory(withdrawal.id, r.history) };
}

async function* pagedWithHistory(db: Queryable, page: (after: R | null, n: number) => { sql: string; params: unknown[] }, pageSize = 1000) {
  let after: R | null = null;
  for (;;) {
    const q = page(after, pageSize);
    const rows = await db.query(q.sql, q.params);
    for (const r of rows) yield withHistory(r);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1] as R;
  }
}

export function streamAccountWithdrawals(db: Queryable, userId: number, coinId: number, afterId: number): AsyncGenerator<WithdrawalWithHistory> {
  return pagedWithHistory(db, (after, n) => ({
    sql: `SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w WHERE user_id = $1 AND coin_id = $2 AND id > $3 ORDER BY id LIMIT $4`,
    params: [userId, coinId, (after?.id as number | undefined) ?? afterId, n],
  }));
}

export function streamAllWithdrawals(db: Queryable): AsyncGenerator<WithdrawalWithHistory> {
  return pagedWithHistory(db, (after, n) => ({
    sql: `SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w
          WHERE (user_id, coin_id, id) > ($1, $2, $3) ORDER BY user_id, coin_id, id LIMIT $4`,
    params: [after?.user_id ?? -1, after?.coin_id ?? -1, after?.id ?? -1, n],
  }));
}

export async function getCredit(db: Queryable, id: number): Promise<Signed<Credit> | null> {
  const [r] = await db.query(`SELECT ${CREDIT_COLUMNS} FROM finances_user_balance_transaction WHERE id = $1`, [id]);
  return r ? toCredit(r) : null;
}

export async function getWithdrawal(db: Queryable, id: number): Promise<Withdrawal | null> {
  const [r] = await db.query(`SELECT ${WITHDRAWAL_COLUMNS} FROM finances_withdrawal_transaction WHERE id = $1`, [id]);
  return r ? toWithdrawal(r) : null;
}

export async function getWithdrawalWithHistory(db: Queryable, id: number): Promise<WithdrawalWithHistory | null> {
  const [r] = await db.query(`SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w WHERE id = $1`, [id]);
  return r ? withHistory(r) : null;
}

/** Which of these block hashes of a coin have a pool-income row. */
export async function blocksWithIncome(db: Queryable, coinId: number, hashes: readonly string[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db.query<{ block_hash: string }>(
    'SELECT block_hash FROM finances_proxypool_transactions WHERE coin_id = $1 AND block_hash = ANY($2::text[])', [coinId, [...new Set(hashes)]]);
  return new Set(rows.map((r) => r.block_hash));
}

export async function* streamIncome(db: Queryable, coinId: number, afterId: number): AsyncGenerator<Signed<PoolIncome>> {
  const rows = streamPages<R, number>(db, (after, n) => ({
    sql: `SELECT ${INCOME_COLUMNS} FROM finances_proxypool_transactions WHERE coin_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
    params: [coinId, after ?? afterId, n],
  }), (r) => r.id as number);
  for await (const r of rows) yield toIncome(r);
}

export async function getIncome(db: Queryable, id: number): Promise<Signed<PoolIncome> | null> {
  const [r] = await db.query(`SELECT ${INCOME_COLUMNS} FROM finances_proxypool_transactions WHERE id = $1`, [id]);
  return r ? toIncome(r) : null;
}

/** Sum and count of the credits of each of these blocks. */
export async function blockCredits(db: Queryable, coinId: number, hashes: readonly string[]): Promise<Map<string, BlockCredits>> {
  const out = new Map<string, BlockCredits>();
  if (hashes.length === 0) return out;
  const rows = await db.query<{ block_hash: string; total: string; n: number }>(
    `SELECT block_hash, sum(amount)::text AS total, count(*)::bigint AS n FROM finances_user_balance_transaction
     WHERE coin_id = $1 AND block_hash = ANY($2::text[]) GROUP BY block_hash`, [coinId, [...new Set(hashes)]]);
  for (const r of rows) out.set(r.block_hash, { sum: amountOrNull(r.total), count: r.n });
  return out;
}

/** An aggregate of attacker-written rows may not fit an amount: that is a finding, not a crash. */
function amountOrNull(text: string): Amount | null {
  try {
    return parseAmount(text, 'sum');
  } catch (e) {
    if (e instanceof AmountError) return null;
    throw e;
  }
}

/** Credits of a coin whose block has no pool income at all. */
export async function* streamGhostCredits(db: Queryable, coinId: number): AsyncGenerator<Signed<Credit>> {
  const rows = streamPages<R, number>(db, (after, n) => ({
    sql: `SELECT ${CREDIT_COLUMNS.split(', ').map((c) => `c.${c}`).join(', ')} FROM finances_user_balance_transaction c
          WHERE c.coin_id = $1 AND c.id > $2
            AND NOT EXISTS (SELECT 1 FROM finances_proxypool_transactions p WHERE p.coin_id = c.coin_id AND p.block_hash = c.block_hash)
          ORDER BY c.id LIMIT $3`,
    params: [coinId, after ?? 0, n],
  }), (r) => r.id as number);
  for await (const r of rows) yield toCredit(r);
}

export async function getUserCheckpoint(db: Queryable, userId: number, coinId: number): Promise<Signed<UserCheckpoint> | null> {
  const [r] = await db.query(`SELECT ${USER_CHECKPOINT_COLUMNS} FROM finances_user_balance_checkpoints WHERE user_id = $1 AND coin_id = $2`, [userId, coinId]);
  return r ? toUserCheckpoint(r) : null;
}

export async function* streamUserCheckpoints(db: Queryable): AsyncGenerator<Signed<UserCheckpoint>> {
  const rows = streamPages<R, { user: number; coin: number }>(db, (after, n) => ({
    sql: `SELECT ${USER_CHECKPOINT_COLUMNS} FROM finances_user_balance_checkpoints
          WHERE (user_id, coin_id) > ($1, $2) ORDER BY user_id, coin_id LIMIT $3`,
    params: [after?.user ?? -1, after?.coin ?? -1, n],
  }), (r) => ({ user: r.user_id as number, coin: r.coin_id as number }));
  for await (const r of rows) yield toUserCheckpoint(r);
}

export async function getCoinCheckpoint(db: Queryable, coinId: number): Promise<Signed<CoinCheckpoint> | null> {
  const [r] = await db.query(`SELECT ${COIN_CHECKPOINT_COLUMNS} FROM finances_coin_checkpoints WHERE coin_id = $1`, [coinId]);
  return r ? toCoinCheckpoint(r) : null;
}

export async function lastCreditOf(db: Queryable, userId: number, coinId: number): Promise<{ id: number; end: Amount } | null> {
  const [r] = await db.query<{ id: number; amount: string; balance_before: string }>(
    'SELECT id, amount, balance_before FROM finances_user_balance_transaction WHERE user_id = $1 AND coin_id = $2 ORDER BY id DESC LIMIT 1', [userId, coinId]);
  return r ? { id: r.id, end: (parseAmount(r.balance_before) + parseAmount(r.amount)) as Amount } : null;
}
