// Alerts: what an operator must hear about now (a fail-stop, a failing hook). Each is a row in
// payserv_alerts (append-only), an error-level log line, and a call of the configured hook: a command
// (argv, never a shell; the alert as JSON on stdin) and/or a webhook (POST of the same JSON). raise()
// never throws and never takes much longer than the hook's timeout: an alert is raised when things are
// already going wrong, and must not make them worse.
import { execFile } from 'node:child_process';
import type { DataTx } from '../data/data.js';
import { ALERTS, ALERTS_TABLE } from '../data/ops/alerts.js';
import type { Logger } from '../log/index.js';

export { ALERTS_TABLE };

/** Kinds payserv raises itself; others may be added (lowercase, digits, underscores). */
export type AlertKind = 'fail_stop' | 'hook_failed' | (string & {});

export interface AlertHook {
  /** Program and arguments, run without a shell; gets the alert as JSON on stdin, and PAYSERV_ALERT_KIND/REASON. */
  command?: string[];
  /** Receives a POST of the alert as JSON. */
  webhookUrl?: string;
  /** Bound on each hook call; the command is killed (SIGKILL) when it runs over. */
  timeoutMs: number;
}

/** The [alerts] table of payserv's or the intake's configuration. */
export interface AlertsTable {
  command?: string[] | undefined;
  webhook_url?: string | undefined;
  timeout_ms: number;
}

/** The hook an [alerts] table names; undefined when it names neither a command nor a webhook. */
export function alertHookOf(t: AlertsTable): AlertHook | undefined {
  if (!t.command && !t.webhook_url) return undefined;
  return { ...(t.command ? { command: t.command } : {}), ...(t.webhook_url ? { webhookUrl: t.webhook_url } : {}), timeoutMs: t.timeout_ms };
}

export interface AlertsOptions {
  db: DataTx;
  log: Logger;
  hook?: AlertHook | undefined;
}

export interface Alert {
  /** null when the database could not store it (the hook and the log still got it). */
  id: number | null;
  at: Date;
  kind: string;
  reason: string;
  details: Record<string, unknown>;
}

export interface StoredAlert extends Alert {
  id: number;
}

/** What a hook receives (stdin, or the POST body). */
export interface AlertDocument {
  id: number | null;
  at: string;
  kind: string;
  reason: string;
  details: Record<string, unknown>;
}

/** Captured output of a failing command, kept for the hook_failed row. */
const OUTPUT_MAX = 64 * 1024;
const STDERR_IN_REASON = 500;

/** Environment the hook command does not get: the database URL carries its password. */
const WITHHELD_ENV = /^(DATABASE_URL|PGPASSWORD|PGPASSFILE)$/;

/** PostgreSQL text and JSONB cannot hold NUL. */
const noNul = (s: string): string => s.replace(/\0/g, '\uFFFD');

/** JSON text of details for JSONB: NULs replaced, and anything unserialisable (a BigInt, a cycle) said so. */
function detailsJson(details: Record<string, unknown>): string {
  try {
    const text = JSON.stringify(details, (_k, v: unknown) => (typeof v === 'string' ? noNul(v) : typeof v === 'bigint' ? v.toString() : v));
    if (typeof text === 'string' && text.startsWith('{')) return text;
  } catch (e) {
    return JSON.stringify({ unserializable: (e as Error).message });
  }
  return JSON.stringify({ unserializable: 'details is not a JSON object' });
}

function webhookOrigin(url: string): string {
  try {
    return new URL(url).origin; // paths of webhooks often carry their token
  } catch {
    return '<unparseable URL>';
  }
}

function describeError(e: unknown): string {
  if (!(e instanceof Error)) return String(e);
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? `${e.message}: ${cause.message}` : e.message;
}

export class Alerts {
  readonly #db: DataTx;
  readonly #log: Logger;
  readonly #hook: AlertHook | undefined;

  constructor(opts: AlertsOptions) {
    this.#db = opts.db;
    this.#log = opts.log;
    this.#hook = opts.hook;
    const t = opts.hook?.timeoutMs;
    if (opts.hook && (typeof t !== 'number' || !Number.isFinite(t) || t <= 0))
      throw new Error(`alert hook: timeoutMs must be a positive number, got ${String(t)}`);
    if (opts.hook?.command && !opts.hook.command.length) throw new Error('alert hook: command must name a program');
  }

