// Backup.Take: the host's local state and the database at one quiet moment. payserv's local state and
// the database vouch for each other (checkpoints, the payment journal, the audit head, wallet memory),
// so a pair taken at different moments looks like a rollback. Under the hold (src/payserv/hold.ts) no
// call, autopay run or monitor tick is in progress and new ones wait: the state directory is copied and
// the database's REPEATABLE READ snapshot taken, then everything goes on (on PGlite, after the whole
// dump: see takeQuiet) while the tables stream from that snapshot. Pool-side writes (the
// intake's credits, wallets) are not held: they touch no local state, and the snapshot holds them as of
// its moment, which is after every local write copied.
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import { refusal } from '../api/payserv.js';
import { BACKUP, BACKUP_KEYS, BACKUP_PAGES, BACKUP_TABLES, type BackupRow, type BackupTable } from '../data/ops/backup.js';
import type { Data, DataTx } from '../data/data.js';
import { streamPages } from '../data/stream.js';
import {
  BACKUP_FORMAT,
  copyFiles,
  DATABASE_FILE,
  lineWriter,
  listFiles,
  LOCAL_DIR,
  MANIFEST,
  MANIFEST_SIG,
  manifestBytes,
  type FileEntry,
  type Manifest,
} from '../state/backup.js';
import { ensureDir, fsyncPath, writeFileAtomic } from '../state/atomic-file.js';
import { readAuditHead, type AuditHead } from './audit.js';
import type { Logger } from '../log/index.js';
import type { Payserv } from './context.js';
import { HoldTimeout, type Hold } from './hold.js';

export interface BackupSettings {
  stateDir: string;
  /** Where backups are written (absolute). */
  dir: string;
  waitMs: number;
  holdMs: number;
  version: string;
}

const PAGE = 1000;

/** What is never part of a backup's local state: the embedded database (dumped as rows), the backups, the log. */
function skipOf(s: BackupSettings): (rel: string) => boolean {
  const own = relative(s.stateDir, s.dir).split(sep).join('/');
  const inside = own !== '' && !own.startsWith('..') && !isAbsolute(own);
  return (rel) => rel === 'db' || rel === 'payserv.log' || (inside && rel === own);
}

interface Dumped {
  sha256: string;
  bytes: number;
  tables: Record<string, number>;
  migrations: Manifest['database']['migrations'];
  lastAudit: AuditHead | null;
}

/** Keys compared as the page operations order them: numbers by value; text only for progress (the database's collation orders it). */
const keyOrder =
  (t: BackupTable) =>
  (a: string[], b: string[]): number => {
    for (const [i, [, type]] of BACKUP_KEYS[t].entries()) {
      const x = a[i] as string;
      const y = b[i] as string;
      if (x === y) continue;
      if (type === 'text') return 1;
      return BigInt(x) < BigInt(y) ? -1 : 1;
    }
    return 0;
  };

/** One table in key order, a page at a time: keyset pagination on its primary key (src/data/stream.ts). */
export function streamTable(tx: DataTx, t: BackupTable, pageSize: number): AsyncGenerator<BackupRow> {
  const { first, after } = BACKUP_PAGES[t];
  const width = BACKUP_KEYS[t].length;
  return streamPages<BackupRow, string[]>(
    tx,
    (k, n) => (k ? { op: after, params: [...k, n] } : { op: first, params: [n] }),
    (r) => Array.from({ length: width }, (_, i) => String(r[`k${i}`])),
    pageSize,
    keyOrder(t),
  );
}

export interface DumpOptions {
  /** Rows per page (memory: one page of rows, plus the writer's buffer). */
  pageSize?: number;
  /** Stops the dump between pages (the hold's bound, while it is held). */
  signal?: AbortSignal;
  /** Called once the snapshot is taken: every later page reads that moment whatever is written meanwhile. */
  onSnapshot?: () => void;
}

/**
 * Every table in one snapshot, a line per row: {"t": table, "r": row as to_jsonb gives it}, written page
 * by page as it is read and hashed as it is written: memory holds one page, never a table.
 */
