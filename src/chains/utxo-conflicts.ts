import type { PayOutput } from './driver.js';
import { outpointKey, type Outpoint } from './storage.js';

// UTXO chains (Zcash transparent, the Bitcoin family): a withdrawal paid anew after payments judged
// failed spends one free input of each of them, so that it and none of them can ever both be mined
// (an expiry is an absence, and a node may have lost a mined transaction).

/**
 * One free input per earlier failed payment of each output's withdrawal. None of a payment's inputs
 * free: it may have been mined after all (or another payment holds them), and nothing is signed.
 */
export function conflictingInputs<U>(
  free: readonly U[],
  outputs: readonly PayOutput[],
  outpointOf: (u: U) => Outpoint,
): { inputs: U[] } | { refused: string } {
  const inputs: U[] = [];
  const is = (u: U, o: Outpoint) => {
    const p = outpointOf(u);
    return p.txid === o.txid && p.vout === o.vout;
  };
  for (const out of outputs) {
    for (const group of out.conflicts ?? []) {
      if (inputs.some((u) => group.some((o) => is(u, o)))) continue;
      const u = free.find((x) => group.some((o) => is(x, o)));
      if (!u) {
        return {
          refused:
            `withdrawal ${out.withdrawalId}: none of the inputs of its earlier payment judged failed (${group.map(outpointKey).join(', ')}) is unspent and free in the hot wallet: ` +
            'that payment may have been mined after all, and a new one that cannot conflict with it is not signed; an operator decides',
        };
      }
      inputs.push(u);
    }
  }
  return { inputs };
}
