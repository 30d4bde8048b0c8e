import type { Queryable } from '../db/db.js';

// Writers of one chain are serialised by the database, so two writers can never fork a chain (and
// the UNIQUE (…, prev_id) constraints refuse it if a writer forgets). Transaction-scoped: a crashed
// holder's lock dies with its connection.

/** All credit and income writes of a coin. */
export async function lockCoinChains(tx: Queryable, coinId: number): Promise<void> {
  const rows = await tx.query('SELECT id FROM coins_coin WHERE id = $1 FOR UPDATE', [coinId]);
  if (rows.length === 0) throw new Error(`unknown coin id ${coinId}`);
}

/** The withdrawal chain of one account. */
export async function lockAccountDebits(tx: Queryable, userId: number, coinId: number): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('payserv:debits:' || $1::text || ':' || $2::text, 0))", [userId, coinId]);
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

/** Allocates n ids from a table's sequence, in increasing order, before signing (the id is signed). */
export async function allocateIds(tx: Queryable, sequence: string, n: number): Promise<number[]> {
  if (!/^[a-z_]+$/.test(sequence)) throw new Error('bad sequence name');
  const rows = await tx.query<{ id: number }>(`SELECT nextval('${sequence}') AS id FROM generate_series(1, $1::int) ORDER BY 1`, [n]);
  return rows.map((r) => r.id);
}
