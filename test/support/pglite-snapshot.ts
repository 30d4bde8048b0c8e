// A migrated PGlite, saved once per test run and loaded per test: loading the snapshot takes a
// fraction of a fresh PGlite's start (initdb inside WASM) plus migrations.
import { PGlite, types } from '@electric-sql/pglite';
import { parseBigintColumn, type Db, type Queryable, type Row } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';

/**
 * The same adapter as src/db/pglite.ts's openPglite, which has no way to load a snapshot. Kept in step by
 * test/support.test.ts, which compares the column types both return.
 */
export function wrapPglite(pg: PGlite, where: string): Db {
  const run = async <T extends Row>(q: Pick<PGlite, 'query'>, sql: string, params?: readonly unknown[]) =>
    (await q.query<T>(sql, params as unknown[])).rows;
  return {
    kind: 'pglite',
    where,
    query: (sql, params) => run(pg, sql, params),
    exec: async (sql) => void (await pg.exec(sql)),
    transaction: (fn) =>
      pg.transaction((t) => fn({ query: (sql, params) => run(t, sql, params), exec: async (sql) => void (await t.exec(sql)) } satisfies Queryable)),
    close: () => pg.close(),
  };
}

export const PGLITE_PARSERS = {
  [types.INT8]: parseBigintColumn,
  [types.NUMERIC]: (v: string) => v,
};

export async function createPgliteFrom(snapshot: Blob | undefined): Promise<Db> {
  const pg = await PGlite.create({ parsers: PGLITE_PARSERS, ...(snapshot ? { loadDataDir: snapshot } : {}) });
  return wrapPglite(pg, 'embedded PostgreSQL in memory (test)');
}

export async function makeSnapshot(): Promise<Blob> {
  const pg = await PGlite.create({ parsers: PGLITE_PARSERS });
  await migrate(wrapPglite(pg, 'snapshot'));
  // Uncompressed: gzip makes every load pay for decompression, which costs more than the disk saved.
  const blob = await pg.dumpDataDir('none');
  await pg.close();
  return blob;
}
