// Attack (issue 17), regression: metrics and the stuck-payment alert a database attacker tries to make lie.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { setAutomine } from '../src/devnet/anvil.js';
import { ALERT } from '../src/payserv/chain-alerts.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { asAttacker, COINS, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { newMiner, request } from './support/miners.js';
import { ethObservedBench } from './support/payserv.js';

const bench = ethObservedBench(17);
const caller = 'test';
const STUCK_AFTER_MS = 60_000;

beforeEach(() => {
  bench.obs.metrics.attach(bench.t.ps);
});
afterEach(async () => {
  await setAutomine(bench.url, true);
});

const scrapeText = async () => (await fetch(`http://127.0.0.1:${bench.obs.server.port}/metrics`)).text();
function sample(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line === undefined ? undefined : Number(line.split(' ').pop());
}

async function pending(userId: number, amount = '1'): Promise<number> {
  const { t } = bench;
  const m = await newMiner(t, userId, '20');
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return id;
}

describePerDataPath('attack17 metrics', () => {
  it('M1: refreshing the unsigned updated_at hides no stuck payment: its age is the signed time of its sending entry', async () => {
    const { t, url } = bench;
    const id = await pending(7001);
    await setAutomine(url, false); // the payment never confirms: stuck in sending
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    const at = new Date(Date.now() + 10 * STUCK_AFTER_MS); // payserv's clock: 10 minutes later
    t.ps.now = () => at;
    const monitor = new Monitor(t.ps, {
      intervalMs: 1_000,
      stuckAfterMs: STUCK_AFTER_MS,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map(),
    });
    // The attacker keeps the row "fresh" (a column no signature covers).
    await asAttacker(t.ledger.db, [[`UPDATE ${WITHDRAWALS} SET updated_at = $2 WHERE id = $1`, [id, new Date(at.getTime() + 3_600_000)]]]);
    const report = await monitor.tick();
    await monitor.stop();
    // The payment is stuck (10 min > 60 s) and alerted, its age from the signed entry.
    expect(report.stuck).toEqual([id]);
    expect(report.forged).toEqual([]);
    const alerts = t.alerts.filter((a) => a.kind === ALERT.stuck);
    expect(alerts).toHaveLength(1);
    expect(Number(alerts[0]?.details.age_s)).toBeGreaterThanOrEqual(590);
    const text = await scrapeText();
    const age = sample(text, 'payserv_payments_in_flight_oldest_seconds', 'coin="ETH",status="sending"');
    expect(age).toBeGreaterThanOrEqual(590); // payserv's clock: 10 minutes since the signed entry
    // A real payment stuck is not tampering: payouts stay enabled.
    expect(t.ps.state.enabled).toBe(true);
  });

  it('M5: a forged row in sending beside a real payment in flight: payserv_payments_in_flight counts the real one only', async () => {
    const { t, url } = bench;
    const id = await pending(7501);
    await setAutomine(url, false);
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    const inFlight = (text: string) => sample(text, 'payserv_payments_in_flight', 'coin="ETH",status="sending"');
    const unverified = (text: string) => sample(text, 'payserv_payments_in_flight_unverified', 'coin="ETH",status="sending"');
    const before = await scrapeText();
    expect(inFlight(before)).toBe(1);
    expect(unverified(before)).toBeUndefined();
    const cols = (
      await t.ledger.db.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_name = '${WITHDRAWALS}' AND column_name NOT IN ('id', 'updated_at') ORDER BY ordinal_position`,
      )
    ).map((r) => r.column_name);
    // A copy of the real row under a new id, two days old: its status entry is the real row's, signed for another id.
    await asAttacker(t.ledger.db, [
      dropUniqueConstraints(WITHDRAWALS),
      `INSERT INTO ${WITHDRAWALS} (id, updated_at, ${cols.join(', ')})
         SELECT w.id + 5000, now() - interval '2 days', ${cols.map((c) => `w.${c}`).join(', ')} FROM ${WITHDRAWALS} w WHERE w.id = ${id}`,
    ]);
    for (let i = 0; i < 2; i++) {
      const after = await scrapeText();
      expect(inFlight(after)).toBe(1);
      expect(unverified(after)).toBe(1);
      expect(sample(after, 'payserv_payments_in_flight_oldest_seconds', 'coin="ETH",status="sending"')).toBeLessThan(600);
    }
  });

  it('M2: a hostile coin tag in the database in the exposition (label escaping)', async () => {
    const { t } = bench;
    await pending(7101);
    await asAttacker(t.ledger.db, [
      `ALTER TABLE ${COINS} DROP CONSTRAINT IF EXISTS coins_coin_tag_check`,
      `UPDATE ${COINS} SET tag = E'ETH"} 1\\nevil_metric{a="b' WHERE tag = 'ETH'`,
    ]).catch((e: Error) => console.log('M2 edit refused', e.message));
    const text = await scrapeText();
    const lines = text.split('\n').filter((l) => l.includes('evil'));
    console.log('M2', lines);
    expect(text.split('\n').some((l) => l.startsWith('evil_metric'))).toBe(false);
  });

  it('M3: the typical payout (and payouts covered) come from signed amounts only: an SQL edit of a sent amount hides them, never moves them', async () => {
    const { t, url } = bench;
    const { checkWithdrawal } = await import('../src/payserv/payouts.js');
    const { mine } = await import('../src/devnet/anvil.js');
    const id = await pending(7201, '1');
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    const before = await scrapeText();
    const cov = (s: string) => sample(s, 'payserv_hot_wallet_payouts_covered', 'coin="ETH"');
    const typ = (s: string) => sample(s, 'payserv_typical_payout_coins', 'coin="ETH"');
    const errors = (s: string) => sample(s, 'payserv_scrape_errors_total', 'part="typical_payout"');
    expect(typ(before)).toBeGreaterThan(0.99);
    expect(typ(before)).toBeLessThanOrEqual(1);
    expect(cov(before)).toBeGreaterThan(0);
    expect(errors(before)).toBe(0);
    await asAttacker(t.ledger.db, [[`UPDATE ${WITHDRAWALS} SET amount = amount + 1000000 WHERE id = $1`, [id]]]);
    const after = await scrapeText();
    // The forged amount does not verify: both metrics absent, the part counted failed; the balance still shown.
    expect(typ(after)).toBeUndefined();
    expect(cov(after)).toBeUndefined();
    expect(errors(after)).toBe(1);
    expect(sample(after, 'payserv_hot_wallet_balance_coins', 'coin="ETH"')).toBeGreaterThan(0);
    expect(t.ps.state.enabled).toBe(true);
  });
});

import { dropUniqueConstraints } from './support/attacker.js';

describePerDataPath('attack17 metrics: forged in-flight rows', () => {
  it('M4: unsigned rows forged in sending are tampering: one fail-stop naming them (history), no payment_stuck alert', async () => {
    const { t } = bench;
    const id = await pending(7301);
    const cols = (
      await t.ledger.db.query<{ column_name: string }>(
        `SELECT column_name FROM information_schema.columns WHERE table_name = '${WITHDRAWALS}' AND column_name NOT IN ('id', 'status', 'tx_hash', 'updated_at') ORDER BY ordinal_position`,
      )
    ).map((r) => r.column_name);
    await asAttacker(t.ledger.db, [
      dropUniqueConstraints(WITHDRAWALS),
      `INSERT INTO ${WITHDRAWALS} (id, status, tx_hash, updated_at, ${cols.join(', ')})
         SELECT w.id + g, 'sending', '0x' || lpad(to_hex(g), 64, '0'), now() - interval '2 days', ${cols.map((c) => `w.${c}`).join(', ')}
         FROM ${WITHDRAWALS} w CROSS JOIN generate_series(1000, 1119) g WHERE w.id = ${id}`,
    ]);
    const monitor = new Monitor(t.ps, {
      intervalMs: 1_000,
      stuckAfterMs: STUCK_AFTER_MS,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map(),
    });
    const r1 = await monitor.tick();
    const r2 = await monitor.tick();
    await monitor.stop();
    // Tick 1 verifies 100 rows (its bound), tick 2 the other 20: none is a payment stuck, all are forged.
    expect(r1.stuck).toEqual([]);
    expect(r1.forged).toHaveLength(100);
    expect(r2.stuck).toEqual([]);
    expect(r2.forged).toHaveLength(120);
    expect(t.alerts.filter((a) => a.kind === ALERT.stuck)).toEqual([]);
    // One fail-stop for the episode, naming the history problem; payouts off.
    const stops = t.alerts.filter((a) => a.kind === 'fail_stop');
    expect(stops).toHaveLength(1);
    expect(stops[0]?.reason).toMatch(/without a valid signed status history: finances_withdrawal_signatures id=\d+: .*\[history\]/);
    expect(stops[0]?.details.forged).toBe(100);
    expect(t.ps.state.enabled).toBe(false);
    expect(t.ps.state.failStopped).toBe(true);
    // The scrape verifies as the monitor does: forged rows are no payments in flight, and their forged age shows nowhere.
    const text = await scrapeText();
    expect(sample(text, 'payserv_payments_in_flight', 'coin="ETH",status="sending"')).toBeUndefined();
    expect(sample(text, 'payserv_payments_in_flight_oldest_seconds', 'coin="ETH",status="sending"')).toBeUndefined();
    expect(sample(text, 'payserv_payments_in_flight_unverified', 'coin="ETH",status="sending"')).toBe(120);
  });
});
