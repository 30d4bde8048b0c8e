import type { Logger } from '../log/index.js';
import type { Channel } from './channels.js';
import { describeError } from './http.js';
import { channelsFor, type ChannelName, type Routes } from '../config/alert-kinds.js';
import { DETAILS_CHARS_MAX, redact, type Notice } from './message.js';

// The notification queue: send() only files a notice and returns, so no receiver, dead, slow or hanging,
// ever delays the caller (the state machine, the monitor, a fail-stop). Each channel drains its own queue
// in the background, one delivery at a time and in order, each bounded by the timeout and retried with
// doubling pauses up to attempts_max; then it is given up (logged, and the alerts record hook_failed).
// Every notice is cleaned of the secrets payserv knows before any channel sees it. A full queue never
// drops an urgent notice (a fail-stop) for news: urgent ones go ahead of the rest and push out the oldest
// other one; the notices left out are counted per kind and go out as one "N more" notice once there is room.

export interface RetrySettings {
  /** Deliveries tried per notice and channel, the first included. */
  attemptsMax: number;
  /** The pause after the first failure; doubled after each next one. */
  backoffMs: number;
  backoffMaxMs: number;
}

export interface NotifierOptions {
  log: Logger;
  channels: readonly Channel[];
  routes: Routes;
  retry: RetrySettings;
  /** Bound on one delivery. */
  timeoutMs: number;
  /** Notices waiting per channel at most; past it the others are left out for an urgent one, and counted (see the top). */
  queueMax: number;
  /** Values never sent anywhere: tokens, passwords, webhook URLs, the database URL. */
  secrets?: Iterable<string>;
}

/** A notice a channel could not take within its attempts (or when payserv stopped). */
export interface GivenUp {
  channel: Channel;
  notice: Notice;
  attempts: number;
  error: string;
  ms: number;
}

/** The pause before attempt `attempt + 1`: backoff_ms doubled per failure so far, at most backoff_max_ms. */
export function backoffAfter(attempt: number, r: RetrySettings): number {
  return Math.min(r.backoffMaxMs, r.backoffMs * 2 ** Math.min(attempt - 1, 30));
}

/** Kinds that go ahead of the rest in a channel's queue and are never left out for them. */
export const URGENT_KINDS: ReadonlySet<string> = new Set(['fail_stop', 'node_identity', 'payment_reorged', 'coin_halted']);
const urgent = (n: Notice): boolean => URGENT_KINDS.has(n.kind);

interface Lane {
  channel: Channel;
  jobs: Notice[];
  running: Promise<void> | null;
  /** Notices left out because the queue was full, by kind: told as one "N more" notice each once there is room. */
  omitted: Map<string, number>;
}

/** A signal that fires after `ms` (saying so) or when `outer` does. */
function deadline(ms: number, outer: AbortSignal): { signal: AbortSignal; done(): void } {
  const c = new AbortController();
  const timer = setTimeout(() => c.abort(new Error(`timed out after ${ms} ms`)), ms);
  const onOuter = (): void => c.abort(outer.reason);
  outer.addEventListener('abort', onOuter, { once: true });
  return {
    signal: c.signal,
    done() {
      clearTimeout(timer);
      outer.removeEventListener('abort', onOuter);
    },
  };
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

function checkSettings(o: NotifierOptions): void {
  const ints: Array<[string, number]> = [
    ['attemptsMax', o.retry.attemptsMax],
    ['backoffMs', o.retry.backoffMs],
    ['backoffMaxMs', o.retry.backoffMaxMs],
    ['timeoutMs', o.timeoutMs],
    ['queueMax', o.queueMax],
  ];
  for (const [k, v] of ints)
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`notifier: ${k} must be a positive integer, got ${v}`);
}

export class Notifier {
  readonly #log: Logger;
  readonly #o: NotifierOptions;
  readonly #lanes = new Map<ChannelName, Lane>();
  readonly #secrets = new Set<string>();
  readonly #stop = new AbortController();
  #stopping = false;
  #onGiveUp: ((g: GivenUp) => Promise<void>) | null = null;

  constructor(o: NotifierOptions) {
    checkSettings(o);
    this.#o = o;
    this.#log = o.log.child({ component: 'notify' });
    for (const c of o.channels) this.addChannel(c);
    this.addSecrets(o.secrets ?? []);
  }

