import { invariant } from '../../ledger/invariant.js';
import type { StatusEntry } from '../../ledger/records.js';

// Which transactions were sent for a withdrawal, read from its signed status history: every `sending`
// entry names the hash of an attempt, written before that attempt was broadcast. A run of consecutive
// `sending` entries is one payment (a fee bump adds an entry to the run); the run ends when the chain
// decides it (`sent`, `send_error`).

/**
 * The runs of `sending` entries, oldest first: per payment, the first entry naming each of its attempts, in
 * order. That entry is signed with its time (status_at): when the attempt was signed and stored.
 */
export function paymentRuns<E extends Pick<StatusEntry, 'status' | 'txHash'>>(history: readonly E[]): E[][] {
  const runs: E[][] = [];
  let run: E[] | null = null;
  for (const e of history) {
    if (e.status !== 'sending') {
      run = null;
      continue;
    }
    invariant(e.txHash, 'a sending status without a transaction hash');
    if (!run) runs.push((run = []));
    if (!run.some((x) => x.txHash === e.txHash)) run.push(e);
  }
  return runs;
}

/** The payments ever sent for a withdrawal, oldest first, each as the hashes of its attempts in order. */
export function paymentsOf(history: readonly Pick<StatusEntry, 'status' | 'txHash'>[]): string[][] {
  return paymentRuns(history).map((r) => r.map((e) => e.txHash as string));
}

/** The attempts of the payment a withdrawal in `sending` is waiting on. */
export function currentPayment(history: readonly Pick<StatusEntry, 'status' | 'txHash'>[]): string[] {
  const last = history[history.length - 1];
  if (last?.status !== 'sending') return [];
  return paymentsOf(history).at(-1) ?? [];
}
