import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from './db.js';

const DIR = fileURLToPath(new URL('./migrations/', import.meta.url));
const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;
/** Serialises concurrent migrators on one PostgreSQL server (an arbitrary, fixed lock key). */
const LOCK_KEY = 0x70617973; // "pays"

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationState {
  version: number;
  name: string;
  applied: boolean;
  appliedAt: Date | null;
}

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export function listMigrations(): Migration[] {
  return readdirSync(DIR)
    .filter((f) => FILE.test(f))
    .sort()
    .map((f) => {
      const [, v, name] = FILE.exec(f) as RegExpExecArray;
      const sql = readFileSync(DIR + f, 'utf8');
      return { version: Number(v), name: name as string, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    });
}

async function ensureTable(db: Db): Promise<void> {
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,
    applied_at TIMESTAMPTZ(3) NOT NULL DEFAULT now())`);
}

/** Applies what is missing, each migration in its own transaction; idempotent. Returns the versions applied. */
export async function migrate(db: Db): Promise<number[]> {
  await ensureTable(db);
  const applied: number[] = [];
  for (const m of listMigrations()) {
    const done = await db.transaction(async (tx) => {
      if (db.kind === 'postgres') await tx.query('SELECT pg_advisory_xact_lock($1)', [LOCK_KEY]);
      const rows = await tx.query<{ checksum: string }>('SELECT checksum FROM schema_migrations WHERE version = $1', [m.version]);
      if (rows[0]) {
        if (rows[0].checksum !== m.checksum) {
          throw new MigrationError(`migration ${m.version}_${m.name} was changed after it was applied (checksum differs)`);
        }
        return false;
      }
      await tx.exec(m.sql);
      await tx.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, m.checksum]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}

export async function migrationStatus(db: Db): Promise<MigrationState[]> {
  await ensureTable(db);
  const rows = await db.query<{ version: number; checksum: string; applied_at: Date }>(
    'SELECT version, checksum, applied_at FROM schema_migrations ORDER BY version',
  );
  const byVersion = new Map(rows.map((r) => [r.version, r]));
  const known = listMigrations();
  for (const r of rows) {
    const m = known.find((k) => k.version === r.version);
    if (!m) throw new MigrationError(`database has migration ${r.version}, unknown to this payserv (newer version?)`);
    if (m.checksum !== r.checksum) throw new MigrationError(`migration ${m.version}_${m.name} was changed after it was applied`);
  }
  return known.map((m) => {
    const r = byVersion.get(m.version);
    return { version: m.version, name: m.name, applied: !!r, appliedAt: r?.applied_at ?? null };
  });
}

/** Refuses to work on a database whose schema is behind or ahead of this code. */
export async function requireCurrentSchema(db: Db): Promise<void> {
  const missing = (await migrationStatus(db)).filter((m) => !m.applied);
  if (missing.length) {
    throw new MigrationError(
      `database schema is not current: missing ${missing.map((m) => `${m.version}_${m.name}`).join(', ')}; run \`pscli db migrate\``,
    );
  }
}
