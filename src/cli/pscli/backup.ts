// pscli backup / restore: a consistent pair of payserv's local state and the database (README "Backup and
// restore"). The backup is taken by payserv at a quiet moment (Backup.Take); the restore loads it onto a
// fresh host: a new state directory and an empty database, after every check has passed.
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { refusalCodeOf, RpcError } from '../../api/jsonrpc.js';
import { BACKUP_TABLES } from '../../data/ops/backup.js';
import type { Db, Queryable } from '../../db/db.js';
import { listMigrations, migrate } from '../../db/migrate.js';
import { readAuditHead } from '../../payserv/audit.js';
import type { BackupReply } from '../../payserv/backup.js';
import { BackupError, copyFiles, DATABASE_FILE, LOCAL_DIR, verifyBackup, type Manifest } from '../../state/backup.js';
import { action, withDb, type Context } from '../context.js';
import { CliError, EXIT, refusalExit } from '../exit.js';
import { withPayserv } from '../payserv-client.js';

const BATCH = 500;
const TABLES: ReadonlySet<string> = new Set(BACKUP_TABLES);

const refused = (e: BackupError) => new CliError(`backup refused [${e.code}]: ${e.message}; nothing was changed`, EXIT.PROBLEMS);

/** The dump's rows by table, checked against the manifest: counts per table, and the newest audit row is the local head. */
async function readDump(dir: string, m: Manifest): Promise<Map<string, string[]>> {
  const rows = new Map<string, string[]>(BACKUP_TABLES.map((t) => [t, []]));
  let lastAudit: { id: number; hash: string } | null = null;
  const lines = createInterface({ input: createReadStream(join(dir, DATABASE_FILE)), crlfDelay: Infinity });
  for await (const line of lines) {
    let rec: { t?: unknown; r?: Record<string, unknown> };
    try {
      rec = JSON.parse(line) as typeof rec;
    } catch {
      throw new BackupError(`${DATABASE_FILE}: a line is not JSON`, 'backup_format');
    }
    if (typeof rec.t !== 'string' || !TABLES.has(rec.t) || typeof rec.r !== 'object' || rec.r === null)
      throw new BackupError(`${DATABASE_FILE}: a line names no table of the schema`, 'backup_format');
    rows.get(rec.t)?.push(JSON.stringify(rec.r));
    if (rec.t === 'payserv_audit') {
      const a = rec.r as { id: number; hash: string };
      if (!lastAudit || a.id > lastAudit.id) lastAudit = { id: a.id, hash: String(a.hash).replace(/^\\x/, '') };
    }
  }
  for (const [t, rs] of rows)
    if (rs.length !== (m.database.tables[t] ?? 0))
      throw new BackupError(
        `${DATABASE_FILE}: ${rs.length} rows of ${t}, the manifest says ${m.database.tables[t] ?? 0}`,
        'backup_tampered',
      );
  const head = m.audit_head;
  if ((head?.id ?? null) !== (lastAudit?.id ?? null) || (head && head.hash !== lastAudit?.hash))
    throw new BackupError(
      `the database part ends at audit row ${lastAudit?.id ?? 'none'}, the local part's head is ${head?.id ?? 'none'}: not one moment`,
      'backup_mismatch',
    );
  const local = await readAuditHead(join(dir, LOCAL_DIR));
  if ((local?.id ?? null) !== (head?.id ?? null) || local?.hash !== head?.hash)
    throw new BackupError(`${LOCAL_DIR}/audit/head.json is not the head the manifest names`, 'backup_mismatch');
  return rows;
}

/** This payserv's schema is the backup's: the rows fit the tables they are loaded into. */
function checkSchema(m: Manifest): void {
  const ours = listMigrations().map((x) => `${x.version}:${x.checksum}`);
  const theirs = m.database.migrations.map((x) => `${x.version}:${x.checksum}`);
  if (ours.join() !== theirs.join())
    throw new CliError(
      `the backup's schema (migrations ${m.database.migrations.map((x) => x.version).join(',')}) is not this pscli's: restore with payserv ${m.payserv_version}; nothing was changed`,
      EXIT.USAGE,
    );
}

/** A fresh state directory: missing or empty (an embedded database's db/ aside). */
async function requireFreshDir(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  const entries = (await readdir(dir)).filter((e) => e !== 'db');
  if (entries.length)
    throw new CliError(
      `--payserv-state-dir ${dir} is not empty (${entries.slice(0, 3).join(', ')}): a restore writes only into a fresh one; nothing was changed`,
      EXIT.USAGE,
    );
}

