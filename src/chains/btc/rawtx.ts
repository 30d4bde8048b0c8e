// The Bitcoin transaction format, read and written by hand for the independent verification path
// (verify.ts): nothing here comes from @scure/btc-signer, which builds and signs, so that a bug in one
// is caught by the other. Legacy and BIP144 (segwit marker 0x00 0x01, a witness per input) encodings.

import { ByteReader, ByteWriter, hashToDisplayHex } from '../zcash/bytes.js';
import { sha256d } from '../zcash/hash.js';

export interface RawInput {
  /** Internal byte order (as serialized). */
  prevTxid: Uint8Array;
  vout: number;
  scriptSig: Uint8Array;
  sequence: number;
  witness: Uint8Array[];
}

export interface RawOutput {
  value: bigint;
  script: Uint8Array;
}

export interface RawTx {
  version: number;
  inputs: RawInput[];
  outputs: RawOutput[];
  lockTime: number;
}

/** The smallest serialized input and output: a bound on counts before anything is allocated. */
const INPUT_BYTES_MIN = 41;
const OUTPUT_BYTES_MIN = 9;

export function parseRawTx(bytes: Uint8Array): RawTx {
  const r = new ByteReader(bytes);
  const version = r.u32('version');
  let segwit = false;
  // BIP144: a zero input count followed by flag 1 marks the extended format.
  if (r.remaining >= 2 && bytes[r.offset] === 0x00 && bytes[r.offset + 1] === 0x01) {
    r.bytes(2, 'segwit marker and flag');
    segwit = true;
  }
  const inputs: RawInput[] = [];
  const nIn = r.count('input count', INPUT_BYTES_MIN);
  for (let i = 0; i < nIn; i++) {
    const prevTxid = r.bytes(32, `input ${i} txid`);
    const vout = r.u32(`input ${i} vout`);
    const scriptSig = r.varBytes(`input ${i} scriptSig`);
    const sequence = r.u32(`input ${i} sequence`);
    inputs.push({ prevTxid, vout, scriptSig, sequence, witness: [] });
  }
  const outputs: RawOutput[] = [];
  const nOut = r.count('output count', OUTPUT_BYTES_MIN);
  for (let i = 0; i < nOut; i++) outputs.push({ value: r.i64(`output ${i} value`), script: r.varBytes(`output ${i} script`) });
  if (segwit) {
    for (const [i, input] of inputs.entries()) {
      const items = r.count(`input ${i} witness count`, 1);
      for (let k = 0; k < items; k++) input.witness.push(r.varBytes(`input ${i} witness item ${k}`));
    }
    if (inputs.every((i) => i.witness.length === 0)) throw new Error('segwit marker with no witness (non-canonical)');
  }
  const lockTime = r.u32('lock time');
  r.end('transaction');
  return { version, inputs, outputs, lockTime };
}

/** Without witnesses: the bytes the txid and the legacy signature digest hash. */
export function serializeNoWitness(tx: RawTx): Uint8Array {
  const w = new ByteWriter().u32(tx.version);
  writeBody(w, tx);
  return w.u32(tx.lockTime).finish();
}

export function serializeRawTx(tx: RawTx): Uint8Array {
  if (!tx.inputs.some((i) => i.witness.length > 0)) return serializeNoWitness(tx);
  const w = new ByteWriter().u32(tx.version).u8(0).u8(1);
  writeBody(w, tx);
  for (const input of tx.inputs) {
    w.compactSize(input.witness.length);
    for (const item of input.witness) w.varBytes(item);
  }
  return w.u32(tx.lockTime).finish();
}

function writeBody(w: ByteWriter, tx: RawTx): void {
  w.compactSize(tx.inputs.length);
  for (const i of tx.inputs) w.bytes(i.prevTxid).u32(i.vout).varBytes(i.scriptSig).u32(i.sequence);
  w.compactSize(tx.outputs.length);
  for (const o of tx.outputs) w.i64(o.value).varBytes(o.script);
}

/** Display hex, as nodes print txids. */
export function txidOf(tx: RawTx): string {
  return hashToDisplayHex(sha256d(serializeNoWitness(tx)));
}

/** BIP141 weight: base size × 3 + total size; vsize is its quarter rounded up. */
export function weightOf(tx: RawTx): number {
  return serializeNoWitness(tx).length * 3 + serializeRawTx(tx).length;
}

export function vsizeOf(tx: RawTx): number {
  return Math.ceil(weightOf(tx) / 4);
}
