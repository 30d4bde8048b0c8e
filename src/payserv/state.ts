import type { Logger } from '../log/index.js';

// payserv starts disabled. An operator enables it after the checks; any integrity failure disables
// it at once (fail-stop), records why, and every payout call answers ERROR with that reason until an
// operator has investigated and enabled it again.

export interface AlertSink {
  raise(kind: string, reason: string, details: Record<string, unknown>): Promise<unknown>;
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

  constructor(
    private readonly log: Logger,
    private readonly alerts: AlertSink,
  ) {}

  get enabled(): boolean {
    return this.#enabled;
  }

  status(): ServiceStatus {
    return { enabled: this.#enabled, reason: this.#reason, since: this.#since, failStops: this.#failStops };
  }

  enable(by: string): void {
    this.#enabled = true;
    this.#reason = null;
    this.#since = new Date();
    this.log.warn({ by }, 'payouts enabled');
  }

  disable(by: string, reason: string): void {
    this.#enabled = false;
    this.#reason = reason;
    this.#since = new Date();
    this.log.warn({ by, reason }, 'payouts disabled');
  }

  /** An integrity failure: disable first (nothing may pay meanwhile), then tell the operators. */
  async failStop(reason: string, details: Record<string, unknown>): Promise<void> {
    this.#failStops++;
    this.disable('fail-stop', `integrity failure: ${reason}`);
    this.log.error({ reason, ...details }, 'FAIL-STOP: payouts disabled until an operator investigates and enables them');
    await this.alerts.raise('fail_stop', reason, details);
  }
}
