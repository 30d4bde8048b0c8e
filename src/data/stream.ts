import type { Row } from '../db/db.js';
import type { DataTx } from './data.js';
import type { Op } from './op.js';

/**
 * Streams a large result in pages by keyset (WHERE key > last ORDER BY key LIMIT n): the same SQL on
 * both back ends and through dbgw, one page in memory at a time on each side, and an index seek per
 * page instead of an OFFSET scan. `page(after)` names the operation returning rows ordered by the key,
 * after the given key (null: from the start).
 */
export async function* streamPages<T extends Row, K>(
  db: DataTx,
  page: (after: K | null, limit: number) => { op: Op<T>; params: unknown[] },
  keyOf: (row: T) => K,
  pageSize = 2000,
): AsyncGenerator<T> {
  let after: K | null = null;
  for (;;) {
    const q = page(after, pageSize);
    const rows = await db.query<T>(q.op, q.params);
    for (const r of rows) yield r;
    if (rows.length < pageSize) return;
    after = keyOf(rows[rows.length - 1] as T);
  }
}
