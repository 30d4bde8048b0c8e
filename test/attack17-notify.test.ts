// Attack (issue 17), regression: a database attacker's text in a fail-stop reason, as the notification channels carry it; a flood of notices.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { discordChannel, telegramChannel, webhookChannel } from '../src/notify/channels.js';
import { subjectOf, textOf, type Notice } from '../src/notify/message.js';
import { Notifier } from '../src/notify/notifier.js';
import { createLogger } from '../src/log/index.js';
import { asAttacker, STATUS_SIGNATURES } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

let t: TestPayserv;
let server: Server;
const got: Array<{ path: string; body: string }> = [];
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 17 };

beforeEach(async () => {
  t = await testPayserv({ seed: SEED });
  got.length = 0;
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      got.push({ path: req.url ?? '', body });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
});
afterEach(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await t.ledger.db.close();
});

const PHISH =
  'sent"\n\n**All clear: false alarm.** Payouts are safe, re-enable with the fix: [payserv runbook](https://evil.example/fix) @everyone';

const port = () => (server.address() as AddressInfo).port;
const quietLog = () => createLogger('payserv', 'info', { write: () => undefined });

/** The Discord and Telegram bodies a notice becomes, as a receiver gets them. */
async function deliveredChat(n: Notice): Promise<{ discord: Record<string, unknown>; telegram: Record<string, unknown> }> {
  got.length = 0;
  const notifier = new Notifier({
    log: quietLog(),
    channels: [
      discordChannel(`http://127.0.0.1:${port()}/api/webhooks/1/discord-secret-token`),
      telegramChannel({ apiUrl: `http://127.0.0.1:${port()}`, chatId: '-100', token: '123456:telegram-token' }),
    ],
    routes: {} as never,
    retry: { attemptsMax: 1, backoffMs: 10, backoffMaxMs: 10 },
    timeoutMs: 2000,
    queueMax: 10,
  });
  notifier.send(n);
  await notifier.idle();
  const body = (p: string) => JSON.parse(got.find((g) => g.path.includes(p))!.body) as Record<string, unknown>;
  return { discord: body('webhooks'), telegram: body('sendMessage') };
}

/** Discord renders nothing of it: one code block, its fences only at the ends, no embeds, no pings. */
function expectInertDiscord(d: Record<string, unknown>): void {
  const content = d.content as string;
  expect(content.startsWith('```\n') && content.endsWith('\n```')).toBe(true);
  expect(content.split('```')).toHaveLength(3);
  expect(content.length).toBeLessThanOrEqual(2000);
  expect(d.flags).toBe(4);
  expect(d.allowed_mentions).toEqual({ parse: [] });
}

/** `n` payment_stuck notices (forged rows, 50 a tick), then the real fail-stop. */
function floodThenFailStop(notifier: Notifier, n: number): void {
  const at = new Date().toISOString();
  for (let i = 0; i < n; i++) notifier.send({ id: i, at, kind: 'payment_stuck', reason: `withdrawal ${i} has been sending`, details: {} });
  notifier.send({ id: 9999, at, kind: 'fail_stop', reason: 'integrity failure: the real one', details: {} });
}

