import { sameAddress } from '../../chains/address.js';
import type { Attempt, ChainDriver } from '../../chains/driver.js';
import { problem, type Problem } from '../../ledger/problem.js';
import type { Payserv } from '../context.js';
import type { Verified } from '../guard.js';
import { journalBytesProblem } from '../../journal/payments.js';
import { attemptsByHash } from '../../data/chain-store.js';
import { payValue } from './value.js';

// The stored bytes of a payment's attempts, trusted only once checked against the hashes in the
// withdrawal's signed history and against the withdrawal itself.

/**
 * The stored attempts of the withdrawal's current payment, each checked against its signed hash and
 * its withdrawal: bytes that are missing, hash to something else or pay someone else were tampered with.
 */
export async function storedAttempts(
  ps: Payserv,
  driver: ChainDriver,
  v: Verified,
  hashes: readonly string[],
): Promise<{ attempts: Attempt[] } | { problems: Problem[] }> {
  const bad = (why: string) => ({ problems: [problem('payserv_chain_txs', v.w.id, 'payment', why)] });
  if (hashes.length === 0) return bad(`withdrawal ${v.w.id}'s signed history names no transaction for this payment`);
  const { found, missing } = await attemptsByHash(ps.db, hashes);
  if (missing.length) return bad(`the stored bytes of transaction ${missing[0]} (signed in withdrawal ${v.w.id}'s history) are missing`);
  const value = payValue(v.coin, v.w);
  for (const a of found) {
    let d;
    try {
      d = driver.decode(a.raw);
    } catch (e) {
      return bad(`stored transaction ${a.hash}: ${(e as Error).message}`);
    }
    if (d.hash !== a.hash) return bad(`stored bytes of ${a.hash} hash to ${d.hash}`);
    const swapped = journalBytesProblem(ps.journal, v.w.id, a.hash, a.raw);
    if (swapped) return { problems: [swapped] };
    if (!d.outputs.some((o) => sameAddress(v.coin.tag, o.address, v.w.address, ps.coins) && o.value === value))
      return bad(`stored transaction ${a.hash} does not pay withdrawal ${v.w.id} (${v.w.address})`);
  }
  return { attempts: found };
}
