import type { Row } from '../db/db.js';
import type { DataTx } from '../data/data.js';
import type { Op } from '../db/op.js';
import { CHECKPOINTS } from '../data/ops/checkpoints.js';
import { LEDGER } from '../data/ops/ledger.js';
import { streamPages } from '../data/stream.js';
import type { CertRow } from '../ledger/certbook.js';
import type { BlockCredits } from '../ledger/pool.js';
import type {
  Coin,
  CoinCheckpoint,
  Credit,
  PoolIncome,
  Signed,
  StatusSignature,
  UserCheckpoint,
  Wallet,
  Withdrawal,
} from '../ledger/records.js';
import { AmountError, parseAmount, type Amount } from '../money/amount.js';
import { toCoin, toCoinCheckpoint, toCredit, toIncome, toHistory, toUserCheckpoint, toWallet, toWithdrawal } from '../data/rows.js';

// Every read of the ledger (its operations: src/data/ops/ledger.ts). Large tables are streamed by keyset
// pages: one page in memory at a time.

type R = Row;

/** Coins are a small table, but still bounded: past this, something is wrong with the database. */
const COINS_MAX = 1000;
type AccountKey = { user: number; coin: number; id: number };

export async function loadCoins(db: DataTx): Promise<Signed<Coin>[]> {
  const rows = await db.query(LEDGER.coins, [COINS_MAX + 1]);
  if (rows.length > COINS_MAX) throw new Error(`coins_coin has more than ${COINS_MAX} rows`);
  return rows.map(toCoin);
}

export async function* streamCertRows(db: DataTx): AsyncGenerator<CertRow> {
  const rows = streamPages<R, number>(
    db,
    (after, n) => ({
      op: LEDGER.certsPage,
      params: [after ?? 0, n],
    }),
    (r) => r.id as number,
    500,
  );
  for await (const r of rows) yield { id: r.id as number, keyId: String(r.key_id), role: String(r.role), certPem: String(r.cert_pem) };
}

export async function* streamWallets(db: DataTx): AsyncGenerator<Signed<Wallet>> {
  const rows = streamPages<R, number>(
    db,
    (after, n) => ({
      op: LEDGER.walletsPage,
      params: [after ?? 0, n],
    }),
    (r) => r.id as number,
  );
  for await (const r of rows) yield toWallet(r);
}

export async function getWallet(db: DataTx, id: number): Promise<Signed<Wallet> | null> {
  const [r] = await db.query(LEDGER.wallet, [id]);
  return r ? toWallet(r) : null;
}

/** One account's credits after `afterId`, in id order. */
export async function* streamAccountCredits(db: DataTx, userId: number, coinId: number, afterId: number): AsyncGenerator<Signed<Credit>> {
  const rows = streamPages<R, number>(
    db,
    (after, n) => ({
      op: LEDGER.accountCreditsPage,
      params: [userId, coinId, after ?? afterId, n],
    }),
    (r) => r.id as number,
  );
  for await (const r of rows) yield toCredit(r);
}

/** Every credit, ordered by account then id, so each account's history arrives whole and in order. */
export async function* streamAllCredits(db: DataTx): AsyncGenerator<Signed<Credit>> {
  const rows = streamPages<R, AccountKey>(
    db,
    (after, n) => ({
      op: LEDGER.creditsPage,
      params: [after?.user ?? -1, after?.coin ?? -1, after?.id ?? -1, n],
    }),
    (r) => ({ user: r.user_id as number, coin: r.coin_id as number, id: r.id as number }),
  );
  for await (const r of rows) yield toCredit(r);
}

export interface WithdrawalWithHistory {
  withdrawal: Withdrawal;
  history: StatusSignature[];
}

function withHistory(r: R): WithdrawalWithHistory {
  const withdrawal = toWithdrawal(r);
  return { withdrawal, history: toHistory(withdrawal.id, r.history) };
}

/** Keyset pages whose key is read from the whole last row (the history is one of its columns). */
async function* pagedWithHistory(db: DataTx, page: (after: R | null, n: number) => { op: Op; params: unknown[] }, pageSize = 1000) {
  let after: R | null = null;
  for (;;) {
    const q = page(after, pageSize);
    const rows = await db.query(q.op, q.params);
    for (const r of rows) yield withHistory(r);
    if (rows.length < pageSize) return;
    after = rows[rows.length - 1] as R;
  }
}

export function streamAccountWithdrawals(
  db: DataTx,
  userId: number,
  coinId: number,
  afterId: number,
): AsyncGenerator<WithdrawalWithHistory> {
  return pagedWithHistory(db, (after, n) => ({
    op: LEDGER.accountWithdrawalsPage,
    params: [userId, coinId, (after?.id as number | undefined) ?? afterId, n],
  }));
}

export function streamAllWithdrawals(db: DataTx): AsyncGenerator<WithdrawalWithHistory> {
  return pagedWithHistory(db, (after, n) => ({
    op: LEDGER.withdrawalsPage,
    params: [after?.user_id ?? -1, after?.coin_id ?? -1, after?.id ?? -1, n],
  }));
}

