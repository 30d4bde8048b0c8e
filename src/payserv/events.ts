import type { Amount } from '../money/amount.js';
import type { StatusSignature } from '../ledger/records.js';
import type { Payserv } from './context.js';

// What the state machine tells an observer (the metrics, src/metrics) at the one place each event
// happens. Observation only: never awaited, and an observer that throws is logged, never felt by a payment.

/** How a broadcast of stored bytes ended: the node took them, refused them, or its answer never came; */
/** contradicted: the node's answer contradicts the stored bytes (a fail-stop). */
export type BroadcastOutcome = 'accepted' | 'refused' | 'unknown' | 'contradicted';

export interface PaymentEvents {
  broadcast(coin: string, outcome: BroadcastOutcome): void;
  /** A withdrawal recorded sent; `fee`: its share of the transaction's fee; `approvedMs`: since it was approved, null if unknown. */
  confirmed(coin: string, fee: Amount | null, approvedMs: number | null): void;
  /** A payment the chain proved failed (send_error); `fee`: what the failed transaction still cost, if anything. */
  failed(coin: string, fee: Amount | null): void;
  /** One verification of a withdrawal's account before a payout call's body ran. */
  verified(method: string, ms: number, ok: boolean): void;
  autopayRun(coin: string, outcome: string): void;
  /** The monitor's health check of a coin's node. */
  nodeHealth(coin: string, ok: boolean): void;
}

/** Tells ps's observer, if any; an observer's failure is logged and goes no further. */
export function tell(ps: Pick<Payserv, 'events' | 'log'>, event: (e: PaymentEvents) => void): void {
  if (!ps.events) return;
  try {
    event(ps.events);
  } catch (e) {
    ps.log.error({ component: 'metrics', err: (e as Error).message }, 'metrics observer failed');
  }
}

/** When the withdrawal was approved for payment: its first signed status on the way out (approved, or sending when paid at once). */
export function approvedAt(history: readonly StatusSignature[]): Date | null {
  const first = history.find((h) => h.status === 'approved' || h.status === 'sending' || h.status === 'send_retry');
  return first ? first.createdAt : null;
}
