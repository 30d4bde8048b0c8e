// The Zcash transaction model and its wire encoding, v4 (Sapling, ZIP-243 era) and v5 (NU5,
// ZIP-225). payserv only builds transparent transactions, but the parser reads every field of a
// transaction (JoinSplits, Sapling, Orchard) and keeps it byte for byte: the txid and the signature
// hashes commit to the shielded parts too, and a re-serialization that differs by one byte would be
// a different transaction.
//
// Layouts: https://zips.z.cash/protocol/protocol.pdf §7.1 (v4), https://zips.z.cash/zip-0225 (v5).

import { ByteReader, ByteWriter, ZcashDecodeError } from './bytes.js';

/** Header bit 31: the transaction is Overwinter or later (version group id follows). */
const OVERWINTERED = 0x80000000;
export const V4_VERSION_GROUP_ID = 0x892f2085;
export const V5_VERSION_GROUP_ID = 0x26a7270a;

/** zcashd's MAX_TX_SIZE_AFTER_SAPLING: consensus refuses a larger transaction. */
export const TX_BYTES_MAX = 2_000_000;
/** 21 million ZEC in zatoshi: no amount, and no sum of amounts, may exceed it (consensus). */
export const MAX_MONEY_ZAT = 21_000_000n * 100_000_000n;
/** Expiry heights from this value up are invalid (zcashd TX_EXPIRY_HEIGHT_THRESHOLD). */
export const EXPIRY_HEIGHT_THRESHOLD = 500_000_000;

// Fixed field sizes.
const HASH = 32;
const GROTH_PROOF = 192;
const SIG = 64;
const ENC_CIPHERTEXT = 580;
const OUT_CIPHERTEXT = 80;
/** JoinSplit in a v4 transaction: Groth16 proof (v2/v3 carried the longer PHGR proof; not parsed here). */
const JOINSPLIT_V4_BYTES = 8 + 8 + HASH + 2 * HASH + 2 * HASH + HASH + HASH + 2 * HASH + GROTH_PROOF + 2 * 601;
const TXIN_BYTES_MIN = HASH + 4 + 1 + 4;
const TXOUT_BYTES_MIN = 8 + 1;

export interface OutPoint {
  /** Previous txid in internal byte order (the reverse of the displayed hex). */
  readonly txid: Uint8Array;
  readonly index: number;
}

export interface TxIn {
  readonly prevout: OutPoint;
  readonly scriptSig: Uint8Array;
  readonly sequence: number;
}

export interface TxOut {
  /** Zatoshi; read as a signed 64-bit field, range checks belong to the verifier. */
  readonly value: bigint;
  readonly scriptPubKey: Uint8Array;
}

export interface SaplingSpendV4 {
  readonly cv: Uint8Array;
  readonly anchor: Uint8Array;
  readonly nullifier: Uint8Array;
  readonly rk: Uint8Array;
  readonly zkproof: Uint8Array;
  readonly spendAuthSig: Uint8Array;
}

export interface SaplingOutput {
  readonly cv: Uint8Array;
  readonly cmu: Uint8Array;
  readonly ephemeralKey: Uint8Array;
  readonly encCiphertext: Uint8Array;
  readonly outCiphertext: Uint8Array;
  readonly zkproof: Uint8Array;
}

export interface JoinSplitV4 {
  /** The whole 1698-byte description: the ZIP-243 digest hashes it as serialized. */
  readonly raw: Uint8Array;
}

export interface TxV4 {
  readonly version: 4;
  readonly inputs: readonly TxIn[];
  readonly outputs: readonly TxOut[];
  readonly lockTime: number;
  readonly expiryHeight: number;
  readonly valueBalanceSapling: bigint;
  readonly saplingSpends: readonly SaplingSpendV4[];
  readonly saplingOutputs: readonly SaplingOutput[];
  readonly joinSplits: readonly JoinSplitV4[];
  /** Present exactly when there are JoinSplits. */
  readonly joinSplitPubKey: Uint8Array | null;
  readonly joinSplitSig: Uint8Array | null;
  /** Present exactly when there are Sapling spends or outputs. */
  readonly bindingSigSapling: Uint8Array | null;
}

export interface SaplingSpendV5 {
  readonly cv: Uint8Array;
  readonly nullifier: Uint8Array;
  readonly rk: Uint8Array;
  readonly zkproof: Uint8Array;
  readonly spendAuthSig: Uint8Array;
}

