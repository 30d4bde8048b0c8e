import { performance } from 'node:perf_hooks';
import { advanceCoinCheckpoint, advanceUserCheckpoints, type AccountCover, type Advance, type Cover } from '../verify/advance.js';
import { encodeCoin } from '../ledger/encoding.js';
import { formatProblem, problem, userKey, type Problem } from '../ledger/problem.js';
import { checkHistory } from '../ledger/history.js';
import type { Coin, Signed, StatusSignature, UserCheckpoint, Withdrawal, WithdrawalStatus } from '../ledger/records.js';
import { COIN_SIGNER } from '../ledger/roles.js';
import { getWithdrawalWithHistory } from '../store/reads.js';
import { verifyAccount, type AccountVerification } from '../verify/account.js';
import { openView, type LedgerView } from '../verify/view.js';
import { WithdrawalStateError } from '../writer/withdrawals.js';
import { DebitsBusy } from '../writer/locks.js';
import type { PayoutResult, Refusal, RefusalCode, Reply } from '../api/payserv.js';
import type { Payserv } from './context.js';
import { LockBusy, withdrawalLock } from './locks.js';
import { journalProblems } from '../journal/payments.js';
import { fault } from './faults.js';
import { stopsPayouts } from './invariant.js';
import { tell } from './events.js';

// Every payout call goes through here: payouts enabled; the withdrawal's lock; the status the method
// accepts; then the account verified from its checkpoint and the coin's pool income reconciled. Any
// integrity problem is a fail-stop; the method body runs only on a verified ledger.

/** What the method body works on, all of it verified in this call. */
export interface Verified {
  view: LedgerView;
  coin: Signed<Coin>;
  w: Withdrawal;
  account: AccountVerification;
  /** Its signed status entries, verified. */
  history: readonly StatusSignature[];
}

type Shown = Pick<Withdrawal, 'id' | 'status' | 'txHash'> | { id: number; status: null };

/** A reply about a withdrawal: ERROR and DECLINED must name their code (api.ts REFUSAL_CODES). */
export function result(reply: Refusal, w: Shown, message: string, code: RefusalCode): PayoutResult;
export function result(reply: Exclude<Reply, Refusal>, w: Shown, message?: string, code?: RefusalCode): PayoutResult;
export function result(reply: Reply, w: Shown, message?: string, code?: RefusalCode): PayoutResult {
  return {
    reply,
    id: w.id,
    status: w.status,
    ...(code ? { code } : {}),
    ...(message ? { message } : {}),
    ...('txHash' in w && w.txHash ? { txHash: w.txHash } : {}),
  } as PayoutResult;
}

export const refused = (id: number, status: WithdrawalStatus | null, code: RefusalCode, message: string): PayoutResult => ({
  reply: 'ERROR',
  id,
  status,
  code,
  message,
});

/** Why payouts are off, as a refusal: an operator's (or the start's) disable, or a fail-stop. */
export function payoutsOff(ps: Payserv): { code: RefusalCode; message: string } {
  return { code: ps.state.failStopped ? 'fail_stop' : 'disabled', message: `payouts are disabled: ${ps.state.status().reason}` };
}

/** Disables payouts and answers ERROR naming the first problem. */
export async function failStop(
  ps: Payserv,
  what: string,
  problems: readonly Problem[],
  id: number,
  status: WithdrawalStatus | null,
): Promise<PayoutResult> {
  const lines = problems.map(formatProblem);
  const reason = `${what}: ${lines[0] ?? 'unknown'}${lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''}`;
  await ps.state.failStop(reason, { withdrawal: id, problems: lines.slice(0, 50) });
  return refused(id, status, 'integrity', ps.state.status().reason ?? reason);
}

function refusedIfDisabled(ps: Payserv, id: number, status: WithdrawalStatus | null): PayoutResult | null {
  if (ps.state.enabled) return null;
  const off = payoutsOff(ps);
  return refused(id, status, off.code, off.message);
}

/**
 * Verifies a withdrawal whose lock the caller holds: the status the method accepts, the coin, the
 * account from its checkpoint, the method's own integrity checks (`integrity`), and the coin's pool
 * income. They all run before anything is written: a call that fails-stop leaves the ledger and its
 * checkpoints as it found them. Returns what the body works on, or the reply that ends the call.
 */
