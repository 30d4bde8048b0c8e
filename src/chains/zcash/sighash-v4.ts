// ZIP-243: the signature hash of a v4 (Sapling) transaction, and its txid.
// https://zips.z.cash/zip-0243
//
// Unlike v5, a v4 transaction does not carry its consensus branch id: the only place the id enters
// is the personalization of this hash. A signature made for the wrong branch therefore looks fine
// to every offline check and fails only at the node.

import { ByteWriter, hashToDisplayHex } from './bytes.js';
import { blake2b256, personal, sha256d } from './hash.js';
import { SIGHASH_ANYONECANPAY, SIGHASH_BASE_MASK, SIGHASH_NONE, SIGHASH_SINGLE } from './hashtype.js';
import { V4_VERSION_GROUP_ID, serializeTx, writeOutPoint, writeTxOut, type TxIn, type TxOut, type TxV4 } from './tx.js';

const ZEROS: Uint8Array = new Uint8Array(32);

/** The input being signed: its index, its scriptCode (for P2PKH, the spent scriptPubKey) and the spent value. */
export interface V4SignedInput {
  readonly index: number;
  readonly scriptCode: Uint8Array;
  readonly value: bigint;
}

/**
 * The ZIP-243 signature hash. `input` null is the hash shielded signatures (and joinSplitSig) sign:
 * no per-input part, SIGHASH_ALL.
 */
export function sighashV4(tx: TxV4, branchId: number, hashType: number, input: V4SignedInput | null): Uint8Array {
  if (!Number.isInteger(hashType) || hashType < 0 || hashType > 0xffffffff) throw new RangeError(`hash type ${hashType} is not a u32`);
  if (input && (!Number.isInteger(input.index) || input.index < 0 || input.index >= tx.inputs.length)) {
    throw new RangeError(`input index ${input.index} out of range: the transaction has ${tx.inputs.length} inputs`);
  }
  const anyoneCanPay = (hashType & SIGHASH_ANYONECANPAY) !== 0;
  const base = hashType & SIGHASH_BASE_MASK;

  const hashPrevouts = anyoneCanPay ? ZEROS : hashPrevoutsV4(tx);
  const hashSequence = anyoneCanPay || base === SIGHASH_SINGLE || base === SIGHASH_NONE ? ZEROS : hashSequenceV4(tx);
  let hashOutputs = ZEROS;
  if (base !== SIGHASH_SINGLE && base !== SIGHASH_NONE) hashOutputs = hashOutputsV4(tx.outputs);
  else if (base === SIGHASH_SINGLE && input && input.index < tx.outputs.length)
    hashOutputs = hashOutputsV4([tx.outputs[input.index] as TxOut]);

  const w = new ByteWriter()
    .u32(0x80000004)
    .u32(V4_VERSION_GROUP_ID)
    .bytes(hashPrevouts)
    .bytes(hashSequence)
    .bytes(hashOutputs)
    .bytes(hashJoinSplits(tx))
    .bytes(hashShieldedSpends(tx))
    .bytes(hashShieldedOutputs(tx))
    .u32(tx.lockTime)
    .u32(tx.expiryHeight)
    .i64(tx.valueBalanceSapling)
    .u32(hashType);
  if (input) {
    const txin = tx.inputs[input.index] as TxIn;
    writeOutPoint(w, txin.prevout).varBytes(input.scriptCode).i64(input.value).u32(txin.sequence);
  }
  return blake2b256(personal('ZcashSigHash', branchId), w.finish());
}

/** The v4 txid: double SHA-256 of the serialization, shown reversed. */
export function txidV4(tx: TxV4): string {
  return hashToDisplayHex(sha256d(serializeTx(tx)));
}

function hashPrevoutsV4(tx: TxV4): Uint8Array {
  const w = new ByteWriter();
  for (const i of tx.inputs) writeOutPoint(w, i.prevout);
  return blake2b256(personal('ZcashPrevoutHash'), w.finish());
}

function hashSequenceV4(tx: TxV4): Uint8Array {
  const w = new ByteWriter();
  for (const i of tx.inputs) w.u32(i.sequence);
  return blake2b256(personal('ZcashSequencHash'), w.finish());
}

function hashOutputsV4(outputs: readonly TxOut[]): Uint8Array {
  const w = new ByteWriter();
  for (const o of outputs) writeTxOut(w, o);
  return blake2b256(personal('ZcashOutputsHash'), w.finish());
}

function hashJoinSplits(tx: TxV4): Uint8Array {
  if (tx.joinSplits.length === 0) return ZEROS;
  const w = new ByteWriter();
  for (const js of tx.joinSplits) w.bytes(js.raw);
  w.bytes(tx.joinSplitPubKey ?? new Uint8Array(0));
  return blake2b256(personal('ZcashJSplitsHash'), w.finish());
}

/** Each spend without its spendAuthSig (which signs this very hash). */
function hashShieldedSpends(tx: TxV4): Uint8Array {
  if (tx.saplingSpends.length === 0) return ZEROS;
  const w = new ByteWriter();
  for (const s of tx.saplingSpends) w.bytes(s.cv).bytes(s.anchor).bytes(s.nullifier).bytes(s.rk).bytes(s.zkproof);
  return blake2b256(personal('ZcashSSpendsHash'), w.finish());
}

function hashShieldedOutputs(tx: TxV4): Uint8Array {
  if (tx.saplingOutputs.length === 0) return ZEROS;
  const w = new ByteWriter();
  for (const o of tx.saplingOutputs)
    w.bytes(o.cv).bytes(o.cmu).bytes(o.ephemeralKey).bytes(o.encCiphertext).bytes(o.outCiphertext).bytes(o.zkproof);
  return blake2b256(personal('ZcashSOutputHash'), w.finish());
}
