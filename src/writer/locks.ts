import type { DataTx } from '../data/data.js';
import type { Op } from '../db/op.js';
import { WRITES } from '../data/ops/writes.js';

// Writers of one chain are serialised by the database, so two writers can never fork a chain (and
// the UNIQUE (…, prev_id) constraints refuse it if a writer forgets). Transaction-scoped: a crashed
// holder's lock dies with its connection.

/** All credit and income writes of a coin. */
export async function lockCoinChains(tx: DataTx, coinId: number): Promise<{ tag: string; decimals: number }> {
  const [coin] = await tx.query(WRITES.lockCoin, [coinId]);
  if (!coin) throw new Error(`unknown coin id ${coinId}`);
  return coin;
}

/** Another writer holds an account's withdrawal chain (payserv does not wait: see WRITES.tryLockAccountDebits). */
export class DebitsBusy extends Error {
  override name = 'DebitsBusy';
}

/** The withdrawal chain of one account; `wait: false` throws DebitsBusy at once when another writer holds it. */
export async function lockAccountDebits(tx: DataTx, userId: number, coinId: number, wait = true): Promise<void> {
  if (wait) {
    await tx.query(WRITES.lockAccountDebits, [userId, coinId]);
    return;
  }
  const [r] = await tx.query(WRITES.tryLockAccountDebits, [userId, coinId]);
  if (!r?.ok) throw new DebitsBusy(`the withdrawal chain of user ${userId} coin ${coinId} is being written by another session; try again`);
}

/**
 * The time to stamp on rows appended under a chain lock: now, but never before the chain's last row.
 * Taken after the lock, so a writer that waited does not append a row older than the one written
 * meanwhile; clamped, so a clock step or a slower host cannot make an honest row look backdated.
 */
export function stampAfter(...heads: ReadonlyArray<Date | null | undefined>): Date {
  let t = Date.now();
  for (const h of heads) if (h && h.getTime() > t) t = h.getTime();
  return new Date(t);
}

/** Allocates n ids from a table's sequence (WRITES.withdrawalIds, incomeIds, creditIds), in increasing order, before signing (the id is signed). */
export async function allocateIds(tx: DataTx, sequence: Op<{ id: number }>, n: number): Promise<number[]> {
  const rows = await tx.query(sequence, [n]);
  return rows.map((r) => r.id);
}
