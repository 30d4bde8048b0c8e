// Signature digests, hand-written over the hand-written format (rawtx.ts), for the verification path:
//   - legacy (Bitcoin's original SignatureHash): P2PKH on Bitcoin, Litecoin, Dogecoin;
//   - BIP143: P2WPKH, and Bitcoin Cash's replay-protected digest, which is BIP143 with
//     SIGHASH_FORKID (0x40) and the fork id in the hash type's upper 24 bits, for every input.
// Only SIGHASH_ALL (with FORKID on Bitcoin Cash) is implemented: payserv signs nothing else, and a
// verifier that accepted other types would accept transactions whose outputs someone can change.

import { ByteWriter } from '../zcash/bytes.js';
import { sha256d } from '../zcash/hash.js';
import { serializeNoWitness, type RawTx } from './rawtx.js';

export const SIGHASH_ALL = 0x01;
export const SIGHASH_FORKID = 0x40;

/** The 32-bit hash type committed to: the signature's last byte, plus the fork id shifted in on Bitcoin Cash. */
export function hashTypeValue(sigByte: number, forkId: number | null): number {
  return forkId === null ? sigByte : (sigByte | (forkId << 8)) >>> 0;
}

function requireAll(hashType: number, forkId: number | null): void {
  const want = forkId === null ? SIGHASH_ALL : SIGHASH_ALL | SIGHASH_FORKID;
  if ((hashType & 0xff) !== want)
    throw new Error(`hash type 0x${(hashType & 0xff).toString(16)} is not SIGHASH_ALL${forkId === null ? '' : '|FORKID'}`);
}

/** Legacy SIGHASH_ALL: the transaction with every scriptSig emptied but input `index`'s set to the script code. */
export function legacySighash(tx: RawTx, index: number, scriptCode: Uint8Array, hashType: number): Uint8Array {
  requireAll(hashType, null);
  if (index < 0 || index >= tx.inputs.length) throw new Error(`input ${index} does not exist`);
  // Our script codes (P2PKH, P2PK) hold no OP_CODESEPARATOR, so none is removed.
  const copy: RawTx = {
    ...tx,
    inputs: tx.inputs.map((i, n) => ({ ...i, scriptSig: n === index ? scriptCode : new Uint8Array(0), witness: [] })),
  };
  const body = serializeNoWitness(copy);
  return sha256d(new ByteWriter().bytes(body).u32(hashType).finish());
}

/** BIP143 with SIGHASH_ALL (Bitcoin Cash: ALL|FORKID, same layout). */
export function bip143Sighash(
  tx: RawTx,
  index: number,
  scriptCode: Uint8Array,
  amount: bigint,
  hashType: number,
  forkId: number | null,
): Uint8Array {
  requireAll(hashType, forkId);
  const input = tx.inputs[index];
  if (!input) throw new Error(`input ${index} does not exist`);
  const prevouts = new ByteWriter();
  const sequences = new ByteWriter();
  for (const i of tx.inputs) {
    prevouts.bytes(i.prevTxid).u32(i.vout);
    sequences.u32(i.sequence);
  }
  const outputs = new ByteWriter();
  for (const o of tx.outputs) outputs.i64(o.value).varBytes(o.script);
  const preimage = new ByteWriter()
    .u32(tx.version)
    .bytes(sha256d(prevouts.finish()))
    .bytes(sha256d(sequences.finish()))
    .bytes(input.prevTxid)
    .u32(input.vout)
    .varBytes(scriptCode)
    .u64(amount)
    .u32(input.sequence)
    .bytes(sha256d(outputs.finish()))
    .u32(tx.lockTime)
    .u32(hashType)
    .finish();
  return sha256d(preimage);
}
