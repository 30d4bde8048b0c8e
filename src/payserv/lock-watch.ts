import type { Logger } from '../log/index.js';
import { autopayLock, coinSendLock, type Locks } from './locks.js';
import type { AlertSink } from './state.js';

// Locks an operator must hear about. Nobody without payserv's key can take its locks, but a session
// that holds one (another payserv process with the same key, or someone who has that key) makes every
// call that needs it answer "try again", for as long as it holds it; and a lock of this process held
// for long means a call that does not finish. Neither is an integrity failure (nothing wrong was
// paid, so payouts stay enabled), but both stop payments silently: each is reported by Utils.ListLocks
// and `pscli status`, and raised as a `lock_held` alert once per lock per episode (the episode ends
// when a report finds the lock free again).

export const LOCK_HELD_ALERT = 'lock_held';

/** How often a running payserv looks (at most; and at least twice per held_max_ms). */
const WATCH_INTERVAL_MS_MAX = 60_000;
const WATCH_INTERVAL_MS_MIN = 1_000;

export interface ReportedLock {
  lock: string;
  /** `foreign`: a database session that is not this process's lock connection; `own`: this process. */
  holder: 'foreign' | 'own';
  /** The foreign session's server process, null for this process's own lock. */
  pid: number | null;
  /** Own: the method and client holding it. Foreign: the session as the server describes it. */
  by: string;
  /** Own: when it was taken. Foreign: when this process first found that session holding it (refused, or seen by a report). */
  since: string;
  held_ms: number;
  /** Held longer than [locks] held_max_ms. */
  over_max: boolean;
  /** What pg_stat_activity says of a foreign session (null when it does not tell this role). */
  backend_start: string | null;
  xact_start: string | null;
  state_change: string | null;
}

export interface LockReport {
  held_max_ms: number;
  reported: ReportedLock[];
}

export interface LockWatchOptions {
  locks: Locks;
  alerts: AlertSink;
  log: Logger;
  /** [locks] held_max_ms. */
  heldMaxMs: number;
  now?: () => Date;
}

/**
 * The send and autopay locks of each coin payserv pays on-chain or automatically: looked at by every
 * report, even before anyone was refused them (a coin whose lock is held pays nothing).
 */
