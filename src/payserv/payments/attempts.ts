import { invariant } from '../../ledger/invariant.js';
import type { StatusEntry } from '../../ledger/records.js';

// Which transactions were sent for a withdrawal, read from its signed status history: every `sending`
// entry names the hash of an attempt, written before that attempt was broadcast. A run of consecutive
// `sending` entries is one payment (a fee bump adds an entry to the run); the run ends when the chain
// decides it (`sent`, `send_error`).

/** The payments ever sent for a withdrawal, oldest first, each as the hashes of its attempts in order. */
export function paymentsOf(history: readonly Pick<StatusEntry, 'status' | 'txHash'>[]): string[][] {
  const runs: string[][] = [];
  let run: string[] | null = null;
  for (const e of history) {
    if (e.status !== 'sending') {
      run = null;
      continue;
    }
    invariant(e.txHash, 'a sending status without a transaction hash');
    if (!run) runs.push((run = []));
    if (!run.includes(e.txHash)) run.push(e.txHash);
  }
  return runs;
}

/** The attempts of the payment a withdrawal in `sending` is waiting on. */
export function currentPayment(history: readonly Pick<StatusEntry, 'status' | 'txHash'>[]): string[] {
  const last = history[history.length - 1];
  if (last?.status !== 'sending') return [];
  return paymentsOf(history).at(-1) ?? [];
}
