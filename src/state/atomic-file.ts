// Small JSON files in the state directory that must survive a crash whole: after a crash a file is
// either the old value or the new one, never a torn mix, and a new file's directory entry is durable.
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export class AtomicFileError extends Error {
  override name = 'AtomicFileError';
}

const DIR_MODE = 0o700;

/** Temporary files start with a dot and end in .tmp, so a directory listing can skip a crashed write's leftover. */
export const TMP_NAME = /^\..*\.tmp$/;

/** fsync of a file or directory by path: a directory's makes its new entries survive a crash. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates missing directories (0700), and fsyncs the parent of each new one so the new entries survive a crash. */
export async function ensureDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: DIR_MODE });
  if (first === undefined) return;
  const created: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    created.push(d);
    if (d === first || dirname(d) === d) break;
  }
  for (const d of created) await fsyncPath(dirname(d));
}

/**
 * Crash-safe replace of `path` with `data`: a temp file in the same directory (so rename is atomic),
 * fsync, rename, then fsync of the directory so the rename is durable. Creates parent directories.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await ensureDir(dir);
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => undefined);
    throw new AtomicFileError(`cannot write ${path}: ${(e as Error).message}`);
  }
  try {
    await fsyncPath(dir);
  } catch (e) {
    throw new AtomicFileError(`cannot write ${path}: fsync of its directory failed: ${(e as Error).message}`);
  }
}

/** writeFileAtomic of `value` as JSON. */
export async function writeJsonAtomic(path: string, value: unknown, mode = 0o600): Promise<void> {
  const text = JSON.stringify(value);
  // readJson answers null for a missing file, so null is not a value a file may hold.
  if (typeof text !== 'string' || value === null) throw new AtomicFileError(`cannot write ${path}: the value is null or has no JSON form`);
  await writeFileAtomic(path, text, mode);
}

/** The parsed JSON in `path`; null when the file does not exist. Unreadable, invalid JSON or a bare null: an error naming the file. */
export async function readJson(path: string): Promise<unknown | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new AtomicFileError(`cannot read ${path}: ${(e as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AtomicFileError(`${path} is not valid JSON`);
  }
  // null is the answer for "no file": a file that holds null would read as missing, so it is damage.
  if (value === null) throw new AtomicFileError(`${path} holds JSON null, not a value`);
  return value;
}