export interface SaplingBundleV5 {
  readonly spends: readonly SaplingSpendV5[];
  readonly outputs: readonly SaplingOutput[];
  readonly valueBalance: bigint;
  /** Present exactly when there are spends. */
  readonly anchor: Uint8Array | null;
  readonly bindingSig: Uint8Array;
}

export interface OrchardAction {
  readonly cv: Uint8Array;
  readonly nullifier: Uint8Array;
  readonly rk: Uint8Array;
  readonly cmx: Uint8Array;
  readonly ephemeralKey: Uint8Array;
  readonly encCiphertext: Uint8Array;
  readonly outCiphertext: Uint8Array;
  readonly spendAuthSig: Uint8Array;
}

export interface OrchardBundle {
  readonly actions: readonly OrchardAction[];
  readonly flags: number;
  readonly valueBalance: bigint;
  readonly anchor: Uint8Array;
  readonly proofs: Uint8Array;
  readonly bindingSig: Uint8Array;
}

export interface TxV5 {
  readonly version: 5;
  /** v5 carries its branch id in the header; the txid and every signature commit to it. */
  readonly consensusBranchId: number;
  readonly lockTime: number;
  readonly expiryHeight: number;
  readonly inputs: readonly TxIn[];
  readonly outputs: readonly TxOut[];
  /** Null when there are neither Sapling spends nor outputs (the fields are then absent). */
  readonly sapling: SaplingBundleV5 | null;
  /** Null when there are no Orchard actions. */
  readonly orchard: OrchardBundle | null;
}

export type Tx = TxV4 | TxV5;
/** What parseTx returns (the Zcash node stand-in reads inputs, outputs and expiry height from it). */
export type ParsedTx = Tx;

/** True when the transaction has any shielded component (payserv builds none, its verifier checks none). */
export function hasShielded(tx: Tx): boolean {
  if (tx.version === 4) return tx.saplingSpends.length + tx.saplingOutputs.length + tx.joinSplits.length > 0;
  return tx.sapling !== null || tx.orchard !== null;
}

// ---- parse ----

export function parseTx(raw: Uint8Array): Tx {
  if (raw.length > TX_BYTES_MAX)
    throw new ZcashDecodeError(`transaction is ${raw.length} bytes, over the consensus limit ${TX_BYTES_MAX}`, TX_BYTES_MAX);
  const r = new ByteReader(raw);
  const header = r.u32('header');
  if ((header & OVERWINTERED) === 0)
    throw new ZcashDecodeError(`header 0x${hex32(header)}: not an Overwinter-or-later transaction (only v4 and v5 are read)`, 0);
  const version = header & ~OVERWINTERED;
  const groupId = r.u32('version group id');
  let tx: Tx;
  if (version === 4) {
    if (groupId !== V4_VERSION_GROUP_ID)
      throw new ZcashDecodeError(`v4 transaction with version group id 0x${hex32(groupId)}, want 0x${hex32(V4_VERSION_GROUP_ID)}`, 4);
    tx = parseV4Body(r);
  } else if (version === 5) {
    if (groupId !== V5_VERSION_GROUP_ID)
      throw new ZcashDecodeError(`v5 transaction with version group id 0x${hex32(groupId)}, want 0x${hex32(V5_VERSION_GROUP_ID)}`, 4);
    tx = parseV5Body(r);
  } else {
    throw new ZcashDecodeError(`transaction version ${version} (group id 0x${hex32(groupId)}): only v4 and v5 are supported`, 0);
  }
  r.end('the transaction');
  return tx;
}

function parseTransparent(r: ByteReader): { inputs: TxIn[]; outputs: TxOut[] } {
  const inCount = r.count('input count', TXIN_BYTES_MIN);
  const inputs: TxIn[] = [];
  for (let i = 0; i < inCount; i++) {
    const txid = r.bytes(HASH, `input ${i} prevout txid`);
    const index = r.u32(`input ${i} prevout index`);
    const scriptSig = r.varBytes(`input ${i} scriptSig`);
    const sequence = r.u32(`input ${i} sequence`);
    inputs.push({ prevout: { txid, index }, scriptSig, sequence });
  }
  const outCount = r.count('output count', TXOUT_BYTES_MIN);
  const outputs: TxOut[] = [];
  for (let i = 0; i < outCount; i++) {
    const value = r.i64(`output ${i} value`);
    const scriptPubKey = r.varBytes(`output ${i} scriptPubKey`);
    outputs.push({ value, scriptPubKey });
  }
  return { inputs, outputs };
}

