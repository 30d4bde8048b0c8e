// Alerts: what an operator must hear about now (a fail-stop, a payment stuck, a coin halted). Each is a
// row in payserv_alerts (append-only), an error-level log line, and a notice handed to the notifier
// (src/notify), which delivers it in the background to the channels its kind is routed to ([alerts]: a
// command, a webhook, Telegram, Discord, e-mail). Notices (a payment sent) take the same road without
// the row. Neither ever waits for a receiver: an alert is raised when things are already going wrong,
// often inside a payment, and must not make it slower or worse.
import type { DataTx } from '../data/data.js';
import { ALERTS, ALERTS_TABLE } from '../data/ops/alerts.js';
import type { Logger } from '../log/index.js';
import type { NoticeKind } from '../config/alert-kinds.js';
import type { Notice } from '../notify/message.js';
import { Notifier, type GivenUp } from '../notify/notifier.js';
import { commandChannel, webhookChannel } from '../notify/channels.js';
import { describeError } from '../notify/http.js';

export { ALERTS_TABLE };

/** Kinds payserv raises itself; others may be added (lowercase, digits, underscores). */
export type AlertKind = 'fail_stop' | 'hook_failed' | (string & {});

/** The intake's [alerts] hook: a command and/or a webhook, one attempt each (payserv passes its whole notifier instead). */
export interface AlertHook {
  /** Program and arguments, run without a shell; gets the alert as JSON on stdin, and PAYSERV_ALERT_KIND/REASON. */
  command?: string[];
  /** Receives a POST of the alert as JSON. */
  webhookUrl?: string;
  /** Bound on each hook call; the command is killed (SIGKILL) when it runs over. */
  timeoutMs: number;
}

/** The [alerts] table's hook part, as the intake's configuration has it. */
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

/** A hook's notifier: the same background queue as payserv's channels, one attempt per alert. */
function hookNotifier(hook: AlertHook, log: Logger): Notifier {
  return new Notifier({
    log,
    channels: [...(hook.command ? [commandChannel(hook.command)] : []), ...(hook.webhookUrl ? [webhookChannel(hook.webhookUrl)] : [])],
    routes: {},
    retry: { attemptsMax: 1, backoffMs: 1_000, backoffMaxMs: 1_000 },
    timeoutMs: hook.timeoutMs,
    queueMax: 1_000,
  });
}

export interface AlertsOptions {
  db: DataTx;
  log: Logger;
  /** Where alerts and notices go beyond the row and the log (payserv's [alerts]); none: the row and the log only. */
  notifier?: Notifier | undefined;
  /** Or only a command and/or webhook (the intake's [alerts]). */
  hook?: AlertHook | undefined;
}

export interface Alert {
  /** null when the database could not store it (the channels and the log still got it). */
  id: number | null;
  at: Date;
  kind: string;
  reason: string;
  details: Record<string, unknown>;
}

export interface StoredAlert extends Alert {
  id: number;
}

/** What a channel receives: the command on stdin, the webhook as its POST body. */
export type AlertDocument = Notice;

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

const documentOf = (a: Alert): AlertDocument => ({ id: a.id, at: a.at.toISOString(), kind: a.kind, reason: a.reason, details: a.details });

export class Alerts {
  readonly #db: DataTx;
  readonly #log: Logger;
  readonly #notifier: Notifier | undefined;

  constructor(opts: AlertsOptions) {
    this.#db = opts.db;
    this.#log = opts.log;
    this.#notifier = opts.notifier ?? (opts.hook ? hookNotifier(opts.hook, opts.log) : undefined);
    this.#notifier?.onGiveUp((g) => this.#givenUp(g));
  }

  /** Records and logs the alert, and hands it to the notifier. Never throws, never waits for a channel. */
  async raise(kind: AlertKind, reason: string, details: Record<string, unknown> = {}): Promise<Alert> {
    const alert = await this.#store(kind, reason, details);
    this.#log.error(
      { alert: { id: alert.id, kind: alert.kind, reason: alert.reason, details: alert.details } },
      `alert ${alert.kind}: ${alert.reason}`,
    );
    this.#notifier?.send(documentOf(alert));
    return alert;
  }

  /** News for the channels routed to it (not an alert: no row). Never throws, never waits. */
  notice(kind: NoticeKind, reason: string, details: Record<string, unknown>): void {
    const json = detailsJson(details);
    this.#log.info({ notice: { kind, details: JSON.parse(json) as unknown } }, `notice ${kind}: ${reason}`);
    this.#notifier?.send({
      id: null,
      at: new Date().toISOString(),
      kind,
      reason: noNul(reason),
      details: JSON.parse(json) as Record<string, unknown>,
    });
  }

  /** Resolves once every queued notice is delivered or given up (tests; the intake before it stops). */
  idle(): Promise<void> {
    return this.#notifier?.idle() ?? Promise.resolve();
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

  /**
   * A channel gave a notice up: a hook_failed row, told to the other channels. A hook_failed that
   * itself cannot be delivered is only logged (the notifier did): failures do not beget failures.
   */
  async #givenUp(g: GivenUp): Promise<void> {
    const n = g.notice;
    if (n.kind === 'hook_failed') return;
    const { name, target } = g.channel;
    const failed = await this.#store(
      'hook_failed',
      `alert hook (${name} ${target}) failed for ${n.id === null ? 'notice' : 'alert'} ${n.kind}${n.id === null ? '' : ` id=${n.id}`} after ${g.attempts} attempt(s): ${g.error}`,
      { hook: name, target, alertId: n.id, alertKind: n.kind, attempts: g.attempts, error: g.error, ms: g.ms },
    );
    this.#log.error(
      { alert: { id: failed.id, kind: failed.kind, reason: failed.reason, details: failed.details } },
      `alert hook_failed: ${failed.reason}`,
    );
    this.#notifier?.send(documentOf(failed), name);
  }
}

/** The newest alerts first, at most `limit` (1..10000). */
export async function listAlerts(db: DataTx, limit: number): Promise<StoredAlert[]> {
  if (!Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)
    throw new RangeError(`listAlerts: limit must be an integer in 1..10000, got ${limit}`);
  const rows = await db.query(ALERTS.newest, [limit]);
  return rows.map((r) => ({ id: r.id, at: r.at, kind: r.kind, reason: r.reason, details: r.details }));
}
