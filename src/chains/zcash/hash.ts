// The hash functions Zcash transparent transactions use: personalized BLAKE2b-256 (ZIP-243, ZIP-244),
// double SHA-256 (v4 txid), HASH160 (P2PKH and P2SH).

import { blake2b } from '@noble/hashes/blake2.js';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';

const encoder = new TextEncoder();

/** A 16-byte BLAKE2b personalization: an ASCII tag, or 12 ASCII bytes + a little-endian branch id. */
export function personal(tag: string, branchId?: number): Uint8Array {
  const p = new Uint8Array(16);
  const ascii = encoder.encode(tag);
  const want = branchId === undefined ? 16 : 12;
  if (ascii.length !== want) throw new Error(`BLAKE2b personalization ${JSON.stringify(tag)} must be ${want} bytes`);
  p.set(ascii);
  if (branchId !== undefined) new DataView(p.buffer).setUint32(12, branchId >>> 0, true);
  return p;
}

/** BLAKE2b-256 of the concatenated parts under a personalization. */
export function blake2b256(personalization: Uint8Array, ...parts: readonly Uint8Array[]): Uint8Array {
  const h = blake2b.create({ dkLen: 32, personalization });
  for (const p of parts) h.update(p);
  return h.digest();
}

export function sha256d(data: Uint8Array): Uint8Array {
  return sha256(sha256(data));
}

export function hash160(data: Uint8Array): Uint8Array {
  return ripemd160(sha256(data));
}
