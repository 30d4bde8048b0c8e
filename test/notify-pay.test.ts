// A dead receiver never delays a payment: with payment_sent routed to a webhook that accepts and never
// answers, Approve and Check on anvil take their normal time and the withdrawal is `sent`; the notice
// goes out in the background and is given up at its timeout, logged, with a hook_failed row.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import { createLogger } from '../src/log/index.js';
import { webhookChannel } from '../src/notify/channels.js';
import { Notifier } from '../src/notify/notifier.js';
import { Alerts, listAlerts } from '../src/payserv/alerts.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { ServiceState } from '../src/payserv/state.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, ethDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
let t: TestPayserv;
let server: Server;
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 7 };
/** Each delivery's bound: far longer than a payment takes here. */
const TIMEOUT_MS = 6_000;

beforeEach(async () => {
  const url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({ seed: SEED, drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]) });
  server = createServer(() => undefined); // accepts, reads nothing, never answers
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await t.ledger.db.close();
});

const timed = async <T>(p: Promise<T>): Promise<{ value: T; ms: number }> => {
  const t0 = Date.now();
  const value = await p;
  return { value, ms: Date.now() - t0 };
};

describePerDataPath('a hanging receiver and a payment', () => {
  it('the payment reaches sent in its normal time; the notice is given up later, logged, with a hook_failed row', async () => {
    const lines: string[] = [];
    const log = createLogger('payserv', 'info', { write: (s: string) => void lines.push(s) });
    const port = (server.address() as AddressInfo).port;
    const notifier = new Notifier({
      log,
      channels: [webhookChannel(`http://127.0.0.1:${port}/hook`)],
      routes: { payment_sent: ['webhook'] },
      retry: { attemptsMax: 1, backoffMs: 100, backoffMaxMs: 100 },
      timeoutMs: TIMEOUT_MS,
      queueMax: 100,
    });
    const state = new ServiceState(log, new Alerts({ db: t.ps.db, log, notifier }));
    state.enable('test');
    const ps = { ...t.ps, state, log };

    const m = await newMiner(t, 3001, '20');
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(ps, id, 'test')).reply).toBe('PENDING');
    expect((await approveWithdrawal(ps, id, 'test')).reply).toBe('SENDING');
    await mine((await anvil()).url, 12);
    const accepted = once(server, 'request');
    const check = await timed(checkWithdrawal(ps, id, 'test'));
    expect(check.value.reply).toBe('SENT');
    // Check did not wait for the receiver: it returned well inside one delivery's timeout...
    expect(check.ms).toBeLessThan(TIMEOUT_MS / 2);
    const [status] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
    expect(status?.status).toBe('sent');
    // ...while the receiver holds the notice, unanswered.
    await accepted;
    expect(lines.some((l) => l.includes('notification given up'))).toBe(false);

    const given = await timed(notifier.idle());
    expect(given.ms).toBeGreaterThan(TIMEOUT_MS / 3);
    const up = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'notification given up');
    expect(up).toMatchObject({ component: 'notify', channel: 'webhook', kind: 'payment_sent', err: `timed out after ${TIMEOUT_MS} ms` });
    expect((await listAlerts(t.ps.db, 10))[0]).toMatchObject({
      kind: 'hook_failed',
      details: { hook: 'webhook', alertKind: 'payment_sent', alertId: null },
    });
  });
});
