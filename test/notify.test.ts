// Notifications ([alerts]): delivered to local receivers standing in for a webhook, Telegram's Bot API,
// a Discord webhook and an SMTP server (STARTTLS, a private CA, a password), in their request shapes;
// retried after a 500; given up after the attempts (a hook_failed row, told to the other channels); routed
// per kind; and never carrying a secret, in a notice or in a log line.
import { once } from 'node:events';
import { chmod, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import type { Db } from '../src/db/db.js';
import { createLogger } from '../src/log/index.js';
import { startNotifier } from '../src/app/notify.js';
import { Alerts, listAlerts } from '../src/alerts/alerts.js';
import { createRoot, issueCert } from '../src/pki/issue.js';
import { backend, freshDb } from './support/db.js';
import { tmpStateDir } from './support/tmp.js';

const TOKEN = '123456789:AAH-telegram-bot-token-never-logged';
const DISCORD_TOKEN = 'discord-webhook-token-never-logged-0123456789';
const SMTP_PASSWORD = 'smtp-password-never-logged';

interface Got {
  path: string;
  type: string | undefined;
  body: string;
}

const closers: Array<() => Promise<void>> = [];
const open: Db[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
  await Promise.all(open.splice(0).map((d) => d.close()));
});

/** An HTTP receiver: records every request; `answer` decides each reply (by its order). */
async function receiver(
  answer: (n: number, req: IncomingMessage, res: ServerResponse) => void = (_n, _q, res) => void res.writeHead(200).end('{"ok":true}'),
) {
  const got: Got[] = [];
  const s: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString('utf8')));
    req.on('end', () => {
      got.push({ path: req.url ?? '', type: req.headers['content-type'], body });
      answer(got.length, req, res);
    });
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  closers.push(async () => {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  });
  return { got, base: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

interface Mail {
  from: string;
  to: string[];
  data: string;
  user: string | undefined;
  secure: boolean;
}

/** An SMTP sink with STARTTLS (a certificate of the test's own CA) and a password it checks. */
async function smtpSink(dir: string) {
  const now = Date.now();
  const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000) };
  const root = await createRoot('test mail CA', validity);
  const pair = await issueCert(root, { purpose: 'tls', identity: 'payserv', hosts: ['127.0.0.1', 'localhost'] }, validity);
  await writeFile(join(dir, 'mail-ca.pem'), root.certPem);
  const mails: Mail[] = [];
  const server = new SMTPServer({
    key: pair.keyPem,
    cert: pair.certPem,
    authOptional: false,
    disabledCommands: [],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === 'payserv' && auth.password === SMTP_PASSWORD) return cb(null, { user: auth.username });
      return cb(new Error('bad credentials'));
    },
    onData(stream, session, cb) {
      let data = '';
      stream.on('data', (d: Buffer) => (data += d.toString('utf8')));
      stream.on('end', () => {
        mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data,
          user: session.user as string | undefined,
          secure: session.secure,
        });
        cb();
      });
    },
  });
  server.listen(0, '127.0.0.1');
  await once(server.server, 'listening');
  closers.push(() => new Promise((r) => server.close(() => r())));
  return { mails, port: (server.server.address() as AddressInfo).port };
}

async function secretFile(dir: string, name: string, value: string): Promise<void> {
  await writeFile(join(dir, name), `${value}\n`);
  await chmod(join(dir, name), 0o600);
}