export function coinLocks(ps: { drivers: ReadonlyMap<string, unknown>; autopay: ReadonlyMap<string, unknown> }): string[] {
  return [...new Set([...ps.drivers.keys(), ...ps.autopay.keys()])].sort().flatMap((tag) => [coinSendLock(tag), autopayLock(tag)]);
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export class LockWatch {
  readonly heldMaxMs: number;
  readonly #locks: Locks;
  readonly #alerts: AlertSink;
  readonly #log: Logger;
  readonly #now: () => Date;
  /** Each foreign-held lock: the sessions holding it, and since when this process has known. */
  readonly #foreign = new Map<string, { pids: string; since: Date }>();
  /** Each lock alerted in its current episode: which episode (who holds it, since when). */
  readonly #alerted = new Map<string, string>();

  constructor(opts: LockWatchOptions) {
    if (!Number.isSafeInteger(opts.heldMaxMs) || opts.heldMaxMs <= 0)
      throw new RangeError(`held_max_ms must be a positive integer, got ${opts.heldMaxMs}`);
    this.heldMaxMs = opts.heldMaxMs;
    this.#locks = opts.locks;
    this.#alerts = opts.alerts;
    this.#log = opts.log;
    this.#now = opts.now ?? (() => new Date());
  }

  /**
   * The report: foreign holders of `names` and of every lock this process was refused, and this
   * process's own locks held past heldMaxMs. Raises each newly reported lock's alert (awaited: the
   * alert is stored before the caller is answered) and ends the episodes of those no longer reported.
   */
  async report(names: Iterable<string>): Promise<LockReport> {
    const refusals = this.#locks.refusals();
    const checked = new Set([...names, ...refusals.keys()]);
    const foreign = await this.#locks.foreignHolders(checked);
    const now = this.#now();
    const reported: ReportedLock[] = [];

    const byLock = new Map<string, typeof foreign>();
    for (const h of foreign) byLock.set(h.name, [...(byLock.get(h.name) ?? []), h]);
    for (const name of this.#foreign.keys()) if (!checked.has(name)) this.#foreign.delete(name);
    for (const name of checked) {
      const holders = byLock.get(name);
      if (!holders) {
        this.#foreign.delete(name);
        this.#locks.forgetRefusal(name);
        continue;
      }
      const pids = holders.map((h) => h.pid).join(',');
      const refused = refusals.get(name);
      let known = this.#foreign.get(name);
      if (!known || known.pids !== pids) {
        const since = refused && (refused.pid === null || pids.split(',').includes(String(refused.pid))) ? refused.at : now;
        known = { pids, since };
        this.#foreign.set(name, known);
      }
      for (const h of holders) {
        const heldMs = now.getTime() - known.since.getTime();
        reported.push({
          lock: name,
          holder: 'foreign',
          pid: h.pid,
          by: `database session pid ${h.pid} (${h.mode}${h.application_name ? `, application ${JSON.stringify(h.application_name)}` : ''})`,
          since: known.since.toISOString(),
          held_ms: heldMs,
          over_max: heldMs > this.heldMaxMs,
          backend_start: iso(h.backend_start),
          xact_start: iso(h.xact_start),
          state_change: iso(h.state_change),
        });
      }
    }
    for (const l of this.#locks.list()) {
      const heldMs = now.getTime() - l.since.getTime();
      if (heldMs <= this.heldMaxMs || byLock.has(l.name)) continue;
      reported.push({
        lock: l.name,
        holder: 'own',
        pid: null,
        by: l.holder,
        since: l.since.toISOString(),
        held_ms: heldMs,
        over_max: true,
        backend_start: null,
        xact_start: null,
        state_change: null,
      });
    }
    await this.#alert(reported);
    return { held_max_ms: this.heldMaxMs, reported };
  }

  /** One alert per lock per episode: a foreign episode is its holders, an own one the moment it was taken. */
  async #alert(reported: ReportedLock[]): Promise<void> {
    const episodes = new Map<string, ReportedLock[]>();
    for (const r of reported) episodes.set(r.lock, [...(episodes.get(r.lock) ?? []), r]);
    for (const lock of this.#alerted.keys()) if (!episodes.has(lock)) this.#alerted.delete(lock);
    const raise: Array<Promise<unknown>> = [];
    for (const [lock, rs] of episodes) {
      const first = rs[0] as ReportedLock;
      const episode = first.holder === 'own' ? `own since ${first.since}` : `pids ${rs.map((r) => r.pid).join(',')} since ${first.since}`;
      if (this.#alerted.get(lock) === episode) continue;
      // Marked before the alert is awaited: a report running meanwhile does not raise it again.
      this.#alerted.set(lock, episode);
      const reason =
        first.holder === 'own'
          ? `lock ${lock} has been held by this payserv (${first.by}) for ${Math.round(first.held_ms / 1000)} s, over [locks] held_max_ms = ${this.heldMaxMs}`
          : `lock ${lock} is held by ${rs.map((r) => r.by).join(' and ')}, not by this payserv: every call that needs it answers "try again" until it is released`;
      raise.push(
        this.#alerts.raise(LOCK_HELD_ALERT, reason, { ...first, pids: rs.map((r) => r.pid) }).catch((e: Error) => {
          this.#log.error({ lock, err: e.message }, 'lock_held alert could not be raised');
        }),
      );
    }
    await Promise.all(raise);
  }

  /** Reports every interval (the caller's coins' locks and every refusal) until stopped; a failing report is logged, never thrown. */
  start(names: () => Iterable<string>): { stop(): void } {
    const intervalMs = Math.max(WATCH_INTERVAL_MS_MIN, Math.min(WATCH_INTERVAL_MS_MAX, Math.floor(this.heldMaxMs / 2)));
    let running = false;
    const timer = setInterval(() => {
      // One at a time: a slow database must not stack reports up.
      if (running) return;
      running = true;
      this.report(names())
        .catch((e: Error) => this.#log.error({ err: e.message }, 'lock report failed'))
        .finally(() => (running = false));
    }, intervalMs);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
}
