import { RotatingDriver, rotationStep } from './rotation.js';
import { ChainIdentityError } from '../chains/driver.js';
import { MONITOR } from '../data/ops/monitor.js';
import { streamPages } from '../data/stream.js';
import { RowError } from '../data/rows.js';
import { checkHistory } from '../ledger/history.js';
import { formatProblem, problem, type Problem } from '../ledger/problem.js';
import { getWithdrawalWithHistory } from '../store/reads.js';
import { openView, type LedgerView } from '../verify/view.js';
import { alertIdentity, alertWalletFlood, ALERT, identityRestored } from './chain-alerts.js';
import type { Payserv } from './context.js';
import { FinalityWatch, type FinalityReport } from './finality.js';
import { watchHotWallets } from './hot-wallet-watch.js';
import type { Amount } from '../money/amount.js';
import { stopsPayouts } from './invariant.js';
import { tell } from './events.js';

// payserv's monitor: observation, whether payouts are enabled or not. Every [monitor] interval_s, one
// tick: withdrawals in flight too long (payment_stuck), each coin's node failing its health check too
// long (node_unhealthy) or on another chain (node_identity), hot wallets below their level
// (hot_wallet_low, src/payserv/hot-wallet-watch.ts), and the sent payments watched to finality
// (src/payserv/finality.ts). Each alert is raised once per episode of its subject. A stuck withdrawal is
// verified (its signed status history) before it is alerted, and its age is the signed time of its status
// entry: a row in flight without a valid signed history is tampering, a fail-stop, not a payment stuck.
// Ticks never overlap,
// and a tick never throws out of its timer: a failing part is logged, and an integrity failure
// (stopsPayouts: a malformed row, a broken invariant) fails-stop.

export interface MonitorSettings {
  intervalMs: number;
  /** A withdrawal in sending or send_retry longer than this is alerted (payment_stuck). */
  stuckAfterMs: number;
  /** A node failing its health check longer than this is alerted (node_unhealthy). */
  nodeUnhealthyAfterMs: number;
  /** Each coin's finality_depth, by tag. */
  finality: ReadonlyMap<string, number>;
  /** [alerts.hot_wallet_low]: a hot wallet below its coin's level is alerted (hot_wallet_low). */
  hotWalletLow?: ReadonlyMap<string, Amount>;
}

/** Stuck withdrawals alerted per tick at most (each runs the alert hook); the rest are alerted by the next ticks. */
const STUCK_ALERTS_PER_TICK = 50;
/** Stuck withdrawals whose signed history is verified per tick at most (the rest wait for the next ticks). */
const STUCK_VERIFY_PER_TICK = 100;
/** Forged rows named in a fail-stop's details at most. */
const FORGED_NAMED_MAX = 50;
/** Stuck withdrawals looked at per tick at most; past it, no episode is ended (not all were seen). */
const STUCK_ROWS_MAX = 100_000;
const STUCK_PAGE_ROWS = 1_000;
const TX_HASH = /^(0x)?[0-9a-fA-F]{64}$/;

export interface StuckWithdrawal {
  id: number;
  coinId: number;
  status: 'sending' | 'send_retry';
  txHash: string | null;
  since: Date;
  /** The signed time of its current status entry (null: it has none); identifies what was verified. */
  signedAt: Date | null;
}

export interface MonitorReport {
  /** Withdrawals stuck in flight, their signed history verified. */
  stuck: number[];
  /** Withdrawals in flight whose signed status history is missing or invalid (a fail-stop). */
  forged: number[];
  /** Coins whose node failed its health check this tick, with why. */
  unhealthy: Record<string, string>;
  finality: FinalityReport | null;
  /** Coins whose hot wallet is below its level: the balance. */
  low: Record<string, string>;
  /** Parts that failed (logged): stuck, nodes, hot wallets, finality. */
  failed: string[];
}

/** A row of MONITOR.stuckPage, validated (the database's values are input). */
export function toStuck(r: Record<string, unknown>): StuckWithdrawal {
  const { id, coin_id: coinId, status, tx_hash: txHash, updated_at: updatedAt, signed_at: signedAt } = r;
  const at = `finances_withdrawal_transaction id=${String(id)}`;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) throw new RowError(`${at}: id is not a positive integer`);
  if (typeof coinId !== 'number' || !Number.isSafeInteger(coinId)) throw new RowError(`${at}: coin_id is not an integer`);
  if (status !== 'sending' && status !== 'send_retry') throw new RowError(`${at}: status ${JSON.stringify(status)} is not in flight`);
  if (txHash !== null && (typeof txHash !== 'string' || !TX_HASH.test(txHash)))
    throw new RowError(`${at}: tx_hash is not a transaction hash`);
  if (!(updatedAt instanceof Date) || Number.isNaN(updatedAt.getTime())) throw new RowError(`${at}: updated_at is not a timestamp`);
  if (signedAt !== null && (!(signedAt instanceof Date) || Number.isNaN(signedAt.getTime())))
    throw new RowError(`${at}: its status entry's created_at is not a timestamp`);
  // The older of the two: updated_at is no signature's, and a later one must not make a payment look young.
  const since = signedAt !== null && signedAt < updatedAt ? signedAt : updatedAt;
  return { id, coinId, status, txHash, since, signedAt };
}

