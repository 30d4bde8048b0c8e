// One autopay run for one coin (DESIGN §5): open-ethereum-pool's payouts loop, made safe. Under the
// coin's database lock, with payserv enabled and the node healthy: for each user over the threshold,
// a withdrawal request signed by the autopay role, driven through Process → Approve under the same
// rules as a manual one (Approve writes the payment ahead, then broadcasts). An outcome this run cannot
// know halts the coin and keeps the lock; resolve asks the chain later.
import { AUTOPAY } from '../data/ops/autopay.js';
import { formatProblem, type Problem } from '../ledger/problem.js';
import type { Coin, Signed, Withdrawal } from '../ledger/records.js';
import { add, formatAmount, fromBaseUnits, parseAmount, sub, type Amount } from '../money/amount.js';
import type { PayoutResult, RefusalCode } from '../api/payserv.js';
import { payoutsOff } from '../payserv/guard.js';
import type { Payserv } from '../payserv/context.js';
import type { AutopaySettings } from '../payserv/policy.js';
import { checkWithdrawal, payTogether, processWithdrawal } from '../payserv/payouts.js';
import { getWithdrawalWithHistory, streamAccounts } from '../store/reads.js';
import { streamPages } from '../data/stream.js';
import { toWallet } from '../data/rows.js';
import { LEDGER } from '../data/ops/ledger.js';
import { isRetired, retiredWord } from '../ledger/wallets.js';
import { rememberWallets, verifyWallets } from '../verify/wallets.js';
import { verifyAccount } from '../verify/account.js';
import { openView, type LedgerView } from '../verify/view.js';
import { requestWithdrawal } from '../writer/withdrawals.js';
import { payValue } from '../payserv/payments/value.js';
import { DebitsBusy } from '../writer/locks.js';
import type { ChainDriver } from '../chains/driver.js';
import { autopayLock, LockBusy } from '../payserv/locks.js';
import { describeLock, haltLock, releaseLock, takeLock } from './lock.js';
import { selectPayees, type Candidate, type Skipped } from './select.js';

export interface RunReport {
  coin: string;
  /** done: every payee handled; stopped: the run ended early, nothing unknown; halted: an unknown outcome; skipped: nothing was tried. */
  outcome: 'done' | 'stopped' | 'halted' | 'skipped';
  reason: string | null;
  /** Why the run was skipped (api.ts REFUSAL_CODES): autopay off, payouts disabled, the coin locked or halted, the node not ready. */
  code?: RefusalCode;
  paid: { count: number; sum: string; withdrawals: number[] };
  /** Earlier payments of this coin the run found confirmed (recorded sent). */
  confirmed: number[];
  skipped: Skipped[];
  belowThreshold: number;
  /** The hot wallet's spendable balance after the run, or null when the node could not say. */
  hotWallet: string | null;
}

const PAGE = 1000;

/** Withdrawals autopay made carry this in their request entry (seq 0, signed by the autopay role): resolve credits back only these before they were sent. */
export const AUTOPAY_COMMENT = 'autopay ';

/** Runs once for `tag`; never throws for a business reason, only when the database or a bug stops it (the lock then stays taken). */
export async function runAutopay(
  ps: Payserv,
  tag: string,
  s: AutopaySettings,
  holder: string,
  stopping: () => boolean = () => false,
): Promise<RunReport> {
  const view = await openView(ps.db, ps.trust, ps.local);
  const coin = [...view.coins.values()].find((c) => c.tag === tag);
  const report: RunReport = {
    coin: tag,
    outcome: 'skipped',
    reason: null,
    paid: { count: 0, sum: '0', withdrawals: [] },
    confirmed: [],
    skipped: [],
    belowThreshold: 0,
    hotWallet: null,
  };
  const skip = (code: RefusalCode, reason: string) => skipped(report, code, reason);
  const driver = ps.drivers.get(tag);
  if (!coin) return skip('unknown_coin', `coin ${tag} is not in the ledger`);
  if (!driver) return skip('no_driver', `coin ${tag} has no chain driver: an operator pays it`);
  if (!ps.signers.autopay) return skip('no_autopay', 'payserv has no autopay signer ([autopay] enabled loads it)');
  if (!ps.state.enabled) {
    const off = payoutsOff(ps);
    return skip(off.code, off.message);
  }

  try {
    return await ps.locks.with(autopayLock(tag), holder, () => locked(ps, view, coin, driver, s, holder, report, stopping));
  } catch (e) {
    if (e instanceof LockBusy) return skip('busy', `an autopay run or a resolve of ${tag} is in progress`);
    throw e;
  }
}