export async function dumpDatabase(db: Data, path: string, o: DumpOptions = {}): Promise<Dumped> {
  const out = await lineWriter(path);
  let file: FileEntry | null = null;
  try {
    const r = await db.transaction(async (tx) => {
      await tx.query(BACKUP.snapshot);
      const migrations = (await tx.query(BACKUP.migrations)).map((m) => ({
        version: Number(m.version),
        name: m.name,
        checksum: m.checksum,
      }));
      o.onSnapshot?.();
      const tables: Record<string, number> = {};
      let lastAudit: AuditHead | null = null;
      for (const t of BACKUP_TABLES) {
        tables[t] = 0;
        const prefix = `{"t":${JSON.stringify(t)},"r":`;
        for await (const { row } of streamTable(tx, t, o.pageSize ?? PAGE)) {
          if (tables[t] % PAGE === 0) o.signal?.throwIfAborted();
          await out.write(`${prefix}${row}}`);
          tables[t]++;
          // Key order: the last audit row streamed is the newest.
          if (t === 'payserv_audit') {
            const a = JSON.parse(row) as { id: number; hash: string };
            lastAudit = { id: a.id, hash: a.hash.replace(/^\\x/, '') };
          }
        }
      }
      return { migrations, tables, lastAudit };
    });
    file = await out.close();
    return { ...r, ...file };
  } finally {
    if (!file) await out.close().catch(() => undefined);
  }
}

/**
 * The part of a backup that must be quiet: the local state copied and the database's snapshot taken. On
 * PostgreSQL (in process or through dbgw) the tables stream after the hold is released: the snapshot is
 * fixed, so what calls write meanwhile is not in it. PGlite is one connection whose transaction excludes
 * every other query: work let go early would only wait on the dump instead of the hold, without the
 * hold's bound, so there the whole dump stays inside the hold.
 */
async function takeQuiet(ps: Payserv, s: BackupSettings, tmp: string, log: Logger) {
  const hold = ps.hold as Hold;
  let dump: Promise<Dumped> | undefined;
  let t0 = 0;
  const held = await hold
    .quiet(s.waitMs, s.holdMs, async (signal) => {
      t0 = Date.now();
      log.info({}, 'backup: every call and run is quiet, new ones wait');
      const takenAt = ps.now();
      const head = await readAuditHead(s.stateDir);
      const files = await copyFiles(s.stateDir, join(tmp, LOCAL_DIR), await listFiles(s.stateDir, skipOf(s)));
      signal.throwIfAborted();
      const path = join(tmp, DATABASE_FILE);
      if (ps.db.kind === 'pglite') return { takenAt, head, files, db: await dumpDatabase(ps.db, path, { signal }) };
      let snapshot!: () => void;
      const taken = new Promise<void>((r) => (snapshot = r));
      dump = dumpDatabase(ps.db, path, { signal, onSnapshot: snapshot });
      dump.catch(() => undefined);
      const aborted = new Promise<never>((_, reject) =>
        signal.aborted ? reject(signal.reason as Error) : signal.addEventListener('abort', () => reject(signal.reason as Error)),
      );
      aborted.catch(() => undefined);
      await Promise.race([taken, dump, aborted]);
      return { takenAt, head, files, db: null };
    })
    .catch(async (e: unknown) => {
      await dump?.catch(() => undefined);
      throw e;
    });
  const heldMs = Date.now() - t0;
  log.info({ held_ms: heldMs }, 'backup: hold released');
  return { ...held, heldMs, db: held.db ?? (await (dump as Promise<Dumped>)) };
}

export interface BackupReply {
  id: string;
  path: string;
  taken_at: string;
  held_ms: number;
  audit_head: AuditHead | null;
  files: number;
  tables: Record<string, number>;
}

/** The last backup's outcome, as Utils.Status reports it. */
export interface BackupOutcome {
  at: string;
  ok: boolean;
  /** The backup's id when taken. */
  id?: string;
  /** The refusal code when not taken. */
  code?: string;
  reason?: string;
}

