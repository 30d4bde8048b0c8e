// Metrics and health (src/metrics): after a scripted run on anvil (a payment confirmed, one sending, one
// waiting in send_retry, a fail-stop), every scraped value equals what happened; /health follows payserv
// from locked to ready to fail-stopped; a failing database query leaves its metrics absent and is counted;
// each certificate of the state directory shows its time left, a short-lived one counted as expiring.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mine, setBalance } from '../src/devnet/anvil.js';
import { certificateNotAfter, issueOperator, pkiCertificateFiles, pkiPaths } from '../src/esman/pki-files.js';
import { formatAmount, fromBaseUnits, parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { autopayFor } from '../src/autopay/service.js';
import { asAttacker, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { balanceOf } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { ethObservedBench } from './support/payserv.js';

const bench = ethObservedBench(17);
const caller = 'test';

const base = () => `http://127.0.0.1:${bench.obs.server.port}`;

type Samples = Array<{ name: string; labels: Record<string, string>; value: number }>;

/** The exposition text's samples (comments skipped). */
function parse(text: string): Samples {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-z_:]+)(?:\{(.*)\})? (\S+)$/.exec(l);
      if (!m) throw new Error(`not a sample line: ${l}`);
      const labels = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      return { name: m[1] as string, labels, value: Number(m[3]) };
    });
}