/** One page of an account's payments (sending or sent), newest first: `limit` rows after the first `skip`. */
export async function accountPaymentsPage(
  db: DataTx,
  userId: number,
  coinId: number,
  limit: number,
  skip: number,
): Promise<WithdrawalWithHistory[]> {
  const rows = await db.query(LEDGER.accountPaymentsPage, [userId, coinId, limit, skip]);
  return rows.map(withHistory);
}

export async function getCredit(db: DataTx, id: number): Promise<Signed<Credit> | null> {
  const [r] = await db.query(LEDGER.credit, [id]);
  return r ? toCredit(r) : null;
}

export async function getWithdrawal(db: DataTx, id: number): Promise<Withdrawal | null> {
  const [r] = await db.query(LEDGER.withdrawal, [id]);
  return r ? toWithdrawal(r) : null;
}

export async function getWithdrawalWithHistory(db: DataTx, id: number): Promise<WithdrawalWithHistory | null> {
  const [r] = await db.query(LEDGER.withdrawalWithHistory, [id]);
  return r ? withHistory(r) : null;
}

/** A coin's newest sent payouts (reversal rows not included), at most `n`, newest first, each with its signed history. */
export async function newestSentWithHistory(db: DataTx, coinId: number, n: number): Promise<WithdrawalWithHistory[]> {
  return (await db.query(LEDGER.newestSentWithHistory, [coinId, n])).map(withHistory);
}

/** Which of these block hashes of a coin have a pool-income row. */
export async function blocksWithIncome(db: DataTx, coinId: number, hashes: readonly string[]): Promise<Set<string>> {
  if (hashes.length === 0) return new Set();
  const rows = await db.query(LEDGER.blocksWithIncome, [coinId, [...new Set(hashes)]]);
  return new Set(rows.map((r) => r.block_hash));
}

export async function* streamIncome(db: DataTx, coinId: number, afterId: number): AsyncGenerator<Signed<PoolIncome>> {
  const rows = streamPages<R, number>(
    db,
    (after, n) => ({
      op: LEDGER.incomePage,
      params: [coinId, after ?? afterId, n],
    }),
    (r) => r.id as number,
  );
  for await (const r of rows) yield toIncome(r);
}

export async function getIncome(db: DataTx, id: number): Promise<Signed<PoolIncome> | null> {
  const [r] = await db.query(LEDGER.income, [id]);
  return r ? toIncome(r) : null;
}

/** Sum and count of the credits of each of these blocks. */
export async function blockCredits(db: DataTx, coinId: number, hashes: readonly string[]): Promise<Map<string, BlockCredits>> {
  const out = new Map<string, BlockCredits>();
  if (hashes.length === 0) return out;
  const rows = await db.query(LEDGER.blockCredits, [coinId, [...new Set(hashes)]]);
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
export async function* streamGhostCredits(db: DataTx, coinId: number): AsyncGenerator<Signed<Credit>> {
  const rows = streamPages<R, number>(
    db,
    (after, n) => ({
      op: LEDGER.ghostCreditsPage,
      params: [coinId, after ?? 0, n],
    }),
    (r) => r.id as number,
  );
  for await (const r of rows) yield toCredit(r);
}

export async function getUserCheckpoint(db: DataTx, userId: number, coinId: number): Promise<Signed<UserCheckpoint> | null> {
  const [r] = await db.query(LEDGER.userCheckpoint, [userId, coinId]);
  return r ? toUserCheckpoint(r) : null;
}

export async function* streamUserCheckpoints(db: DataTx): AsyncGenerator<Signed<UserCheckpoint>> {
  const rows = streamPages<R, { user: number; coin: number }>(
    db,
    (after, n) => ({
      op: LEDGER.userCheckpointsPage,
      params: [after?.user ?? -1, after?.coin ?? -1, n],
    }),
    (r) => ({ user: r.user_id as number, coin: r.coin_id as number }),
  );
  for await (const r of rows) yield toUserCheckpoint(r);
}

export async function getCoinCheckpoint(db: DataTx, coinId: number): Promise<Signed<CoinCheckpoint> | null> {
  const [r] = await db.query(LEDGER.coinCheckpoint, [coinId]);
  return r ? toCoinCheckpoint(r) : null;
}

export async function lastCreditOf(db: DataTx, userId: number, coinId: number): Promise<{ id: number; end: Amount } | null> {
  const [r] = await db.query(LEDGER.lastCredit, [userId, coinId]);
  return r ? { id: r.id, end: (parseAmount(r.balance_before) + parseAmount(r.amount)) as Amount } : null;
}

/** Every (user, coin) with a credit or a withdrawal, in (user, coin) order, a page at a time. */
export function streamAccounts(db: DataTx, pageSize = 1000): AsyncGenerator<{ user_id: number; coin_id: number }> {
  return streamPages<{ user_id: number; coin_id: number }, { user: number; coin: number }>(
    db,
    (after, limit) => ({
      op: CHECKPOINTS.accountsPage,
      params: [after?.user ?? -1, after?.coin ?? -1, limit],
    }),
    (r) => ({ user: r.user_id, coin: r.coin_id }),
    pageSize,
  );
}
