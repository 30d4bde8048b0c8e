import type { Queryable, Row } from './db.js';

/**
 * Streams a large result in pages by keyset (WHERE key > last ORDER BY key LIMIT n): the same SQL on
 * both back ends, one page in memory at a time, and an index seek per page instead of an OFFSET scan.
 * `page(after)` must return rows ordered by the key, after the given key (null: from the start).
 */
export async function* streamPages<T extends Row, K>(
  db: Queryable,
  page: (after: K | null, limit: number) => { sql: string; params: unknown[] },
  keyOf: (row: T) => K,
  pageSize = 2000,
): AsyncGenerator<T> {
  let after: K | null = null;
  for (;;) {
    const q = page(after, pageSize);
    const rows = await db.query<T>(q.sql, q.params);
    for (const r of rows) yield r;
    if (rows.length < pageSize) return;
    after = keyOf(rows[rows.length - 1] as T);
  }
}
