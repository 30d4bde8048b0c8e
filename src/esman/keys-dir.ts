// pki init --keys-dir: where every private key of a new PKI lands before `esman create --from` takes them into
// the store. A wrong directory is costly: inside the state directory the keys stay on its disk, through a
// symlink they land wherever it points (/etc), and a special file system (/proc) is no place for files at all.
import { accessSync, constants, lstatSync, mkdirSync, readdirSync, realpathSync, statfsSync, type Stats } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';

/** The path with every symlink in its existing part resolved (the rest is yet to be made), and that existing part. */
function realOf(path: string): { real: string; existing: string } {
  let existing = resolve(path);
  const rest: string[] = [];
  for (;;) {
    try {
      return { real: join(realpathSync(existing), ...rest), existing };
    } catch {
      const up = dirname(existing);
      if (up === existing) return { real: resolve(path), existing };
      rest.unshift(basename(existing));
      existing = up;
    }
  }
}

// Linux's kernel file systems (proc, sysfs, devpts, debugfs, tracefs, securityfs, cgroup, cgroup2): they take no
// files, and Node's recursive mkdir spins for ever on /proc's ENOENT.
const KERNEL_FS = new Set([0x9fa0, 0x62656572, 0x1cd1, 0x64626720, 0x74726163, 0x73636673, 0x27e0eb, 0x63677270]);

function statOf(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

function inside(child: string, parent: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

/**
 * A new directory or an existing empty one, not a symlink, not inside the state directory, on a writable path:
 * otherwise an Error naming what is wrong. Checks only: nothing is created.
 */
export function checkKeysDir(keysDir: string, stateDir: string): void {
  const what = `--keys-dir ${keysDir}`;
  const st = statOf(keysDir);
  if (st?.isSymbolicLink()) throw new Error(`${what} is a symlink: give the real directory (the keys would land wherever it points)`);
  if (st && !st.isDirectory()) throw new Error(`${what} is not a directory`);
  const keys = realOf(keysDir);
  if (inside(keys.real, realOf(stateDir).real))
    throw new Error(
      `${what} is inside the state directory ${stateDir}: its private keys would stay on that disk; give a directory elsewhere`,
    );
  if (st && readdirSync(keysDir).length) throw new Error(`${what} is not empty: give a new or empty directory`);
  // The directory itself, or the nearest part of its path that exists (where it will be made).
  const parent = keys.existing;
  const pst = statOf(parent);
  if (!pst?.isDirectory()) throw new Error(`${what}: ${parent} is not a directory`);
  if (KERNEL_FS.has(Number(statfsSync(parent).type)))
    throw new Error(`${what}: ${parent} is on a kernel file system, which holds no files`);
  try {
    accessSync(parent, constants.W_OK);
  } catch {
    throw new Error(`${what}: ${parent} is not writable`);
  }
}

/** Makes `dir` and its missing parents (0700) one at a time: a failure is an error naming it, never a hang. */
export function makeKeysDir(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !statOf(d); d = dirname(d)) {
    missing.unshift(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing) {
    try {
      mkdirSync(d, { mode: 0o700 });
    } catch (e) {
      throw new Error(`--keys-dir: cannot create ${d} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); nothing was written`);
    }
  }
}
