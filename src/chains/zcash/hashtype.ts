// Signature hash types: the byte after each transparent signature that says which parts of the
// transaction it commits to. payserv signs with SIGHASH_ALL only; the digests implement them all
// because the official vectors exercise them all.

export const SIGHASH_ALL = 0x01;
export const SIGHASH_NONE = 0x02;
export const SIGHASH_SINGLE = 0x03;
export const SIGHASH_ANYONECANPAY = 0x80;

/** zcashd (like Bitcoin) reads the base type from the low five bits. */
export const SIGHASH_BASE_MASK = 0x1f;

/** The six hash types a standard signature may carry (and the only ones ZIP-244 allows in v5). */
export const STANDARD_HASH_TYPES: readonly number[] = [
  SIGHASH_ALL,
  SIGHASH_NONE,
  SIGHASH_SINGLE,
  SIGHASH_ALL | SIGHASH_ANYONECANPAY,
  SIGHASH_NONE | SIGHASH_ANYONECANPAY,
  SIGHASH_SINGLE | SIGHASH_ANYONECANPAY,
];
