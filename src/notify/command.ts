import { execFile } from 'node:child_process';
import { abortedWhy } from './http.js';

// The command channel ([alerts] command): a program run without a shell, the notification as JSON on
// stdin and its kind and reason in the environment. The database URL and passwords are withheld from it.

/** Captured output of a failing command, kept for its error. */
const OUTPUT_MAX = 64 * 1024;
const STDERR_IN_ERROR = 500;

/** Environment the command does not get: the database URL carries its password. */
const WITHHELD_ENV = /^(DATABASE_URL|PGPASSWORD|PGPASSFILE)$/;

/** Runs argv with `input` on stdin; rejects on a non-zero exit, a signal, or when `signal` aborts (then kills it). */
export function runCommand(argv: readonly string[], input: string, vars: Record<string, string>, signal: AbortSignal): Promise<void> {
  const [file, ...args] = argv;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!WITHHELD_ENV.test(k)) env[k] = v;
  Object.assign(env, vars);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (e?: Error): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      if (e) reject(e);
      else resolve();
    };
    // execFile: argv goes to the program as is, no shell ever parses it.
    const child = execFile(file as string, args, { env, maxBuffer: OUTPUT_MAX, windowsHide: true, encoding: 'utf8' }, (err, _o, stderr) => {
      if (!err) return done();
      const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: string | null };
      const out = stderr.trim().slice(-STDERR_IN_ERROR);
      const how = typeof e.code === 'number' ? `exited with code ${e.code}` : e.signal ? `killed by ${e.signal}` : e.message;
      done(new Error(out ? `${how}: ${out}` : how));
    });
    // Our own deadline, not execFile's `timeout`: that one waits for the output pipes to close, which a
    // grandchild holding them open can delay past any bound.
    const onAbort = (): void => {
      child.kill('SIGKILL');
      done(new Error(abortedWhy(signal)));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    child.on('error', (e) => done(e));
    // The command need not read its input: a closed pipe is not a failure.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}
