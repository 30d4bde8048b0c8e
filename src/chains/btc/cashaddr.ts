// Bitcoin Cash's CashAddr (https://reference.cash/protocol/blockchain/encoding/cashaddr): a prefix
// ("bitcoincash"), ':', then base32 (bech32's alphabet) of a version byte, the hash, and a 40-bit BCH
// checksum over the prefix and the payload. Neither @scure/base nor @scure/btc-signer has it; the
// polymod is the spec's, in BigInt because the checksum is wider than JavaScript's 32-bit bit operations.

import { bech32 } from '@scure/base';

const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATORS = [0x98f2bc8e61n, 0x79b76d99e2n, 0xf33e5fb3c4n, 0xae2eabe2a8n, 0x1e4f43e470n];
const LOW_35_BITS = 0x07ffffffffn;
const CHECKSUM_WORDS = 8;

/** The spec's PolyMod over 5-bit values. */
function polymod(values: readonly number[]): bigint {
  let c = 1n;
  for (const d of values) {
    const c0 = c >> 35n;
    c = ((c & LOW_35_BITS) << 5n) ^ BigInt(d);
    GENERATORS.forEach((g, i) => {
      if ((c0 >> BigInt(i)) & 1n) c ^= g;
    });
  }
  return c ^ 1n;
}

/** The prefix as the checksum sees it: the low 5 bits of each character, then a zero for the ':'. */
function prefixWords(prefix: string): number[] {
  return [...prefix].map((ch) => ch.charCodeAt(0) & 0x1f).concat(0);
}

/** Hash types of the version byte's bits 3..6 (type 2 and 3: CashTokens' token-aware twins of the same scripts). */
export type CashAddrType = 'p2pkh' | 'p2sh';

export interface CashAddr {
  prefix: string;
  type: CashAddrType;
  /** 20 bytes, or 32 for a P2SH32 script hash. */
  hash: Uint8Array;
  tokenAware: boolean;
}

const HASH_BITS = [160, 192, 224, 256, 320, 384, 448, 512];

export class CashAddrError extends Error {
  override name = 'CashAddrError';
  constructor(
    readonly code: 'malformed' | 'checksum' | 'unsupported',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Decodes "prefix:payload", or a bare payload read with `defaultPrefix`. Mixed case is refused (the
 * spec allows all-lower or all-upper only).
 */
export function decodeCashAddr(address: string, defaultPrefix: string): CashAddr {
  if (address !== address.toLowerCase() && address !== address.toUpperCase()) throw new CashAddrError('malformed', 'mixed case');
  const lower = address.toLowerCase();
  const colon = lower.indexOf(':');
  const prefix = colon < 0 ? defaultPrefix : lower.slice(0, colon);
  const payload = colon < 0 ? lower : lower.slice(colon + 1);
  if (!/^[a-z0-9]+$/.test(prefix)) throw new CashAddrError('malformed', 'the prefix is not letters and digits');
  const words = [...payload].map((ch) => CHARSET.indexOf(ch));
  if (words.length <= CHECKSUM_WORDS || words.some((w) => w < 0)) throw new CashAddrError('malformed', 'not base32');
  if (polymod([...prefixWords(prefix), ...words]) !== 0n) throw new CashAddrError('checksum', 'bad checksum');
  const bytes = bech32.fromWordsUnsafe(words.slice(0, -CHECKSUM_WORDS));
  if (!bytes || bytes.length < 1) throw new CashAddrError('malformed', 'the payload has non-zero padding');
  const version = bytes[0] as number;
  const hash = bytes.slice(1);
  if (version & 0x80) throw new CashAddrError('malformed', 'the version byte has its reserved bit set');
  if (hash.length * 8 !== HASH_BITS[version & 0x07])
    throw new CashAddrError('malformed', 'the hash length does not match the version byte');
  const typeBits = (version >> 3) & 0x0f;
  if (typeBits > 3) throw new CashAddrError('unsupported', `unknown CashAddr type ${typeBits}`);
  const type: CashAddrType = typeBits % 2 === 0 ? 'p2pkh' : 'p2sh';
  if (!(hash.length === 20 || (type === 'p2sh' && hash.length === 32)))
    throw new CashAddrError('unsupported', `a ${hash.length * 8}-bit ${type} hash`);
  return { prefix, type, hash, tokenAware: typeBits >= 2 };
}

/** "prefix:payload" in lower case; a 20-byte hash (or a 32-byte P2SH32 hash). */
export function encodeCashAddr(prefix: string, type: CashAddrType, hash: Uint8Array): string {
  const sizeBits = hash.length === 20 ? 0 : hash.length === 32 && type === 'p2sh' ? 3 : -1;
  if (sizeBits < 0) throw new CashAddrError('unsupported', `a ${hash.length}-byte ${type} hash`);
  const version = ((type === 'p2pkh' ? 0 : 1) << 3) | sizeBits;
  const words = bech32.toWords(Uint8Array.from([version, ...hash]));
  const mod = polymod([...prefixWords(prefix), ...words, ...new Array<number>(CHECKSUM_WORDS).fill(0)]);
  const checksum = Array.from({ length: CHECKSUM_WORDS }, (_, i) => Number((mod >> BigInt(5 * (CHECKSUM_WORDS - 1 - i))) & 0x1fn));
  return `${prefix}:${[...words, ...checksum].map((w) => CHARSET[w]).join('')}`;
}
