// ZIP-244: the v5 txid digest, the authorizing data digest, and the signature digest.
// https://zips.z.cash/zip-0244
//
// The transparent signature digest is the one ZIP-244 has specified since its 2022 revision
// (zcash/zips#577, activated with NU5): every transparent signature commits to the amounts and
// scriptPubKeys of ALL the inputs being spent (unless ANYONECANPAY), to the hash type byte, and to
// a per-input "txin" digest. An earlier draft, still followed by some libraries, lacks these and
// produces signatures the network rejects; the official vectors (test/unit/zcash-vectors.test.ts) decide.

import { ByteWriter, hashToDisplayHex } from './bytes.js';
import { blake2b256, personal } from './hash.js';
import { V5_VERSION_GROUP_ID, writeOutPoint, writeTxOut, type TxOut, type TxV5 } from './tx.js';
import { SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_BASE_MASK, SIGHASH_NONE, SIGHASH_SINGLE, STANDARD_HASH_TYPES } from './hashtype.js';

/** The output a transparent input spends: what a v5 signature commits to beyond the transaction itself. */
export interface SpentOutput {
  readonly value: bigint;
  readonly scriptPubKey: Uint8Array;
}

const EMPTY = new Uint8Array(0);
const P = {
  headers: personal('ZTxIdHeadersHash'),
  transparent: personal('ZTxIdTranspaHash'),
  prevouts: personal('ZTxIdPrevoutHash'),
  sequence: personal('ZTxIdSequencHash'),
  outputs: personal('ZTxIdOutputsHash'),
  amounts: personal('ZTxTrAmountsHash'),
  scripts: personal('ZTxTrScriptsHash'),
  txin: personal('Zcash___TxInHash'),
  sapling: personal('ZTxIdSaplingHash'),
  saplingSpends: personal('ZTxIdSSpendsHash'),
  saplingSpendsCompact: personal('ZTxIdSSpendCHash'),
  saplingSpendsNoncompact: personal('ZTxIdSSpendNHash'),
  saplingOutputs: personal('ZTxIdSOutputHash'),
  saplingOutputsCompact: personal('ZTxIdSOutC__Hash'),
  saplingOutputsMemos: personal('ZTxIdSOutM__Hash'),
  saplingOutputsNoncompact: personal('ZTxIdSOutN__Hash'),
  orchard: personal('ZTxIdOrchardHash'),
  orchardCompact: personal('ZTxIdOrcActCHash'),
  orchardMemos: personal('ZTxIdOrcActMHash'),
  orchardNoncompact: personal('ZTxIdOrcActNHash'),
  authTransparent: personal('ZTxAuthTransHash'),
  authSapling: personal('ZTxAuthSapliHash'),
  authOrchard: personal('ZTxAuthOrchaHash'),
};

/** Note plaintext split (ZIP-244): the first 52 bytes of encCiphertext are "compact", the next 512 the memo. */
const COMPACT_NOTE = 52;
const MEMO_END = 564;

// ---- T: the txid digest ----

/** T.1 */
function headerDigest(tx: TxV5): Uint8Array {
  const w = new ByteWriter().u32(0x80000005).u32(V5_VERSION_GROUP_ID).u32(tx.consensusBranchId).u32(tx.lockTime).u32(tx.expiryHeight);
  return blake2b256(P.headers, w.finish());
}

function prevoutsDigest(tx: TxV5): Uint8Array {
  const w = new ByteWriter();
  for (const i of tx.inputs) writeOutPoint(w, i.prevout);
  return blake2b256(P.prevouts, w.finish());
}

function sequenceDigest(tx: TxV5): Uint8Array {
  const w = new ByteWriter();
  for (const i of tx.inputs) w.u32(i.sequence);
  return blake2b256(P.sequence, w.finish());
}

function outputsDigest(outputs: readonly TxOut[]): Uint8Array {
  const w = new ByteWriter();
  for (const o of outputs) writeTxOut(w, o);
  return blake2b256(P.outputs, w.finish());
}