async function requireEmptyDatabase(db: Db): Promise<void> {
  for (const t of BACKUP_TABLES) {
    const [r] = await db.query<{ n: boolean }>('SELECT to_regclass($1) IS NOT NULL AS n', [t]);
    if (!r?.n) continue;
    const [has] = await db.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${t}) AS any`);
    if (has?.any)
      throw new CliError(
        `the database (${db.where}) is not empty: ${t} has rows; a restore loads only into an empty database; nothing was changed`,
        EXIT.USAGE,
      );
  }
}

/** Every row, in one transaction, parents first; then each table's sequences past its largest value. */
async function loadRows(tx: Queryable, rows: Map<string, string[]>): Promise<void> {
  for (const t of BACKUP_TABLES) {
    const rs = rows.get(t) ?? [];
    for (let i = 0; i < rs.length; i += BATCH)
      await tx.query(`INSERT INTO ${t} SELECT * FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)`, [
        `[${rs.slice(i, i + BATCH).join(',')}]`,
      ]);
    const cols = await tx.query<{ col: string; seq: string | null }>(
      `SELECT attname AS col, pg_get_serial_sequence($1, attname) AS seq FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
      [t],
    );
    for (const { col, seq } of cols)
      if (seq)
        await tx.query(`SELECT setval($1, m) FROM (SELECT max("${col.replace(/"/g, '""')}") AS m FROM ${t}) x WHERE m IS NOT NULL`, [seq]);
  }
}

async function restore(ctx: Context, from: string, target: string, rootFile: string | undefined): Promise<void> {
  const rootPem = rootFile === undefined ? undefined : await readFile(rootFile, 'utf8');
  let m: Manifest;
  let rows: Map<string, string[]>;
  try {
    m = await verifyBackup(from, rootPem);
    rows = await readDump(from, m);
  } catch (e) {
    if (e instanceof BackupError) throw refused(e);
    throw e;
  }
  checkSchema(m);
  await requireFreshDir(target);
  await withDb(ctx, async (db) => {
    await requireEmptyDatabase(db);
    const copied = await copyFiles(join(from, LOCAL_DIR), target, Object.keys(m.files));
    try {
      for (const [rel, f] of Object.entries(m.files))
        if (copied[rel]?.sha256 !== f.sha256) throw new CliError(`${rel} changed while it was copied`, EXIT.RUNTIME);
      await migrate(db);
      await db.transaction((tx) => loadRows(tx, rows));
    } catch (e) {
      // Nothing half-restored: the files this restore wrote go (the database's load was one transaction).
      for (const rel of Object.keys(m.files)) await rm(join(target, ...rel.split('/')), { force: true });
      throw e;
    }
  });
  ctx.log.warn({ backup: m.id, taken_at: m.taken_at, state_dir: target, database: m.database.kind }, 'backup restored');
  const total = Object.values(m.database.tables).reduce((a, b) => a + b, 0);
  if (ctx.json)
    ctx.printJson({
      id: m.id,
      taken_at: m.taken_at,
      state_dir: target,
      rows: total,
      files: Object.keys(m.files).length,
      audit_head: m.audit_head,
    });
  else
    ctx.print(
      [
        `restored backup ${m.id} (taken ${m.taken_at}): ${total} rows, ${Object.keys(m.files).length} files into ${target}`,
        `next: pscli checkbalanceerrors --payserv-state-dir ${target}, then start payserv on it and enable`,
      ].join('\n'),
    );
}

export function register(program: Command): void {
  program
    .command('backup')
    .description("have payserv take a consistent backup of its host's local state and the database (at a quiet moment)")
    .action(
      action(async (ctx) => {
        let r: BackupReply;
        try {
          r = (await withPayserv(ctx, (c) => c.call('Backup.Take'))) as BackupReply;
        } catch (e) {
          if (!(e instanceof RpcError)) throw e;
          const code = refusalCodeOf(e);
          throw new CliError(`payserv refused Backup.Take: ${code ? `${code}: ` : ''}${e.message}`, refusalExit(code));
        }
        if (ctx.json) ctx.printJson(r);
        else ctx.print(`backup ${r.id} taken at ${r.taken_at} (held ${r.held_ms} ms): ${r.path} on payserv's host`);
      }),
    );
  program
    .command('restore')
    .description('load a backup onto a fresh host: a new payserv state directory and an empty database, after checking it whole')
    .requiredOption('--from <dir>', 'the backup directory (as Backup.Take wrote it)')
    .requiredOption('--payserv-state-dir <dir>', 'the new payserv state directory (missing or empty)')
    .option('--root <file>', "the pinned root certificate to check the backup's signer against (default: the backup's own)")
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ from: string; payservStateDir: string; root?: string }>();
        if (!existsSync(join(o.from, '.'))) throw new CliError(`--from: ${o.from} is not a directory`, EXIT.USAGE);
        await restore(ctx, resolve(o.from), resolve(o.payservStateDir), o.root);
      }),
    );
}
