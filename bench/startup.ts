// Start-up of the operator's CLI: `node bin/pscli.mjs --help` as a fresh process, RUNS times one after
// another, wall clock from spawn to exit (Node's own start included, beside `node -e 0` for scale). The
// target is well under half a second: pscli imports a command's dependencies when it runs.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/config/package-root.js';
import { fmt, heading, line, median, progress, quantile, round } from './report.js';

export const STARTUP_TARGET_MS = 500;

export interface StartupOutcome {
  summary: { runs: number; medianMs: number; p95Ms: number; nodeAloneMedianMs: number } | null;
  failures: string[];
}

/** Wall time of one `node ...args` to its exit; an exit code other than 0 is an error. */
function timeOnce(args: string[]): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, args, { cwd: packageRoot(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`node ${args.join(' ')} exited ${code}: ${stderr.trim()}`)),
    );
  });
}

async function timeRuns(args: string[], runs: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await timeOnce(args));
  return ms;
}

export async function runStartupSection(runs: number): Promise<StartupOutcome> {
  heading(`0. start-up of pscli --help (node bin/pscli.mjs --help, ${runs} runs one after another)`);
  progress(`timing pscli --help ${runs} times`);
  try {
    const nodeAlone = await timeRuns(['-e', '0'], runs);
    const pscli = await timeRuns([join('bin', 'pscli.mjs'), '--help'], runs);
    const [med, p95] = [median(pscli), quantile(pscli, 0.95)];
    // A figure, not a failure: a loaded machine slows every process alike (see Node alone beside it).
    const verdict = med < STARTUP_TARGET_MS ? `under the ${STARTUP_TARGET_MS} ms target` : `OVER the ${STARTUP_TARGET_MS} ms target`;
    line('pscli --help, median / p95', `${med.toFixed(0)} ms / ${p95.toFixed(0)} ms (${verdict})`);
    line('node -e 0, median (Node alone)', `${median(nodeAlone).toFixed(0)} ms`);
    line('all runs', fmt.s(pscli.reduce((a, b) => a + b, 0)));
    return { summary: { runs, medianMs: round(med), p95Ms: round(p95), nodeAloneMedianMs: round(median(nodeAlone)) }, failures: [] };
  } catch (e) {
    return { summary: null, failures: [`start-up: ${(e as Error).message}`] };
  }
}