const seconds = (ms: number) => Math.round(ms / 1000);

/**
 * One in-flight withdrawal's signed status history, as payserv verifies it before a payout call: its faults (the monitor,
 * the metrics); null when neither its row nor its last signed entry is in flight (changed since its page was read).
 */
export async function inFlightFaults(ps: Payserv, view: LedgerView, id: number): Promise<Problem[] | null> {
  const bad = (code: 'history' | 'malformed', detail: string) => [problem('finances_withdrawal_signatures', id, code, detail)];
  try {
    const found = await getWithdrawalWithHistory(ps.db, id);
    // In flight by its column or by its last signed entry (a column set to `sent` by SQL: checkHistory names the mismatch).
    const flying = (s: string | undefined) => s === 'sending' || s === 'send_retry';
    if (!found || !(flying(found.withdrawal.status) || flying(found.history.at(-1)?.status))) return null;
    return checkHistory(found.withdrawal, found.history, view.book).map((f) => bad('history', f)[0] as Problem);
  } catch (e) {
    if (e instanceof RowError) return bad('malformed', e.message);
    throw e;
  }
}

/** A coin's node at the monitor's last health check. */
export interface NodeHealth {
  ok: boolean;
  reason: string | null;
  at: Date;
}

export class Monitor {
  readonly #ps: Payserv;
  readonly #s: MonitorSettings;
  readonly #finality: FinalityWatch;
  /** Each coin whose node is failing its health check: since when (this process's clock). */
  readonly #failing = new Map<string, Date>();
  #running: Promise<MonitorReport> | null = null;
  /** Coins whose node failed the last finality round's watch (an error, unreachable), with why. */
  #watchFailing: Record<string, string> = {};
  /** Stuck withdrawals whose history was verified: id → the status entry verified (not verified again until it changes). */
  readonly #verified = new Map<number, string>();
  /** Rows found forged: id → the status entry seen (not verified again until it changes). */
  readonly #forged = new Map<number, string>();
  #timer: NodeJS.Timeout | null = null;
  #stopped = false;
  /** Each coin's node at its last health check (the dashboard shows it). */
  readonly #nodeHealth = new Map<string, NodeHealth>();
  /** The last tick's report and when it ended (the dashboard's "last checks"). */
  #last: { at: Date; report: MonitorReport } | null = null;

  constructor(ps: Payserv, settings: MonitorSettings) {
    for (const k of ['intervalMs', 'stuckAfterMs', 'nodeUnhealthyAfterMs'] as const) {
      if (!Number.isSafeInteger(settings[k]) || settings[k] <= 0)
        throw new RangeError(`monitor: ${k} must be a positive integer, got ${settings[k]}`);
    }
    this.#ps = ps;
    this.#s = settings;
    this.#finality = new FinalityWatch(ps, settings.finality);
  }

  /** One tick now; a tick in progress is waited for instead (ticks never overlap). Never throws. */
  tick(): Promise<MonitorReport> {
    // A tick is one piece of the backup's work (the finality watch writes statuses and chain files).
    this.#running ??= (this.#ps.hold ? this.#ps.hold.work(() => this.#tick()) : this.#tick())
      .then((report) => ((this.#last = { at: this.#ps.now(), report }), report))
      .finally(() => (this.#running = null));
    return this.#running;
  }

  /** Each coin's node at the last health check (none before the first tick). */
  nodeHealth(): ReadonlyMap<string, NodeHealth> {
    return this.#nodeHealth;
  }

  /** The last tick's report, null before the first ends. */
  lastReport(): { at: Date; report: MonitorReport } | null {
    return this.#last;
  }

  async #tick(): Promise<MonitorReport> {
    const report: MonitorReport = { stuck: [], forged: [], unhealthy: {}, finality: null, low: {}, failed: [] };
    await this.#part('stuck', report, async () => void Object.assign(report, await this.#stuck()));
    await this.#part('nodes', report, async () => void (report.unhealthy = await this.#nodes()));
    await this.#part(
      'hot wallets',
      report,
      async () => void (report.low = await watchHotWallets(this.#ps, this.#s.hotWalletLow ?? new Map())),
    );
    await this.#part('rotation', report, async () => {
      for (const d of this.#ps.drivers.values()) if (d instanceof RotatingDriver && !d.final) await rotationStep(this.#ps, d);
    });
    await this.#part('finality', report, async () => {
      report.finality = await this.#finality.round();
      this.#watchFailing = report.finality.failing;
    });
    return report;
  }

  async #part(name: string, report: MonitorReport, fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      report.failed.push(name);
      this.#ps.log.error({ component: 'monitor', part: name, err: (e as Error).message }, 'monitor part failed');
      if (stopsPayouts(e))
        await this.#ps.state.failStop(`monitor (${name}): ${(e as Error).message}`, { component: 'monitor', part: name });
    }
  }