describePerDataPath('attack17 notify', () => {
  it('N1: a hostile value written to a status signature row: quoted short and escaped in the fail-stop, inert in every channel', async () => {
    const m = await newMiner(t, 8001, '20');
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
    await asAttacker(t.ledger.db, [[`UPDATE ${STATUS_SIGNATURES} SET status = $2 WHERE withdrawal_id = $1 AND seq = 0`, [id, PHISH]]]);
    const r = await approveWithdrawal(t.ps, id, 'test');
    expect(r.reply).toBe('ERROR');
    const stop = t.alerts.find((a) => a.kind === 'fail_stop');
    expect(stop).toBeDefined();
    // The unknown status is quoted as JSON, cut at 40 characters: no line break, and the link never reaches the reason.
    expect(stop!.reason).toContain(`unknown value ${JSON.stringify(`${PHISH.slice(0, 40)}…`)}`);
    expect(stop!.reason).not.toMatch(/[\r\n]/);
    expect(stop!.reason).not.toContain('evil.example');
    const n: Notice = { id: 1, at: new Date().toISOString(), kind: 'fail_stop', reason: stop!.reason, details: stop!.details };
    const { discord, telegram } = await deliveredChat(n);
    expectInertDiscord(discord);
    expect(telegram.parse_mode).toBeUndefined(); // plain text: Telegram renders no markup
    expect(telegram.disable_web_page_preview).toBe(true);
    expect(subjectOf(n)).not.toMatch(/[\r\n]/);
  });

  it('N1b: the whole hostile text as a reason (any outside text): Discord gets an inert code block, every channel one line per value', async () => {
    const hostile = `${PHISH} \u061c\u202e\`\`\` closed? **bold**\r\nBcc: evil@x.y`;
    const n: Notice = { id: 2, at: new Date().toISOString(), kind: 'fail_stop', reason: hostile, details: { note: hostile } };
    const { discord, telegram } = await deliveredChat(n);
    expectInertDiscord(discord);
    expect(discord.content as string).toContain('[payserv runbook](https://evil.example/fix)'); // shown as text, inside the block
    expect(discord.content as string).not.toMatch(/[\r\u061c\u202e]/);
    // The reason is one line: the attacker's text cannot start a paragraph of its own.
    const lines = (telegram.text as string).split('\n');
    expect(lines[1]).toContain('**All clear: false alarm.**');
    expect(lines[1]).toContain('Bcc: evil@x.y');
    expect(lines.filter((l) => l.includes('All clear'))).toHaveLength(2); // the reason, and the detail `note`
    expect(subjectOf(n)).not.toMatch(/[\r\n\u061c\u202e]/);
    expect(subjectOf(n).length).toBeLessThanOrEqual(150);
    expect(textOf(n).length).toBeLessThanOrEqual(1900);
  });

  it("N2: a flood of payment_stuck fills a slow channel's queue: the fail_stop that follows is not dropped, the flood is counted", async () => {
    const logs: string[] = [];
    const slow = createServer(() => undefined); // a receiver that never answers (or Telegram rate-limiting us)
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const slowPort = (slow.address() as AddressInfo).port;
    const notifier = new Notifier({
      log: createLogger('payserv', 'info', { write: (l: string) => void logs.push(l) }),
      channels: [webhookChannel(`http://127.0.0.1:${slowPort}/hook`)],
      routes: {} as never,
      retry: { attemptsMax: 5, backoffMs: 2000, backoffMaxMs: 300000 },
      timeoutMs: 5000,
      queueMax: 1000, // the default
    });
    // 1001 payment_stuck notices, then the real fail-stop.
    floodThenFailStop(notifier, 1001);
    const parsed = logs.map((l) => JSON.parse(l) as { kind: string; msg: string });
    expect(parsed.filter((d) => d.msg.includes('dropped'))).toEqual([]);
    // Left out: the newest payment_stuck (the queue was full), then the oldest waiting one (room for the fail-stop); logged once.
    const leftOut = parsed.filter((d) => d.msg.startsWith('notifications left out'));
    expect(leftOut.map((d) => d.kind)).toEqual(['payment_stuck']);
    await notifier.stop(10);
    slow.closeAllConnections();
    await new Promise<void>((r) => slow.close(() => r()));
  });

  it('N2b: the fail_stop goes out next, ahead of the waiting flood, and the notices left out arrive as one "N more" notice', async () => {
    const order: Array<{ kind: string; reason: string }> = [];
    let first = true;
    const recv = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        order.push(JSON.parse(body) as { kind: string; reason: string });
        if (first) return void (first = false); // the first delivery hangs until its timeout
        res.writeHead(200).end('ok');
      });
    });
    await new Promise<void>((r) => recv.listen(0, '127.0.0.1', r));
    const notifier = new Notifier({
      log: quietLog(),
      channels: [webhookChannel(`http://127.0.0.1:${(recv.address() as AddressInfo).port}/hook`)],
      routes: {} as never,
      retry: { attemptsMax: 1, backoffMs: 10, backoffMaxMs: 10 },
      timeoutMs: 300,
      queueMax: 5,
    });
    floodThenFailStop(notifier, 20);
    await notifier.idle();
    recv.closeAllConnections();
    await new Promise<void>((r) => recv.close(() => r()));
    // 0 was in delivery; 1..5 waited; 6..19 left out (queue full); 1 pushed out for the fail-stop, which goes next.
    expect(order.map((o) => o.kind)).toEqual([
      'payment_stuck',
      'fail_stop',
      'payment_stuck',
      'payment_stuck',
      'payment_stuck',
      'payment_stuck',
      'payment_stuck',
    ]);
    expect(order.slice(2, 6).map((o) => o.reason)).toEqual([2, 3, 4, 5].map((i) => `withdrawal ${i} has been sending`));
    expect(order[6]?.reason).toMatch(/^15 more payment_stuck notification\(s\) left out/);
  });
});
