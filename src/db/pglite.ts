import { PGlite, types } from '@electric-sql/pglite';
import { parseBigintColumn, type Db, type Queryable, type Row } from './db.js';

/** dataDir undefined: in memory (tests). */
export async function openPglite(dataDir: string | undefined): Promise<Db> {
  const pg = await PGlite.create({
    ...(dataDir ? { dataDir } : {}),
    parsers: {
      [types.INT8]: parseBigintColumn,
      // NUMERIC stays text: money is never a float.
      [types.NUMERIC]: (v: string) => v,
    },
  });
  const run = async <T extends Row>(q: Pick<PGlite, 'query'>, sql: string, params?: readonly unknown[]) =>
    (await q.query<T>(sql, params as unknown[])).rows;
  return {
    kind: 'pglite',
    where: dataDir ? `embedded PostgreSQL in ${dataDir}` : 'embedded PostgreSQL in memory',
    query: (sql, params) => run(pg, sql, params),
    exec: async (sql) => void (await pg.exec(sql)),
    transaction: (fn) =>
      pg.transaction((t) => fn({ query: (sql, params) => run(t, sql, params), exec: async (sql) => void (await t.exec(sql)) } satisfies Queryable)),
    close: () => pg.close(),
  };
}