function parseSaplingOutputNoProof(r: ByteReader, i: number): Omit<SaplingOutput, 'zkproof'> {
  return {
    cv: r.bytes(HASH, `Sapling output ${i} cv`),
    cmu: r.bytes(HASH, `Sapling output ${i} cmu`),
    ephemeralKey: r.bytes(HASH, `Sapling output ${i} ephemeralKey`),
    encCiphertext: r.bytes(ENC_CIPHERTEXT, `Sapling output ${i} encCiphertext`),
    outCiphertext: r.bytes(OUT_CIPHERTEXT, `Sapling output ${i} outCiphertext`),
  };
}

function parseV4Body(r: ByteReader): TxV4 {
  const { inputs, outputs } = parseTransparent(r);
  const lockTime = r.u32('lock time');
  const expiryHeight = r.u32('expiry height');
  const valueBalanceSapling = r.i64('Sapling value balance');
  const spendCount = r.count('Sapling spend count', 4 * HASH + GROTH_PROOF + SIG);
  const saplingSpends: SaplingSpendV4[] = [];
  for (let i = 0; i < spendCount; i++) {
    saplingSpends.push({
      cv: r.bytes(HASH, `Sapling spend ${i} cv`),
      anchor: r.bytes(HASH, `Sapling spend ${i} anchor`),
      nullifier: r.bytes(HASH, `Sapling spend ${i} nullifier`),
      rk: r.bytes(HASH, `Sapling spend ${i} rk`),
      zkproof: r.bytes(GROTH_PROOF, `Sapling spend ${i} zkproof`),
      spendAuthSig: r.bytes(SIG, `Sapling spend ${i} spendAuthSig`),
    });
  }
  const outputCount = r.count('Sapling output count', 3 * HASH + ENC_CIPHERTEXT + OUT_CIPHERTEXT + GROTH_PROOF);
  const saplingOutputs: SaplingOutput[] = [];
  for (let i = 0; i < outputCount; i++) {
    const o = parseSaplingOutputNoProof(r, i);
    saplingOutputs.push({ ...o, zkproof: r.bytes(GROTH_PROOF, `Sapling output ${i} zkproof`) });
  }
  const jsCount = r.count('JoinSplit count', JOINSPLIT_V4_BYTES);
  const joinSplits: JoinSplitV4[] = [];
  for (let i = 0; i < jsCount; i++) joinSplits.push({ raw: r.bytes(JOINSPLIT_V4_BYTES, `JoinSplit ${i}`) });
  const joinSplitPubKey = jsCount > 0 ? r.bytes(HASH, 'joinSplitPubKey') : null;
  const joinSplitSig = jsCount > 0 ? r.bytes(SIG, 'joinSplitSig') : null;
  const bindingSigSapling = spendCount + outputCount > 0 ? r.bytes(SIG, 'Sapling bindingSig') : null;
  return {
    version: 4,
    inputs,
    outputs,
    lockTime,
    expiryHeight,
    valueBalanceSapling,
    saplingSpends,
    saplingOutputs,
    joinSplits,
    joinSplitPubKey,
    joinSplitSig,
    bindingSigSapling,
  };
}