const skipped = (report: RunReport, code: RefusalCode, reason: string): RunReport =>
  Object.assign(report, { outcome: 'skipped' as const, code, reason });

async function locked(
  ps: Payserv,
  view: LedgerView,
  coin: Signed<Coin>,
  driver: ChainDriver,
  s: AutopaySettings,
  holder: string,
  report: RunReport,
  stopping: () => boolean,
): Promise<RunReport> {
  const tag = coin.tag;
  const skip = (code: RefusalCode, reason: string) => skipped(report, code, reason);
  const lock = await takeLock(ps.db, coin.id, holder, ps.now());
  if (!lock.taken) return skip(lock.by.state === 'halted' ? 'coin_halted' : 'locked', describeLock(tag, lock.by));
  const log = ps.log.child({ component: 'autopay', coin: tag, run: holder });
  const health = await driver.health().catch((e: Error) => ({ ok: false, reason: e.message, details: undefined }));
  const peers = Number(health.details?.peers ?? 0);
  if (!health.ok || peers < s.requirePeers) {
    await releaseLock(ps.db, coin.id, holder, ps.now());
    return skip(
      'node_unavailable',
      `node not ready: ${health.ok ? `${peers} peers, fewer than require_peers = ${s.requirePeers}` : (health.reason ?? 'unknown')}`,
    );
  }

  if (await settleInFlight(ps, driver, coin, holder, report)) await payOverThreshold(ps, view, driver, coin, s, holder, report, stopping);
  if (report.outcome !== 'halted') await releaseLock(ps.db, coin.id, holder, ps.now());
  report.hotWallet = await driver.spendable(ps.db).then(
    (b) => formatAmount(fromBaseUnits(b, coin.decimals)),
    () => null,
  );
  log.info(
    {
      outcome: report.outcome,
      reason: report.reason,
      paid: report.paid.count,
      sum: report.paid.sum,
      confirmed: report.confirmed.length,
      skipped: report.skipped.length,
      below_threshold: report.belowThreshold,
      hot_wallet: report.hotWallet,
    },
    'autopay run',
  );
  return report;
}

/**
 * Before new payees: payments of this coin in `sending` are checked (the confirmed recorded sent), and
 * autopay's own requests an earlier run left behind (stopped, or the hot wallet short) are driven on:
 * processing → Process, then approved and send_retry paid. A proved failure (send_error) is left for
 * resolve: debited, never paid twice. False when the run must end here.
 */
async function settleInFlight(ps: Payserv, driver: ChainDriver, coin: Signed<Coin>, holder: string, report: RunReport): Promise<boolean> {
  const due: Due[] = [];
  for await (const w of openWithdrawals(ps, coin.id)) {
    if (w.status === 'sending') {
      const r = await checkWithdrawal(ps, w.id, holder);
      if (r.reply === 'SENT') report.confirmed.push(w.id);
      continue;
    }
    const own = ['processing', 'approved', 'send_retry'].includes(w.status) ? await ownRequest(ps, w.id) : null;
    if (!own) continue;
    const d = { id: w.id, userId: own.userId, amount: own.amount };
    const o = w.status === 'processing' ? await approveByPolicy(ps, w.id, holder) : null;
    if (!o) due.push(d);
    else if (o.kind === 'skip') report.skipped.push({ userId: d.userId, reason: `withdrawal ${d.id}: ${o.reason}` });
    else return end(ps, coin, holder, report, d.id, o);
  }
  return payDue(ps, driver, coin, holder, report, due);
}

