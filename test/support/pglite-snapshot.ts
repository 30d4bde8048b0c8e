// A migrated PGlite, saved once per test run and loaded per test: loading the snapshot takes a
// fraction of a fresh PGlite's start (initdb inside WASM) plus migrations.
import type { Db } from '../../src/db/db.js';
import { migrate } from '../../src/db/migrate.js';
import { openPglite } from '../../src/db/pglite.js';

export function createPgliteFrom(snapshot: Blob | undefined): Promise<Db> {
  return openPglite(snapshot ? { snapshot } : {});
}

export async function makeSnapshot(): Promise<Blob> {
  const db = await openPglite();
  await migrate(db);
  const blob = await db.dump();
  await db.close();
  return blob;
}
