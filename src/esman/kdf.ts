// Passphrase → share key: scrypt (RFC 7914) from Node's OpenSSL, memory-hard so that a stolen share
// file costs an attacker memory as well as time per guess. The parameters travel in each share file.
import { scrypt } from 'node:crypto';
import { EsmanError } from './errors.js';

export interface ScryptParams {
  /** log2 of N, the CPU/memory cost. */
  log2N: number;
  r: number;
  p: number;
}

/** 2^17 × 8 × 128 B = 128 MiB per derivation: OWASP's scrypt recommendation. */
export const DEFAULT_SCRYPT: ScryptParams = { log2N: 17, r: 8, p: 1 };

/** What a share file may ask for: below is too weak to protect a share, above would exhaust a host. */
export const SCRYPT_BOUNDS = { log2N: [10, 20], r: [1, 32], p: [1, 16] } as const;

export const SALT_BYTES = 16;
export const KEY_BYTES = 32;

export function describeScrypt(k: ScryptParams): string {
  return `scrypt N=2^${k.log2N} r=${k.r} p=${k.p} (${memoryMiB(k)} MiB)`;
}

export const memoryMiB = (k: ScryptParams) => (128 * k.r * 2 ** k.log2N) / 2 ** 20;

export function checkScrypt(k: ScryptParams, where: string): void {
  for (const [name, [lo, hi]] of Object.entries(SCRYPT_BOUNDS) as Array<[keyof ScryptParams, readonly [number, number]]>) {
    const v = k[name];
    if (!Number.isInteger(v) || v < lo || v > hi)
      throw new EsmanError('damaged_file', `${where}: scrypt ${name} = ${v} is outside ${lo}..${hi}`);
  }
}

export function deriveKey(passphrase: Uint8Array, salt: Uint8Array, k: ScryptParams): Promise<Buffer> {
  checkScrypt(k, 'scrypt parameters');
  const N = 2 ** k.log2N;
  return new Promise((resolve, reject) => {
    // OpenSSL wants ~128·N·r bytes plus p·128·r; twice that leaves room without letting a file ask for more.
    scrypt(passphrase, salt, KEY_BYTES, { N, r: k.r, p: k.p, maxmem: 2 * 128 * N * k.r + 128 * k.r * k.p + 2 ** 20 }, (e, key) =>
      e ? reject(new EsmanError('kdf_failed', `scrypt failed: ${e.message}`)) : resolve(key),
    );
  });
}
