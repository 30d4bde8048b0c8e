import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { formatAmount, fromBaseUnits, sub, toBaseUnits, type Amount } from '../money/amount.js';
import { METRICS, TYPICAL_PAYOUT_SAMPLE } from '../data/ops/metrics.js';
import { encodeCoin } from '../ledger/encoding.js';
import { checkHistory } from '../ledger/history.js';
import type { Coin, Signed } from '../ledger/records.js';
import { COIN_SIGNER } from '../ledger/roles.js';
import { loadCoins, newestSentWithHistory } from '../store/reads.js';
import { MONITOR } from '../data/ops/monitor.js';
import { streamPages } from '../data/stream.js';
import { inFlightFaults, toStuck } from '../payserv/monitor.js';
import { openView, type LedgerView } from '../verify/view.js';
import { CERT_WARN_DAYS, expiresWithin } from '../esman/pki-files.js';
import type { Logger } from '../log/index.js';
import type { Payserv } from '../payserv/context.js';
import type { BroadcastOutcome, PaymentEvents } from '../payserv/events.js';
import { readCertificates } from './certificates.js';
import { HEALTH_STATES, healthOf } from './health.js';

// payserv's Prometheus metrics. Counters and histograms are told by the state machine as each event
// happens (PaymentEvents); gauges that read the database or the nodes are computed when scraped, by
// aggregate queries that return a few rows. Amounts are floats in the coin's unit, for display only: the
// ledger stays exact. A part of a scrape that fails or runs out of time leaves its metrics absent and
// counts payserv_scrape_errors_total{part}; it never fails the scrape. Certificates are read from the state
// directory's files, before the key too: an expiring certificate is worth knowing while payserv is locked.

/** Seconds from approval to sent (confirmed): a minute to a day. */
const APPROVE_TO_SENT_BUCKETS_S = [60, 300, 600, 1_800, 3_600, 7_200, 21_600, 86_400];
/** Seconds one account verification takes: milliseconds to a slow minute. */
const VERIFICATION_BUCKETS_S = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Scrape-time parts, each failing on its own. */
export const SCRAPE_PARTS = ['withdrawals', 'in_flight', 'hot_wallet', 'typical_payout', 'certificates', 'timeout'] as const;
type Part = (typeof SCRAPE_PARTS)[number];

const coins = (a: Amount): number => Number(formatAmount(a));
/** In-flight rows whose signed history one scrape verifies at most (the rest are counted unverified until a next scrape). */
const IN_FLIGHT_VERIFY_PER_SCRAPE = 200;
/** In-flight rows one scrape reads at most (the monitor's bound); past it the part fails. */
const IN_FLIGHT_ROWS_MAX = 100_000;
const IN_FLIGHT_PAGE_ROWS = 1_000;
/** Sent payouts remembered as verified at most (a few scrapes' samples of every coin). */
const VERIFIED_SENT_MAX = 10_000;

/** A count the database returned as text: rows are input like any other. */
function count(text: string, what: string): number {
  if (!/^\d{1,15}$/.test(text)) throw new Error(`${what}: ${JSON.stringify(text)} is not a count`);
  return Number(text);
}

export interface MetricsOptions {
  /** A scrape's database and node reads together, at most ([metrics] scrape_timeout_ms). */
  scrapeTimeoutMs: number;
  /** Where payserv's certificates are (its state directory); unset: no certificate metrics. */
  stateDir?: string;
  log: Logger;
}

export class PayservMetrics implements PaymentEvents {
  readonly registry = new Registry();
  /** The running payserv; null while it waits for its key. */
  #ps: Payserv | null = null;
  #refreshing: Promise<void> | null = null;
  readonly #timeoutMs: number;
  readonly #stateDir: string | undefined;
  readonly #log: Logger;
  /** Sent payouts whose history verified: id → what was verified (sent is final; a changed row is verified again). */
  readonly #verifiedSent = new Map<number, string>();