  /** A channel whose secret arrived later (from the store, once it is open). */
  addChannel(c: Channel): void {
    if (this.#lanes.has(c.name)) throw new Error(`notifier: channel ${c.name} added twice`);
    this.#lanes.set(c.name, { channel: c, jobs: [], running: null, omitted: new Map() });
  }

  addSecrets(values: Iterable<string>): void {
    for (const v of values) if (v) this.#secrets.add(v);
  }

  get channels(): ChannelName[] {
    return [...this.#lanes.keys()];
  }

  /** Called for each notice given up (the alerts record a hook_failed row); it must not throw. */
  onGiveUp(fn: (g: GivenUp) => Promise<void>): void {
    this.#onGiveUp = fn;
  }

  /** Files `n` for each channel its kind is routed to (`except` left out) and returns at once. Never throws. */
  send(n: Notice, except?: ChannelName): void {
    const to = channelsFor(this.#o.routes, this.channels, n.kind).filter((c) => c !== except);
    if (!to.length) return;
    const about = { kind: n.kind, id: n.id };
    if (this.#stopping) return void this.#log.warn({ ...about, channels: to }, 'notification not sent: payserv is stopping');
    const clean = this.#clean(n);
    for (const name of to) {
      const lane = this.#lanes.get(name) as Lane;
      if (this.#file(lane, clean)) this.#kick(lane);
    }
  }

  /** Files `n` in the lane: urgent ones ahead of the others; a full queue leaves out a non-urgent one (counted). False: not filed. */
  #file(lane: Lane, n: Notice): boolean {
    if (lane.jobs.length >= this.#o.queueMax) {
      const out = urgent(n) ? lane.jobs.findIndex((j) => !urgent(j)) : -1;
      if (out < 0 && urgent(n)) {
        const about = { kind: n.kind, id: n.id, channel: lane.channel.name, queue_max: this.#o.queueMax };
        this.#log.error(about, 'notification dropped: the channel queue is full of urgent notices');
        return false;
      }
      this.#omit(lane, out < 0 ? n : (lane.jobs.splice(out, 1)[0] as Notice));
      if (out < 0) return false;
    }
    const at = urgent(n) ? lane.jobs.findIndex((j) => !urgent(j)) : -1;
    if (at < 0) lane.jobs.push(n);
    else lane.jobs.splice(at, 0, n);
    return true;
  }

  #omit(lane: Lane, n: Notice): void {
    const before = lane.omitted.get(n.kind) ?? 0;
    lane.omitted.set(n.kind, before + 1);
    if (before === 0)
      this.#log.warn(
        { kind: n.kind, id: n.id, channel: lane.channel.name, queue_max: this.#o.queueMax },
        'notifications left out: the channel queue is full (counted, told as one notice once there is room)',
      );
  }

  /** The "N more" notice of each kind left out, as room allows. */
  #tellOmitted(lane: Lane): void {
    for (const [kind, count] of lane.omitted) {
      if (lane.jobs.length >= this.#o.queueMax) return;
      lane.omitted.delete(kind);
      lane.jobs.push({
        id: null,
        at: new Date().toISOString(),
        kind,
        reason: `${count} more ${kind} notification(s) left out: this channel's queue was full ([alerts] queue_max = ${this.#o.queueMax}); the alerts table (pscli alerts) has every alert`,
        details: { left_out: count },
      });
    }
  }

  /** Resolves once every queue is empty and no delivery runs (tests, and stop). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#lanes.values()].map((l) => l.running).filter((r) => r !== null);
      if (!running.length) return;
      await Promise.all(running);
    }
  }

  /** No new notices; those queued get `graceMs` to go out, then deliveries are cut and the rest dropped (logged). */
  async stop(graceMs: number): Promise<void> {
    this.#stopping = true;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((r) => (timer = setTimeout(r, graceMs)));
    await Promise.race([this.idle(), grace]);
    clearTimeout(timer);
    this.#stop.abort(new Error('payserv is stopping'));
    await this.idle();
  }

  #kick(lane: Lane): void {
    lane.running ??= this.#drain(lane).finally(() => {
      lane.running = null;
      if (lane.jobs.length && !this.#stop.signal.aborted) this.#kick(lane);
    });
  }

  async #drain(lane: Lane): Promise<void> {
    while (lane.jobs.length) {
      if (this.#stop.signal.aborted) {
        const dropped = lane.jobs.splice(0);
        this.#log.error(
          { channel: lane.channel.name, dropped: dropped.length, kinds: [...new Set(dropped.map((n) => n.kind))] },
          'notifications dropped: payserv stopped before they were delivered',
        );
        return;
      }
      await this.#deliver(lane.channel, lane.jobs.shift() as Notice);
      this.#tellOmitted(lane);
    }
  }

  async #deliver(channel: Channel, n: Notice): Promise<void> {
    const r = this.#o.retry;
    const started = Date.now();
    const about = { channel: channel.name, target: channel.target, kind: n.kind, id: n.id };
    for (let attempt = 1; ; attempt++) {
      const d = deadline(this.#o.timeoutMs, this.#stop.signal);
      try {
        await channel.deliver(n, d.signal);
        this.#log.info({ ...about, attempt, ms: Date.now() - started }, 'notification delivered');
        return;
      } catch (e) {
        const error = redact(describeError(e), this.#secrets);
        if (attempt >= r.attemptsMax || this.#stop.signal.aborted) {
          this.#log.error({ ...about, attempts: attempt, err: error, ms: Date.now() - started }, 'notification given up');
          await this.#onGiveUp?.({ channel, notice: n, attempts: attempt, error, ms: Date.now() - started }).catch((x: Error) =>
            this.#log.error({ ...about, err: x.message }, 'a given-up notification could not be recorded'),
          );
          return;
        }
        const wait = backoffAfter(attempt, r);
        this.#log.warn({ ...about, attempt, err: error, retry_in_ms: wait }, 'notification failed: retrying');
        await pause(wait, this.#stop.signal);
      } finally {
        d.done();
      }
    }
  }

  /** The notice with every known secret replaced (and said so in the log): what channels see. */
  #clean(n: Notice): Notice {
    const reason = redact(n.reason, this.#secrets);
    const full = JSON.stringify(n.details);
    const json =
      full.length <= DETAILS_CHARS_MAX ? full : JSON.stringify({ left_out: `details of ${full.length} characters: see the alert row` });
    const cleaned = redact(json, this.#secrets);
    if (reason !== n.reason || cleaned !== json)
      this.#log.warn({ kind: n.kind, id: n.id }, 'a notification carried a secret: replaced by *** before sending');
    if (reason === n.reason && cleaned === full) return n;
    let details: Record<string, unknown>;
    try {
      details = JSON.parse(cleaned) as Record<string, unknown>;
    } catch {
      details = { redacted: 'the details carried a secret' };
    }
    return { ...n, reason, details };
  }
}
