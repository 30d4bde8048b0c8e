// A backup directory: the payserv host's local state and the database, taken at one quiet moment
// (src/payserv/backup.ts), bound together by a manifest that names the hash of every file and is signed
// by payserv's signing key. A restore (src/cli/pscli/backup.ts) reads nothing of a backup before its
// manifest, signature and every hash agree: a partial, tampered or mixed backup changes nothing.
import { createHash, verify as verifySignature } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, lstat, open, readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { Trust } from '../pki/trust.js';
import { ensureDir, fsyncPath, TMP_NAME } from './atomic-file.js';

export const BACKUP_FORMAT = 'payserv-backup/1';
export const MANIFEST = 'manifest.json';
export const MANIFEST_SIG = 'manifest.sig';
export const DATABASE_FILE = 'database.jsonl';
/** The copied state directory, inside a backup. */
export const LOCAL_DIR = 'local';

export class BackupError extends Error {
  override name = 'BackupError';
  constructor(
    message: string,
    readonly code: 'backup_missing' | 'backup_tampered' | 'backup_mismatch' | 'backup_format',
  ) {
    super(message);
  }
}

export interface FileEntry {
  sha256: string;
  bytes: number;
}

export interface Manifest {
  format: typeof BACKUP_FORMAT;
  id: string;
  taken_at: string;
  payserv_version: string;
  /** The key id of the payserv signing certificate that signed manifest.json (in local/pki/signers/payserv.crt). */
  signer: string;
  database: {
    kind: 'postgres' | 'pglite';
    file: typeof DATABASE_FILE;
    sha256: string;
    bytes: number;
    migrations: { version: number; name: string; checksum: string }[];
    /** Rows per table, as dumped. */
    tables: Record<string, number>;
  };
  /** The audit trail's local head at the quiet moment: the newest audit row of the dump must be this one. */
  audit_head: { id: number; hash: string } | null;
  /** Every file of local/, by its path relative to local/ ('/'-separated). */
  files: Record<string, FileEntry>;
}

export async function sha256File(path: string): Promise<FileEntry> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: h.digest('hex'), bytes };
}

/** Regular files under root, '/'-separated and sorted; `skip` leaves out a path (relative) and everything under it. A link is refused. */
export async function listFiles(root: string, skip: (rel: string) => boolean = () => false): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, e.name);
      const rel = relative(root, path).split(sep).join('/');
      if (skip(rel) || TMP_NAME.test(e.name)) continue;
      if (e.isDirectory()) await walk(path);
      else if (e.isFile()) out.push(rel);
      else throw new BackupError(`${path} is neither a file nor a directory: a backup holds only plain files`, 'backup_format');
    }
  };
  await walk(root);
  return out.sort();
}

/** Copies the listed files of `from` under `to`, each fsynced, and returns their hashes (of the copies). */
export async function copyFiles(from: string, to: string, files: readonly string[]): Promise<Record<string, FileEntry>> {
  const out: Record<string, FileEntry> = {};
  for (const rel of files) {
    const dst = join(to, ...rel.split('/'));
    await ensureDir(join(dst, '..'));
    await copyFile(join(from, ...rel.split('/')), dst);
    await fsyncPath(dst);
    out[rel] = await sha256File(dst);
  }
  return out;
}

/** The manifest's bytes as signed: fixed, so a restore verifies exactly what was written. */
export const manifestBytes = (m: Manifest): Buffer => Buffer.from(`${JSON.stringify(m, null, 2)}\n`);

/** A file name inside a backup: no way out of it. */
const SAFE_REL = /^(?!.*(^|\/)\.\.?(\/|$))[A-Za-z0-9._@+-]+(\/[A-Za-z0-9._@+-]+)*$/;

function parseManifest(text: string, where: string): Manifest {
  let m: Manifest;
  try {
    m = JSON.parse(text) as Manifest;
  } catch {
    throw new BackupError(`${where} is not JSON`, 'backup_format');
  }
  const bad = (what: string) => new BackupError(`${where}: ${what}`, 'backup_format');
  if (typeof m !== 'object' || m === null || m.format !== BACKUP_FORMAT) throw bad(`not a ${BACKUP_FORMAT} manifest`);
  if (typeof m.id !== 'string' || typeof m.taken_at !== 'string' || Number.isNaN(Date.parse(m.taken_at))) throw bad('no id or time');
  if (typeof m.signer !== 'string') throw bad('no signer');
  const d = m.database as Partial<Manifest['database']> | undefined;
  if (!d || d.file !== DATABASE_FILE || typeof d.sha256 !== 'string' || !Array.isArray(d.migrations) || typeof d.tables !== 'object')
    throw bad('no database part');
  if (typeof m.files !== 'object' || m.files === null) throw bad('no files');
  for (const [rel, f] of Object.entries(m.files)) {
    if (!SAFE_REL.test(rel)) throw bad(`file name ${JSON.stringify(rel)} is not a plain relative path`);
    if (typeof f?.sha256 !== 'string' || typeof f.bytes !== 'number') throw bad(`file ${rel} has no hash`);
  }
  if (m.audit_head !== null && (typeof m.audit_head?.id !== 'number' || typeof m.audit_head.hash !== 'string')) throw bad('bad audit head');
  return m;
}

