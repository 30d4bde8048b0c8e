// One store item written out as a file, for a service that reads its TLS pair from disk: created, never
// replaced (an existing file is refused untouched), 0600 from its first byte, fsynced with its directory
// entry so a crash right after leaves the whole file or none.
import { open, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncPath } from '../state/atomic-file.js';
import { EsmanError, reasonOf } from './errors.js';

export const EXPORT_FILE_MODE = 0o600;

/** An export over an existing file: said before any passphrase, and again by the exclusive create. */
export const fileExists = (path: string) =>
  new EsmanError('exists', `${path} already exists: esman export never overwrites a file (remove it first if it is stale)`);

export async function writeNewFile(path: string, value: Uint8Array): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'wx', EXPORT_FILE_MODE);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw fileExists(path);
    throw new EsmanError('write_failed', `${path} cannot be created: ${reasonOf(e)}`);
  }
  try {
    // The umask may have narrowed the mode further, never widened it; chmod makes it exactly 0600.
    await fh.chmod(EXPORT_FILE_MODE);
    await fh.writeFile(value);
    await fh.sync();
  } catch (e) {
    await fh.close().catch(() => undefined);
    await rm(path, { force: true }).catch(() => undefined);
    throw new EsmanError('write_failed', `${path} cannot be written: ${reasonOf(e)}`);
  }
  await fh.close();
  await fsyncPath(dirname(path));
}
