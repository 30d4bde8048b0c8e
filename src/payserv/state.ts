import { Episodes } from '../alerts/episodes.js';
import type { Logger } from '../log/index.js';
import type { NoticeKind } from '../config/alert-kinds.js';

// payserv starts disabled. An operator enables it after the checks; any integrity failure disables
// it at once (fail-stop), records why, and every payout call answers ERROR with that reason until an
// operator has investigated and enabled it again.

export interface AlertSink {
  raise(kind: string, reason: string, details: Record<string, unknown>): Promise<unknown>;
  /** News that is not an alert (a payment sent): handed on, never awaited. */
  notice?(kind: NoticeKind, reason: string, details: Record<string, unknown>): void;
}

export interface ServiceStatus {
  enabled: boolean;
  /** Why payouts are refused (null when enabled). */
  reason: string | null;
  since: Date;
  failStops: number;
}

export class ServiceState {
  #enabled = false;
  #reason: string | null = 'payserv starts disabled: run the checks, then `pscli enable`';
  #since = new Date();
  #failStops = 0;
  /** Disabled by a fail-stop (not by an operator or at start): refusals say so by their code. */
  #failStopped = false;
  /** Alerts raised once per episode. */
  readonly #episodes = new Episodes();

  constructor(
    private readonly log: Logger,
    private readonly alerts: AlertSink,
  ) {}

  get enabled(): boolean {
    return this.#enabled;
  }

  /** Whether payouts are off because of a fail-stop (until an operator enables them again). */
  get failStopped(): boolean {
    return !this.#enabled && this.#failStopped;
  }

  status(): ServiceStatus {
    return { enabled: this.#enabled, reason: this.#reason, since: this.#since, failStops: this.#failStops };
  }

  enable(by: string): void {
    this.#enabled = true;
    this.#failStopped = false;
    this.#reason = null;
    this.#since = new Date();
    this.log.warn({ by }, 'payouts enabled');
  }

  disable(by: string, reason: string): void {
    this.#enabled = false;
    this.#failStopped = false;
    this.#reason = reason;
    this.#since = new Date();
    this.log.warn({ by, reason }, 'payouts disabled');
  }

  /**
   * Raises `kind` about `subject` (a withdrawal, a coin) once per `episode` of it (what makes this one
   * new: the status it is stuck in, since when a node fails): not on every look, and again once the
   * episode ended (endEpisode) or changed. True when it raised. Never throws: a failing sink is logged.
   */
  async alertOnce(kind: string, subject: string, episode: string, reason: string, details: Record<string, unknown>): Promise<boolean> {
    // Marked before the alert is awaited: a caller meanwhile does not raise it again.
    if (!this.#episodes.begin(kind, subject, episode)) return false;
    await this.alerts
      .raise(kind, reason, { subject, ...details })
      .catch((e: Error) => this.log.error({ kind, subject, err: e.message }, 'alert could not be raised'));
    return true;
  }

  /** News for the operators' channels (src/notify): returns at once, whatever the receivers do. Never throws. */
  notice(kind: NoticeKind, reason: string, details: Record<string, unknown>): void {
    try {
      this.alerts.notice?.(kind, reason, details);
    } catch (e) {
      this.log.error({ kind, err: (e as Error).message }, 'notice could not be sent');
    }
  }

  /** The episode of `kind` about `subject` is over (healthy again, no longer stuck); true when one was open. */
  endEpisode(kind: string, subject: string): boolean {
    return this.#episodes.end(kind, subject);
  }

  /** The subjects of `kind` whose episode is open. */
  openEpisodes(kind: string): string[] {
    return this.#episodes.subjects(kind);
  }

  /** An integrity failure: disable first (nothing may pay meanwhile), then tell the operators. */
  async failStop(reason: string, details: Record<string, unknown>): Promise<void> {
    this.#failStops++;
    this.disable('fail-stop', `integrity failure: ${reason}`);
    this.#failStopped = true;
    this.log.error({ reason, ...details }, 'FAIL-STOP: payouts disabled until an operator investigates and enables them');
    await this.alerts.raise('fail_stop', reason, details);
  }
}
