#!/usr/bin/env node
// `npm run build`: compiles src/ and bench/ to dist/ (tsconfig.build.json, incremental) and copies the
// schema migrations beside the compiled migrate.js, which reads them from its own directory.
// `--if-stale` builds only when a source is newer than the last build: the demo, the bench and the
// test suite call it so that they never run an outdated dist/, and cost nothing when it is current.
// `--clean` removes dist/ first (npm pack does), so nothing compiled from a deleted source remains.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = join(ROOT, 'dist', '.built');
// Everything the build reads: the sources it compiles (bench drives parts of test/) and its settings.
const INPUTS = ['src', 'bench', 'test/sim', 'test/support', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];

/** The newest modification time under `path` (0 when it does not exist). */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), st.mtimeMs);
}

export function isStale() {
  if (!existsSync(STAMP)) return true;
  const built = statSync(STAMP).mtimeMs;
  return INPUTS.some((p) => newest(join(ROOT, p)) > built);
}

export function build() {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT, stdio: 'inherit' });
  cpSync(join(ROOT, 'src/db/migrations'), join(ROOT, 'dist/src/db/migrations'), { recursive: true });
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const arg = process.argv.slice(2);
  if (arg.length > 1 || (arg.length === 1 && arg[0] !== '--if-stale' && arg[0] !== '--clean')) {
    process.stderr.write('usage: node bin/build.mjs [--if-stale | --clean]\n');
    process.exit(2);
  }
  if (arg[0] === '--clean') rmSync(join(ROOT, 'dist'), { recursive: true, force: true });
  if (arg[0] !== '--if-stale' || isStale()) {
    try {
      build();
    } catch {
      // tsc has printed its errors.
      process.exit(1);
    }
  }
}