export async function verifyHeld(
  ps: Payserv,
  method: string,
  id: number,
  accepts: readonly WithdrawalStatus[],
  integrity?: (v: Verified) => Promise<Problem[]>,
  call?: OneCall,
): Promise<Verified | PayoutResult> {
  const t0 = performance.now();
  const v = await verify(ps, method, id, accepts, integrity, call);
  tell(ps, (e) => e.verified(method, performance.now() - t0, !isReply(v)));
  return v;
}

/**
 * What one call verifying many withdrawals (SendCoin, autopay) shares: the view opened once, and each
 * coin's pool income reconciled once (the same check would find the same rows).
 */
export interface OneCall {
  view?: LedgerView;
  pools: Set<number>;
}

async function verify(
  ps: Payserv,
  method: string,
  id: number,
  accepts: readonly WithdrawalStatus[],
  integrity?: (v: Verified) => Promise<Problem[]>,
  call?: OneCall,
): Promise<Verified | PayoutResult> {
  const found = await getWithdrawalWithHistory(ps.db, id);
  if (!found) return refused(id, null, 'unknown_id', `unknown withdrawal id ${id}`);
  const status = found.withdrawal.status;
  if (!accepts.includes(status))
    return refused(id, status, 'wrong_status', `withdrawal ${id} is ${status}; ${method} takes ${accepts.join(' or ')}`);
  const view = call?.view ?? (await openView(ps.db, ps.trust, ps.local));
  if (call) call.view = view;
  const coin = view.coins.get(found.withdrawal.coinId);
  if (!coin)
    return failStop(
      ps,
      method,
      [problem('finances_withdrawal_transaction', id, 'unknown_coin', `coin ${found.withdrawal.coinId} does not exist`)],
      id,
      status,
    );
  const coinWhy = view.book.check(encodeCoin(coin), coin.sigKeyId, coin.signature, COIN_SIGNER, coin.updatedAt);
  if (coinWhy) return failStop(ps, method, [problem('coins_coin', coin.id, 'signature', `coin ${coin.tag}: ${coinWhy}`)], id, status);
  const account = await verifyAccount(view, found.withdrawal.userId, found.withdrawal.coinId, 'incremental');
  if (account.problems.length) return failStop(ps, method, account.problems, id, status);
  const w = account.open.find((o) => o.id === id);
  if (!w) {
    return failStop(
      ps,
      method,
      [problem('finances_withdrawal_transaction', id, 'status_rolled_back', `${status}, but its account's checkpoint covers it as final`)],
      id,
      status,
    );
  }
  // The history read with the row, re-checked: payments read the hashes of their attempts from it.
  const faults =
    w.statusSeq === found.withdrawal.statusSeq ? checkHistory(w, found.history, view.book) : ['changed while it was being verified'];
  if (faults.length)
    return failStop(
      ps,
      method,
      faults.map((f) => problem('finances_withdrawal_signatures', id, 'history', f)),
      id,
      status,
    );
  // The host's journal outranks the database: a transaction handed to a node must still stand in the history.
  await ps.journal.refresh();
  const forgotten = journalProblems(ps.journal, id, found.history);
  if (forgotten.length) return failStop(ps, method, forgotten, id, status);
  const v: Verified = { view, coin, w, account, history: found.history };
  const more = integrity ? await integrity(v) : [];
  if (more.length) return failStop(ps, method, more, id, status);
  if (!call?.pools.has(coin.id)) {
    const pool = await advanceCoinCheckpoint(ps.db, view, ps.signers.payserv, coin.id, ps.now());
    if (!pool.ok) return failStop(ps, method, pool.problems, id, status);
    call?.pools.add(coin.id);
  }
  // A concurrent call on another withdrawal may have failed-stop meanwhile.
  return refusedIfDisabled(ps, id, status) ?? v;
}

export const busyMessage = (id: number) => `withdrawal ${id} is being handled by another call; try again`;

export const isReply = (x: Verified | PayoutResult): x is PayoutResult => 'reply' in x;

