import { sameAddress } from '../../chains/address.js';
import type { Attempt, ChainDriver } from '../../chains/driver.js';
import { problem, type Problem } from '../../ledger/problem.js';
import type { Payserv } from '../context.js';
import type { Verified } from '../guard.js';
import { journalBytesProblem } from '../../journal/payments.js';
import { attemptsByHash, type ChainStorage } from '../../data/chain-store.js';
import type { DataTx } from '../../data/data.js';
import { checkHistory } from '../../ledger/history.js';
import type { Trust } from '../../pki/trust.js';
import { getWithdrawalWithHistory } from '../../store/reads.js';
import { openCertBook } from '../../verify/view.js';
import { payValue } from './value.js';
import { paymentRuns } from './attempts.js';
import { invariant } from '../../ledger/invariant.js';

// The stored bytes of a payment's attempts, trusted only once checked against the hashes in the
// withdrawal's signed history and against the withdrawal itself.

/** How many of the withdrawals a stored row names are read before it is taken for not payserv's. */
const NAMED_TRIED = 10;

/**
 * The chain drivers' question (src/chains/storage.ts, AttemptStorage): the stored bytes of attempt `hash` when it is
 * payserv's own, else null. The row proves nothing by its bytes alone (a mined transaction's bytes are public, and
 * anyone with SQL can write a row, or bytes signed with a key of their own): it is payserv's when a withdrawal it names
 * has, in its signed history verified whole (every signature chained to the pinned root, the row at its last entry),
 * a `sending` entry naming the hash, written in the transaction that stored the bytes. An older backup restored holds
 * no such entry for a later payment: its bytes copied in do not count.
 */
export async function ownAttempt(
  storage: Pick<ChainStorage, 'attemptRow'>,
  trust: Trust,
  hash: string,
  db: DataTx,
): Promise<string | null> {
  const row = await storage.attemptRow(hash, db);
  if (!row) return null;
  const h = hash.toLowerCase();
  let book;
  for (const id of row.withdrawalIds.slice(0, NAMED_TRIED)) {
    const found = await getWithdrawalWithHistory(db, id);
    if (!found?.history.some((e) => e.status === 'sending' && e.txHash?.toLowerCase() === h)) continue;
    book ??= (await openCertBook(db, trust)).book;
    if (checkHistory(found.withdrawal, found.history, book).length === 0) return row.raw;
  }
  return null;
}

/**
 * The stored attempts of the withdrawal's current payment, each checked against its signed hash and
 * its withdrawal: bytes that are missing, hash to something else or pay someone else were tampered with.
 * Each attempt's time is its signed `sending` entry's: the row's created_at is not read. A created_at
 * that disagrees is not treated as tampering: it decides nothing (so it costs nothing), and it is the
 * database server's clock, which legitimately differs from the host's (clock skew, a row restored from
 * the payment journal later than its entry); stopping on it would give false alarms and protect nothing.
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
  // The payment's run of signed `sending` entries (the newest, should a hash ever stand in two): each attempt's time.
  const run = paymentRuns(v.history).findLast((r) => r[0]?.txHash === hashes[0]) ?? [];
  const signed = new Map(run.map((e) => [e.txHash, e.createdAt]));
  const attempts: Attempt[] = [];
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
    const signedAt = signed.get(a.hash);
    invariant(signedAt, `attempt ${a.hash} of withdrawal ${v.w.id} without a signed sending entry in its payment's run`);
    attempts.push({ ...a, signedAt });
  }
  return { attempts };
}
