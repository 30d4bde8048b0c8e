// Resolve (open-ethereum-pool's RESOLVE_PAYOUT=1), made safe: for each payment of the coin that may be
// in flight, ask the chain. Paid → recorded sent. Provably never sent (no transaction was ever signed
// for it, or the chain proved every one failed) → credited back with a reversal row. Otherwise it is
// left alone with the reason. The coin is unlocked only when nothing is left unknown.
import type { ChainDriver } from '../chains/driver.js';
import type { Withdrawal, WithdrawalStatus } from '../ledger/records.js';
import { formatAmount } from '../money/amount.js';
import { paymentsOf } from '../payserv/payments/attempts.js';
import { storedAttempts } from '../payserv/payments/stored.js';
import type { Payserv } from '../payserv/context.js';
import { guarded, result, type Verified } from '../payserv/guard.js';
import { decline } from '../payserv/moves.js';
import { checkWithdrawal } from '../payserv/payouts.js';
import { getWithdrawal, loadCoins } from '../store/reads.js';
import { autopayLock, LockBusy } from '../payserv/locks.js';
import { refusal } from '../api/payserv.js';
import { unlock } from './lock.js';
import { AUTOPAY_COMMENT, openWithdrawals, ownRequest } from './run.js';

export type Decision = 'paid' | 'credited' | 'unknown' | 'left';

export interface Resolution {
  withdrawal: number;
  user: number;
  address: string;
  amount: string;
  decision: Decision;
  reason: string;
  txHash: string | null;
}

export interface ResolveReport {
  coin: string;
  resolutions: Resolution[];
  /** Whether the coin's autopay lock was released (false: something is still unknown, or it was not locked). */
  unlocked: boolean;
  /** The lock's state before: idle, running, halted, or null if autopay never ran for the coin. */
  wasLocked: string | null;
  /** The lines in the manner of the source document. */
  lines: string[];
}

/** Under the coin's autopay lock: a run in progress (in any payserv process on this database) is never resolved under its feet. */
export async function resolveCoin(ps: Payserv, tag: string, caller: string): Promise<ResolveReport> {
  try {
    return await ps.locks.with(autopayLock(tag), `resolve by ${caller}`, () => resolveLocked(ps, tag, caller));
  } catch (e) {
    if (e instanceof LockBusy) throw refusal('busy', `an autopay run of ${tag} is in progress: resolve when it has finished`);
    throw e;
  }
}

async function resolveLocked(ps: Payserv, tag: string, caller: string): Promise<ResolveReport> {
  const coin = (await loadCoins(ps.db)).find((c) => c.tag === tag);
  if (!coin) throw refusal('unknown_coin', `unknown coin ${JSON.stringify(tag)}`);
  const driver = ps.drivers.get(tag);
  const report: ResolveReport = { coin: tag, resolutions: [], unlocked: false, wasLocked: null, lines: [] };
  for await (const w of openWithdrawals(ps, coin.id)) report.resolutions.push(await resolveOne(ps, driver, w.id, w.status, caller));
  const unknown = report.resolutions.filter((r) => r.decision === 'unknown');
  if (!unknown.length) report.wasLocked = await unlock(ps.db, coin.id, ps.now());
  report.unlocked = !unknown.length && report.wasLocked !== null;
  report.lines = linesOf(report, tag);
  ps.log.warn({ coin: tag, by: caller, ...count(report.resolutions), unlocked: report.unlocked }, 'autopay resolve');
  return report;
}

/** Runs `fn` on the verified withdrawal under its lock; a refusal (busy, tampered, disabled) leaves it unknown. */
async function underGuard(
  ps: Payserv,
  id: number,
  accepts: readonly WithdrawalStatus[],
  caller: string,
  fn: (v: Verified) => Promise<Resolution>,
): Promise<Resolution> {
  const got: { r?: Resolution } = {};
  // The guard's reply matters only when it refused: the body's is a placeholder, the decision is in `got`.
  const r = await guarded(ps, 'Resolve', caller, id, accepts, async (v) => {
    got.r = await fn(v);
    return result(v.w.status === 'sent' ? 'SENT' : 'PENDING', v.w);
  });
  return got.r ?? unknown(id, r.message ?? r.reply);
}

const UNSENT: readonly WithdrawalStatus[] = ['processing', 'pending', 'approved', 'send_retry', 'send_error'];

async function resolveOne(ps: Payserv, driver: ChainDriver | undefined, id: number, status: string, caller: string): Promise<Resolution> {
  if (status === 'sending') {
    // Check is the one place that reads the chain's verdict and records it (sent, or send_error with the proof).
    const c = await checkWithdrawal(ps, id, caller);
    const w = await getWithdrawal(ps.db, id);
    if (c.reply === 'SENT' && w) return of(w, 'paid', 'confirmed on chain', c.txHash ?? w.txHash);
    if (c.reply !== 'SEND_ERROR') return w ? of(w, 'unknown', c.message ?? c.reply) : unknown(id, c.message ?? c.reply);
    // Proved failed: now send_error, credited back below.
  } else if (!['send_retry', 'send_error'].includes(status) && !(await ownRequest(ps, id))) {
    // A request of the pool's own flow, not yet paid: not autopay's to settle (nor to wait for).
    return {
      withdrawal: id,
      user: 0,
      address: '',
      amount: '',
      decision: 'left',
      reason: `${status}, not an autopay request`,
      txHash: null,
    };
  }
  return underGuard(ps, id, UNSENT, caller, (v) => creditBack(ps, driver, v));
}