/** One call on one withdrawal: payouts enabled, its lock, verified, then the body. */
export async function guarded(
  ps: Payserv,
  method: string,
  caller: string,
  id: number,
  accepts: readonly WithdrawalStatus[],
  body: (v: Verified) => Promise<PayoutResult>,
  integrity?: (v: Verified) => Promise<Problem[]>,
): Promise<PayoutResult> {
  const off = refusedIfDisabled(ps, id, null);
  if (off) return off;
  try {
    return await ps.locks.with(withdrawalLock(id), `${method} by ${caller}`, async () => {
      const v = await verifyHeld(ps, method, id, accepts, integrity);
      return isReply(v) ? v : body(v);
    });
  } catch (e) {
    if (e instanceof LockBusy) return refused(id, null, 'busy', busyMessage(id));
    // The status moved under a concurrent writer; another writer holds the account's chain.
    if (e instanceof WithdrawalStateError) return refused(id, null, 'wrong_status', e.message);
    if (e instanceof DebitsBusy) return refused(id, null, 'busy', e.message);
    if (stopsPayouts(e)) return failStop(ps, method, [problem('payserv', id, 'invariant', `${e.name}: ${e.message}`)], id, null);
    throw e;
  }
}

/** Runs fn holding the locks of every withdrawal of `ids` that is free; the busy ones are passed over. */
export async function withFreeLocks<T>(
  ps: Payserv,
  ids: readonly number[],
  holder: string,
  fn: (held: number[]) => Promise<T>,
): Promise<T> {
  const held: number[] = [];
  const next = async (i: number): Promise<T> => {
    if (i === ids.length) return fn(held);
    const id = ids[i] as number;
    try {
      return await ps.locks.with(withdrawalLock(id), holder, () => (held.push(id), next(i + 1)));
    } catch (e) {
      if (!(e instanceof LockBusy) || held.includes(id)) throw e;
      return next(i + 1);
    }
  };
  return next(0);
}

/**
 * After a status change: the account's checkpoint moves over it, and must cover it (the withdrawal at
 * least at the status just written): statuses never go backwards. An advance that finds less, fails or
 * times out is a fail-stop: the change may have been rolled back, and nothing may pay on that word.
 */
export async function checkpointAfter(ps: Payserv, v: Verified, changed: Withdrawal): Promise<PayoutResult | null> {
  return (await checkpointsAfter(ps, v.view, [changed]))[0] ?? null;
}

/** Accounts advanced together in one transaction: their locks held at once, a bounded number. */
const ADVANCE_GROUP = 100;

/** checkpointAfter for many status changes (a batch payment): the accounts advanced a group at a time; one result per change. */
export async function checkpointsAfter(ps: Payserv, view: LedgerView, changes: readonly Withdrawal[]): Promise<Array<PayoutResult | null>> {
  for (const c of changes) await fault(ps.faults, 'status.committed', { withdrawals: [c.id], ...(c.txHash ? { hash: c.txHash } : {}) });
  const accounts = new Map<string, AccountCover & { covers: Cover[] }>();
  for (const c of changes) {
    const key = userKey(c.userId, c.coinId);
    const a = accounts.get(key) ?? { userId: c.userId, coinId: c.coinId, covers: [] };
    a.covers.push({ id: c.id, seq: c.statusSeq, status: c.status });
    accounts.set(key, a);
  }
  const all = [...accounts.values()];
  const advanced = new Map<string, Advance<UserCheckpoint> | Error>();
  for (let i = 0; i < all.length; i += ADVANCE_GROUP) {
    const group = all.slice(i, i + ADVANCE_GROUP);
    const rs = await advanceUserCheckpoints(ps.db, view, ps.signers.payserv, group, ps.now()).catch((e: Error) => group.map(() => e));
    group.forEach((a, j) => advanced.set(userKey(a.userId, a.coinId), rs[j] as Advance<UserCheckpoint> | Error));
  }
  const out: Array<PayoutResult | null> = [];
  for (const c of changes) {
    const r = advanced.get(userKey(c.userId, c.coinId)) as Advance<UserCheckpoint> | Error;
    if (!(r instanceof Error)) {
      out.push(r.ok ? null : await failStop(ps, 'checkpoint', r.problems, c.id, c.status));
      continue;
    }
    const why = `withdrawal ${c.id} moved to ${c.status} (status entry ${c.statusSeq}), then its checkpoint could not move over it: ${r.message}`;
    out.push(
      await failStop(
        ps,
        'checkpoint',
        [problem('finances_user_balance_checkpoints', userKey(c.userId, c.coinId), 'advance_failed', why)],
        c.id,
        c.status,
      ),
    );
  }
  return out;
}