  /**
   * Withdrawals in flight past the bound, verified then each alerted once per status it is stuck in; those no longer
   * stuck end their episode. Rows without a valid signed history are forged: a fail-stop, not alerts.
   */
  async #stuck(): Promise<{ stuck: number[]; forged: number[] }> {
    const ps = this.#ps;
    const now = ps.now();
    const cutoff = new Date(now.getTime() - this.#s.stuckAfterMs).toISOString();
    const stuck: number[] = [];
    const forged: Array<{ id: number; problems: Problem[] }> = [];
    const seen = new Set<number>();
    let raised = 0;
    let verifiedNow = 0;
    let view: LedgerView | null = null;
    const rows = streamPages(
      ps.db,
      (after: number | null, n) => ({ op: MONITOR.stuckPage, params: [cutoff, after ?? 0, n] }),
      (r) => r.id,
      STUCK_PAGE_ROWS,
    );
    for await (const r of rows) {
      const w = toStuck(r);
      seen.add(w.id);
      const key = `${w.status} ${w.signedAt?.getTime() ?? 'none'}`;
      if (this.#forged.get(w.id) === key) {
        forged.push({ id: w.id, problems: [] });
        continue;
      }
      if (this.#verified.get(w.id) !== key) {
        if (verifiedNow >= STUCK_VERIFY_PER_TICK) continue; // looked at by a next tick
        verifiedNow++;
        view ??= await openView(ps.db, ps.trust, ps.local);
        const problems = (await inFlightFaults(ps, view, w.id)) ?? [];
        if (problems.length) {
          this.#forged.set(w.id, key);
          forged.push({ id: w.id, problems });
          continue;
        }
        this.#verified.set(w.id, key);
      }
      stuck.push(w.id);
      if (raised < STUCK_ALERTS_PER_TICK && (await this.#alertStuck(w, now))) raised++;
      if (seen.size >= STUCK_ROWS_MAX) {
        ps.log.warn({ component: 'monitor', rows_max: STUCK_ROWS_MAX }, 'more stuck withdrawals than one tick looks at');
        await this.#failStopForged(forged);
        return { stuck, forged: forged.map((f) => f.id) };
      }
    }
    for (const id of [...this.#verified.keys()]) if (!seen.has(id)) this.#verified.delete(id);
    for (const id of [...this.#forged.keys()]) if (!seen.has(id)) this.#forged.delete(id);
    for (const subject of ps.state.openEpisodes(ALERT.stuck)) {
      if (seen.has(Number(subject.split(' ')[1])) || !ps.state.endEpisode(ALERT.stuck, subject)) continue;
      ps.log.info({ component: 'monitor', withdrawal: Number(subject.split(' ')[1]) }, 'withdrawal no longer stuck');
    }
    await this.#failStopForged(forged);
    return { stuck, forged: forged.map((f) => f.id) };
  }

  /** Forged rows in flight: a fail-stop naming them, once per episode (while payserv stays fail-stopped, only logged). */
  async #failStopForged(forged: ReadonlyArray<{ id: number; problems: Problem[] }>): Promise<void> {
    const fresh = forged.filter((f) => f.problems.length);
    if (!forged.length) return;
    const ids = forged.slice(0, FORGED_NAMED_MAX).map((f) => f.id);
    if (this.#ps.state.failStopped) {
      if (fresh.length)
        this.#ps.log.error(
          { component: 'monitor', forged: forged.length, withdrawals: ids },
          'more withdrawals in flight without a valid signed history',
        );
      return;
    }
    const lines = (fresh.length ? fresh : forged).flatMap((f) => f.problems.slice(0, 1).map(formatProblem));
    const first =
      lines[0] ?? `finances_withdrawal_transaction id=${forged[0]?.id}: found before without a valid signed status history [history]`;
    const more = forged.length > 1 ? ` (and ${forged.length - 1} more withdrawal(s) like it)` : '';
    await this.#ps.state.failStop(`monitor: a withdrawal in flight without a valid signed status history: ${first}${more}`, {
      component: 'monitor',
      withdrawals: ids,
      forged: forged.length,
      problems: lines.slice(0, FORGED_NAMED_MAX),
    });
  }

  #alertStuck(w: StuckWithdrawal, now: Date): Promise<boolean> {
    const ageS = seconds(now.getTime() - w.since.getTime());
    const reason =
      `withdrawal ${w.id} has been ${w.status} for ${ageS} s (since ${w.since.toISOString()}), over [monitor] stuck_after_s = ${seconds(this.#s.stuckAfterMs)}` +
      `${w.txHash ? `; transaction ${w.txHash}` : ''}: ${w.status === 'sending' ? 'pscli check it' : 'see why it waits (pscli transinfo), then pscli resend or sendcoin'}`;
    return this.#ps.state.alertOnce(ALERT.stuck, `withdrawal ${w.id}`, w.status, reason, {
      withdrawal: w.id,
      coin_id: w.coinId,
      status: w.status,
      age_s: ageS,
      since: w.since.toISOString(),
      tx: w.txHash,
    });
  }

  /** Each coin's node health: what failed this tick, by coin. */
  async #nodes(): Promise<Record<string, string>> {
    const unhealthy: Record<string, string> = {};
    for (const [tag, driver] of this.#ps.drivers) {
      let why: string | null;
      try {
        const h = await driver.health();
        // A node whose answers about our payments fail (geth rebuilding its index) is not healthy, whatever its health check says.
        why = h.ok ? (this.#watchFailing[tag] ?? null) : (h.reason ?? 'not healthy');
      } catch (e) {
        if (e instanceof ChainIdentityError) await alertIdentity(this.#ps, e, "the monitor's health check");
        why = (e as Error).message;
      }
      // What the last read of its hot wallet left out or could not read (payments and the hot-wallet watch read it).
      await alertWalletFlood(this.#ps, driver);
      tell(this.#ps, (m) => m.nodeHealth(tag, why === null));
      this.#nodeHealth.set(tag, { ok: why === null, reason: why, at: this.#ps.now() });
      if (why === null) this.#healthy(tag);
      else {
        unhealthy[tag] = why;
        await this.#unhealthy(tag, why);
      }
    }
    return unhealthy;
  }

  #healthy(tag: string): void {
    const since = this.#failing.get(tag);
    this.#failing.delete(tag);
    const alerted = this.#ps.state.endEpisode(ALERT.unhealthy, tag);
    const identity = identityRestored(this.#ps, tag);
    if (since || identity) {
      this.#ps.log.warn(
        {
          component: 'monitor',
          coin: tag,
          ...(since ? { since: since.toISOString(), down_s: seconds(this.#ps.now().getTime() - since.getTime()) } : {}),
          alerted,
          identity,
        },
        'node healthy again',
      );
    }
  }

  async #unhealthy(tag: string, why: string): Promise<void> {
    const now = this.#ps.now();
    const since = this.#failing.get(tag) ?? now;
    this.#failing.set(tag, since);
    const downMs = now.getTime() - since.getTime();
    this.#ps.log.warn(
      { component: 'monitor', coin: tag, reason: why, since: since.toISOString(), down_s: seconds(downMs) },
      'node health check failed',
    );
    if (downMs < this.#s.nodeUnhealthyAfterMs) return;
    await this.#ps.state.alertOnce(
      ALERT.unhealthy,
      tag,
      since.toISOString(),
      `coin ${tag}: its node has failed its health check for ${seconds(downMs)} s (since ${since.toISOString()}), over [monitor] node_unhealthy_after_s = ${seconds(this.#s.nodeUnhealthyAfterMs)}: ${why}; payments of ${tag} wait meanwhile`,
      { coin: tag, reason: why, since: since.toISOString(), down_s: seconds(downMs) },
    );
  }

  /** Ticks every interval until stopped: the next one is scheduled when this one has finished. */
  start(): this {
    const next = () => {
      if (this.#stopped) return;
      this.#timer = setTimeout(() => {
        this.tick()
          .catch((e: Error) => this.#ps.log.error({ component: 'monitor', err: e.message }, 'monitor tick failed'))
          .finally(next);
      }, this.#s.intervalMs);
      this.#timer.unref();
    };
    next();
    this.#ps.log.info(
      {
        component: 'monitor',
        interval_s: seconds(this.#s.intervalMs),
        stuck_after_s: seconds(this.#s.stuckAfterMs),
        node_unhealthy_after_s: seconds(this.#s.nodeUnhealthyAfterMs),
      },
      'monitor started',
    );
    return this;
  }

  /** No tick after this; one in progress is waited for (before the database closes). */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#running?.catch(() => undefined);
  }
}