/**
 * Backup.Take: refuses (backup_busy, backup_failed) with nothing kept, and never fails a payment. Its
 * outcome is kept for Utils.Status.
 */
export async function takeBackup(ps: Payserv, s: BackupSettings, caller: string): Promise<BackupReply> {
  const at = ps.now().toISOString();
  try {
    const r = await take(ps, s, caller);
    ps.lastBackup = { at, ok: true, id: r.id };
    return r;
  } catch (e) {
    const data = (e as { data?: { code?: unknown } }).data;
    const code = typeof data?.code === 'string' ? data.code : 'backup_failed';
    ps.lastBackup = { at, ok: false, code, reason: (e as Error).message };
    throw e;
  }
}

/**
 * The audit trail of the database does not end at this host's head, under the hold, where no call of this
 * payserv is writing: a row written by someone else (audit_unrecorded). Tampering evidence, so a fail-stop, as
 * for every integrity failure payserv finds (an audit head rewritten, a check's problem): payouts disabled
 * and the fail_stop alert raised until an operator has run `pscli audit verify`.
 */
async function auditNotOurs(ps: Payserv, head: AuditHead | null, last: AuditHead | null): Promise<never> {
  const why = `the audit trail's newest row (${last?.id ?? 'none'}) is not the local head (${head?.id ?? 'none'}): a row written by another process (audit_unrecorded)`;
  await ps.state.failStop(`backup: ${why}`, { head: head?.id ?? null, newest: last?.id ?? null });
  throw refusal('backup_failed', `${why}; payouts fail-stopped, run \`pscli audit verify\`; nothing was kept`);
}

async function take(ps: Payserv, s: BackupSettings, caller: string): Promise<BackupReply> {
  if (!ps.hold) throw refusal('backup_failed', 'this payserv has no hold: it cannot take a consistent backup');
  const id = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const tmp = join(s.dir, `.${id}.partial`);
  const final = join(s.dir, id);
  const log = ps.log.child({ component: 'backup', backup: id, by: caller });
  try {
    await ensureDir(tmp);
    const taken = await takeQuiet(ps, s, tmp, log);
    const { head, db, heldMs } = taken;
    // Nothing else may append to the audit trail (audit_unrecorded): the pair is refused if it did.
    if ((head?.id ?? null) !== (db.lastAudit?.id ?? null) || (head && head.hash !== db.lastAudit?.hash))
      await auditNotOurs(ps, head, db.lastAudit);
    const manifest: Manifest = {
      format: BACKUP_FORMAT,
      id,
      taken_at: taken.takenAt.toISOString(),
      payserv_version: s.version,
      signer: ps.signers.payserv.keyId,
      database: {
        kind: ps.db.kind,
        file: DATABASE_FILE,
        sha256: db.sha256,
        bytes: db.bytes,
        migrations: db.migrations,
        tables: db.tables,
      },
      audit_head: head,
      files: taken.files,
    };
    const bytes = manifestBytes(manifest);
    await writeFileAtomic(join(tmp, MANIFEST_SIG), `${Buffer.from(ps.signers.payserv.sign(bytes)).toString('hex')}\n`);
    // The manifest last: a directory without it is no backup.
    await writeFileAtomic(join(tmp, MANIFEST), bytes);
    await rename(tmp, final);
    await fsyncPath(s.dir);
    const reply = {
      id,
      path: final,
      taken_at: manifest.taken_at,
      held_ms: heldMs,
      audit_head: head,
      files: Object.keys(taken.files).length,
      tables: db.tables,
    };
    log.warn({ path: final, held_ms: heldMs, audit_head: head?.id ?? null, files: reply.files }, 'backup taken');
    return reply;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    log.error({ err: (e as Error).message }, 'backup not taken: nothing was kept');
    if (e instanceof HoldTimeout) throw refusal('backup_busy', `${e.message}`);
    if ((e as { data?: unknown }).data) throw e;
    throw refusal('backup_failed', `backup not taken: ${(e as Error).message}`);
  }
}