  /** Records, logs and hooks the alert. Never throws: every failure is logged, and a failing hook is a hook_failed row. */
  async raise(kind: AlertKind, reason: string, details: Record<string, unknown> = {}): Promise<Alert> {
    const alert = await this.#store(kind, reason, details);
    this.#log.error(
      { alert: { id: alert.id, kind: alert.kind, reason: alert.reason, details: alert.details } },
      `alert ${alert.kind}: ${alert.reason}`,
    );
    const hook = this.#hook;
    if (!hook) return alert;
    const doc: AlertDocument = { id: alert.id, at: alert.at.toISOString(), kind: alert.kind, reason: alert.reason, details: alert.details };
    const body = JSON.stringify(doc);
    const calls: Array<Promise<void>> = [];
    if (hook.command) calls.push(this.#guard('command', alert, () => runCommand(hook.command as string[], body, doc, hook.timeoutMs)));
    if (hook.webhookUrl) calls.push(this.#guard('webhook', alert, () => postWebhook(hook.webhookUrl as string, body, hook.timeoutMs)));
    await Promise.all(calls);
    return alert;
  }

  async #store(kind: string, reason: string, details: Record<string, unknown>): Promise<Alert> {
    const at = new Date();
    const json = detailsJson(details);
    const alert: Alert = { id: null, at, kind: noNul(kind), reason: noNul(reason), details: JSON.parse(json) as Record<string, unknown> };
    try {
      const [row] = await this.#db.query(ALERTS.insert, [at.toISOString(), alert.kind, alert.reason, json]);
      alert.id = row?.id ?? null;
    } catch (e) {
      this.#log.error({ kind, err: describeError(e) }, 'alert could not be stored in the database');
    }
    return alert;
  }

  /** Runs one hook call; a failure becomes a log line and a hook_failed row, which itself calls no hook. */
  async #guard(what: 'command' | 'webhook', alert: Alert, call: () => Promise<void>): Promise<void> {
    const started = Date.now();
    try {
      await call();
      this.#log.debug({ hook: what, alertId: alert.id, ms: Date.now() - started }, 'alert hook done');
    } catch (e) {
      const error = describeError(e);
      const where = what === 'webhook' ? webhookOrigin(this.#hook?.webhookUrl ?? '') : (this.#hook?.command?.[0] ?? '');
      const failed = await this.#store(
        'hook_failed',
        `alert hook (${what} ${where}) failed for alert ${alert.kind}${alert.id === null ? '' : ` id=${alert.id}`}: ${error}`,
        {
          hook: what,
          target: where,
          alertId: alert.id,
          alertKind: alert.kind,
          error,
          ms: Date.now() - started,
        },
      );
      this.#log.error(
        { alert: { id: failed.id, kind: failed.kind, reason: failed.reason, details: failed.details } },
        `alert hook_failed: ${failed.reason}`,
      );
    }
  }
}

/** Runs argv with the alert on stdin; rejects on a non-zero exit, a signal, or when timeoutMs passes (then kills it). */
function runCommand(argv: string[], input: string, doc: AlertDocument, timeoutMs: number): Promise<void> {
  const [file, ...args] = argv;
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!WITHHELD_ENV.test(k)) env[k] = v;
  env.PAYSERV_ALERT_KIND = doc.kind;
  env.PAYSERV_ALERT_REASON = doc.reason;
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const done = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve();
    };
    // execFile: argv goes to the program as is, no shell ever parses it.
    const child = execFile(
      file as string,
      args,
      { env, maxBuffer: OUTPUT_MAX, windowsHide: true, encoding: 'utf8' },
      (err, _stdout, stderr) => {
        if (!err) return done();
        const e = err as NodeJS.ErrnoException & { code?: number | string; signal?: string | null };
        const out = stderr.trim().slice(-STDERR_IN_REASON);
        const how = typeof e.code === 'number' ? `exited with code ${e.code}` : e.signal ? `killed by ${e.signal}` : e.message;
        done(new Error(out ? `${how}: ${out}` : how));
      },
    );
    // Our own deadline, not execFile's `timeout`: that one waits for the output pipes to close, which a
    // grandchild holding them open can delay past any bound.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      done(new Error(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('error', (e) => done(e));
    // The hook need not read its input: a closed pipe is not a failure of the hook.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

async function postWebhook(url: string, body: string, timeoutMs: number): Promise<void> {
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal, redirect: 'error' });
    // The body is read (and dropped) under the same deadline, so the connection is released.
    await res.arrayBuffer();
  } catch (e) {
    if (signal.aborted) throw new Error(`timed out after ${timeoutMs} ms`);
    throw e;
  }
  if (!res.ok) throw new Error(`HTTP ${res.status} ${res.statusText}`.trim());
}

/** The newest alerts first, at most `limit` (1..10000). */
export async function listAlerts(db: DataTx, limit: number): Promise<StoredAlert[]> {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)
    throw new RangeError(`listAlerts: limit must be an integer in 1..10000, got ${limit}`);
  const rows = await db.query(ALERTS.newest, [limit]);
  return rows.map((r) => ({ id: r.id, at: r.at, kind: r.kind, reason: r.reason, details: r.details }));
}
