// Alerts: a row per raise, an error log line, and the notice to the command and webhook channels. A
// channel that fails, hangs or cannot be reached never throws out of raise() nor delays it; its
// delivery is bounded by the timeout, and giving up leaves a hook_failed row.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Db } from '../src/db/db.js';
import { createLogger } from '../src/log/index.js';
import { Alerts, listAlerts, type AlertDocument } from '../src/alerts/alerts.js';
import { commandChannel, webhookChannel, type Channel } from '../src/notify/channels.js';
import { Notifier } from '../src/notify/notifier.js';
import type { Logger } from '../src/log/index.js';
import { backend, freshDb } from './support/db.js';
import { tmpStateDir } from './support/tmp.js';

const open: Db[] = [];
const servers: Server[] = [];
afterEach(async () => {
  vi.unstubAllEnvs();
  await Promise.all(open.splice(0).map((d) => d.close()));
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function fresh(): Promise<Db> {
  const db = await freshDb();
  open.push(db);
  return db;
}

function capture() {
  const lines: string[] = [];
  const log = createLogger('payserv', 'info', { write: (s: string) => void lines.push(s) });
  return { log, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** A node script as the hook command: writes its stdin and the alert env to files in dir. */
function recorder(dir: string): string[] {
  const script = `const fs = require('fs'); const c = []; process.stdin.on('data', (d) => c.push(d)); process.stdin.on('end', () => {
    fs.writeFileSync(process.argv[1] + '/stdin.json', Buffer.concat(c));
    fs.writeFileSync(process.argv[1] + '/env.json', JSON.stringify({ kind: process.env.PAYSERV_ALERT_KIND, reason: process.env.PAYSERV_ALERT_REASON, db: process.env.DATABASE_URL ?? null }));
  });`;
  return [process.execPath, '-e', script, dir];
}

async function server(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; port: number }> {
  const s = createServer(handler);
  servers.push(s);
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hook/secret-token`, port };
}

async function timed<T>(p: Promise<T>): Promise<{ value: T; ms: number }> {
  const t = Date.now();
  const value = await p;
  return { value, ms: Date.now() - t };
}

interface Hook {
  command?: string[];
  webhookUrl?: string;
  timeoutMs: number;
}

/** The [alerts] command and webhook as they were before the other channels: one attempt each. */
function notifierFor(hook: Hook, log: Logger): Notifier {
  const channels: Channel[] = [
    ...(hook.command ? [commandChannel(hook.command)] : []),
    ...(hook.webhookUrl ? [webhookChannel(hook.webhookUrl)] : []),
  ];
  return new Notifier({
    log,
    channels,
    routes: {},
    retry: { attemptsMax: 1, backoffMs: 100, backoffMaxMs: 100 },
    timeoutMs: hook.timeoutMs,
    queueMax: 100,
  });
}

/** Alerts whose raise() also waits until the channels are done (delivered or given up), as the tests read their effects. */
async function alertsWith(hook?: Hook) {
  const db = await fresh();
  const out = capture();
  const notifier = hook ? notifierFor(hook, out.log) : undefined;
  const inner = new Alerts({ db, log: out.log, ...(notifier ? { notifier } : {}) });
  const alerts = {
    raise: async (...args: Parameters<Alerts['raise']>) => {
      const a = await inner.raise(...args);
      await notifier?.idle();
      return a;
    },
  };
  return { db, out, alerts, inner, notifier };
}

describe(`alerts (${backend()})`, () => {
  it('stores a row per raise, logs it at error level, and lists the newest first', async () => {
    const { db, out, alerts } = await alertsWith();
    await alerts.raise('fail_stop', 'balance check failed', { userId: 5, coin: 'ETH' });
    const second = await alerts.raise('hook_failed', 'second', {});
    expect(second.id).toEqual(expect.any(Number));
    const list = await listAlerts(db, 10);
    expect(list.map((a) => [a.kind, a.reason, a.details])).toEqual([
      ['hook_failed', 'second', {}],
      ['fail_stop', 'balance check failed', { userId: 5, coin: 'ETH' }],
    ]);
    expect(list[0]?.at).toBeInstanceOf(Date);
    expect((await listAlerts(db, 1)).map((a) => a.reason)).toEqual(['second']);
    const lines = out.parsed();
    expect(lines[0]).toMatchObject({
      level: 50,
      alert: { kind: 'fail_stop', reason: 'balance check failed', details: { userId: 5, coin: 'ETH' } },
    });
    await expect(listAlerts(db, 0)).rejects.toThrow(/limit/);
  });

  it('the alert rows are append-only', async () => {
    const { db, alerts } = await alertsWith();
    await alerts.raise('fail_stop', 'x');
    await expect(db.query("UPDATE payserv_alerts SET reason = 'y'")).rejects.toThrow(/not allowed/);
    await expect(db.query('DELETE FROM payserv_alerts')).rejects.toThrow(/not allowed/);
    await expect(db.query('TRUNCATE payserv_alerts')).rejects.toThrow(/not allowed/);
  });

  it('runs the command hook with the alert as JSON on stdin and the kind and reason in its environment (not the database URL)', async () => {
    vi.stubEnv('DATABASE_URL', 'postgres://payserv:hunter2@db.example/payserv');
    const dir = await tmpStateDir();
    const { db, alerts } = await alertsWith({ command: recorder(dir), timeoutMs: 10_000 });
    const a = await alerts.raise('fail_stop', 'withdrawal 7: chain broken', { withdrawal: 7, note: 'x\0y' });
    const doc = JSON.parse(await readFile(join(dir, 'stdin.json'), 'utf8')) as AlertDocument;
    expect(doc).toEqual({
      id: a.id,
      at: a.at.toISOString(),
      kind: 'fail_stop',
      reason: 'withdrawal 7: chain broken',
      details: { withdrawal: 7, note: 'x\uFFFDy' },
    });
    expect(JSON.parse(await readFile(join(dir, 'env.json'), 'utf8'))).toEqual({
      kind: 'fail_stop',
      reason: 'withdrawal 7: chain broken',
      db: null,
    });
    expect((await listAlerts(db, 10)).map((x) => x.kind)).toEqual(['fail_stop']);
  });

  it('a failing command does not throw and leaves a hook_failed row with its exit code and stderr', async () => {
    const { db, out, alerts } = await alertsWith({
      command: [process.execPath, '-e', 'process.stderr.write("boom"); process.exit(3)'],
      timeoutMs: 10_000,
    });
    const a = await alerts.raise('fail_stop', 'x');
    const [failed, original] = await listAlerts(db, 10);
    expect(original).toMatchObject({ id: a.id, kind: 'fail_stop' });
    expect(failed?.kind).toBe('hook_failed');
    expect(failed?.reason).toMatch(
      new RegExp(`alert hook \\(command .*\\) failed for alert fail_stop id=${a.id} after 1 attempt\\(s\\): exited with code 3: boom`),
    );
    expect(failed?.details).toMatchObject({ hook: 'command', alertId: a.id, alertKind: 'fail_stop' });
    expect(
      out
        .parsed()
        .filter((l) => l.level === 50)
        .map((l) => l.msg),
    ).toEqual(['alert fail_stop: x', 'notification given up', expect.stringMatching(/^alert hook_failed: /)]);
  });

  it('a missing program does not throw and leaves a hook_failed row', async () => {
    const { db, alerts } = await alertsWith({ command: ['/nonexistent/payserv-hook'], timeoutMs: 5_000 });
    await alerts.raise('fail_stop', 'x');
    expect((await listAlerts(db, 10))[0]).toMatchObject({ kind: 'hook_failed', reason: expect.stringMatching(/ENOENT/) });
  });

  it('a command that hangs is killed at the timeout', async () => {
    const { db, alerts } = await alertsWith({ command: [process.execPath, '-e', 'setTimeout(() => {}, 60000)'], timeoutMs: 400 });
    const { ms } = await timed(alerts.raise('fail_stop', 'x'));
    expect(ms).toBeGreaterThanOrEqual(390);
    expect(ms).toBeLessThan(5_000);
    expect((await listAlerts(db, 10))[0]).toMatchObject({ kind: 'hook_failed', reason: expect.stringMatching(/timed out after 400 ms/) });
  });

  it('a command that never reads its stdin is not a failure', async () => {
    const { db, alerts } = await alertsWith({ command: [process.execPath, '-e', '0'], timeoutMs: 10_000 });
    await alerts.raise('fail_stop', 'x', { big: 'y'.repeat(1 << 20) });
    expect((await listAlerts(db, 10)).map((a) => a.kind)).toEqual(['fail_stop']);
  });

  it('POSTs the alert as JSON to a webhook that answers', async () => {
    const got: Array<{ body: string; type: string | undefined; method: string | undefined }> = [];
    const { url } = await server((req, res) => {
      let body = '';
      req.on('data', (d: Buffer) => (body += d.toString('utf8')));
      req.on('end', () => {
        got.push({ body, type: req.headers['content-type'], method: req.method });
        res.writeHead(204).end();
      });
    });
    const { db, alerts } = await alertsWith({ webhookUrl: url, timeoutMs: 5_000 });
    const a = await alerts.raise('fail_stop', 'paid twice?', { id: 9 });
    expect(got).toHaveLength(1);
    expect(got[0]?.method).toBe('POST');
    expect(got[0]?.type).toBe('application/json');
    expect(JSON.parse(got[0]!.body)).toEqual({
      id: a.id,
      at: a.at.toISOString(),
      kind: 'fail_stop',
      reason: 'paid twice?',
      details: { id: 9 },
    });
    expect((await listAlerts(db, 10)).map((x) => x.kind)).toEqual(['fail_stop']);
  });

  it('a webhook that never answers is bounded by the timeout and leaves a hook_failed row without its token', async () => {
    const { url } = await server(() => undefined); // accepts, reads nothing, answers never
    const { db, alerts } = await alertsWith({ webhookUrl: url, timeoutMs: 400 });
    const { ms } = await timed(alerts.raise('fail_stop', 'x'));
    expect(ms).toBeGreaterThanOrEqual(390);
    expect(ms).toBeLessThan(5_000);
    const [failed] = await listAlerts(db, 10);
    expect(failed).toMatchObject({
      kind: 'hook_failed',
      reason: expect.stringMatching(/webhook http:\/\/127\.0\.0\.1:\d+\) failed .*timed out after 400 ms/),
    });
    expect(JSON.stringify(failed)).not.toContain('secret-token');
  });

  it('an unreachable webhook and one answering 500 leave hook_failed rows', async () => {
    const { port } = await server(() => undefined);
    const s = servers.pop() as Server;
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
    const down = await alertsWith({ webhookUrl: `http://127.0.0.1:${port}/`, timeoutMs: 5_000 });
    await down.alerts.raise('fail_stop', 'x');
    expect((await listAlerts(down.db, 10))[0]).toMatchObject({ kind: 'hook_failed', reason: expect.stringMatching(/ECONNREFUSED/) });

    const { url } = await server((_req, res) => void res.writeHead(500).end('no'));
    const err = await alertsWith({ webhookUrl: url, timeoutMs: 5_000 });
    await err.alerts.raise('fail_stop', 'x');
    expect((await listAlerts(err.db, 10))[0]).toMatchObject({ kind: 'hook_failed', reason: expect.stringMatching(/HTTP 500/) });
  });

  it('without a database the alert still reaches the log and the hook (id null), and raise() does not throw', async () => {
    const dir = await tmpStateDir();
    const db = await freshDb();
    await db.close();
    const out = capture();
    const notifier = notifierFor({ command: recorder(dir), timeoutMs: 10_000 }, out.log);
    const alerts = new Alerts({ db, log: out.log, notifier });
    const a = await alerts.raise('fail_stop', 'database gone');
    await notifier.idle();
    expect(a.id).toBeNull();
    expect(JSON.parse(await readFile(join(dir, 'stdin.json'), 'utf8'))).toMatchObject({
      id: null,
      kind: 'fail_stop',
      reason: 'database gone',
    });
    expect(out.parsed().map((l) => l.msg)).toEqual([
      'alert could not be stored in the database',
      'alert fail_stop: database gone',
      'notification delivered',
    ]);
  });

  it('raise() returns at once while the webhook hangs; the delivery is bounded by the timeout afterwards', async () => {
    const { url } = await server(() => undefined); // accepts, reads nothing, answers never
    const { db, inner, notifier } = await alertsWith({ webhookUrl: url, timeoutMs: 1_500 });
    const { ms } = await timed(inner.raise('fail_stop', 'x'));
    expect(ms).toBeLessThan(500);
    expect((await listAlerts(db, 10)).map((a) => a.kind)).toEqual(['fail_stop']);
    const waited = await timed(notifier!.idle());
    expect(waited.ms).toBeGreaterThan(800);
    expect((await listAlerts(db, 10)).map((a) => a.kind)).toEqual(['hook_failed', 'fail_stop']);
  });

  it('refuses a notifier without a usable timeout', async () => {
    expect(() => notifierFor({ command: ['true'], timeoutMs: 0 }, capture().log)).toThrow(/timeoutMs/);
  });
});
