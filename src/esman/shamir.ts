// Shamir's secret sharing over GF(256) by privy-io's audited shamir-secret-sharing. A share is the
// polynomial's values followed by its x coordinate (one byte). The library wants a threshold of at
// least 2; a threshold of 1 is the degree-0 polynomial, whose every share is the secret itself.
import { combine, split } from 'shamir-secret-sharing';
import { EsmanError } from './errors.js';

export const SHARES_MAX = 255;

export function checkSplit(n: number, t: number): void {
  if (!Number.isInteger(n) || n < 1 || n > SHARES_MAX) throw new EsmanError('bad_option', `--shares ${n}: expected 1..${SHARES_MAX}`);
  if (!Number.isInteger(t) || t < 1 || t > n)
    throw new EsmanError('bad_option', `--threshold ${t}: expected 1..${n} (at most the number of shares)`);
}

export async function splitSecret(secret: Uint8Array, n: number, t: number): Promise<Uint8Array[]> {
  checkSplit(n, t);
  if (t === 1) return Array.from({ length: n }, (_, i) => Uint8Array.from([...secret, i + 1]));
  return split(secret, n, t);
}

/** The secret from `t` shares; whether it is the right one is for the caller to check (the key id). */
export async function combineShares(shares: Uint8Array[], t: number): Promise<Uint8Array> {
  if (shares.length < t) throw new EsmanError('too_few_shares', `${shares.length} share(s) given, ${t} needed`);
  // A copy: on a Buffer (as decrypted shares are) slice is a view, and the caller wipes the shares.
  if (t === 1) return Uint8Array.from(shares[0]!.subarray(0, -1));
  try {
    // The library checks the exact class: a Buffer is refused.
    return await combine(shares.slice(0, t).map((s) => Uint8Array.from(s)));
  } catch (e) {
    // Two shares with one x coordinate, or of different lengths: only an altered share does that.
    throw new EsmanError('altered_file', `the shares do not combine: ${(e as Error).message}`);
  }
}
