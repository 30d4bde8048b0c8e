import pg from 'pg';
import type { Op } from './op.js';
import { parseBigintColumn, sqlOf, redactUrl, type Db, type Queryable, type Row } from './db.js';

const INT8_OID = 20;

const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID) return parseBigintColumn;
    return pg.types.getTypeParser(oid, format);
  },
};

export interface PostgresOptions {
  url: string;
  poolSize: number;
  statementTimeoutMs: number;
}

export async function openPostgres(opts: PostgresOptions): Promise<Db> {
  const pool = new pg.Pool({
    connectionString: opts.url,
    max: opts.poolSize,
    types: typeParsers,
    statement_timeout: opts.statementTimeoutMs,
    application_name: 'payserv',
  });
  // An idle client that loses its server emits 'error' on the pool; without a listener Node would crash.
  pool.on('error', () => undefined);
  const where = redactUrl(opts.url);
  // Fail at open, not at first use, with the (redacted) address in the message.
  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw new Error(`cannot connect to PostgreSQL at ${where}: ${(e as Error).message}`, { cause: e });
  }
  const run = async <T extends Row>(q: pg.Pool | pg.PoolClient, sql: string | Op<T>, params?: readonly unknown[]) =>
    (await q.query(sqlOf(sql, params), params as unknown[])).rows as T[];
  return {
    kind: 'postgres',
    where,
    query: (sql, params) => run(pool, sql, params),
    exec: async (sql) => void (await pool.query(sql)),
    async transaction(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const tx: Queryable = { query: (sql, params) => run(client, sql, params), exec: async (sql) => void (await client.query(sql)) };
        const result = await fn(tx);
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    async withSession(fn) {
      const client = await pool.connect();
      let broken = false;
      try {
        return await fn({ query: (sql, params) => run(client, sql, params), exec: async (sql) => void (await client.query(sql)) });
      } catch (e) {
        broken = true;
        throw e;
      } finally {
        // A session that failed may still hold a lock: never hand it to the next caller.
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
