// Attack (issue 17): a database attacker's text in a fail-stop reason, as the notification channels carry it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { discordChannel, telegramChannel } from '../src/notify/channels.js';
import { subjectOf, textOf } from '../src/notify/message.js';
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

describePerDataPath('attack17 notify', () => {
  it('N1: a hostile value written to a status signature row reaches the fail-stop alert verbatim, rendered as Discord markdown', async () => {
    const m = await newMiner(t, 8001, '20');
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
    await asAttacker(t.ledger.db, [[`UPDATE ${STATUS_SIGNATURES} SET status = $2 WHERE withdrawal_id = $1 AND seq = 0`, [id, PHISH]]]);
    const r = await approveWithdrawal(t.ps, id, 'test');
    console.log('N1 reply', r.reply, r.code);
    const stop = t.alerts.find((a) => a.kind === 'fail_stop');
    console.log('N1 fail_stop reason:', stop?.reason);
    expect(stop).toBeDefined();
    const port = (server.address() as AddressInfo).port;
    const notifier = new Notifier({
      log: createLogger('payserv', 'info', { write: () => undefined }),
      channels: [
        discordChannel(`http://127.0.0.1:${port}/api/webhooks/1/discord-secret-token`),
        telegramChannel({ apiUrl: `http://127.0.0.1:${port}`, chatId: '-100', token: '123456:telegram-token' }),
      ],
      routes: {} as never,
      retry: { attemptsMax: 1, backoffMs: 10, backoffMaxMs: 10 },
      timeoutMs: 2000,
      queueMax: 10,
    });
    const n = { id: 1, at: new Date().toISOString(), kind: 'fail_stop', reason: stop!.reason, details: stop!.details };
    notifier.send(n);
    await notifier.idle();
    for (const g of got) console.log('N1 receiver', g.path.replace(/token/, 'T'), g.body);
    const discord = JSON.parse(got.find((g) => g.path.includes('webhooks'))!.body) as { content: string };
    // The attacker's markdown (a masked phishing link, bold "all clear") is in the Discord content unescaped.
    expect(discord.content).toContain('[payserv runbook](https://evil.example/fix)');
    console.log('N1 email subject:', JSON.stringify(subjectOf(n)));
    console.log('N1 text:', textOf(n));
  });

  it("N2: a flood of payment_stuck (forged rows, 50 a tick) fills a slow channel's queue: the fail_stop that follows is dropped, never delivered", async () => {
    const logs: string[] = [];
    const slow = createServer(() => undefined); // a receiver that never answers (or Telegram rate-limiting us)
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const port = (slow.address() as AddressInfo).port;
    const { webhookChannel } = await import('../src/notify/channels.js');
    const notifier = new Notifier({
      log: createLogger('payserv', 'info', { write: (l: string) => void logs.push(l) }),
      channels: [webhookChannel(`http://127.0.0.1:${port}/hook`)],
      routes: {} as never,
      retry: { attemptsMax: 5, backoffMs: 2000, backoffMaxMs: 300000 },
      timeoutMs: 5000,
      queueMax: 1000, // the default
    });
    // 20 monitor ticks of forged stuck rows (test M4): 1000 payment_stuck notices, then the real fail-stop.
    for (let i = 0; i < 1001; i++)
      notifier.send({
        id: i,
        at: new Date().toISOString(),
        kind: 'payment_stuck',
        reason: `withdrawal ${i} has been sending`,
        details: {},
      });
    notifier.send({ id: 9999, at: new Date().toISOString(), kind: 'fail_stop', reason: 'integrity failure: the real one', details: {} });
    const dropped = logs.filter((l) => l.includes('notification dropped')).map((l) => JSON.parse(l) as { kind: string });
    console.log(
      'N2 dropped',
      dropped.map((d) => d.kind),
    );
    expect(dropped.some((d) => d.kind === 'fail_stop')).toBe(true);
    await notifier.stop(10);
    slow.closeAllConnections();
    await new Promise<void>((r) => slow.close(() => r()));
  });
});