/** T.2: over nothing when there are neither transparent inputs nor outputs. */
function transparentDigest(tx: TxV5): Uint8Array {
  if (tx.inputs.length + tx.outputs.length === 0) return blake2b256(P.transparent);
  return blake2b256(P.transparent, prevoutsDigest(tx), sequenceDigest(tx), outputsDigest(tx.outputs));
}

/** T.3 */
function saplingDigest(tx: TxV5): Uint8Array {
  const s = tx.sapling;
  if (!s) return blake2b256(P.sapling);
  const spends =
    s.spends.length === 0
      ? blake2b256(P.saplingSpends)
      : blake2b256(
          P.saplingSpends,
          blake2b256(P.saplingSpendsCompact, ...s.spends.map((sp) => sp.nullifier)),
          blake2b256(P.saplingSpendsNoncompact, ...s.spends.flatMap((sp) => [sp.cv, s.anchor ?? EMPTY, sp.rk])),
        );
  const outputs =
    s.outputs.length === 0
      ? blake2b256(P.saplingOutputs)
      : blake2b256(
          P.saplingOutputs,
          blake2b256(
            P.saplingOutputsCompact,
            ...s.outputs.flatMap((o) => [o.cmu, o.ephemeralKey, o.encCiphertext.subarray(0, COMPACT_NOTE)]),
          ),
          blake2b256(P.saplingOutputsMemos, ...s.outputs.map((o) => o.encCiphertext.subarray(COMPACT_NOTE, MEMO_END))),
          blake2b256(P.saplingOutputsNoncompact, ...s.outputs.flatMap((o) => [o.cv, o.encCiphertext.subarray(MEMO_END), o.outCiphertext])),
        );
  return blake2b256(P.sapling, spends, outputs, new ByteWriter().i64(s.valueBalance).finish());
}

/** T.4 */
function orchardDigest(tx: TxV5): Uint8Array {
  const o = tx.orchard;
  if (!o) return blake2b256(P.orchard);
  return blake2b256(
    P.orchard,
    blake2b256(
      P.orchardCompact,
      ...o.actions.flatMap((a) => [a.nullifier, a.cmx, a.ephemeralKey, a.encCiphertext.subarray(0, COMPACT_NOTE)]),
    ),
    blake2b256(P.orchardMemos, ...o.actions.map((a) => a.encCiphertext.subarray(COMPACT_NOTE, MEMO_END))),
    blake2b256(P.orchardNoncompact, ...o.actions.flatMap((a) => [a.cv, a.rk, a.encCiphertext.subarray(MEMO_END), a.outCiphertext])),
    new ByteWriter().u8(o.flags).i64(o.valueBalance).bytes(o.anchor).finish(),
  );
}

function rootDigest(tx: TxV5, transparent: Uint8Array): Uint8Array {
  return blake2b256(personal('ZcashTxHash_', tx.consensusBranchId), headerDigest(tx), transparent, saplingDigest(tx), orchardDigest(tx));
}

/** The txid digest in internal byte order (what outpoints that spend this transaction carry). */
export function txidDigestV5(tx: TxV5): Uint8Array {
  return rootDigest(tx, transparentDigest(tx));
}

/** The txid as zcashd displays it (the digest reversed). */
export function txidV5(tx: TxV5): string {
  return hashToDisplayHex(txidDigestV5(tx));
}

// ---- A: the authorizing data digest (the wtxid's second half) ----

export function authDigestV5(tx: TxV5): Uint8Array {
  const scripts = new ByteWriter();
  for (const i of tx.inputs) scripts.varBytes(i.scriptSig);
  const s = tx.sapling;
  const sapling = s
    ? blake2b256(
        P.authSapling,
        ...s.spends.map((sp) => sp.zkproof),
        ...s.spends.map((sp) => sp.spendAuthSig),
        ...s.outputs.map((o) => o.zkproof),
        s.bindingSig,
      )
    : blake2b256(P.authSapling);
  const o = tx.orchard;
  const orchard = o
    ? blake2b256(P.authOrchard, o.proofs, ...o.actions.map((a) => a.spendAuthSig), o.bindingSig)
    : blake2b256(P.authOrchard);
  return blake2b256(personal('ZTxAuthHash_', tx.consensusBranchId), blake2b256(P.authTransparent, scripts.finish()), sapling, orchard);
}

