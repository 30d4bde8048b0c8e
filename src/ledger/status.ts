import type { WithdrawalStatus } from './records.js';

// The withdrawal state machine's edges (DESIGN §4): the one table both payserv (which makes status
// changes) and the checks (which verify a withdrawal's signed history) read.

// → processed (with its reversal row: credited back) from approved, send_retry and send_error: resolve's
// credit-back of a payment that provably never left (no transaction signed, or every one proved failed).
const NEXT: Record<WithdrawalStatus, readonly WithdrawalStatus[]> = {
  processing: ['pending', 'approved', 'processed'],
  pending: ['approved', 'sending', 'send_retry', 'send_error', 'processed'],
  approved: ['sending', 'send_retry', 'send_error', 'sent', 'processed'],
  // sending → sending: a replacement transaction (fee bump) for the same payment.
  sending: ['sending', 'sent', 'send_error'],
  send_error: ['approved', 'sending', 'send_retry', 'sent', 'processed'],
  send_retry: ['approved', 'sending', 'send_error', 'send_retry', 'processed'],
  sent: [],
  processed: [],
  declined: [],
};

export const FINAL_STATUSES: ReadonlySet<WithdrawalStatus> = new Set(['sent', 'processed', 'declined']);

export function isFinal(s: WithdrawalStatus): boolean {
  return FINAL_STATUSES.has(s);
}

export function canMove(from: WithdrawalStatus, to: WithdrawalStatus): boolean {
  return NEXT[from].includes(to);
}

/** The status a withdrawal's first signed entry must have. */
export function initialStatus(isReversal: boolean): WithdrawalStatus {
  return isReversal ? 'declined' : 'processing';
}
