import { sha256 } from '@noble/hashes/sha2';
import { utf8ToBytes } from '@noble/hashes/utils';

// A pool keyed by miner address (open-ethereum-pool's logins, MiningCore's addresses) has no user ids;
// the ledger does. Each address gets one derived from the pool, the coin and the address: nothing is
// stored, so there is no mapping in the database for an attacker to point at another user. Derived ids
// start at 2^52 (below 2^53, exact in JSON): a pool's own numbering (and a coin's fee user) stays below.

/** The first derived id; ids of users a pool numbers itself must stay below it. */
export const DERIVED_ID_MIN = 2 ** 52;

/**
 * The ledger user of `address` in pool `pool` for coin `coin`. Addresses are compared as the pool writes
 * them: the caller lower-cases hex logins first (open-ethereum-pool does).
 */
export function derivedUserId(pool: string, coin: string, address: string): number {
  const h = sha256(utf8ToBytes(`payserv-pool-user\0${pool}\0${coin}\0${address}`));
  // 52 bits of the hash: 2^52 + [0, 2^52) stays a safe integer.
  const hi = (h[0] as number) * 2 ** 44 + (h[1] as number) * 2 ** 36 + (h[2] as number) * 2 ** 28 + (h[3] as number) * 2 ** 20;
  const lo = (h[4] as number) * 2 ** 12 + (h[5] as number) * 2 ** 4 + ((h[6] as number) >> 4);
  return DERIVED_ID_MIN + hi + lo;
}