// ---- S: the signature digest ----

/** A transparent input is a coinbase input when it spends the null outpoint. */
function isCoinbase(tx: TxV5): boolean {
  const only = tx.inputs.length === 1 ? tx.inputs[0] : undefined;
  return only !== undefined && only.prevout.index === 0xffffffff && only.prevout.txid.every((b) => b === 0);
}

/**
 * The ZIP-244 signature digest. `input` null is the digest shielded spends and bindings sign
 * (hash type SIGHASH_ALL, no per-input part); otherwise the digest for transparent input
 * `input.index` under `hashType`. `spent` lists the output each transparent input spends, in
 * input order (required whenever the transaction has transparent inputs).
 */
export function sighashV5(tx: TxV5, hashType: number, input: { readonly index: number } | null, spent: readonly SpentOutput[]): Uint8Array {
  if (input === null) {
    if (hashType !== SIGHASH_ALL) throw new RangeError(`a shielded signature digest is SIGHASH_ALL, not 0x${hashType.toString(16)}`);
  } else {
    if (!STANDARD_HASH_TYPES.includes(hashType))
      throw new RangeError(`hash type 0x${hashType.toString(16)} is not valid in a v5 transaction`);
    if (!Number.isInteger(input.index) || input.index < 0 || input.index >= tx.inputs.length) {
      throw new RangeError(`input index ${input.index} out of range: the transaction has ${tx.inputs.length} inputs`);
    }
  }
  if (tx.inputs.length === 0 || isCoinbase(tx)) {
    // S.2: no transparent inputs (or coinbase): identical to the txid's transparent digest.
    if (input !== null) throw new RangeError('no transparent input to sign in a transaction without spendable inputs');
    return rootDigest(tx, transparentDigest(tx));
  }
  if (spent.length !== tx.inputs.length) throw new RangeError(`${spent.length} spent outputs given for ${tx.inputs.length} inputs`);

  const anyoneCanPay = (hashType & SIGHASH_ANYONECANPAY) !== 0;
  const base = hashType & SIGHASH_BASE_MASK;
  const amounts = new ByteWriter();
  const scripts = new ByteWriter();
  if (!anyoneCanPay) {
    for (const s of spent) amounts.i64(s.value);
    for (const s of spent) scripts.varBytes(s.scriptPubKey);
  }

  let outputs: Uint8Array;
  if (input !== null && base === SIGHASH_SINGLE) {
    const matching = tx.outputs[input.index];
    // ZIP-244 leaves no "no matching output" case valid (it was the infamous SIGHASH_SINGLE bug).
    if (!matching) throw new RangeError(`SIGHASH_SINGLE for input ${input.index} without an output at that index`);
    outputs = outputsDigest([matching]);
  } else if (input !== null && base === SIGHASH_NONE) {
    outputs = outputsDigest([]);
  } else {
    outputs = outputsDigest(tx.outputs);
  }

  const txin = new ByteWriter();
  if (input !== null) {
    const i = tx.inputs[input.index];
    const s = spent[input.index];
    if (!i || !s) throw new RangeError(`input ${input.index} out of range`);
    writeOutPoint(txin, i.prevout).i64(s.value).varBytes(s.scriptPubKey).u32(i.sequence);
  }

  const transparent = blake2b256(
    P.transparent,
    new Uint8Array([hashType]),
    anyoneCanPay ? blake2b256(P.prevouts) : prevoutsDigest(tx),
    blake2b256(P.amounts, amounts.finish()),
    blake2b256(P.scripts, scripts.finish()),
    anyoneCanPay ? blake2b256(P.sequence) : sequenceDigest(tx),
    outputs,
    blake2b256(P.txin, txin.finish()),
  );
  return rootDigest(tx, transparent);
}