const unknown = (id: number, reason: string): Resolution => ({
  withdrawal: id,
  user: 0,
  address: '',
  amount: '',
  decision: 'unknown',
  reason,
  txHash: null,
});

const of = (w: Withdrawal, decision: Decision, reason: string, txHash: string | null = w.txHash): Resolution => ({
  withdrawal: w.id,
  user: w.userId,
  address: w.address,
  amount: formatAmount(w.amount),
  decision,
  reason,
  txHash,
});

/** Credits back only what provably never left: every payment ever signed for it proved failed by the chain. */
async function creditBack(ps: Payserv, driver: ChainDriver | undefined, v: Verified): Promise<Resolution> {
  const w = v.w;
  const madeByAutopay = v.history[0]?.comment.startsWith(AUTOPAY_COMMENT) === true;
  if (!madeByAutopay && !['send_error', 'send_retry'].includes(w.status))
    return of(w, 'left', `${w.status}, not an autopay payment: left to the pool's own flow`);
  for (const hashes of paymentsOf(v.history)) {
    if (!driver) return of(w, 'unknown', `coin ${v.coin.tag} has no chain driver to ask about ${hashes[0]}`);
    const stored = await storedAttempts(ps, driver, v, hashes);
    if ('problems' in stored)
      return of(w, 'unknown', `stored transaction ${hashes[0]} does not verify: ${stored.problems[0]?.detail ?? ''}`);
    let verdict;
    try {
      verdict = await driver.verdict(stored.attempts, { now: ps.now(), confirmations: v.coin.confirmations });
    } catch (e) {
      return of(w, 'unknown', `cannot ask the chain about ${hashes[0]}: ${(e as Error).message}`);
    }
    if (verdict.kind !== 'failed') return of(w, 'unknown', `transaction ${hashes[0]} is ${verdict.kind}, not proved failed`);
    // An expiry is an absence (a node that cannot find a mined transaction says the same): never credited back unasked.
    if (verdict.by === 'expiry')
      return of(
        w,
        'unknown',
        `transaction ${hashes[0]} expired unseen: that is no proof enough to credit back automatically (a node may have lost it); an operator decides (Resend pays by a transaction that conflicts with it)`,
      );
  }
  const sent = paymentsOf(v.history).length;
  const why = sent
    ? `resolve: every transaction sent for it proved failed on chain; credited back`
    : `resolve: no transaction was ever signed for it (${w.status}); credited back`;
  const r = await decline(ps, v, 'credited_back', why);
  if (r.reply !== 'DECLINED') return of(w, 'unknown', r.message ?? r.reply);
  return of(w, 'credited', why, null);
}

function count(rs: readonly Resolution[]): Record<Decision, number> {
  const c: Record<Decision, number> = { paid: 0, credited: 0, unknown: 0, left: 0 };
  for (const r of rs) c[r.decision]++;
  return c;
}

/** In the manner of the source document ("Will credit back following balances: …", "Credited … back to …", "Payouts unlocked"). */
function linesOf(r: ResolveReport, tag: string): string[] {
  const lines: string[] = [];
  // A request of the pool's own flow (not autopay's, not yet sent) is no payment of autopay's: not listed.
  if (!r.resolutions.some((y) => y.decision !== 'left')) lines.push('No pending payments to resolve');
  for (const x of r.resolutions.filter((y) => y.decision === 'paid'))
    lines.push(`Paid: withdrawal ${x.withdrawal}, ${x.amount} ${tag} to ${x.address} in ${x.txHash}: recorded sent`);
  const credited = r.resolutions.filter((y) => y.decision === 'credited');
  if (credited.length) {
    lines.push('Will credit back following balances:');
    for (const x of credited) lines.push(`Address: ${x.address}, Amount: ${x.amount} ${tag}, withdrawal ${x.withdrawal}`);
    for (const x of credited) lines.push(`Credited ${x.amount} ${tag} back to ${x.address}`);
  }
  for (const x of r.resolutions.filter((y) => y.decision === 'unknown')) {
    lines.push(`Unknown: withdrawal ${x.withdrawal}${x.address ? `, ${x.amount} ${tag} to ${x.address}` : ''}: ${x.reason}`);
  }
  if (r.unlocked) lines.push('Payouts unlocked');
  else if (r.resolutions.some((y) => y.decision === 'unknown'))
    lines.push(`Payouts of ${tag} stay locked: outcomes above are unknown; run resolve again later`);
  return lines;
}
