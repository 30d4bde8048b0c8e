import { PGlite, types } from '@electric-sql/pglite';
import type { Op } from './op.js';
import { parseBigintColumn, sqlOf, type Db, type Queryable, type Row } from './db.js';

export interface PgliteOptions {
  /** Where the database persists; absent: in memory (tests). */
  dataDir?: string;
  /** A data directory dumped by `dump()`, to start from instead of an empty cluster (tests: a migrated snapshot). */
  snapshot?: Blob;
}

const PARSERS = {
  [types.INT8]: parseBigintColumn,
  // NUMERIC stays text: money is never a float.
  [types.NUMERIC]: (v: string) => v,
};

export interface PgliteDb extends Db {
  /** The data directory as a blob (uncompressed: loading it back is what must be fast). */
  dump(): Promise<Blob>;
}

export async function openPglite(opts: PgliteOptions = {}): Promise<PgliteDb> {
  const pg = await PGlite.create({
    ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
    ...(opts.snapshot ? { loadDataDir: opts.snapshot } : {}),
    parsers: PARSERS,
  });
  const run = async <T extends Row>(q: Pick<PGlite, 'query'>, sql: string | Op<T>, params?: readonly unknown[]) =>
    (await q.query<T>(sqlOf(sql, params), params as unknown[])).rows;
  return {
    kind: 'pglite',
    where: opts.dataDir ? `embedded PostgreSQL in ${opts.dataDir}` : 'embedded PostgreSQL in memory',
    query: (sql, params) => run(pg, sql, params),
    exec: async (sql) => void (await pg.exec(sql)),
    transaction: (fn) =>
      pg.transaction((t) =>
        fn({ query: (sql, params) => run(t, sql, params), exec: async (sql) => void (await t.exec(sql)) } satisfies Queryable),
      ),
    // One embedded connection, one process: the session is that connection (locks are in-process then).
    withSession: (fn) => fn({ query: (sql, params) => run(pg, sql, params), exec: async (sql) => void (await pg.exec(sql)) }),
    close: () => pg.close(),
    dump: () => pg.dumpDataDir('none'),
  };
}
