// Transparent scripts payserv pays to (P2PKH, P2SH) and spends from (P2PKH only), and the strict
// signature encoding zcashd's standard policy demands (BIP66 DER, low S, strict pubkey encoding).

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { hash160 } from './hash.js';

export { hash160 } from './hash.js';

export class ScriptError extends Error {
  override name = 'ScriptError';
}

const OP_DUP = 0x76;
const OP_HASH160 = 0xa9;
const OP_EQUALVERIFY = 0x88;
const OP_CHECKSIG = 0xac;
const OP_EQUAL = 0x87;
const PUSH_20 = 0x14;
/** Opcodes 0x01..0x4b push that many bytes: the minimal push for every element a P2PKH scriptSig holds. */
const DIRECT_PUSH_MAX = 0x4b;

/** Half the curve order: a signature with a larger S has a malleated twin and is non-standard. */
const HALF_N = secp256k1.CURVE.n >> 1n;

function requireHash20(hash: Uint8Array, what: string): void {
  if (hash.length !== 20) throw new ScriptError(`${what}: ${hash.length} bytes, a HASH160 is 20`);
}

/** OP_DUP OP_HASH160 <20> OP_EQUALVERIFY OP_CHECKSIG */
export function p2pkhScript(pubkeyHash: Uint8Array): Uint8Array {
  requireHash20(pubkeyHash, 'P2PKH pubkey hash');
  return Uint8Array.from([OP_DUP, OP_HASH160, PUSH_20, ...pubkeyHash, OP_EQUALVERIFY, OP_CHECKSIG]);
}

/** OP_HASH160 <20> OP_EQUAL */
export function p2shScript(scriptHash: Uint8Array): Uint8Array {
  requireHash20(scriptHash, 'P2SH script hash');
  return Uint8Array.from([OP_HASH160, PUSH_20, ...scriptHash, OP_EQUAL]);
}

/** The pubkey hash of a P2PKH scriptPubKey, or null for any other script. */
export function p2pkhHashOf(script: Uint8Array): Uint8Array | null {
  const ok =
    script.length === 25 &&
    script[0] === OP_DUP &&
    script[1] === OP_HASH160 &&
    script[2] === PUSH_20 &&
    script[23] === OP_EQUALVERIFY &&
    script[24] === OP_CHECKSIG;
  return ok ? script.slice(3, 23) : null;
}

/** The script hash of a P2SH scriptPubKey, or null for any other script. */
export function p2shHashOf(script: Uint8Array): Uint8Array | null {
  const ok = script.length === 23 && script[0] === OP_HASH160 && script[1] === PUSH_20 && script[22] === OP_EQUAL;
  return ok ? script.slice(2, 22) : null;
}

/** <DER signature ‖ hash type> <public key>, both as minimal direct pushes. */
export function p2pkhScriptSig(derSignature: Uint8Array, hashType: number, publicKey: Uint8Array): Uint8Array {
  parseStrictDer(derSignature);
  requireStrictPubkey(publicKey);
  if (!Number.isInteger(hashType) || hashType < 0 || hashType > 0xff) throw new ScriptError(`hash type ${hashType} is not a byte`);
  return Uint8Array.from([derSignature.length + 1, ...derSignature, hashType, publicKey.length, ...publicKey]);
}

export interface P2pkhSpend {
  /** DER, without the hash type byte. */
  readonly signature: Uint8Array;
  readonly hashType: number;
  readonly publicKey: Uint8Array;
}

/** Reads a P2PKH scriptSig: exactly two minimal pushes, the signature then the public key. */
export function parseP2pkhScriptSig(scriptSig: Uint8Array): P2pkhSpend {
  const pushes: Uint8Array[] = [];
  let at = 0;
  while (at < scriptSig.length) {
    if (pushes.length === 2) throw new ScriptError(`scriptSig has more than two elements (byte ${at})`);
    const op = scriptSig[at] as number;
    if (op < 0x01 || op > DIRECT_PUSH_MAX)
      throw new ScriptError(`scriptSig byte ${at}: opcode 0x${op.toString(16)} where a direct push was expected`);
    if (at + 1 + op > scriptSig.length) throw new ScriptError(`scriptSig byte ${at}: push of ${op} bytes runs past the end`);
    pushes.push(scriptSig.slice(at + 1, at + 1 + op));
    at += 1 + op;
  }
  const [sigWithType, publicKey] = pushes;
  if (!sigWithType || !publicKey) throw new ScriptError(`scriptSig has ${pushes.length} elements, a P2PKH spend has 2`);
  const signature = sigWithType.slice(0, -1);
  parseStrictDer(signature);
  requireStrictPubkey(publicKey);
  return { signature, hashType: sigWithType[sigWithType.length - 1] as number, publicKey };
}

/** A compressed (33 bytes, 02/03) or uncompressed (65 bytes, 04) SEC1 key, as zcashd's STRICTENC wants. */
export function requireStrictPubkey(publicKey: Uint8Array): void {
  const ok =
    (publicKey.length === 33 && (publicKey[0] === 0x02 || publicKey[0] === 0x03)) || (publicKey.length === 65 && publicKey[0] === 0x04);
  if (!ok)
    throw new ScriptError(
      `public key of ${publicKey.length} bytes starting 0x${(publicKey[0] ?? 0).toString(16)} is not a strict SEC1 encoding`,
    );
}

/**
 * BIP66 strict DER (zcashd's IsValidSignatureEncoding, applied here to the signature without its
 * hash type byte), plus the low-S rule. Returns r and s.
 */
export function parseStrictDer(sig: Uint8Array): { r: bigint; s: bigint } {
  const fail = (why: string): never => {
    throw new ScriptError(`signature is not strict DER: ${why}`);
  };
  const len = sig.length;
  if (len < 8 || len > 72) fail(`${len} bytes`);
  if (sig[0] !== 0x30) fail('no SEQUENCE tag');
  if (sig[1] !== len - 2) fail('SEQUENCE length does not match');
  const lenR = sig[3] as number;
  if (5 + lenR >= len) fail('R runs past the end');
  const lenS = sig[5 + lenR] as number;
  if (lenR + lenS + 6 !== len) fail('R and S lengths do not add up');
  if (sig[2] !== 0x02) fail('R is not an INTEGER');
  if (lenR === 0) fail('R is empty');
  if ((sig[4] as number) & 0x80) fail('R is negative');
  if (lenR > 1 && sig[4] === 0 && !((sig[5] as number) & 0x80)) fail('R has a superfluous leading zero');
  if (sig[lenR + 4] !== 0x02) fail('S is not an INTEGER');
  if (lenS === 0) fail('S is empty');
  if ((sig[lenR + 6] as number) & 0x80) fail('S is negative');
  if (lenS > 1 && sig[lenR + 6] === 0 && !((sig[lenR + 7] as number) & 0x80)) fail('S has a superfluous leading zero');
  const r = bigintOf(sig.subarray(4, 4 + lenR));
  const s = bigintOf(sig.subarray(6 + lenR, 6 + lenR + lenS));
  if (r === 0n || r >= secp256k1.CURVE.n) fail('R is out of range');
  if (s === 0n || s >= secp256k1.CURVE.n) fail('S is out of range');
  if (s > HALF_N) fail('S is high (a malleable signature)');
  return { r, s };
}

function bigintOf(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** P2PKH pubkey hash of a public key. */
export function pubkeyHash(publicKey: Uint8Array): Uint8Array {
  requireStrictPubkey(publicKey);
  return hash160(publicKey);
}
