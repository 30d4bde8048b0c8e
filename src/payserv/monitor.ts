import { RotatingDriver, rotationStep } from './rotation.js';
import { ChainIdentityError } from '../chains/driver.js';
import { MONITOR } from '../data/ops/monitor.js';
import { streamPages } from '../data/stream.js';
import { RowError } from '../data/rows.js';
import { alertIdentity, ALERT, identityRestored } from './chain-alerts.js';
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
// (src/payserv/finality.ts). Each alert is raised once per episode of its subject. Ticks never overlap,
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
}

export interface MonitorReport {
  stuck: number[];
  /** Coins whose node failed its health check this tick, with why. */
  unhealthy: Record<string, string>;
  finality: FinalityReport | null;
  /** Coins whose hot wallet is below its level: the balance. */
  low: Record<string, string>;
  /** Parts that failed (logged): stuck, nodes, hot wallets, finality. */
  failed: string[];
}

function toStuck(r: Record<string, unknown>): StuckWithdrawal {
  const { id, coin_id: coinId, status, tx_hash: txHash, updated_at: since } = r;
  const at = `finances_withdrawal_transaction id=${String(id)}`;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) throw new RowError(`${at}: id is not a positive integer`);
  if (typeof coinId !== 'number' || !Number.isSafeInteger(coinId)) throw new RowError(`${at}: coin_id is not an integer`);
  if (status !== 'sending' && status !== 'send_retry') throw new RowError(`${at}: status ${JSON.stringify(status)} is not in flight`);
  if (txHash !== null && (typeof txHash !== 'string' || !TX_HASH.test(txHash)))
    throw new RowError(`${at}: tx_hash is not a transaction hash`);
  if (!(since instanceof Date) || Number.isNaN(since.getTime())) throw new RowError(`${at}: updated_at is not a timestamp`);
  return { id, coinId, status, txHash, since };
}

const seconds = (ms: number) => Math.round(ms / 1000);

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
    const report: MonitorReport = { stuck: [], unhealthy: {}, finality: null, low: {}, failed: [] };
    await this.#part('stuck', report, async () => void (report.stuck = await this.#stuck()));
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

  /** Withdrawals in flight past the bound, each alerted once per status it is stuck in; those no longer stuck end their episode. */
  async #stuck(): Promise<number[]> {
    const ps = this.#ps;
    const now = ps.now();
    const cutoff = new Date(now.getTime() - this.#s.stuckAfterMs).toISOString();
    const stuck: number[] = [];
    let raised = 0;
    const rows = streamPages(
      ps.db,
      (after: number | null, n) => ({ op: MONITOR.stuckPage, params: [cutoff, after ?? 0, n] }),
      (r) => r.id,
      STUCK_PAGE_ROWS,
    );
    for await (const r of rows) {
      const w = toStuck(r);
      stuck.push(w.id);
      if (raised < STUCK_ALERTS_PER_TICK && (await this.#alertStuck(w, now))) raised++;
      if (stuck.length >= STUCK_ROWS_MAX) {
        ps.log.warn({ component: 'monitor', rows_max: STUCK_ROWS_MAX }, 'more stuck withdrawals than one tick looks at');
        return stuck;
      }
    }
    const seen = new Set(stuck.map((id) => `withdrawal ${id}`));
    for (const subject of ps.state.openEpisodes(ALERT.stuck)) {
      if (seen.has(subject) || !ps.state.endEpisode(ALERT.stuck, subject)) continue;
      ps.log.info({ component: 'monitor', withdrawal: Number(subject.split(' ')[1]) }, 'withdrawal no longer stuck');
    }
    return stuck;
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
