import type { Data, DataTx } from '../data/data.js';
import { LockKeys } from '../data/lock-keys.js';
import { CHECKPOINTS } from '../data/ops/checkpoints.js';
import { stateOf } from '../ledger/account.js';
import { encodeCoinCheckpoint, encodeUserCheckpoint } from '../ledger/encoding.js';
import { poolStateOf } from '../ledger/pool.js';
import { formatProblem, problem, type Problem } from '../ledger/problem.js';
import type { CoinCheckpoint, Signed, UserCheckpoint, Withdrawal, WithdrawalStatus } from '../ledger/records.js';
import { CHECKPOINT_SIGNER } from '../ledger/roles.js';
import { formatAmount } from '../money/amount.js';
import type { Signer } from '../pki/signer.js';
import { getWithdrawal, streamAccounts } from '../store/reads.js';
import { verifyAccount } from './account.js';
import { verifyPool } from './pool.js';
import type { LedgerView } from './view.js';
import { coinCheckpointJson, userCheckpointJson } from '../checkpoints/codec.js';

// Moves a checkpoint forward over rows that have just been verified. Each advance runs in one
// transaction holding an advisory lock on that checkpoint, so two calls (in this process or another)
// never verify and write the same checkpoint at once: otherwise the loser's local copy could land
// while its database write is refused, and the two copies would disagree. Inside it the local store
// is written first, then the database row, then the commit: a crash in between leaves the two
// different, which stops payouts until an operator has looked (it cannot be told apart from a
// rollback, so it is never guessed).

export type Advance<T> = { ok: true; checkpoint: Signed<T> } | { ok: false; problems: Problem[] };

/** Field by field, amounts as bigints: two summaries of the same verified state. */
function sameSummary<T extends object>(a: T, b: T): boolean {
  const keys = Object.keys(a) as Array<keyof T>;
  return keys.length === Object.keys(b).length && keys.every((k) => a[k] === b[k]);
}

function assertPayserv(signer: Signer): void {
  if (signer.role !== CHECKPOINT_SIGNER) throw new Error(`checkpoints are signed by ${CHECKPOINT_SIGNER}, not ${signer.role}`);
}

/**
 * Runs fn in a transaction that holds the named checkpoint's lock, with the view reading through that transaction.
 * The lock's key comes from the payserv key that signs the checkpoint: nobody without it can hold the lock and stall the advance.
 */
function underLock<T>(
  db: Data,
  view: LedgerView,
  payserv: Signer,
  name: string,
  fn: (tx: DataTx, v: LedgerView) => Promise<T>,
): Promise<T> {
  return db.transaction(async (tx) => {
    await tx.query(CHECKPOINTS.lock, [LockKeys.of(payserv).key(`checkpoint:${name}`)]);
    return fn(tx, { ...view, db: tx });
  });
}

async function upsertUser(tx: DataTx, c: Signed<UserCheckpoint>): Promise<void> {
  const rows = await tx.query(CHECKPOINTS.upsertUser, [
    c.userId,
    c.coinId,
    c.version,
    c.lastCreditId,
    c.lastBlockHash,
    formatAmount(c.creditTotal),
    c.lastWithdrawalId,
    formatAmount(c.debitTotal),
    formatAmount(c.sentTotal),
    c.statusCount,
    c.headWithdrawalId,
    formatAmount(c.headDebit),
    c.openStatusCount,
    c.madeAt,
    c.sigKeyId,
    c.signature,
  ]);
  if (rows.length !== 1)
    throw new Error(`checkpoint of user ${c.userId} coin ${c.coinId} is not at version ${c.version - 1} in the database`);
}

async function upsertCoin(tx: DataTx, c: Signed<CoinCheckpoint>): Promise<void> {
  const rows = await tx.query(CHECKPOINTS.upsertCoin, [
    c.coinId,
    c.version,
    c.lastIncomeId,
    formatAmount(c.poolBalance),
    c.lastBlockHash,
    c.lastFeeCreditId,
    formatAmount(c.feeTotal),
    c.madeAt,
    c.sigKeyId,
    c.signature,
  ]);
  if (rows.length !== 1) throw new Error(`checkpoint of coin ${c.coinId} is not at version ${c.version - 1} in the database`);
}

/** A status change the advance must cover: the withdrawal at least at this status entry. */
export interface Cover {
  id: number;
  seq: number;
  status: WithdrawalStatus;
}

/**
 * Statuses never go backwards: the withdrawal just moved must be found, verified, at the entry just
 * written or later. Less means the database was rolled back between the change and this advance.
 */
async function coverProblems(tx: DataTx, userId: number, coinId: number, open: readonly Withdrawal[], cover: Cover): Promise<Problem[]> {
  const w = open.find((o) => o.id === cover.id) ?? (await getWithdrawal(tx, cover.id));
  const at =
    w &&
    w.userId === userId &&
    w.coinId === coinId &&
    (w.statusSeq > cover.seq || (w.statusSeq === cover.seq && w.status === cover.status));
  if (at) return [];
  return [
    problem(
      'finances_withdrawal_transaction',
      cover.id,
      'status_rolled_back',
      `moved to ${cover.status} (status entry ${cover.seq}) by this call, but the database now has ${w ? `${w.status} at entry ${w.statusSeq}` : 'no such withdrawal'}: rolled back`,
    ),
  ];
}

/** An account whose checkpoint is to move, and the status changes it must cover. */
export interface AccountCover {
  userId: number;
  coinId: number;
  covers: readonly Cover[];
}

