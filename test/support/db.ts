// freshDb(): a migrated database of this project's back end, private to the caller, which closes it.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { inject } from 'vitest';
import type { Db } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { openPostgres } from '../../src/db/postgres.js';
import { backend, testPgUrl } from './backend.js';
import { createPgliteFrom } from './pglite-snapshot.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteSnapshot: string;
  }
}

export { backend, describeOncePerSuite, testPgUrl, type Backend } from './backend.js';

let snapshot: Promise<Blob | undefined> | undefined;

/** Read once per test file; without the global setup (a file run on its own), fall back to migrating. */
function loadSnapshot(): Promise<Blob | undefined> {
  snapshot ??= (async () => {
    const file = inject('pgliteSnapshot');
    return file ? new Blob([new Uint8Array(await readFile(file))]) : undefined;
  })();
  return snapshot;
}

export interface TestDatabase {
  /** Connection URL (no password in the default setup). */
  url: string;
  name: string;
  /** Drops the database; open connections to it are terminated. */
  drop(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testPgUrl() });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A new, empty database `payserv_t_<random>` on the test server (postgres project only). */
export async function createPgDatabase(): Promise<TestDatabase> {
  const name = `payserv_t_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(testPgUrl());
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    // WITH (FORCE): a test that failed mid-way may have left a pool open; the drop must not hang on it.
    drop: () => admin(async (c) => void (await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))),
  };
}

const urls = new WeakMap<Db, string>();

/** The URL of a postgres-project database from freshDb (dbgw is handed it). */
export function urlOf(db: Db): string {
  const url = urls.get(db);
  if (!url) throw new Error('not a PostgreSQL test database from freshDb');
  return url;
}

export async function freshDb(): Promise<Db> {
  if (backend() === 'pglite') {
    const db = await createPgliteFrom(await loadSnapshot());
    await migrate(db); // a no-op on the snapshot; the real work when there is none
    return db;
  }
  const t = await createPgDatabase();
  let db: Db;
  try {
    db = await openPostgres({ url: t.url, poolSize: 4, statementTimeoutMs: 30_000 });
    await migrate(db);
  } catch (e) {
    await t.drop().catch(() => undefined);
    throw e;
  }
  const close = db.close;
  urls.set(db, t.url);
  return Object.assign(db, {
    where: `${db.where} (test)`,
    close: async () => {
      await close();
      await t.drop();
    },
  });
}