function parseV5Body(r: ByteReader): TxV5 {
  const consensusBranchId = r.u32('consensus branch id');
  const lockTime = r.u32('lock time');
  const expiryHeight = r.u32('expiry height');
  const { inputs, outputs } = parseTransparent(r);

  const spendCount = r.count('Sapling spend count', 3 * HASH + GROTH_PROOF + SIG);
  const spendParts: { cv: Uint8Array; nullifier: Uint8Array; rk: Uint8Array }[] = [];
  for (let i = 0; i < spendCount; i++) {
    spendParts.push({
      cv: r.bytes(HASH, `Sapling spend ${i} cv`),
      nullifier: r.bytes(HASH, `Sapling spend ${i} nullifier`),
      rk: r.bytes(HASH, `Sapling spend ${i} rk`),
    });
  }
  const outputCount = r.count('Sapling output count', 3 * HASH + ENC_CIPHERTEXT + OUT_CIPHERTEXT + GROTH_PROOF);
  const outputParts: Omit<SaplingOutput, 'zkproof'>[] = [];
  for (let i = 0; i < outputCount; i++) outputParts.push(parseSaplingOutputNoProof(r, i));
  let sapling: SaplingBundleV5 | null = null;
  if (spendCount + outputCount > 0) {
    const valueBalance = r.i64('Sapling value balance');
    const anchor = spendCount > 0 ? r.bytes(HASH, 'Sapling anchor') : null;
    const spendProofs = spendParts.map((_, i) => r.bytes(GROTH_PROOF, `Sapling spend ${i} zkproof`));
    const spendAuthSigs = spendParts.map((_, i) => r.bytes(SIG, `Sapling spend ${i} spendAuthSig`));
    const outputProofs = outputParts.map((_, i) => r.bytes(GROTH_PROOF, `Sapling output ${i} zkproof`));
    const bindingSig = r.bytes(SIG, 'Sapling bindingSig');
    sapling = {
      spends: spendParts.map((s, i) => ({ ...s, zkproof: spendProofs[i] as Uint8Array, spendAuthSig: spendAuthSigs[i] as Uint8Array })),
      outputs: outputParts.map((o, i) => ({ ...o, zkproof: outputProofs[i] as Uint8Array })),
      valueBalance,
      anchor,
      bindingSig,
    };
  }

  const actionCount = r.count('Orchard action count', 5 * HASH + ENC_CIPHERTEXT + OUT_CIPHERTEXT + SIG);
  let orchard: OrchardBundle | null = null;
  if (actionCount > 0) {
    const parts: Omit<OrchardAction, 'spendAuthSig'>[] = [];
    for (let i = 0; i < actionCount; i++) {
      parts.push({
        cv: r.bytes(HASH, `Orchard action ${i} cv`),
        nullifier: r.bytes(HASH, `Orchard action ${i} nullifier`),
        rk: r.bytes(HASH, `Orchard action ${i} rk`),
        cmx: r.bytes(HASH, `Orchard action ${i} cmx`),
        ephemeralKey: r.bytes(HASH, `Orchard action ${i} ephemeralKey`),
        encCiphertext: r.bytes(ENC_CIPHERTEXT, `Orchard action ${i} encCiphertext`),
        outCiphertext: r.bytes(OUT_CIPHERTEXT, `Orchard action ${i} outCiphertext`),
      });
    }
    const flags = r.u8('Orchard flags');
    const valueBalance = r.i64('Orchard value balance');
    const anchor = r.bytes(HASH, 'Orchard anchor');
    const proofs = r.varBytes('Orchard proofs');
    const sigs = parts.map((_, i) => r.bytes(SIG, `Orchard action ${i} spendAuthSig`));
    const bindingSig = r.bytes(SIG, 'Orchard bindingSig');
    orchard = {
      actions: parts.map((a, i) => ({ ...a, spendAuthSig: sigs[i] as Uint8Array })),
      flags,
      valueBalance,
      anchor,
      proofs,
      bindingSig,
    };
  }
  return { version: 5, consensusBranchId, lockTime, expiryHeight, inputs, outputs, sapling, orchard };
}

// ---- serialize ----

export function writeOutPoint(w: ByteWriter, p: OutPoint): ByteWriter {
  return w.bytes(p.txid).u32(p.index);
}

export function writeTxIn(w: ByteWriter, i: TxIn): ByteWriter {
  return writeOutPoint(w, i.prevout).varBytes(i.scriptSig).u32(i.sequence);
}

export function writeTxOut(w: ByteWriter, o: TxOut): ByteWriter {
  return w.i64(o.value).varBytes(o.scriptPubKey);
}

/** Serialized size of one input, as ZIP-317 counts it. */
export function txInBytes(i: TxIn): number {
  return writeTxIn(new ByteWriter(), i).length;
}

/** Serialized size of one output, as ZIP-317 counts it. */
export function txOutBytes(o: TxOut): number {
  return writeTxOut(new ByteWriter(), o).length;
}

function writeTransparent(w: ByteWriter, tx: Tx): void {
  w.compactSize(tx.inputs.length);
  for (const i of tx.inputs) writeTxIn(w, i);
  w.compactSize(tx.outputs.length);
  for (const o of tx.outputs) writeTxOut(w, o);
}

