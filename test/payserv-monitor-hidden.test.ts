// Regression (issue 17, outsider round 4, medium): a database attacker hides a payment stuck in flight from the monitor.
//
// Promise: README "The monitor" ("Every withdrawal in `sending` or `send_retry` in that status for more than
// `stuck_after_s` raises `payment_stuck` ... A row in flight without a valid signed history ... is tampering, a
// fail-stop"), and "Anything only the database vouches for, the attacker controls".
//
// The attack: a withdrawal is approved, its transaction waits in the node's pool (`sending`) and is then dropped by the
// node. The attacker sets the row's `status` to `sent` (one UPDATE; no signature, the signed history still ends
// `sending`). In-flight rows were picked by the row's unsigned `status` column, so past `stuck_after_s` the monitor found
// nothing stuck, raised no `payment_stuck` and no fail-stop, and the withdrawal was gone from every in-flight list (the
// monitor, `payserv_payments_in_flight`, the dashboard, autopay's "Check them first", the journal checks).
//
// The fix: a withdrawal is in flight when its column OR its last SIGNED status entry says so (src/data/ops/in-flight.ts,
// migration 0008 indexes the in-flight entries). The monitor finds the row, its verification names the column that
// differs from the last signed status: a fail-stop. Every in-flight list still shows the payment, as `sending`.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { dropTransaction, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { AUTOPAY } from '../src/data/ops/autopay.js';
import { DASHBOARD } from '../src/data/ops/dashboard.js';
import { PAYMENTS } from '../src/data/ops/payments.js';
import { asAttacker, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, ethDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let monitor: Monitor;

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 19 };
const caller = 'test';
const STUCK_AFTER_MS = 60_000;

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
  monitor = new Monitor(t.ps, { intervalMs: 1_000, stuckAfterMs: STUCK_AFTER_MS, nodeUnhealthyAfterMs: 120_000, finality: new Map() });
});

afterEach(async () => {
  await monitor.stop();
  await setAutomine(url, true);
  await t.ledger.db.close();
});

describePerDataPath('a payment stuck in flight, its row set to sent by SQL', () => {
  it('the row set to sent by SQL is still in flight by its signed history: seen everywhere, and a fail-stop', async () => {
    const m = await newMiner(t, 3101, '20');
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    await setAutomine(url, false);
    const sending = await approveWithdrawal(t.ps, id, caller);
    expect(sending.reply).toBe('SENDING');
    await dropTransaction(url, sending.txHash as string); // the node lost it: the payment is stuck for real

    await asAttacker(t.ledger.db, [[`UPDATE ${WITHDRAWALS} SET status = 'sent' WHERE id = $1`, [id]]]);
    const [last] = await t.ledger.db.query<{ status: string }>(
      `SELECT status FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 ORDER BY seq DESC LIMIT 1`,
      [id],
    );
    expect(last?.status).toBe('sending'); // the signed truth

    // Every list of payments in flight still has it, with its signed status.
    const [onDashboard] = (await t.ledger.db.query(DASHBOARD.inFlight, [10])).filter((r) => r.id === id);
    expect(onDashboard?.status).toBe('sending');
    expect(await t.ledger.db.query(PAYMENTS.sendingPage, [0, 10])).toEqual([{ id }]);
    const coinId = (await t.ledger.db.query<{ coin_id: number }>(`SELECT coin_id FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0]?.coin_id;
    expect(await t.ledger.db.query(AUTOPAY.open, [coinId, 0, 10])).toContainEqual({ id, status: 'sending' });

    const at = new Date(Date.now() + STUCK_AFTER_MS + 5_000);
    t.ps.now = () => at;
    const tick = await monitor.tick();
    // The attack fails: the row is found, its column differs from its last signed status, payouts stop.
    expect(tick.forged).toEqual([id]);
    expect(tick.stuck).toEqual([]);
    expect(t.ps.state.failStopped).toBe(true);
    const stops = t.alerts.filter((a) => a.kind === 'fail_stop');
    expect(stops).toHaveLength(1);
    expect(JSON.stringify(stops[0])).toContain('differs from its last signed status sending');
    // Nothing is paid again while stopped: a Resend is refused and the signed history still ends in its one `sending`.
    expect((await resendWithdrawal(t.ps, id, caller)).reply).not.toBe('SENDING');
    const history = await t.ledger.db.query<{ status: string }>(
      `SELECT status FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 ORDER BY seq`,
      [id],
    );
    expect(history.filter((e) => e.status === 'sending')).toHaveLength(1);
  });
});
