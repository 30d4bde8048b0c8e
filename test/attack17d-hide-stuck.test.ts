// Outside attack (issue 17, round 4): a database attacker hides a payment stuck in flight from the monitor.
//
// Severity: MEDIUM-LOW (alert suppression; nothing is paid, the signed history still says `sending`, and the checks
// find the edit when they are run). Promise broken: README "The monitor" ("Every withdrawal in `sending` or
// `send_retry` in that status for more than `stuck_after_s` raises `payment_stuck` ... A row in flight without a
// valid signed history ... is tampering, a fail-stop"), and "Anything only the database vouches for, the attacker
// controls": which rows are in flight is read from the row's unsigned `status` column.
//
// Steps: a withdrawal is approved, its transaction waits in the node's pool (`sending`) and is then dropped by the node.
// The attacker sets the row's `status` to `sent` (one UPDATE; no signature, the signed history still ends `sending`).
// Past `stuck_after_s` the monitor's tick finds nothing stuck, raises no `payment_stuck` and no fail-stop: the
// withdrawal is gone from every in-flight list (the monitor, `payserv_payments_in_flight`, the dashboard, autopay's
// "Check them first"), while the miner is not paid. Only a run of the checks (or a payout call on that account) sees it.
//
// Fix suggested: select in-flight payments by their last SIGNED status entry (finances_withdrawal_signatures: the entry
// of each withdrawal with the highest seq in `sending`/`send_retry`), not by the row's status; or, each tick, verify
// that every row whose status left flight since the last tick has a signed entry for the new status (fail-stop if not).
import { afterEach, beforeEach, expect, it } from 'vitest';
import { dropTransaction, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { ALERT } from '../src/payserv/chain-alerts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
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

describePerDataPath('a payment stuck in flight hidden from the monitor', () => {
  it('the row set to sent by SQL: no payment_stuck, no fail-stop, while its signed history still says sending', async () => {
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

    const at = new Date(Date.now() + STUCK_AFTER_MS + 5_000);
    t.ps.now = () => at;
    const tick = await monitor.tick();
    // WEAKNESS: the stuck payment is invisible: nothing alerted, nothing fail-stopped.
    expect(tick.stuck).toEqual([]);
    expect(t.alerts.filter((a) => a.kind === ALERT.stuck)).toEqual([]);
    expect(t.alerts.filter((a) => a.kind === 'fail_stop')).toEqual([]);
    expect(t.ps.state.failStopped).toBe(false);
  });
});
