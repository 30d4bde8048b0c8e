import { Alerts } from '../alerts/alerts.js';
import { Episodes } from '../alerts/episodes.js';

// The intake's alerts, through the same sink as payserv's (src/alerts/alerts.ts: a payserv_alerts row, an
// error-level log line, the [alerts] hook). Raised in the background: a slow or failing hook never holds
// up a call or an adapter's interval, and raise() itself never throws.

/**
 * What the intake alerts about: a block its chain contradicts, rows that do not verify, a block or account a pool
 * adapter gave up on, a miner address it cannot pay.
 */
export const INTAKE_ALERT = {
  blockForged: 'block_forged',
  blockRefused: 'block_refused',
  integrity: 'intake_integrity',
  notMirrored: 'account_not_mirrored',
  unpayableAddress: 'miner_address_unpayable',
} as const;

export class IntakeAlerts {
  readonly #alerts: Alerts;
  readonly #episodes = new Episodes();
  readonly #pending = new Set<Promise<unknown>>();

  constructor(alerts: Alerts) {
    this.#alerts = alerts;
  }

  /** Raises the alert in the background. */
  raise(kind: string, reason: string, details: Record<string, unknown>): void {
    // raise() never rejects; the catch is for certain, since an unhandled rejection would end the intake.
    const p = this.#alerts
      .raise(kind, reason, details)
      .catch(() => undefined)
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Raises it once per subject in this process (a block refused again each interval is not alerted again); true when raised. */
  once(kind: string, subject: string, reason: string, details: Record<string, unknown>): boolean {
    if (!this.#episodes.begin(kind, subject, 'open')) return false;
    this.raise(kind, reason, { subject, ...details });
    return true;
  }

  /** Every alert raised so far has been stored and its hook delivered or given up (at stop, so none is cut short; each delivery is bounded by its timeout). */
  async settled(): Promise<void> {
    await Promise.all([...this.#pending]);
    await this.#alerts.idle();
  }
}

/** The subject of a block's alerts, the same from the intake and from a pool adapter: one alert per block. */
export const blockSubject = (coinTag: string, hash: string): string => `${coinTag} 0x${hash.replace(/^0x/i, '').toLowerCase()}`;