/** The request entry (signed by the autopay role, so its comment cannot be forged without a fail-stop) says autopay made it. */
export async function ownRequest(ps: Payserv, id: number): Promise<Withdrawal | null> {
  const found = await getWithdrawalWithHistory(ps.db, id);
  return found?.history[0]?.comment.startsWith(AUTOPAY_COMMENT) ? found.withdrawal : null;
}

function paidOne(report: RunReport, id: number, amount: Amount): void {
  report.paid.withdrawals.push(id);
  report.paid.count = report.paid.withdrawals.length;
  report.paid.sum = formatAmount(add(parseAmount(report.paid.sum), amount));
}

/** The run ends early: halted (the lock kept) for an unknown outcome, stopped otherwise. */
async function end(
  ps: Payserv,
  coin: Signed<Coin>,
  holder: string,
  report: RunReport,
  id: number,
  o: Exclude<Outcome, { kind: 'paid' | 'skip' }>,
): Promise<false> {
  report.outcome = o.kind === 'halt' ? 'halted' : 'stopped';
  report.reason = `withdrawal ${id}: ${o.reason}`;
  if (o.kind === 'halt') await halt(ps, coin, holder, report.reason, id);
  return false;
}

/** The one way autopay halts a coin: the lock kept halted, and the coin_halted alert. */
async function halt(ps: Payserv, coin: Signed<Coin>, holder: string, reason: string, id: number | null): Promise<void> {
  const at = ps.now();
  await haltLock(ps.db, coin.id, holder, reason, id, at);
  await ps.state.alertOnce(
    'coin_halted',
    coin.tag,
    at.toISOString(),
    `autopay of ${coin.tag} is halted: ${reason}; nothing pays ${coin.tag} automatically until \`pscli resolve --coin ${coin.tag}\``,
    { coin: coin.tag, withdrawal: id, reason },
  );
}

/** The coin's withdrawals not yet final, oldest first, a page at a time: the pending log runs and resolve walk. */
export function openWithdrawals(ps: Payserv, coinId: number): AsyncGenerator<{ id: number; status: string }> {
  return streamPages(
    ps.db,
    (after: number | null, limit) => ({ op: AUTOPAY.open, params: [coinId, after ?? 0, limit] }),
    (r) => r.id,
    PAGE,
  );
}

async function payOverThreshold(
  ps: Payserv,
  view: LedgerView,
  driver: ChainDriver,
  coin: Signed<Coin>,
  s: AutopaySettings,
  holder: string,
  report: RunReport,
  stopping: () => boolean,
): Promise<void> {
  const { candidates, skipped, below, tampered } = await gather(ps, view, coin, s.threshold);
  if (tampered) {
    const why = `the account of user ${tampered.userId} does not verify: ${formatProblem(tampered.problems[0]!)}`;
    await ps.state.failStop(`autopay ${coin.tag}: ${why}`, {
      user: tampered.userId,
      coin: coin.tag,
      problems: tampered.problems.slice(0, 50).map(formatProblem),
    });
    Object.assign(report, { outcome: 'halted', reason: why });
    await halt(ps, coin, holder, why, null);
    return;
  }
  const selection = selectPayees({ coin, threshold: s.threshold, maxPerRun: s.maxPerRun }, candidates);
  report.skipped.push(...skipped, ...selection.skipped);
  report.belowThreshold = below + selection.belowThreshold;
  report.outcome = 'done';
  const due: Due[] = [];
  for (const p of selection.payees) {
    if (stopping()) {
      Object.assign(report, { outcome: 'stopped', reason: 'payserv is stopping: the rest wait for the next run' });
      break;
    }
    const w = await ps.db
      .transaction(async (tx) => {
        const wallet = (await tx.query(LEDGER.reviewedWallets, [p.userId, coin.id, 1])).map(toWallet)[0];
        if (!wallet || wallet.id !== p.walletId || isRetired(wallet)) return null;
        // An output the chain would not relay: no request is made (Process would decline it, every run).
        const dust = driver.outputProblem?.(wallet.address, payValue(coin, { id: 0, amount: p.amount, fee: p.fee }));
        if (dust) return { dust };
        return requestWithdrawal(tx, ps.signers.autopay!, {
          userId: p.userId,
          coinId: coin.id,
          walletId: wallet.id,
          address: wallet.address,
          amount: p.amount,
          fee: p.fee,
          comment: `${AUTOPAY_COMMENT}${holder}`,
          noWait: true,
        });
      })
      .catch((e: unknown) => {
        if (e instanceof DebitsBusy) return e;
        throw e;
      });
    if (w instanceof DebitsBusy) {
      // Someone holds the account's chain (its key is the pool's, so anyone can): this user waits, the others are paid.
      ps.log.warn({ component: 'autopay', coin: coin.tag, user: p.userId, err: w.message }, 'account busy: passed over until the next run');
      report.skipped.push({ userId: p.userId, reason: w.message });
      continue;
    }
    if (!w) {
      report.skipped.push({ userId: p.userId, reason: 'its wallet changed during the run' });
      continue;
    }
    if ('dust' in w) {
      report.skipped.push({ userId: p.userId, reason: `amount less fee: ${w.dust}` });
      continue;
    }
    const o = await approveByPolicy(ps, w.id, holder);
    if (!o) due.push({ id: w.id, userId: p.userId, amount: p.amount });
    else if (o.kind === 'skip') report.skipped.push({ userId: p.userId, reason: `withdrawal ${w.id}: ${o.reason}` });
    else return void (await end(ps, coin, holder, report, w.id, o));
  }
  await payDue(ps, driver, coin, holder, report, due);
}