export function serializeTx(tx: Tx): Uint8Array {
  const w = new ByteWriter();
  if (tx.version === 4) {
    w.u32((OVERWINTERED | 4) >>> 0).u32(V4_VERSION_GROUP_ID);
    writeTransparent(w, tx);
    w.u32(tx.lockTime).u32(tx.expiryHeight).i64(tx.valueBalanceSapling);
    w.compactSize(tx.saplingSpends.length);
    for (const s of tx.saplingSpends) w.bytes(s.cv).bytes(s.anchor).bytes(s.nullifier).bytes(s.rk).bytes(s.zkproof).bytes(s.spendAuthSig);
    w.compactSize(tx.saplingOutputs.length);
    for (const o of tx.saplingOutputs)
      w.bytes(o.cv).bytes(o.cmu).bytes(o.ephemeralKey).bytes(o.encCiphertext).bytes(o.outCiphertext).bytes(o.zkproof);
    w.compactSize(tx.joinSplits.length);
    for (const js of tx.joinSplits) w.bytes(js.raw);
    if (tx.joinSplits.length > 0) w.bytes(required(tx.joinSplitPubKey, 'joinSplitPubKey')).bytes(required(tx.joinSplitSig, 'joinSplitSig'));
    else absent(tx.joinSplitPubKey ?? tx.joinSplitSig, 'joinSplitPubKey/joinSplitSig without JoinSplits');
    if (tx.saplingSpends.length + tx.saplingOutputs.length > 0) w.bytes(required(tx.bindingSigSapling, 'Sapling bindingSig'));
    else absent(tx.bindingSigSapling, 'a Sapling bindingSig without spends or outputs');
  } else {
    w.u32((OVERWINTERED | 5) >>> 0)
      .u32(V5_VERSION_GROUP_ID)
      .u32(tx.consensusBranchId)
      .u32(tx.lockTime)
      .u32(tx.expiryHeight);
    writeTransparent(w, tx);
    const s = tx.sapling;
    // Absent bundles are null, never empty: an empty one would write fields the parser does not read back.
    if (s && s.spends.length + s.outputs.length === 0) throw new Error('cannot serialize: an empty Sapling bundle (use null)');
    if (s && s.spends.length > 0 !== (s.anchor !== null))
      throw new Error('cannot serialize: the Sapling anchor is present exactly when there are spends');
    if (tx.orchard && tx.orchard.actions.length === 0) throw new Error('cannot serialize: an empty Orchard bundle (use null)');
    w.compactSize(s?.spends.length ?? 0);
    for (const sp of s?.spends ?? []) w.bytes(sp.cv).bytes(sp.nullifier).bytes(sp.rk);
    w.compactSize(s?.outputs.length ?? 0);
    for (const o of s?.outputs ?? []) w.bytes(o.cv).bytes(o.cmu).bytes(o.ephemeralKey).bytes(o.encCiphertext).bytes(o.outCiphertext);
    if (s) {
      w.i64(s.valueBalance);
      if (s.anchor) w.bytes(s.anchor);
      for (const sp of s.spends) w.bytes(sp.zkproof);
      for (const sp of s.spends) w.bytes(sp.spendAuthSig);
      for (const o of s.outputs) w.bytes(o.zkproof);
      w.bytes(s.bindingSig);
    }
    const o = tx.orchard;
    w.compactSize(o?.actions.length ?? 0);
    if (o) {
      for (const a of o.actions)
        w.bytes(a.cv).bytes(a.nullifier).bytes(a.rk).bytes(a.cmx).bytes(a.ephemeralKey).bytes(a.encCiphertext).bytes(a.outCiphertext);
      w.u8(o.flags).i64(o.valueBalance).bytes(o.anchor).varBytes(o.proofs);
      for (const a of o.actions) w.bytes(a.spendAuthSig);
      w.bytes(o.bindingSig);
    }
  }
  return w.finish();
}

// ---- helpers ----

function hex32(n: number): string {
  return (n >>> 0).toString(16).padStart(8, '0');
}

function absent(v: unknown, what: string): void {
  if (v !== null) throw new Error(`cannot serialize: ${what}`);
}

function required<T>(v: T | null, what: string): T {
  if (v === null) throw new Error(`cannot serialize: ${what} is missing`);
  return v;
}
