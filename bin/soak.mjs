#!/usr/bin/env node
// `npm run soak [-- --seeds N --first S --steps K --project pglite|postgres]`: the adversarial harness
// (test/sim) on many more seeds than the suite runs, then what it explored: schedules, operations,
// faults by kind, tampers caught, seconds. A failing seed is printed by vitest with its schedule; rerun
// it alone with `--seeds 1 --first SEED`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE =
  'usage: npm run soak -- [--seeds N (200)] [--first SEED (1000)] [--steps K (40)] [--attack PERCENT (50)] [--project pglite|postgres (pglite)] [--verbose]\n';
const opts = { seeds: 200, first: 1000, steps: 40, attack: 50, project: 'pglite', verbose: false };
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--help' || a === '-h') {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  if (a === '--verbose') {
    opts.verbose = true;
    continue;
  }
  const m = /^--(seeds|first|steps|attack|project)(?:=(.*))?$/.exec(a);
  const value = m ? (m[2] ?? args[++i]) : undefined;
  if (!m || value === undefined) {
    process.stderr.write(`unknown or incomplete argument ${JSON.stringify(a)}\n${USAGE}`);
    process.exit(2);
  }
  if (m[1] === 'project') {
    if (value !== 'pglite' && value !== 'postgres') {
      process.stderr.write(`--project must be pglite or postgres\n${USAGE}`);
      process.exit(2);
    }
    opts.project = value;
  } else {
    const n = Number(value);
    // Bounded: a soak is minutes to hours, not forever; a schedule is at most a few hundred operations.
    const max = { seeds: 100_000, first: Number.MAX_SAFE_INTEGER - 100_000, steps: 1000, attack: 100 }[m[1]];
    const min = m[1] === 'first' || m[1] === 'attack' ? 0 : 1;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      process.stderr.write(`--${m[1]} must be an integer from ${min} to ${max}\n`);
      process.exit(2);
    }
    opts[m[1]] = n;
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const vitest = join(dirname(createRequire(import.meta.url).resolve('vitest/package.json')), 'vitest.mjs');
const dir = mkdtempSync(join(tmpdir(), 'payserv-soak-'));
const summary = join(dir, 'summary.json');
const started = Date.now();
const child = spawn(process.execPath, [vitest, 'run', '--project', opts.project, 'test/sim.test.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    SIM_SEEDS: String(opts.seeds),
    SIM_FIRST_SEED: String(opts.first),
    SIM_STEPS: String(opts.steps),
    SIM_ATTACK_PERCENT: String(opts.attack),
    SIM_SUMMARY: summary,
    ...(opts.verbose ? { SIM_VERBOSE: '1' } : {}),
  },
});
const forward = (sig) => child.kill(sig);
process.once('SIGINT', forward);
process.once('SIGTERM', forward);
child.on('exit', (code, signal) => {
  const seconds = (Date.now() - started) / 1000;
  let s = null;
  try {
    s = JSON.parse(readFileSync(summary, 'utf8'));
  } catch {
    // vitest ended before the suite's summary was written (a crash, a signal): report what is known.
  }
  rmSync(dir, { recursive: true, force: true });
  const sorted = (r) =>
    Object.entries(r)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || 'none';
  const lines = [
    `soak (${opts.project}): seeds ${opts.first}..${opts.first + opts.seeds - 1}, up to ${opts.steps} operations each, ${opts.attack} % of schedules with a tamper`,
  ];
  if (s) {
    const faults = Object.values(s.faults).reduce((a, b) => a + b, 0);
    lines.push(
      `schedules: ${s.schedules} passed, ${s.failed.length} failed${s.failed.length ? ` (seeds ${s.failed.join(', ')})` : ''}; ${s.steps} operations; ${s.restarts} restarts`,
      `faults: ${faults} injected; by kind: ${sorted(s.faults)}`,
      `tampers: ${s.tampers} (${s.detected} caught: fail-stop, or the operator's checks, then repaired or not; ${s.harmless} of no effect)`,
      `fault points reached: ${sorted(s.boundaries)}`,
      `seconds: ${seconds.toFixed(1)} (${(s.schedules / seconds).toFixed(2)} schedules/s)`,
    );
  } else {
    lines.push(`no summary: vitest ended with ${signal ?? `exit code ${code}`} after ${seconds.toFixed(1)} s`);
  }
  process.stdout.write(`\n${lines.join('\n')}\n`);
  process.exitCode = code ?? 1;
});