/** A request of this run, approved and waiting to be paid. */
interface Due {
  id: number;
  userId: number;
  amount: Amount;
}

type Outcome = { kind: 'paid' } | { kind: 'skip' | 'stop' | 'halt'; reason: string };

/** Process: null when it approved the request; otherwise what the run makes of it (a decline or a policy wait is a skip). */
async function approveByPolicy(ps: Payserv, id: number, holder: string): Promise<Exclude<Outcome, { kind: 'paid' }> | null> {
  const p = await processWithdrawal(ps, id, holder);
  if (p.reply === 'APPROVED') return null;
  if (p.reply === 'DECLINED') return { kind: 'skip', reason: `declined: ${p.message ?? ''}` };
  if (p.reply === 'PENDING') return { kind: 'skip', reason: `waits for a manager (policy): ${p.message ?? 'above the automatic limits'}` };
  return stopOrHalt(ps, p);
}

/**
 * Pays the approved requests in as few transactions as the chain allows (Zcash: one batch; Ethereum:
 * one each), batch after batch; the first batch with an outcome the run cannot know halts it there.
 */
async function payDue(
  ps: Payserv,
  driver: ChainDriver,
  coin: Signed<Coin>,
  holder: string,
  report: RunReport,
  due: readonly Due[],
): Promise<boolean> {
  for (let i = 0; i < due.length; i += driver.maxOutputs) {
    const chunk = due.slice(i, i + driver.maxOutputs);
    const results = await payTogether(
      ps,
      driver,
      chunk.map((d) => d.id),
      holder,
    );
    let last: { d: Due; o: Exclude<Outcome, { kind: 'paid' | 'skip' }> } | null = null;
    for (const d of chunk) {
      const o = outcomeOf(
        ps,
        results.find((r) => r.id === d.id),
      );
      if (o.kind === 'paid') paidOne(report, d.id, d.amount);
      else if (o.kind === 'skip') report.skipped.push({ userId: d.userId, reason: `withdrawal ${d.id}: ${o.reason}` });
      else if (!last || o.kind === 'halt') last = { d, o };
    }
    if (last) return end(ps, coin, holder, report, last.d.id, last.o);
  }
  return true;
}