function capture() {
  const lines: string[] = [];
  const log = createLogger('payserv', 'info', { write: (s: string) => void lines.push(s) });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/** payserv's [alerts] from a TOML text, its notifier and alerts on a fresh database. */
async function notifying(dir: string, toml: string) {
  await writeFile(join(dir, 'payserv.toml'), toml);
  const config = await loadConfig('payserv', join(dir, 'payserv.toml'), { env: { HOME: dir }, stateDir: dir });
  const out = capture();
  const notifier = startNotifier(config, out.log);
  closers.push(() => notifier.stop(0));
  const db = await freshDb();
  open.push(db);
  return { out, notifier, db, alerts: new Alerts({ db, log: out.log, notifier }) };
}

describe(`notifications (${backend()})`, () => {
  it('reach the webhook, Telegram, Discord and e-mail in their shapes; a payment_sent only where routed', async () => {
    const dir = await tmpStateDir();
    const web = await receiver((_n, _q, res) => void res.writeHead(204).end());
    const tg = await receiver(
      (_n, _q, res) => void res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true,"result":{"message_id":1}}'),
    );
    const dc = await receiver((_n, _q, res) => void res.writeHead(204).end());
    const smtp = await smtpSink(dir);
    await secretFile(dir, 'telegram.token', TOKEN);
    await secretFile(dir, 'discord.url', `${dc.base}/api/webhooks/42/${DISCORD_TOKEN}`);
    await secretFile(dir, 'smtp.password', SMTP_PASSWORD);
    const { out, notifier, db, alerts } = await notifying(
      dir,
      `[alerts]
webhook_url = "${web.base}/hook"
[alerts.telegram]
api_url = "${tg.base}"
chat_id = "-1001234567890"
token_file = "telegram.token"
[alerts.discord]
url_file = "discord.url"
[alerts.email]
host = "127.0.0.1"
port = ${smtp.port}
from = "payserv@pool.example"
to = ["ops@pool.example", "oncall@pool.example"]
user = "payserv"
password_file = "smtp.password"
ca_file = "mail-ca.pem"
[alerts.events]
payment_sent = ["telegram"]
`,
    );
    expect(notifier.channels.sort()).toEqual(['discord', 'email', 'telegram', 'webhook']);
    const a = await alerts.raise('payment_stuck', 'withdrawal 7 has been sending for 3700 s', { withdrawal: 7, coin: 'ETH', tx: '0xab' });
    alerts.notice('payment_sent', 'withdrawal 8 sent: 1.5 ETH to user 3 in transaction 0xcd', {
      withdrawal: 8,
      coin: 'ETH',
      amount: '1.5',
      tx: '0xcd',
    });
    await notifier.idle();

    // The webhook: the alert document as JSON, as the [alerts] webhook always got it; not the notice.
    expect(web.got).toHaveLength(1);
    expect(web.got[0]?.type).toBe('application/json');
    expect(JSON.parse(web.got[0]!.body)).toEqual({
      id: a.id,
      at: a.at.toISOString(),
      kind: 'payment_stuck',
      reason: 'withdrawal 7 has been sending for 3700 s',
      details: { withdrawal: 7, coin: 'ETH', tx: '0xab' },
    });
    // Telegram: POST /bot<token>/sendMessage {chat_id, text}: the alert, then the notice routed to it.
    expect(tg.got.map((g) => g.path)).toEqual([`/bot${TOKEN}/sendMessage`, `/bot${TOKEN}/sendMessage`]);
    const [stuck, sent] = tg.got.map((g) => JSON.parse(g.body) as { chat_id: string; text: string });
    expect(stuck).toMatchObject({ chat_id: '-1001234567890', text: expect.stringContaining('withdrawal 7 has been sending') });
    expect(sent?.text).toMatch(/payment_sent[\s\S]*withdrawal 8 sent: 1\.5 ETH[\s\S]*tx: 0xcd/);
    // Discord: POST {content} (a code block: nothing rendered) to the webhook URL, mentions disabled, no embeds; the alert only.
    expect(dc.got.map((g) => g.path)).toEqual([`/api/webhooks/42/${DISCORD_TOKEN}`]);
    expect(JSON.parse(dc.got[0]!.body)).toEqual({
      content: expect.stringMatching(/^```\n[^`]*withdrawal 7[^`]*\n```$/),
      allowed_mentions: { parse: [] },
      flags: 4,
    });
    // E-mail: over STARTTLS (the private CA checked), authenticated, to both addresses.
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]).toMatchObject({
      from: 'payserv@pool.example',
      to: ['ops@pool.example', 'oncall@pool.example'],
      user: 'payserv',
      secure: true,
    });
    expect(smtp.mails[0]?.data).toMatch(/Subject: payserv payment_stuck: withdrawal 7 has been sending/);

    expect((await listAlerts(db, 10)).map((x) => x.kind)).toEqual(['payment_stuck']);
    const logs = out.lines.join('\n');
    for (const secret of [TOKEN, DISCORD_TOKEN, SMTP_PASSWORD]) expect(logs).not.toContain(secret);
    expect(out.parsed().filter((l) => l.msg === 'notification delivered')).toHaveLength(5);
  });

  it('a receiver answering 500 is retried after a pause, and the notice arrives', async () => {
    const dir = await tmpStateDir();
    const web = await receiver((n, _q, res) => void (n === 1 ? res.writeHead(500).end('busy') : res.writeHead(200).end()));
    const { out, notifier, alerts } = await notifying(dir, `[alerts]\nwebhook_url = "${web.base}/hook"\nbackoff_ms = 300\n`);
    await alerts.raise('fail_stop', 'ledger chain broken at withdrawal 12', { withdrawal: 12 });
    await notifier.idle();
    expect(web.got).toHaveLength(2);
    expect(web.got[0]?.body).toBe(web.got[1]?.body);
    const lines = out.parsed().filter((l) => l.component === 'notify' && l.kind === 'fail_stop');
    expect(lines.map((l) => [l.msg, l.attempt])).toEqual([
      ['notification failed: retrying', 1],
      ['notification delivered', 2],
    ]);
    expect(lines[0]).toMatchObject({ err: expect.stringMatching(/HTTP 500/), retry_in_ms: 300 });
    expect(Number(lines[1]?.ms)).toBeGreaterThanOrEqual(290);
  });

  it('given up after attempts_max: a hook_failed row without the token, told to the other channels but not the failed one', async () => {
    const dir = await tmpStateDir();
    const tg = await receiver((_n, _q, res) => void res.writeHead(500).end('{"ok":false,"description":"Internal"}'));
    const web = await receiver((_n, _q, res) => void res.writeHead(204).end());
    await secretFile(dir, 'telegram.token', TOKEN);
    const { notifier, db, alerts } = await notifying(
      dir,
      `[alerts]
webhook_url = "${web.base}/hook"
attempts_max = 3
backoff_ms = 50
[alerts.telegram]
api_url = "${tg.base}"
chat_id = "@payserv_ops"
token_file = "telegram.token"
`,
    );
    const a = await alerts.raise('coin_halted', 'autopay of ETH is halted', { coin: 'ETH' });
    await notifier.idle();
    expect(tg.got).toHaveLength(3);
    const [failed] = await listAlerts(db, 10);
    expect(failed).toMatchObject({
      kind: 'hook_failed',
      reason: expect.stringMatching(new RegExp(`telegram .* failed for alert coin_halted id=${a.id} after 3 attempt\\(s\\): HTTP 500`)),
      details: { hook: 'telegram', alertId: a.id, alertKind: 'coin_halted', attempts: 3 },
    });
    expect(JSON.stringify(failed)).not.toContain(TOKEN);
    // The webhook heard both: the alert and that Telegram failed; Telegram was not asked to tell of its own failure.
    expect(web.got.map((g) => (JSON.parse(g.body) as { kind: string }).kind)).toEqual(['coin_halted', 'hook_failed']);
  });

  it('never sends a secret it knows: a reason carrying the bot token or the database URL goes out as ***', async () => {
    const dir = await tmpStateDir();
    const web = await receiver((_n, _q, res) => void res.writeHead(204).end());
    await secretFile(dir, 'telegram.token', TOKEN);
    const tg = await receiver((_n, _q, res) => void res.writeHead(200).end('{"ok":true}'));
    const dbUrl = 'postgres://payserv:db-password-xyz@db.internal:5432/pool';
    const { out, notifier, alerts } = await notifying(
      dir,
      `[database]\nurl = "${dbUrl}"\n[alerts]\nwebhook_url = "${web.base}/hook"\n[alerts.telegram]\napi_url = "${tg.base}"\nchat_id = "1"\ntoken_file = "telegram.token"\n`,
    );
    await alerts.raise('fail_stop', `a library said: bad token ${TOKEN} for ${dbUrl}`, { error: `connect ${dbUrl} failed` });
    await notifier.idle();
    const sent = [...web.got, ...tg.got].map((g) => g.body).join('\n');
    expect(sent).toContain('***');
    expect(sent).not.toContain(TOKEN);
    expect(sent).not.toContain('db-password-xyz');
    expect(out.lines.join('\n')).toMatch(/a notification carried a secret/);
  });

  it('refuses a secret file others can read, naming the file, not the value', async () => {
    const dir = await tmpStateDir();
    await writeFile(join(dir, 'telegram.token'), TOKEN);
    await chmod(join(dir, 'telegram.token'), 0o644);
    await expect(notifying(dir, `[alerts.telegram]\nchat_id = "1"\ntoken_file = "telegram.token"\n`)).rejects.toThrow(
      /token_file .*telegram\.token is readable by others \(mode 644\): chmod 600 it/,
    );
  });
});
