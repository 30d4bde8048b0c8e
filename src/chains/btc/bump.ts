// A fee bump of a stale payment by replacement (BIP125): the replacement spends exactly the inputs of the
// attempt it replaces, in the same order, and pays exactly its outputs; only the change (the last output,
// when it pays the hot wallet) shrinks, or goes whole into the fee when what is left of it would be dust.
// So a replacement and the payment it replaces can never both be mined, and never pay anyone more: a
// second payment is impossible by construction, and every attempt read back is held to the same rule.

import { equalBytes, fromHex, hashToDisplayHex } from '../zcash/bytes.js';
import { outpointKey, type Outpoint } from '../storage.js';
import type { BtcNetwork } from './network.js';
import { parseRawTx } from './rawtx.js';
import { dustThreshold, vsizeOfWeight, weightBound, type HotWallet, type Plan, type TxOutput, type Utxo } from './tx.js';

/** What every attempt of one payment shares (inputs, payees), and what may differ (the change). */
export interface Basis {
  inputs: Outpoint[];
  payees: TxOutput[];
  /** The last output's value when it pays the hot wallet, else null. */
  change: bigint | null;
}

/**
 * An attempt's stored bytes read as inputs, payees and change. The last output paying the hot wallet is
 * the change: no withdrawal pays the hot wallet's own address (the driver refuses it at request and at signing).
 */
export function basisOf(raw: string, wallet: HotWallet): Basis {
  const tx = parseRawTx(fromHex(raw, 'stored transaction'));
  const last = tx.outputs[tx.outputs.length - 1];
  const hasChange = !!last && equalBytes(last.script, wallet.script);
  return {
    inputs: tx.inputs.map((i) => ({ txid: hashToDisplayHex(i.prevTxid), vout: i.vout })),
    payees: (hasChange ? tx.outputs.slice(0, -1) : tx.outputs).map((o) => ({ script: o.script, value: o.value })),
    change: hasChange && last ? last.value : null,
  };
}

/** Null when `next` may replace `first` (same inputs in order, same payees, change no larger), else why not. */
export function replacementProblem(first: Basis, next: Basis): string | null {
  const keys = (b: Basis) => b.inputs.map(outpointKey).join(',');
  if (keys(first) !== keys(next)) return 'it spends other inputs than the payment it replaces';
  if (first.payees.length !== next.payees.length) return `it has ${next.payees.length} payee outputs, the payment ${first.payees.length}`;
  for (const [i, p] of first.payees.entries()) {
    const q = next.payees[i];
    if (!q || q.value !== p.value || !equalBytes(q.script, p.script)) return `its output ${i} is not the payment's output ${i}`;
  }
  if (next.change !== null && (first.change === null || next.change > first.change))
    return 'its change is larger than the payment it replaces';
  return null;
}

/** Whether `other` pays every one of `payees` (script and value exactly, each by an output of its own), whatever its change. */
export function paysAll(other: Basis, payees: readonly TxOutput[]): boolean {
  const left = [...other.payees];
  for (const p of payees) {
    const i = left.findIndex((q) => q.value === p.value && equalBytes(q.script, p.script));
    if (i < 0) return false;
    left.splice(i, 1);
  }
  return payees.length > 0;
}

export interface BumpRequest {
  net: BtcNetwork;
  wallet: HotWallet;
  old: Basis;
  /** The old attempt's inputs with their values, as the chain has them (never the database). */
  inputs: Utxo[];
  /** Base units per vbyte: the node's incremental relay fee, its estimate now, the configured ceiling. */
  incremental: bigint;
  estimate: bigint;
  ceiling: bigint;
}

/** At least a quarter more than the old fee, as a replacement fee is raised each time. */
const BUMP_NUM = 5n;
const BUMP_DEN = 4n;

/** The replacement's plan, or why there is none (atCap: the ceiling does not allow the least the node would take). */
export function bumpPlan(r: BumpRequest): Extract<Plan, { kind: 'ok' }> | { wait: string; atCap: boolean } {
  const sum = r.inputs.reduce((a, u) => a + u.value, 0n);
  const paid = r.old.payees.reduce((a, o) => a + o.value, 0n);
  const oldFee = sum - paid - (r.old.change ?? 0n);
  if (r.old.change === null) return { wait: 'the payment has no change output to take a higher fee from', atCap: false };
  const scripts = r.old.payees.map((o) => o.script);
  const weight = weightBound(r.wallet.kind, r.inputs.length, [...scripts, r.wallet.script]);
  const vsize = BigInt(vsizeOfWeight(weight));
  // BIP125 rule 4: the old fee plus the incremental relay fee for the replacement's own size.
  const least = oldFee + r.incremental * vsize;
  const cap = r.ceiling * vsize;
  if (least > cap)
    return { wait: `a replacement must pay at least ${least}, above fee_rate_max ${r.ceiling} × ${vsize} vbytes`, atCap: true };
  const wanted = [least, (oldFee * BUMP_NUM + BUMP_DEN - 1n) / BUMP_DEN, r.estimate * vsize].reduce((a, b) => (a > b ? a : b));
  const fee = wanted < cap ? wanted : cap;
  const change = r.old.change - (fee - oldFee);
  if (change >= dustThreshold(r.net, r.wallet.script))
    return {
      kind: 'ok',
      inputs: r.inputs,
      outputs: [...r.old.payees, { script: r.wallet.script, value: change }],
      fee,
      change,
      weightBound: weight,
      vsizeBound: Number(vsize),
    };
  // What is left of the change would be dust: all of it goes to the fee, within the ceiling still.
  const w = weightBound(r.wallet.kind, r.inputs.length, scripts);
  const all = sum - paid;
  if (all > r.ceiling * BigInt(vsizeOfWeight(w)))
    return { wait: `the change left would be dust, and the whole of it as fee is above fee_rate_max ${r.ceiling}`, atCap: true };
  return { kind: 'ok', inputs: r.inputs, outputs: [...r.old.payees], fee: all, change: null, weightBound: w, vsizeBound: vsizeOfWeight(w) };
}
