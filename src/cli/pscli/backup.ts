// pscli backup / restore: a consistent pair of payserv's local state and the database (README "Backup and
// restore"). The backup is taken by payserv at a quiet moment (Backup.Take); the restore loads it onto a
// fresh host: a new state directory and an empty database, after every check has passed.
import { createHash, X509Certificate } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { refusalCodeOf, RpcError } from '../../api/jsonrpc.js';
import { BACKUP_TABLES, type BackupTable } from '../../data/ops/backup.js';
import type { Db, Queryable } from '../../db/db.js';
import { listMigrations, migrate } from '../../db/migrate.js';
import { readAuditHead } from '../../payserv/audit.js';
import type { BackupReply } from '../../payserv/backup.js';
import { BackupError, copyFiles, DATABASE_FILE, LOCAL_DIR, verifyBackup, type FileEntry, type Manifest } from '../../state/backup.js';
import { action, withDb, type Context } from '../context.js';
import { CliError, EXIT, refusalExit } from '../exit.js';
import { withPayserv } from '../payserv-client.js';

const BATCH = 500;
const TABLE_INDEX: ReadonlyMap<string, number> = new Map(BACKUP_TABLES.map((t, i) => [t, i]));
const LINE = /^\{"t":"([a-z_]+)","r":/;

const refused = (e: BackupError) => new CliError(`backup refused [${e.code}]: ${e.message}; nothing was changed`, EXIT.PROBLEMS);

interface DumpRow {
  t: BackupTable;
  /** The row's JSON text exactly as dumped: never parsed and written again, so numbers stay exact. */
  row: string;
}

/**
 * database.jsonl line by line (memory: one line), each line checked: a table of the schema, tables in the
 * dump's order (parents first), the row a JSON object. Hashes what it reads: `done` gets the file's hash
 * and size once the last line is read.
 */
async function* readRows(dir: string, done?: (got: FileEntry) => void): AsyncGenerator<DumpRow> {
  const input = createReadStream(join(dir, DATABASE_FILE));
  const h = createHash('sha256');
  let bytes = 0;
  input.on('data', (c) => {
    h.update(c as Buffer);
    bytes += (c as Buffer).length;
  });
  const bad = (n: number, what: string) => new BackupError(`${DATABASE_FILE} line ${n}: ${what}`, 'backup_format');
  try {
    let at = 0;
    let n = 0;
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      n++;
      const m = LINE.exec(line);
      const i = m ? TABLE_INDEX.get(m[1] as string) : undefined;
      if (!m || i === undefined || !line.endsWith('}')) throw bad(n, 'not a row of a table of the schema');
      if (i < at) throw bad(n, `${m[1]} after ${BACKUP_TABLES[at]}: not in the dump's order`);
      at = i;
      const row = line.slice(m[0].length, -1);
      let v: unknown;
      try {
        v = JSON.parse(row);
      } catch {
        throw bad(n, 'the row is not JSON');
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(n, 'the row is not a JSON object');
      yield { t: m[1] as BackupTable, row };
    }
    done?.({ sha256: h.digest('hex'), bytes });
  } finally {
    input.destroy();
  }
}

/** The dump read through once, nothing kept: counts per table as the manifest says, and the newest audit row is the local head. */
async function checkDump(dir: string, m: Manifest): Promise<void> {
  const counts = new Map<string, number>(BACKUP_TABLES.map((t) => [t, 0]));
  let lastAudit: { id: number; hash: string } | null = null;
  for await (const { t, row } of readRows(dir)) {
    counts.set(t, (counts.get(t) ?? 0) + 1);
    if (t === 'payserv_audit') {
      const a = JSON.parse(row) as { id: number; hash: string };
      if (!lastAudit || a.id > lastAudit.id) lastAudit = { id: a.id, hash: String(a.hash).replace(/^\\x/, '') };
    }
  }
  for (const [t, n] of counts)
    if (n !== (m.database.tables[t] ?? 0))
      throw new BackupError(`${DATABASE_FILE}: ${n} rows of ${t}, the manifest says ${m.database.tables[t] ?? 0}`, 'backup_tampered');
  const head = m.audit_head;
  if ((head?.id ?? null) !== (lastAudit?.id ?? null) || (head && head.hash !== lastAudit?.hash))
    throw new BackupError(
      `the database part ends at audit row ${lastAudit?.id ?? 'none'}, the local part's head is ${head?.id ?? 'none'}: not one moment`,
      'backup_mismatch',
    );
  const local = await readAuditHead(join(dir, LOCAL_DIR));
  if ((local?.id ?? null) !== (head?.id ?? null) || local?.hash !== head?.hash)
    throw new BackupError(`${LOCAL_DIR}/audit/head.json is not the head the manifest names`, 'backup_mismatch');
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

const insertBatch = (tx: Queryable, t: BackupTable, rows: string[]) =>
  tx.query(`INSERT INTO ${t} SELECT * FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)`, [`[${rows.join(',')}]`]);

/** Each table's sequences past its largest value (the rows came with their ids). */
async function advanceSequences(tx: Queryable, t: BackupTable): Promise<void> {
  const cols = await tx.query<{ col: string; seq: string | null }>(
    `SELECT attname AS col, pg_get_serial_sequence($1, attname) AS seq FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped`,
    [t],
  );
  for (const { col, seq } of cols)
    if (seq)
      await tx.query(`SELECT setval($1, m) FROM (SELECT max("${col.replace(/"/g, '""')}") AS m FROM ${t}) x WHERE m IS NOT NULL`, [seq]);
}

/**
 * The dump streamed into the database inside the caller's transaction, `batch` rows per INSERT (memory:
 * one batch), parents first. The file is hashed again as it is read: one changed since it was checked
 * (or cut short) throws before the transaction commits, so nothing of it stays.
 */
export async function loadDump(tx: Queryable, dir: string, want: FileEntry, batch = BATCH): Promise<number> {
  let got: FileEntry | null = null;
  let table: BackupTable | null = null;
  let rows: string[] = [];
  let total = 0;
  const flush = async () => {
    if (table && rows.length) await insertBatch(tx, table, rows);
    rows = [];
  };
  for await (const r of readRows(dir, (g) => (got = g))) {
    if (r.t !== table || rows.length >= batch) await flush();
    table = r.t;
    rows.push(r.row);
    total++;
  }
  await flush();
  const read = got as FileEntry | null;
  if (read?.sha256 !== want.sha256 || read.bytes !== want.bytes)
    throw new BackupError(`${DATABASE_FILE} changed while it was loaded (sha256 ${read?.sha256 ?? 'none'}): tampered`, 'backup_tampered');
  for (const t of BACKUP_TABLES) await advanceSequences(tx, t);
  return total;
}

/** `--from` a directory and `--root` a readable file, else exit 2 naming the flag and the path. */
async function readArgs(from: string, rootFile: string): Promise<string> {
  const st = await stat(from).catch(() => null);
  if (!st?.isDirectory())
    throw new CliError(`--from ${from}: ${st ? 'not a directory' : 'no such directory'} (a backup's directory)`, EXIT.USAGE);
  const rs = await stat(rootFile).catch(() => null);
  if (!rs?.isFile())
    throw new CliError(`--root ${rootFile}: ${rs ? 'not a file' : 'no such file'} (the pinned root certificate)`, EXIT.USAGE);
  return readFile(rootFile, 'utf8');
}

/** Two PEM certificates are one certificate (by DER fingerprint); anything unreadable is not. */
function sameCert(a: string, b: string): boolean {
  try {
    return new X509Certificate(a).fingerprint256 === new X509Certificate(b).fingerprint256;
  } catch {
    return false;
  }
}

/** The backup's own pinned root must be the operator's: a backup never brings a root of its own. */
async function checkPinnedRoot(from: string, rootPem: string): Promise<void> {
  const theirs = await readFile(join(from, LOCAL_DIR, 'pki', 'root.crt'), 'utf8').catch(() => null);
  if (theirs !== null && !sameCert(theirs, rootPem))
    throw new BackupError(
      `${LOCAL_DIR}/pki/root.crt is not the root certificate --root names: another installation's backup`,
      'backup_tampered',
    );
}

async function restore(ctx: Context, from: string, target: string, rootFile: string): Promise<void> {
  const rootPem = await readArgs(from, rootFile);
  let m: Manifest;
  try {
    m = await verifyBackup(from, rootPem);
    await checkPinnedRoot(from, rootPem);
    await checkDump(from, m);
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
      await db.transaction((tx) => loadDump(tx, from, m.database));
    } catch (e) {
      // Nothing half-restored: the files this restore wrote go (the database's load was one transaction).
      for (const rel of Object.keys(m.files)) await rm(join(target, ...rel.split('/')), { force: true });
      if (e instanceof BackupError) throw refused(e);
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
    .option('--root <file>', "required: the operator's own copy of the pinned root certificate (kept offline with the CA key)")
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ from: string; payservStateDir: string; root?: string }>();
        // Never the backup's own root: a backup from another installation vouches for itself.
        if (o.root === undefined)
          throw new CliError(
            "--root FILE is required: the operator's own copy of the pinned root certificate (kept offline with the CA key's media), never the backup's; nothing was changed",
            EXIT.USAGE,
          );
        await restore(ctx, resolve(o.from), resolve(o.payservStateDir), resolve(o.root));
      }),
    );
}