async function scrape(): Promise<Samples> {
  const r = await fetch(`${base()}/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await r.text());
}

/** The one sample of `name` with exactly these labels, or undefined when absent. */
function value(s: Samples, name: string, labels: Record<string, string> = {}): number | undefined {
  const found = s.filter(
    (x) => x.name === name && JSON.stringify(Object.entries(x.labels).sort()) === JSON.stringify(Object.entries(labels).sort()),
  );
  expect(found.length).toBeLessThanOrEqual(1);
  return found[0]?.value;
}

async function health(): Promise<{ status: number; body: { status: string; reason: string | null } }> {
  const r = await fetch(`${base()}/health`);
  return { status: r.status, body: (await r.json()) as { status: string; reason: string | null } };
}

/** A pending ETH request of `amount`, and what it pays (amount − fee, in wei). */
async function pending(userId: number, amount = '1'): Promise<{ id: number; value: bigint }> {
  const { t } = bench;
  const m = await newMiner(t, userId, '20');
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return { id, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 18) };
}

const coins = (wei: bigint) => Number(formatAmount(fromBaseUnits(wei, 18)));

describePerDataPath('metrics and health', () => {
  it('after a scripted run the scraped values equal what happened', async () => {
    const { t, driver, url, obs } = bench;
    // Locked: payserv has no key yet, so nothing but its state is known.
    expect(await health()).toEqual({ status: 503, body: { status: 'locked', reason: expect.stringMatching(/key/), since: null } });
    const locked = await scrape();
    expect(value(locked, 'payserv_state', { state: 'locked' })).toBe(1);
    expect(value(locked, 'payserv_withdrawals', { coin: 'ETH', status: 'pending' })).toBeUndefined();
    obs.metrics.attach(t.ps);
    expect((await health()).status).toBe(200);
    expect((await health()).body.status).toBe('ready');

    // One payment confirmed.
    const a = await pending(5001, '1.25');
    expect((await approveWithdrawal(t.ps, a.id, caller)).reply).toBe('SENDING');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, a.id, caller)).reply).toBe('SENT');
    // One sending, never checked.
    const c = await pending(5002, '2');
    expect((await approveWithdrawal(t.ps, c.id, caller)).reply).toBe('SENDING');
    // One waiting: the hot wallet short of it.
    const b = await pending(5003, '3');
    const funded = await balanceOf(url, driver.address);
    await setBalance(url, driver.address, b.value);
    expect((await approveWithdrawal(t.ps, b.id, caller)).reply).toBe('SEND_RETRY');
    await setBalance(url, driver.address, funded);
    // The monitor's health check, and an autopay run that has no signer to run with (skipped).
    await new Monitor(t.ps, { intervalMs: 60_000, stuckAfterMs: 3_600_000, nodeUnhealthyAfterMs: 600_000, finality: new Map() }).tick();
    t.ps.autopay = new Map([['ETH', { threshold: parseAmount('1'), requirePeers: 0, maxPerRun: 10 }]]);
    expect((await autopayFor(t.ps).runNow('ETH', 'test')).outcome).toBe('skipped');

    const s = await t.ps.locks.with('metrics-test', 'the test', () => scrape());
    const [feeRow] = await t.ledger.db.query<{ tx_fee: string }>(`SELECT tx_fee::text FROM ${WITHDRAWALS} WHERE id = $1`, [a.id]);
    const hot = await balanceOf(url, driver.address);

    expect(value(s, 'payserv_withdrawals', { coin: 'ETH', status: 'sent' })).toBe(1);
    expect(value(s, 'payserv_withdrawals', { coin: 'ETH', status: 'sending' })).toBe(1);
    expect(value(s, 'payserv_withdrawals', { coin: 'ETH', status: 'send_retry' })).toBe(1);
    expect(value(s, 'payserv_withdrawals', { coin: 'ETH', status: 'pending' })).toBeUndefined();
    expect(value(s, 'payserv_payments_in_flight', { coin: 'ETH', status: 'sending' })).toBe(1);
    expect(value(s, 'payserv_payments_in_flight', { coin: 'ETH', status: 'send_retry' })).toBe(1);
    for (const status of ['sending', 'send_retry']) {
      const age = value(s, 'payserv_payments_in_flight_oldest_seconds', { coin: 'ETH', status }) as number;
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(300);
    }
    // a and c were broadcast and taken; b never was.
    expect(value(s, 'payserv_payments_broadcast_total', { coin: 'ETH', outcome: 'accepted' })).toBe(2);
    expect(value(s, 'payserv_payments_broadcast_total', { coin: 'ETH', outcome: 'refused' })).toBeUndefined();
    expect(value(s, 'payserv_payments_confirmed_total', { coin: 'ETH' })).toBe(1);
    expect(value(s, 'payserv_payments_failed_total', { coin: 'ETH' })).toBeUndefined();
    expect(value(s, 'payserv_fees_spent_coins_total', { coin: 'ETH' })).toBe(Number(feeRow?.tx_fee));
    expect(Number(feeRow?.tx_fee)).toBeGreaterThan(0);
    expect(value(s, 'payserv_approve_to_sent_seconds_count', { coin: 'ETH' })).toBe(1);
    expect(value(s, 'payserv_approve_to_sent_seconds_bucket', { coin: 'ETH', le: '60' })).toBe(1);
    // Approve verified a, c and b; Check verified a.
    expect(value(s, 'payserv_verification_seconds_count', { method: 'Approve', outcome: 'verified' })).toBe(3);
    expect(value(s, 'payserv_verification_seconds_count', { method: 'Check', outcome: 'verified' })).toBe(1);
    // The hot wallet: its balance, the one sent payout as the typical one, and how many of it the balance covers.
    expect(value(s, 'payserv_hot_wallet_balance_coins', { coin: 'ETH' })).toBe(coins(hot));
    expect(value(s, 'payserv_typical_payout_coins', { coin: 'ETH' })).toBe(coins(a.value));
    expect(value(s, 'payserv_hot_wallet_payouts_covered', { coin: 'ETH' })).toBe(Number(hot / a.value));
    expect(value(s, 'payserv_node_healthy', { coin: 'ETH' })).toBe(1);
    expect(value(s, 'payserv_autopay_runs_total', { coin: 'ETH', outcome: 'skipped' })).toBe(1);
    expect(value(s, 'payserv_lock_held_seconds', { lock: 'metrics-test' })).toBeGreaterThanOrEqual(0);
    expect(value(s, 'payserv_enabled')).toBe(1);
    expect(value(s, 'payserv_state', { state: 'ready' })).toBe(1);
    expect(value(s, 'payserv_fail_stops_total')).toBe(0);
    for (const part of ['withdrawals', 'in_flight', 'hot_wallet', 'typical_payout', 'certificates', 'timeout'])
      expect(value(s, 'payserv_scrape_errors_total', { part })).toBe(0);

    // A fail-stop: the attacker raises a pending request's amount; Approve finds it and stops payouts.
    const d = await pending(5004, '1');
    await asAttacker(t.ledger.db, [[`UPDATE ${WITHDRAWALS} SET amount = amount + 1 WHERE id = $1`, [d.id]]]);
    const stopped = await approveWithdrawal(t.ps, d.id, caller);
    expect([stopped.reply, stopped.code]).toEqual(['ERROR', 'integrity']);
    const after = await scrape();
    expect(value(after, 'payserv_fail_stops_total')).toBe(1);
    expect(value(after, 'payserv_enabled')).toBe(0);
    expect(value(after, 'payserv_state', { state: 'fail_stopped' })).toBe(1);
    expect(value(after, 'payserv_state', { state: 'ready' })).toBe(0);
    expect(value(after, 'payserv_payments_broadcast_total', { coin: 'ETH', outcome: 'accepted' })).toBe(2);
    expect(value(after, 'payserv_withdrawals', { coin: 'ETH', status: 'pending' })).toBe(1);
    expect(value(after, 'payserv_lock_held_seconds', { lock: 'metrics-test' })).toBeUndefined();
    const h = await health();
    expect(h.status).toBe(503);
    expect(h.body.status).toBe('fail_stopped');
    expect(h.body.reason).toMatch(/integrity failure/);
    // An operator's disable is told apart from a fail-stop.
    t.ps.state.disable('test', 'maintenance');
    expect(await health()).toMatchObject({ status: 503, body: { status: 'disabled', reason: 'maintenance' } });
  });

  it('a failing query leaves its metrics absent and counts the error; the scrape and the next payment go on', async () => {
    const { t, obs } = bench;
    obs.metrics.attach(t.ps);
    const a = await pending(6001, '1');
    await asAttacker(t.ledger.db, [`ALTER TABLE ${WITHDRAWALS} RENAME TO withdrawals_away`], { triggers: 'on' });
    let s: Samples;
    try {
      s = await scrape();
    } finally {
      await asAttacker(t.ledger.db, [`ALTER TABLE withdrawals_away RENAME TO ${WITHDRAWALS}`], { triggers: 'on' });
    }
    expect(value(s, 'payserv_withdrawals', { coin: 'ETH', status: 'pending' })).toBeUndefined();
    expect(value(s, 'payserv_scrape_errors_total', { part: 'withdrawals' })).toBe(1);
    expect(value(s, 'payserv_scrape_errors_total', { part: 'in_flight' })).toBe(1);
    expect(value(s, 'payserv_scrape_errors_total', { part: 'typical_payout' })).toBe(1);
    // The typical payout failed alone: the hot wallet's balance (its coin row and node) is still shown.
    expect(value(s, 'payserv_hot_wallet_balance_coins', { coin: 'ETH' })).toBeGreaterThan(0);
    expect(value(s, 'payserv_hot_wallet_payouts_covered', { coin: 'ETH' })).toBeUndefined();
    expect(value(s, 'payserv_state', { state: 'ready' })).toBe(1);
    // Nothing else was touched: payouts stay enabled and the payment goes through.
    expect((await approveWithdrawal(t.ps, a.id, caller)).reply).toBe('SENDING');
    const next = await scrape();
    expect(value(next, 'payserv_withdrawals', { coin: 'ETH', status: 'sending' })).toBe(1);
    expect(value(next, 'payserv_scrape_errors_total', { part: 'withdrawals' })).toBe(1);
  });

  it("shows each certificate's time left and counts those expiring within 30 days, locked or not; an unreadable one is counted as an error", async () => {
    const { t, obs } = bench;
    const dir = t.ledger.stateDir;
    /** A scrape, with the clock before and after it (ms). */
    const timed = async () => {
      const before = Date.now();
      const s = await scrape();
      return { s, before, after: Date.now() };
    };
    /** Time left as scraped equals notAfter minus the scrape's clock, which lies between before and after. */
    const expectTimeLeft = (r: Awaited<ReturnType<typeof timed>>, kind: string, name: string, file: string) => {
      const left = value(r.s, 'payserv_certificate_expiry_seconds', { kind, name });
      const end = certificateNotAfter(file);
      expect(left).toBeGreaterThanOrEqual((end - r.after) / 1000);
      expect(left).toBeLessThanOrEqual((end - r.before) / 1000);
    };

    // Locked: the root, the signers' and the TLS pairs' certificates (825 days), none due.
    const files = pkiCertificateFiles(dir);
    expect(files.map((f) => `${f.kind} ${f.name}`)).toEqual(expect.arrayContaining(['root root', 'tls payserv', 'signer admin']));
    const locked = await timed();
    for (const f of files) expectTimeLeft(locked, f.kind, f.name, f.file);
    expect(value(locked.s, 'payserv_certificate_expiry_seconds', { kind: 'tls', name: 'payserv' })).toBeGreaterThan(800 * 86_400);
    expect(value(locked.s, 'payserv_certificates_expiring', { within: '30d' })).toBe(0);

    // An operator's certificate for 10 days: counted as expiring, its time left under 10 days.
    const alice = await issueOperator(dir, 'alice', { days: 10 });
    obs.metrics.attach(t.ps);
    const soon = await timed();
    expectTimeLeft(soon, 'operator', 'alice', alice.cert);
    expect(value(soon.s, 'payserv_certificate_expiry_seconds', { kind: 'operator', name: 'alice' })).toBeLessThanOrEqual(10 * 86_400);
    expect(value(soon.s, 'payserv_certificates_expiring', { within: '30d' })).toBe(1);
    expect(value(soon.s, 'payserv_scrape_errors_total', { part: 'certificates' })).toBe(0);

    // A file that is not a certificate: absent, counted as a scrape error; the others still shown.
    writeFileSync(join(pkiPaths(dir).dir, 'operators', 'bob.crt'), 'not a certificate');
    const bad = await timed();
    expect(value(bad.s, 'payserv_certificate_expiry_seconds', { kind: 'operator', name: 'bob' })).toBeUndefined();
    expectTimeLeft(bad, 'operator', 'alice', alice.cert);
    expectTimeLeft(bad, 'root', 'root', pkiPaths(dir).root);
    expect(value(bad.s, 'payserv_certificates_expiring', { within: '30d' })).toBe(1);
    expect(value(bad.s, 'payserv_scrape_errors_total', { part: 'certificates' })).toBe(1);
    expect(value(bad.s, 'payserv_state', { state: 'ready' })).toBe(1);
  });

  it('answers only GET and HEAD of /metrics and /health', async () => {
    expect((await fetch(`${base()}/metrics`, { method: 'POST' })).status).toBe(405);
    expect((await fetch(`${base()}/`)).status).toBe(404);
    const head = await fetch(`${base()}/health`, { method: 'HEAD' });
    expect(head.status).toBe(503);
    expect(await head.text()).toBe('');
  });
});
