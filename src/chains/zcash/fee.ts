// The ZIP-317 conventional fee. https://zips.z.cash/zip-0317
//
//   conventional_fee = marginal_fee × max(grace_actions, logical_actions)
//   logical_actions  = max(ceil(tx_in_total_size / p2pkh_standard_input_size),
//                          ceil(tx_out_total_size / p2pkh_standard_output_size))
//                      + 2 × nJoinSplit + max(nSpendsSapling, nOutputsSapling) + nActionsOrchard
//
// with marginal_fee 5,000 zatoshi, grace_actions 2, p2pkh_standard_input_size 150 bytes and
// p2pkh_standard_output_size 34 bytes; tx_in_total_size and tx_out_total_size are the serialized
// sizes of the tx_in and tx_out fields (without their counts). A miner need not mine a transaction
// paying less, and zcashd's mempool refuses one with too many unpaid actions: a payout that pays
// less than this may never confirm.

import { compactSizeLength } from './bytes.js';
import { txInBytes, txOutBytes, type Tx, type TxIn } from './tx.js';

export const MARGINAL_FEE_ZAT = 5_000n;
export const GRACE_ACTIONS = 2;
export const P2PKH_STANDARD_INPUT_BYTES = 150;
export const P2PKH_STANDARD_OUTPUT_BYTES = 34;

/**
 * Upper bound of a signed P2PKH input: outpoint 36 + scriptSig (CompactSize 1 + push 1 + DER ≤ 71
 * with low S + hash type 1 + push 1 + compressed key 33 = 108) + sequence 4.
 */
export const P2PKH_SIGNED_INPUT_BYTES_MAX = 36 + 108 + 4;

function ceilDiv(a: number, b: number): number {
  return Math.ceil(a / b);
}

/** Logical actions of the transparent part, from total serialized sizes in bytes. */
export function transparentLogicalActions(txInTotalBytes: number, txOutTotalBytes: number): number {
  return Math.max(ceilDiv(txInTotalBytes, P2PKH_STANDARD_INPUT_BYTES), ceilDiv(txOutTotalBytes, P2PKH_STANDARD_OUTPUT_BYTES));
}

export function feeForLogicalActions(logicalActions: number): bigint {
  return MARGINAL_FEE_ZAT * BigInt(Math.max(GRACE_ACTIONS, logicalActions));
}

/**
 * An unsigned input (empty scriptSig) counts at its signed P2PKH upper bound, so a fee computed
 * before signing is never below the one the signed transaction needs.
 */
function inputBytesForFee(i: TxIn): number {
  return i.scriptSig.length === 0 ? Math.max(txInBytes(i), P2PKH_SIGNED_INPUT_BYTES_MAX) : txInBytes(i);
}

export function logicalActions(tx: Tx): number {
  const inBytes = tx.inputs.reduce((n, i) => n + inputBytesForFee(i), 0);
  const outBytes = tx.outputs.reduce((n, o) => n + txOutBytes(o), 0);
  const transparent = transparentLogicalActions(inBytes, outBytes);
  if (tx.version === 4) return transparent + 2 * tx.joinSplits.length + Math.max(tx.saplingSpends.length, tx.saplingOutputs.length);
  const sapling = tx.sapling ? Math.max(tx.sapling.spends.length, tx.sapling.outputs.length) : 0;
  return transparent + sapling + (tx.orchard?.actions.length ?? 0);
}

/** The conventional fee of a transaction, from its real serialized sizes (unsigned inputs at their P2PKH bound). */
export function conventionalFeeZat(tx: Tx): bigint {
  return feeForLogicalActions(logicalActions(tx));
}

/** The conventional fee of a transparent transaction spending `p2pkhInputs` P2PKH outputs to these scripts. */
export function estimateTransparentFeeZat(p2pkhInputs: number, outputScriptPubKeys: readonly Uint8Array[]): bigint {
  if (!Number.isSafeInteger(p2pkhInputs) || p2pkhInputs < 0) throw new RangeError(`input count ${p2pkhInputs}`);
  const outBytes = outputScriptPubKeys.reduce((n, s) => n + 8 + compactSizeLength(s.length) + s.length, 0);
  return feeForLogicalActions(transparentLogicalActions(p2pkhInputs * P2PKH_SIGNED_INPUT_BYTES_MAX, outBytes));
}
