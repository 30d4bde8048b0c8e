// The hot wallet below its level: hot_wallet_low once per episode, ended when it is funded again.
// A dead receiver never delays a payment: with payment_sent routed to a webhook that accepts and holds
// the request, Approve and Check on anvil take their normal time and the withdrawal is `sent`; the notice
// goes out in the background and arrives once the receiver answers (a receiver that never answers is
// given up at the timeout: test/alerts.test.ts).
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine, setBalance } from '../src/devnet/anvil.js';
import { parseAmount } from '../src/money/amount.js';
import { Monitor } from '../src/payserv/monitor.js';
import { createLogger } from '../src/log/index.js';
import { webhookChannel } from '../src/notify/channels.js';
import { Notifier } from '../src/notify/notifier.js';
import { Alerts, listAlerts } from '../src/alerts/alerts.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { ServiceState } from '../src/payserv/state.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, ethDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
let t: TestPayserv;
let server: Server;
let held: ServerResponse[];
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 7 };
/** Each delivery's bound: far longer than a payment takes here, even on a loaded machine. */
const TIMEOUT_MS = 20_000;

beforeEach(async () => {
  const url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({ seed: SEED, drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]) });
  held = [];
  server = createServer((_req, res) => void held.push(res)); // accepts, and answers only when the test lets it
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
  it('the payment reaches sent in its normal time while the receiver holds the notice; it arrives afterwards', async () => {
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
    expect(lines.some((l) => l.includes('notification delivered'))).toBe(false);

    // Let the receiver answer: the notice arrives, after the payment.
    held.forEach((r) => r.writeHead(204).end());
    await notifier.idle();
    const delivered = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'notification delivered');
    expect(delivered).toMatchObject({ component: 'notify', channel: 'webhook', kind: 'payment_sent', attempt: 1 });
    expect(Number(delivered?.ms)).toBeGreaterThanOrEqual(0);
    expect((await listAlerts(t.ps.db, 10)).map((a) => a.kind)).not.toContain('hook_failed');
  });

  it('a hot wallet below [alerts.hot_wallet_low] is alerted once, naming the balance; funded again, the episode ends', async () => {
    const driver = t.ps.drivers.get('ETH')!;
    const url = (await anvil()).url;
    await setBalance(url, driver.address, 10n ** 18n); // 1 ETH
    const monitor = new Monitor(t.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ETH', 100]]),
      hotWalletLow: new Map([['ETH', parseAmount('2.5')]]),
    });
    const low = () => t.alerts.filter((a) => a.kind === 'hot_wallet_low');
    expect((await monitor.tick()).low).toEqual({ ETH: '1' });
    expect(low()).toEqual([
      {
        kind: 'hot_wallet_low',
        reason: expect.stringMatching(
          /coin ETH: the hot wallet 0x[0-9a-fA-F]{40} holds 1 ETH, below \[alerts\.hot_wallet_low\] ETH = "2\.5"/,
        ),
        details: { subject: 'ETH', coin: 'ETH', address: driver.address, balance: '1', level: '2.5' },
      },
    ]);
    await monitor.tick();
    expect(low()).toHaveLength(1); // once per episode, not per tick
    await setBalance(url, driver.address, 3n * 10n ** 18n);
    expect((await monitor.tick()).low).toEqual({});
    expect(t.logs.some((l) => l.includes('hot wallet funded again'))).toBe(true);
    await setBalance(url, driver.address, 10n ** 17n);
    expect((await monitor.tick()).low).toEqual({ ETH: '0.1' });
    expect(low()).toHaveLength(2); // a new episode
    await monitor.stop();
  });
});
