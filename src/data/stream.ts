import type { Row } from '../db/db.js';
import type { DataTx } from './data.js';
import type { Op } from '../db/op.js';
import { InvariantError } from '../ledger/invariant.js';

/** Keys are numbers, or records of them compared field by field in their order (keyset order). */
function compareKeys(a: unknown, b: unknown): number {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a)) return compareKeys(Object.values(a), Object.values(b));
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareKeys(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length - b.length;
  }
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/**
 * Streams a large result in pages by keyset (WHERE key > last ORDER BY key LIMIT n): the same SQL on
 * both back ends and through dbgw, one page in memory at a time on each side, and an index seek per
 * page instead of an OFFSET scan. `page(after)` names the operation returning rows ordered by the key,
 * after the given key (null: from the start). `compare` orders two keys as the operation does (default:
 * numbers, bigints and strings by value, records field by field).
 */
export async function* streamPages<T extends Row, K>(
  db: DataTx,
  page: (after: K | null, limit: number) => { op: Op<T>; params: unknown[] },
  keyOf: (row: T) => K,
  pageSize = 2000,
  compare: (a: K, b: K) => number = compareKeys,
): AsyncGenerator<T> {
  let after: K | null = null;
  for (;;) {
    const q = page(after, pageSize);
    const rows = await db.query<T>(q.op, q.params);
    for (const r of rows) yield r;
    if (rows.length < pageSize) return;
    const next = keyOf(rows[rows.length - 1] as T);
    // A page that does not move the key forward would be read again for ever (or a bound forgot its ORDER BY).
    if (after !== null && compare(next, after) <= 0)
      throw new InvariantError(`a page of ${q.op.name} did not advance past ${JSON.stringify(after)}`);
    after = next;
  }
}