  readonly #broadcast = this.#counter('payserv_payments_broadcast_total', 'Broadcasts of stored payment bytes, by how the node answered', [
    'coin',
    'outcome',
  ]);
  readonly #confirmed = this.#counter('payserv_payments_confirmed_total', 'Withdrawals recorded sent (the chain confirmed their payment)', [
    'coin',
  ]);
  readonly #failed = this.#counter('payserv_payments_failed_total', 'Withdrawals whose payment the chain proved failed (send_error)', [
    'coin',
  ]);
  readonly #fees = this.#counter(
    'payserv_fees_spent_coins_total',
    'Fees paid on-chain by confirmed and failed payments, in coin units (approximate)',
    ['coin'],
  );
  readonly #approveToSent = new Histogram({
    name: 'payserv_approve_to_sent_seconds',
    help: 'Time from a withdrawal approved for payment to its payment confirmed (sent)',
    labelNames: ['coin'],
    buckets: APPROVE_TO_SENT_BUCKETS_S,
    registers: [this.registry],
  });
  readonly #verification = new Histogram({
    name: 'payserv_verification_seconds',
    help: "Time to verify a withdrawal's account before a payout call acts on it",
    labelNames: ['method', 'outcome'],
    buckets: VERIFICATION_BUCKETS_S,
    registers: [this.registry],
  });
  readonly #autopay = this.#counter('payserv_autopay_runs_total', 'Autopay runs by outcome (done, stopped, halted, skipped, error)', [
    'coin',
    'outcome',
  ]);
  readonly #nodeHealthy = this.#gauge('payserv_node_healthy', "1 when the coin's node passed the monitor's last health check, else 0", [
    'coin',
  ]);
  readonly #nodeChecked = this.#gauge('payserv_node_health_checked_timestamp_seconds', "When the monitor last checked the coin's node", [
    'coin',
  ]);
  readonly #scrapeErrors = this.#counter(
    'payserv_scrape_errors_total',
    'Parts of a scrape that failed or ran out of time (their metrics absent)',
    ['part'],
  );
  readonly #withdrawals = this.#gauge('payserv_withdrawals', 'Withdrawals by coin and status', ['coin', 'status']);
  readonly #inFlight = this.#gauge(
    'payserv_payments_in_flight',
    'Withdrawals in sending or send_retry whose signed status history verified',
    ['coin', 'status'],
  );
  readonly #inFlightUnverified = this.#gauge(
    'payserv_payments_in_flight_unverified',
    'Rows in sending or send_retry whose signed status history did not verify (forged) or is not verified yet',
    ['coin', 'status'],
  );
  /** In-flight rows verified: id → the status entry verified (not verified again until it changes). */
  readonly #inFlightVerified = new Map<number, string>();
  /** In-flight rows that did not verify: id → the status entry seen. */
  readonly #inFlightForged = new Map<number, string>();
  readonly #inFlightAge = this.#gauge(
    'payserv_payments_in_flight_oldest_seconds',
    'How long the oldest verified withdrawal in sending or send_retry has been in that status',
    ['coin', 'status'],
  );
  readonly #balance = this.#gauge('payserv_hot_wallet_balance_coins', "The hot wallet's spendable balance, in coin units (approximate)", [
    'coin',
  ]);
  readonly #typical = this.#gauge(
    'payserv_typical_payout_coins',
    'Median value paid out by the newest sent payouts, in coin units (approximate)',
    ['coin'],
  );
  readonly #covered = this.#gauge('payserv_hot_wallet_payouts_covered', 'How many typical payouts the hot wallet covers (whole payouts)', [
    'coin',
  ]);

  readonly #certExpiry = this.#gauge(
    'payserv_certificate_expiry_seconds',
    'Time left until each certificate of the state directory expires (negative once expired)',
    ['kind', 'name'],
  );
  readonly #certsExpiring = this.#gauge(
    'payserv_certificates_expiring',
    'Certificates of the state directory expiring within the window, or expired',
    ['within'],
  );

  constructor(opts: MetricsOptions) {
    this.#timeoutMs = opts.scrapeTimeoutMs;
    this.#stateDir = opts.stateDir;
    this.#log = opts.log;
    for (const part of SCRAPE_PARTS) this.#scrapeErrors.inc({ part }, 0);
    // Read from payserv's state when scraped: nothing to tell, nothing to forget.
    const state = this.#gauge(
      'payserv_state',
      "payserv's state: 1 for the current one (ready, locked, disabled, fail_stopped)",
      ['state'],
      () => {
        const now = healthOf(this.#ps?.state ?? null).status;
        for (const s of HEALTH_STATES) state.set({ state: s }, s === now ? 1 : 0);
      },
    );
    const enabled: Gauge = this.#gauge('payserv_enabled', '1 while payouts are enabled, else 0', [], () => {
      enabled.set(this.#ps?.state.enabled ? 1 : 0);
    });
    const failStops: Counter = new Counter({
      name: 'payserv_fail_stops_total',
      help: 'Fail-stops (integrity failures that disabled payouts) since start',
      registers: [this.registry],
      collect: () => {
        failStops.reset();
        failStops.inc(this.#ps?.state.status().failStops ?? 0);
      },
    });
    const locks = this.#gauge('payserv_lock_held_seconds', "How long each of this payserv's locks has been held", ['lock'], () => {
      locks.reset();
      const ps = this.#ps;
      if (!ps) return;
      const now = ps.now().getTime();
      for (const l of ps.locks.list()) locks.set({ lock: l.name }, (now - l.since.getTime()) / 1000);
    });
  }

  /** payserv has its key and runs: its state and database from now on, and it tells its events here. */
  attach(ps: Payserv): void {
    this.#ps = ps;
    ps.events = this;
  }

  /** payserv's state, null while it waits for its key. */
  get state(): Payserv['state'] | null {
    return this.#ps?.state ?? null;
  }

  // ---- events (PaymentEvents) ----

  broadcast(coin: string, outcome: BroadcastOutcome): void {
    this.#broadcast.inc({ coin, outcome });
  }

  confirmed(coin: string, fee: Amount | null, approvedMs: number | null): void {
    this.#confirmed.inc({ coin });
    if (fee !== null) this.#fees.inc({ coin }, coins(fee));
    if (approvedMs !== null && approvedMs >= 0) this.#approveToSent.observe({ coin }, approvedMs / 1000);
  }

  failed(coin: string, fee: Amount | null): void {
    this.#failed.inc({ coin });
    if (fee !== null) this.#fees.inc({ coin }, coins(fee));
  }

  verified(method: string, ms: number, ok: boolean): void {
    this.#verification.observe({ method, outcome: ok ? 'verified' : 'refused' }, ms / 1000);
  }

  autopayRun(coin: string, outcome: string): void {
    this.#autopay.inc({ coin, outcome });
  }

  nodeHealth(coin: string, ok: boolean): void {
    this.#nodeHealthy.set({ coin }, ok ? 1 : 0);
    this.#nodeChecked.set({ coin }, Date.now() / 1000);
  }

  // ---- scrape ----

  /** The exposition text. Never throws for a failing part; one refresh at a time (a scrape during one shares it). */
  async scrape(): Promise<string> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = null));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      this.#refreshing.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), this.#timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut) this.#scrapeErrors.inc({ part: 'timeout' });
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async #refresh(): Promise<void> {
    const scraped = [
      this.#withdrawals,
      this.#inFlight,
      this.#inFlightAge,
      this.#inFlightUnverified,
      this.#balance,
      this.#typical,
      this.#covered,
      this.#certExpiry,
    ];
    for (const g of [...scraped, this.#certsExpiring]) g.reset();
    const stateDir = this.#stateDir;
    if (stateDir !== undefined) await this.#part('certificates', async () => this.#readCertificates(stateDir));
    const ps = this.#ps;
    if (!ps) return;
    await Promise.all([
      this.#part('withdrawals', () => this.#readWithdrawals(ps)),
      this.#part('in_flight', () => this.#readInFlight(ps)),
      this.#readWallets(ps),
    ]);
  }

  async #part<T>(part: Part, read: () => Promise<T>): Promise<T | null> {
    try {
      return await read();
    } catch (e) {
      this.#scrapeErrors.inc({ part });
      this.#log.warn(
        { component: 'metrics', part, err: (e as Error).message },
        'metrics part failed: its metrics are absent from this scrape',
      );
      return null;
    }
  }

  /** Each certificate's time left, and how many are due; a file that cannot be read fails the part (the others still shown). */
  #readCertificates(stateDir: string): void {
    const { certs, unreadable } = readCertificates(stateDir);
    const now = this.#ps?.now() ?? new Date();
    for (const c of certs) this.#certExpiry.set({ kind: c.kind, name: c.name }, (c.notAfter - now.getTime()) / 1000);
    const due = certs.filter((c) => expiresWithin(c.notAfter, now, CERT_WARN_DAYS)).length;
    this.#certsExpiring.set({ within: `${CERT_WARN_DAYS}d` }, due);
    if (unreadable.length)
      throw new Error(`certificate(s) that cannot be read: ${unreadable.map((u) => `${u.file} (${u.err})`).join('; ')}`);
  }

  async #readWithdrawals(ps: Payserv): Promise<void> {
    const rows = await ps.db.query(METRICS.withdrawalsByStatus);
    for (const r of rows)
      if (r.n !== '0') this.#withdrawals.set({ coin: r.tag, status: r.status }, count(r.n, `withdrawals of ${r.tag} ${r.status}`));
  }

  /**
   * Payments in flight the monitor's way: each row's signed status history verified (remembered per status entry), its
   * age from the signed time of that entry. A row that does not verify, or is not verified yet, is counted apart.
   */
  async #readInFlight(ps: Payserv): Promise<void> {
    const now = ps.now().getTime();
    const tags = new Map((await loadCoins(ps.db)).map((c) => [c.id, c.tag]));
    const verified = new Map<string, { n: number; oldest: number }>();
    const unverified = new Map<string, number>();
    const seen = new Set<number>();
    let budget = IN_FLIGHT_VERIFY_PER_SCRAPE;
    let view: LedgerView | null = null;
    const rows = streamPages(
      ps.db,
      (after: number | null, n) => ({ op: MONITOR.stuckPage, params: ['infinity', after ?? 0, n] }),
      (r) => r.id,
      IN_FLIGHT_PAGE_ROWS,
    );
    for await (const r of rows) {
      const w = toStuck(r);
      seen.add(w.id);
      const labels = JSON.stringify([tags.get(w.coinId) ?? `coin_id=${w.coinId}`, w.status]);
      const key = `${w.status} ${w.signedAt?.getTime() ?? 'none'}`;
      if (this.#inFlightVerified.get(w.id) !== key) {
        if (this.#inFlightForged.get(w.id) === key || budget <= 0) {
          unverified.set(labels, (unverified.get(labels) ?? 0) + 1);
          continue;
        }
        budget--;
        view ??= await openView(ps.db, ps.trust, ps.local);
        const problems = await inFlightFaults(ps, view, w.id);
        if (problems === null) continue;
        if (problems.length) {
          this.#inFlightForged.set(w.id, key);
          unverified.set(labels, (unverified.get(labels) ?? 0) + 1);
          continue;
        }
        this.#inFlightVerified.set(w.id, key);
      }
      const v = verified.get(labels) ?? { n: 0, oldest: now };
      verified.set(labels, { n: v.n + 1, oldest: Math.min(v.oldest, w.since.getTime()) });
      if (seen.size >= IN_FLIGHT_ROWS_MAX) throw new Error(`more than ${IN_FLIGHT_ROWS_MAX} withdrawals in flight: not all counted`);
    }
    for (const m of [this.#inFlightVerified, this.#inFlightForged]) for (const id of [...m.keys()]) if (!seen.has(id)) m.delete(id);
    const labelsOf = (k: string) => {
      const [coin, status] = JSON.parse(k) as [string, string];
      return { coin, status };
    };
    for (const [k, v] of verified) {
      this.#inFlight.set(labelsOf(k), v.n);
      this.#inFlightAge.set(labelsOf(k), Math.max(0, (now - v.oldest) / 1000));
    }
    for (const [k, n] of unverified) this.#inFlightUnverified.set(labelsOf(k), n);
  }

  /** Each paying coin's hot wallet (its node, or its reserved inputs) and how many typical payouts it covers. */
  async #readWallets(ps: Payserv): Promise<void> {
    if (!ps.drivers.size) return;
    const view = await this.#part('typical_payout', () => openView(ps.db, ps.trust, ps.local));
    if (!view) return;
    const byTag = new Map([...view.coins.values()].map((c) => [c.tag, c]));
    await Promise.all(
      [...ps.drivers].map(async ([tag, driver]) => {
        const coin = byTag.get(tag);
        if (!coin) return;
        const median = await this.#part('typical_payout', async () => this.#typicalPayout(ps, view, coin));
        await this.#part('hot_wallet', async () => {
          const base = await driver.spendable(ps.db);
          this.#balance.set({ coin: tag }, coins(fromBaseUnits(base, coin.decimals)));
          if (median === null) return;
          const payout = toBaseUnits(median, coin.decimals);
          this.#typical.set({ coin: tag }, coins(median));
          if (payout > 0n) this.#covered.set({ coin: tag }, Number(base / payout));
        });
      }),
    );
  }

  /**
   * The median paid out (amount − fee) by the coin's newest sent payouts, from verified rows only: the coin's signature
   * and each payout's signed history (which covers its amount and fee). A row that does not verify fails the part (its
   * metrics absent): one SQL edit of an amount can hide the number, never change it. Null: no payout yet.
   */
  async #typicalPayout(ps: Payserv, view: LedgerView, coin: Signed<Coin>): Promise<Amount | null> {
    const why = view.book.check(encodeCoin(coin), coin.sigKeyId, coin.signature, COIN_SIGNER, coin.updatedAt);
    if (why) throw new Error(`coin ${coin.tag}: ${why}`);
    const paid: Amount[] = [];
    const forged: number[] = [];
    for (const { withdrawal: w, history } of await newestSentWithHistory(ps.db, coin.id, TYPICAL_PAYOUT_SAMPLE)) {
      const last = history[history.length - 1]?.signature;
      const key = `${w.statusSeq} ${last ? Buffer.from(last).toString('hex') : ''} ${formatAmount(w.amount)} ${formatAmount(w.fee)}`;
      if (this.#verifiedSent.get(w.id) !== key) {
        if (checkHistory(w, history, view.book).length) {
          forged.push(w.id);
          continue;
        }
        if (this.#verifiedSent.size >= VERIFIED_SENT_MAX) this.#verifiedSent.clear();
        this.#verifiedSent.set(w.id, key);
      }
      paid.push(sub(w.amount, w.fee));
    }
    if (forged.length)
      throw new Error(`coin ${coin.tag}: sent withdrawal(s) ${forged.slice(0, 10).join(', ')} do not verify against their signed history`);
    paid.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return paid.length ? (paid[Math.ceil(paid.length / 2) - 1] as Amount) : null;
  }

  #counter<L extends string>(name: string, help: string, labelNames: L[]): Counter<L> {
    return new Counter({ name, help, labelNames, registers: [this.registry] });
  }

  #gauge<L extends string>(name: string, help: string, labelNames: L[], collect?: () => void): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}) });
  }
}
