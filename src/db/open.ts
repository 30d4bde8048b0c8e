import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DatabaseSettings } from '../config/load.js';
import type { Db } from './db.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';

/** PostgreSQL when a URL is given, otherwise the embedded PostgreSQL persisted in STATE/db. */
export async function openDatabase(settings: DatabaseSettings, stateDir: string): Promise<Db> {
  if (settings.url) {
    return openPostgres({
      url: settings.url,
      poolSize: settings.poolSize ?? 10,
      statementTimeoutMs: settings.statementTimeoutMs ?? 60_000,
    });
  }
  const dir = join(stateDir, 'db');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return openPglite({ dataDir: dir });
}