/** A payment's reply, read as open-ethereum-pool's loop would, but by what is known: only an unknown outcome halts. */
function outcomeOf(ps: Payserv, a: PayoutResult | undefined): Outcome {
  if (!a) return { kind: 'stop', reason: 'no reply for it' };
  if (a.reply === 'SENDING') return a.message ? { kind: 'halt', reason: `outcome unknown: ${a.message}` } : { kind: 'paid' };
  if (a.reply === 'SENT') return { kind: 'paid' };
  // Nothing left the hot wallet: the request stays debited, resolve credits it back.
  if (a.reply === 'SEND_ERROR') return { kind: 'skip', reason: `not sent: ${a.message ?? ''}` };
  if (a.reply === 'SEND_RETRY') return { kind: 'stop', reason: `waits: ${a.message ?? ''}` };
  return stopOrHalt(ps, a);
}

function stopOrHalt(ps: Payserv, r: PayoutResult): Exclude<Outcome, { kind: 'paid' }> {
  // A fail-stop disables payouts: the coin halts too, so enabling payserv does not resume autopay unseen.
  return ps.state.enabled
    ? { kind: 'stop', reason: `${r.reply}: ${r.message ?? ''}` }
    : { kind: 'halt', reason: `payserv stopped: ${r.message ?? ''}` };
}

/** Every account of the coin, verified; those not over the coin's threshold are only counted. */
interface Gathered {
  candidates: Candidate[];
  skipped: Skipped[];
  below: number;
  /** An account that does not verify: tampering, so payserv fails-stop (as Process would) and nothing is paid. */
  tampered: { userId: number; problems: Problem[] } | null;
}

async function gather(ps: Payserv, view: LedgerView, coin: Signed<Coin>, threshold: Amount): Promise<Gathered> {
  const candidates: Candidate[] = [];
  const skipped: Skipped[] = [];
  let below = 0;
  for await (const { user_id: userId, coin_id: coinId } of streamAccounts(ps.db, PAGE)) {
    // The pool's own fee account is not a miner: autopay never pays it.
    if (coinId !== coin.id || userId === coin.feeUserId) continue;
    const account = await verifyAccount(view, userId, coin.id, 'incremental');
    const available = sub(account.creditTotal, account.debitTotal);
    if (account.problems.length) return { candidates, skipped, below, tampered: { userId, problems: account.problems } };
    if (available < threshold) below++;
    else if (account.open.length) skipped.push({ userId, reason: `withdrawal ${account.open[0]!.id} is still ${account.open[0]!.status}` });
    else {
      const c = await candidate(ps, view, userId, coin.id, available);
      if ('problems' in c) return { candidates, skipped, below, tampered: { userId, problems: c.problems } };
      candidates.push(c);
    }
  }
  return { candidates, skipped, below, tampered: null };
}

/**
 * The user's wallets verified (signatures, and nothing this host saw retired come back: tampering
 * otherwise) and remembered; the payee's wallet is the newest reviewed one, and only while its signed
 * state is active. An older wallet is never chosen: were a deleted one rolled back to its signed active
 * copy before this host saw the deletion, the newest still decides.
 */
async function candidate(
  ps: Payserv,
  view: LedgerView,
  userId: number,
  coinId: number,
  available: Amount,
): Promise<Candidate | { problems: Problem[] }> {
  const [own] = await ps.db.query(AUTOPAY.userThreshold, [userId, coinId]);
  const wallets = await verifyWallets(view, userId, coinId);
  if (wallets.problems.length) return { problems: wallets.problems };
  await rememberWallets(ps.db, ps.local, ps.signers.payserv, wallets);
  const newest = wallets.newest;
  const payable = newest && !isRetired(newest) ? newest : null;
  let ownThreshold: Amount | null = null;
  try {
    ownThreshold = own ? parseAmount(own.threshold, `users_autopay_thresholds of user ${userId}`) : null;
  } catch (e) {
    // The pool site's own data, unsigned: a value not of its form holds this user back (never pays), never the run.
    return {
      userId,
      available,
      ownThreshold: null,
      walletId: null,
      walletProblem: `${(e as Error).message}: not paid until the pool fixes it`,
    };
  }
  return {
    userId,
    available,
    ownThreshold,
    walletId: payable?.id ?? null,
    walletProblem: payable
      ? null
      : newest
        ? `the newest reviewed one (${newest.id}) is ${retiredWord(newest)}, and autopay pays only the newest`
        : 'no reviewed wallet for this coin',
  };
}