async function readOrMissing(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BackupError(`${what} ${path} is missing: not a complete backup`, 'backup_missing');
    throw e;
  }
}

/**
 * Everything a restore checks before it writes anything: the manifest, its signature by payserv's signing
 * certificate (which must chain to `rootPem`: the operator's pinned root, else the backup's own), the hash
 * of the database dump and of every local file, and no file the manifest does not name.
 */
export async function verifyBackup(dir: string, rootPem?: string): Promise<Manifest> {
  const bytes = await readOrMissing(join(dir, MANIFEST), 'the manifest');
  const m = parseManifest(bytes.toString('utf8'), join(dir, MANIFEST));
  const sigHex = (await readOrMissing(join(dir, MANIFEST_SIG), 'the manifest signature')).toString('utf8').trim();
  const certPem = (await readOrMissing(join(dir, LOCAL_DIR, 'pki', 'signers', 'payserv.crt'), "payserv's signing certificate")).toString();
  const root = rootPem ?? (await readOrMissing(join(dir, LOCAL_DIR, 'pki', 'root.crt'), 'the root certificate')).toString();
  let cert;
  try {
    cert = new Trust(root).checkSigner(certPem, 'payserv', new Date(m.taken_at));
  } catch (e) {
    throw new BackupError(`the manifest's signer: ${(e as Error).message}`, 'backup_tampered');
  }
  if (cert.keyId !== m.signer || !/^[0-9a-f]+$/.test(sigHex))
    throw new BackupError('the manifest was not signed by the payserv certificate it names', 'backup_tampered');
  if (!verifySignature(null, bytes, cert.cert.publicKey, Buffer.from(sigHex, 'hex')))
    throw new BackupError(`the manifest's signature does not verify: ${join(dir, MANIFEST)} was changed`, 'backup_tampered');
  const check = async (path: string, want: FileEntry, name: string) => {
    await lstat(path).catch(() => {
      throw new BackupError(`${name} is missing: not a complete backup`, 'backup_missing');
    });
    const got = await sha256File(path);
    if (got.sha256 !== want.sha256 || got.bytes !== want.bytes)
      throw new BackupError(
        `${name} differs from the manifest (sha256 ${got.sha256}, the manifest says ${want.sha256}): tampered or from another backup`,
        'backup_tampered',
      );
  };
  await check(join(dir, DATABASE_FILE), m.database, DATABASE_FILE);
  for (const [rel, f] of Object.entries(m.files)) await check(join(dir, LOCAL_DIR, ...rel.split('/')), f, `${LOCAL_DIR}/${rel}`);
  const extra = (await listFiles(join(dir, LOCAL_DIR))).filter((rel) => !Object.hasOwn(m.files, rel));
  if (extra.length) throw new BackupError(`${LOCAL_DIR}/${extra[0]} is not in the manifest: the backup was added to`, 'backup_tampered');
  return m;
}

/** What a line writer buffers before it writes: memory bounded, and one write per many rows. */
const FLUSH_BYTES = 1 << 20;

/** Opens a file for appending lines, hashing them as they go, and fsyncs it at the end. */
export async function lineWriter(path: string): Promise<{ write(line: string): Promise<void>; close(): Promise<FileEntry> }> {
  const fh = await open(path, 'wx', 0o600);
  const h = createHash('sha256');
  let bytes = 0;
  let pending: Buffer[] = [];
  let size = 0;
  const flush = async () => {
    if (!size) return;
    const b = Buffer.concat(pending, size);
    pending = [];
    size = 0;
    await fh.write(b);
  };
  return {
    async write(line: string) {
      const b = Buffer.from(`${line}\n`);
      h.update(b);
      bytes += b.length;
      pending.push(b);
      size += b.length;
      if (size >= FLUSH_BYTES) await flush();
    },
    async close() {
      try {
        await flush();
        await fh.sync();
      } finally {
        await fh.close();
      }
      return { sha256: h.digest('hex'), bytes };
    },
  };
}
