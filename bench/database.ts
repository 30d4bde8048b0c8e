// The bench's own database: embedded PGlite under a temp state directory, or a fresh
// payserv_bench_<random> database on the DATABASE_URL server, dropped at the end (only that one).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Db } from '../src/db/db.js';
import { redactUrl } from '../src/db/db.js';
import { migrate } from '../src/db/migrate.js';
import { openDatabase } from '../src/db/open.js';

export interface BenchDatabase {
  db: Db;
  /** Where, with no credentials; for PostgreSQL, the bench database's name too. */
  where: string;
  /** Closes the connection(s) and drops what the bench created; safe to call twice. */
  dispose(): Promise<void>;
}

export async function onServer<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'payserv-bench' });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function openBenchDatabase(stateDir: string, serverUrl: string | undefined): Promise<BenchDatabase> {
  if (!serverUrl) {
    const db = await openDatabase({}, stateDir);
    await migrate(db);
    let closed = false;
    return {
      db,
      where: db.where,
      dispose: async () => {
        if (closed) return;
        closed = true;
        await db.close();
      },
    };
  }
  const name = `payserv_bench_${randomBytes(6).toString('hex')}`;
  await onServer(serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    // WITH (FORCE): a pool left open by a failure must not make the drop hang (PostgreSQL 13+).
    await onServer(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  };
  let db: Db;
  try {
    db = await openDatabase({ url: url.toString(), poolSize: 4, statementTimeoutMs: 3_600_000 }, stateDir);
    await migrate(db);
  } catch (e) {
    await drop().catch(() => undefined);
    throw e;
  }
  let closed = false;
  return {
    db,
    where: `${redactUrl(url.toString())} (created for this run, dropped at the end)`,
    dispose: async () => {
      if (!closed) {
        closed = true;
        await db.close().catch(() => undefined);
      }
      await drop();
    },
  };
}
