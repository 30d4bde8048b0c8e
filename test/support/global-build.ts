// Global setup of the database projects: their tests spawn bin/*.mjs, which run the compiled dist/, so
// dist/ is brought up to date first (a no-op when nothing changed since the last build).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export default function setup(): void {
  execFileSync(process.execPath, [join(import.meta.dirname, '../../bin/build.mjs'), '--if-stale'], { stdio: 'inherit' });
}
