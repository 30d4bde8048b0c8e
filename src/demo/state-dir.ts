import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The demo starts from a fresh state directory every run, so it deletes the one it used before. It only
// ever deletes a directory it made itself: one that carries its marker. A production state directory
// (the systemd units set PAYSERV_STATE_DIR), or any other directory with files in it, is refused.

/** The file that marks a directory as the demo's own. */
export const DEMO_MARKER = '.payserv-demo';

/**
 * Empties `dir` for a new run (creating it if needed) and marks it; an error message when it is not the
 * demo's to empty. The default ./.demo follows the same rule as $PAYSERV_STATE_DIR (`named`): a checkout's
 * .demo may hold someone's files too. Only the advice differs.
 */
export function freshDemoDir(dir: string, named = true): string | null {
  if (existsSync(dir)) {
    if (readdirSync(dir).length && !isDemoDir(dir)) {
      const advice = named
        ? 'Unset PAYSERV_STATE_DIR (the demo then uses ./.demo) or point it at an empty or new directory'
        : 'Move its files away (a run from before the marker existed left none: delete it yourself), or set PAYSERV_STATE_DIR to an empty or new directory';
      return `${dir} is not a demo directory (it has files and no ${DEMO_MARKER} marker file): refusing to delete it. ${advice}`;
    }
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, DEMO_MARKER), 'made by `npm run demo`: the next run deletes this directory\n', { mode: 0o600 });
  return null;
}

/**
 * Whether `dir` carries the demo's marker (also pscli's licence for the embedded database). Only a regular
 * file counts: the demo never makes a symlink or directory of that name, and a symlink could point anywhere.
 */
export function isDemoDir(dir: string): boolean {
  try {
    return lstatSync(join(dir, DEMO_MARKER)).isFile();
  } catch {
    return false;
  }
}