/** One account verified under its lock: the advance, and whether its checkpoint is new (to be written). */
async function nextUserCheckpoint(
  tx: DataTx,
  v: LedgerView,
  payserv: Signer,
  a: AccountCover,
  at: Date,
): Promise<{ advance: Advance<UserCheckpoint>; fresh: boolean }> {
  const { userId, coinId } = a;
  const r = await verifyAccount(v, userId, coinId, 'incremental');
  if (r.problems.length) return { advance: { ok: false, problems: r.problems }, fresh: false };
  const uncovered: Problem[] = [];
  for (const c of a.covers) uncovered.push(...(await coverProblems(tx, userId, coinId, r.open, c)));
  if (uncovered.length) return { advance: { ok: false, problems: uncovered }, fresh: false };
  const prev = r.checkpoint;
  // Nothing new since the checkpoint: rewriting it would only cost two fsyncs and a database write.
  if (prev && sameSummary(stateOf(prev), r.state)) return { advance: { ok: true, checkpoint: prev }, fresh: false };
  const next: UserCheckpoint = { userId, coinId, version: (prev?.version ?? 0) + 1, ...r.state, madeAt: at };
  const signed: Signed<UserCheckpoint> = { ...next, sigKeyId: payserv.keyId, signature: payserv.sign(encodeUserCheckpoint(next)) };
  return { advance: { ok: true, checkpoint: signed }, fresh: true };
}

export async function advanceUserCheckpoint(
  db: Data,
  view: LedgerView,
  payserv: Signer,
  userId: number,
  coinId: number,
  at = new Date(),
  cover?: Cover,
): Promise<Advance<UserCheckpoint>> {
  const [r] = await advanceUserCheckpoints(db, view, payserv, [{ userId, coinId, covers: cover ? [cover] : [] }], at);
  return r as Advance<UserCheckpoint>;
}

/**
 * Several distinct accounts' checkpoints advanced in one transaction holding all their locks (taken in
 * one order, so two such calls never wait on each other in a cycle). Local copies first, all written
 * at once (their fsyncs share the disk's waits: a batch of payments costs one wait, not one per
 * account), then the database rows, then the commit. Results in the order asked.
 */
export async function advanceUserCheckpoints(
  db: Data,
  view: LedgerView,
  payserv: Signer,
  accounts: readonly AccountCover[],
  at = new Date(),
): Promise<Array<Advance<UserCheckpoint>>> {
  assertPayserv(payserv);
  const keys = LockKeys.of(payserv);
  const names = accounts.map((a) => keys.key(`checkpoint:user:${a.userId}:${a.coinId}`));
  if (new Set(names).size !== names.length) throw new Error('advanceUserCheckpoints: an account named twice');
  return db.transaction(async (tx) => {
    const v: LedgerView = { ...view, db: tx };
    for (const key of [...names].sort()) await tx.query(CHECKPOINTS.lock, [key]);
    const next: Array<Awaited<ReturnType<typeof nextUserCheckpoint>>> = [];
    for (const a of accounts) next.push(await nextUserCheckpoint(tx, v, payserv, a, at));
    const fresh = next.flatMap((n) => (n.fresh && n.advance.ok ? [n.advance.checkpoint] : []));
    await Promise.all(fresh.map((c) => v.local.putUser(c.userId, c.coinId, userCheckpointJson(c))));
    for (const c of fresh) await upsertUser(tx, c);
    return next.map((n) => n.advance);
  });
}

export async function advanceCoinCheckpoint(
  db: Data,
  view: LedgerView,
  payserv: Signer,
  coinId: number,
  at = new Date(),
): Promise<Advance<CoinCheckpoint>> {
  assertPayserv(payserv);
  return underLock(db, view, payserv, `coin:${coinId}`, async (tx, v) => {
    const r = await verifyPool(v, coinId, 'incremental');
    if (r.problems.length) return { ok: false, problems: r.problems };
    if (r.checkpoint && sameSummary(poolStateOf(r.checkpoint), r.state)) return { ok: true, checkpoint: r.checkpoint };
    const next: CoinCheckpoint = { coinId, version: (r.checkpoint?.version ?? 0) + 1, ...r.state, madeAt: at };
    const signed: Signed<CoinCheckpoint> = { ...next, sigKeyId: payserv.keyId, signature: payserv.sign(encodeCoinCheckpoint(next)) };
    await v.local.putCoin(coinId, coinCheckpointJson(signed));
    await upsertCoin(tx, signed);
    return { ok: true, checkpoint: signed };
  });
}

/** Pages of the accounts walked by advanceAll: bounded memory whatever the number of accounts. */
const ACCOUNTS_PAGE = 2000;

/**
 * Advances every coin's and every account's checkpoint (a first run, the demo, tests); throws naming the
 * first problems if any checkpoint cannot move. Returns how many accounts it walked.
 */
export async function advanceAll(db: Data, view: LedgerView, payserv: Signer): Promise<number> {
  const fail = (what: string, problems: Problem[]) => new Error(`${what}: ${problems.slice(0, 5).map(formatProblem).join('; ')}`);
  for (const coinId of view.coins.keys()) {
    const r = await advanceCoinCheckpoint(db, view, payserv, coinId);
    if (!r.ok) throw fail(`coin ${coinId}`, r.problems);
  }
  let n = 0;
  for await (const a of streamAccounts(db, ACCOUNTS_PAGE)) {
    const r = await advanceUserCheckpoint(db, view, payserv, a.user_id, a.coin_id);
    if (!r.ok) throw fail(`user ${a.user_id} coin ${a.coin_id}`, r.problems);
    n++;
  }
  return n;
}
