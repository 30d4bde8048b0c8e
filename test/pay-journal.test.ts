// Issue 13's attacks on the window between the write-ahead commit and the checkpoint advance, on anvil:
// a database attacker who rolls a paid withdrawal's status back after its broadcast, or raises the
// nonce counter. The payment journal on the payserv host and the checkpoint's cover of each status
// change detect each one: payserv fails-stop, nothing is paid twice, nothing is credited back, nothing lost.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { resolveCoin } from '../src/autopay/resolve.js';
import { restoreFromJournal } from '../src/payserv/payments/restore.js';
import type { Hex } from 'viem';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import type { FaultPoint } from '../src/payserv/faults.js';
import { asAttacker, cutHistory, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethClient, ethDriver, minedCount } from './support/chains.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let nextUser = 6000;
const caller = 'test';
const PAID = 999_500_000_000_000_000n; // 1 ETH less the 0.0005 withdrawal fee
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 17 };

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
});

afterEach(async () => {
  await t.ledger.db.close();
});

type Row = Record<string, unknown>;
const rowOf = async (id: number) => (await t.ledger.db.query<Row>(`SELECT * FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0] as Row;
const statusOf = async (id: number) => (await rowOf(id)).status as string;

async function pending(): Promise<{ id: number; m: Miner }> {
  const m = await newMiner(t, nextUser++);
  const id = await request(t, m, { amount: '1' });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return { id, m };
}

/** The attacker's edit at one boundary of the payment path: the withdrawal's signed history cut back to `row` (its last status before the payment). */
function rollBackAt(point: FaultPoint, id: number, row: Row): void {
  let done = false;
  t.ps.faults = {
    async at(p, info) {
      if (done || p !== point || !info.withdrawals.includes(id)) return;
      done = true;
      await asAttacker(t.ledger.db, cutHistory(id, row.status_seq as number));
    },
  };
}

describePerDataPath('a paid withdrawal rolled back in the database (issue 13)', () => {
  it('rolled back to pending after its broadcast, before the checkpoint moved: the advance fails-stop, the next Approve pays nothing', async () => {
    const { id, m } = await pending();
    const before = await rowOf(id);
    rollBackAt('payment.broadcast', id, before);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('ERROR');
    expect(t.ps.state.enabled).toBe(false);
    expect(t.ps.state.status().reason).toMatch(/rolled back/);
    expect(t.alerts.map((a) => a.kind)).toEqual(['fail_stop']);
    expect(await statusOf(id)).toBe('pending');
    await mine(url, 1);
    expect(await balanceOf(url, m.address)).toBe(PAID);

    // An operator enables payouts without finding the edit: the journal still knows the payment left.
    t.ps.faults = undefined;
    t.ps.state.enable('operator');
    const again = await approveWithdrawal(t.ps, id, caller);
    expect([again.reply, again.code]).toEqual(['ERROR', 'integrity']);
    expect(again.message).toMatch(/payment journal/);
    expect(t.ps.state.enabled).toBe(false);
    await mine(url, 1);
    expect(await balanceOf(url, m.address)).toBe(PAID);
    expect(await minedCount(url, driver.address)).toBe(1);
    // The operator's checks name it too.
    expect((await t.ledger.check('balanceerrors')).join('\n')).toMatch(/payment journal/);
  });

  it('rolled back after the commit, before the broadcast: broadcast once (the host knows it), then the advance fails-stop and nothing pays again', async () => {
    const { id, m } = await pending();
    const before = await rowOf(id);
    rollBackAt('payment.committed', id, before);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('ERROR');
    expect(t.ps.state.enabled).toBe(false);
    t.ps.faults = undefined;
    t.ps.state.enable('operator');
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('ERROR');
    await mine(url, 1);
    expect(await balanceOf(url, m.address)).toBe(PAID);
    expect(await minedCount(url, driver.address)).toBe(1);
  });

  it('a sent withdrawal rolled back to pending with its history cut: Approve and Resend fail-stop on the journal, nothing paid twice', async () => {
    const { id, m } = await pending();
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    // The history cut back to its pending entry (the checkpoint covering it as final is left alone).
    const sigs = await t.ledger.db.query<{ seq: number }>(`SELECT seq FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 ORDER BY seq`, [
      id,
    ]);
    expect(sigs.length).toBeGreaterThan(2);
    await asAttacker(t.ledger.db, cutHistory(id, 1));
    const r = await approveWithdrawal(t.ps, id, caller);
    expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
    expect(t.ps.state.enabled).toBe(false);
    expect(await resendWithdrawal(t.ps, id, caller)).toMatchObject({ reply: 'ERROR', code: 'fail_stop' });
    await mine(url, 1);
    expect(await balanceOf(url, m.address)).toBe(PAID);
    expect(await minedCount(url, driver.address)).toBe(1);
  });

  it('resolve never credits back a payment the journal knows left, whatever the database says', async () => {
    const { id, m } = await pending();
    const before = await rowOf(id);
    rollBackAt('payment.broadcast', id, before);
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('ERROR');
    t.ps.faults = undefined;
    t.ps.state.enable('operator');
    const report = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(report.resolutions.filter((x) => x.decision === 'credited')).toEqual([]);
    expect(await t.ledger.db.query(`SELECT id FROM ${WITHDRAWALS} WHERE parent_id = $1`, [id])).toEqual([]);
    await mine(url, 1);
    expect(await balanceOf(url, m.address)).toBe(PAID);
  });

  it('payserv dies after the journal record, before the commit: the next call fails-stop on the journal; restored from it, the payment completes once', async () => {
    const { id, m } = await pending();
    t.ps.faults = {
      async at(p) {
        if (p === 'payment.journaled') throw new Error('SIGKILL');
      },
    };
    const died = await approveWithdrawal(t.ps, id, caller);
    // The transaction was not committed: the database still says pending, and no node has heard of it.
    expect(await statusOf(id)).toBe('pending');
    expect(await minedCount(url, driver.address)).toBe(0);
    expect(died.reply).toBe('ERROR');
    t.ps.faults = undefined;
    t.ps.state.enable('operator');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
    expect(r.message).toMatch(/payment journal/);
    expect(t.ps.state.enabled).toBe(false);
    const restored = await restoreFromJournal(t.ps, 'operator');
    expect(restored.map((x) => [x.withdrawal, x.outcome])).toEqual([[id, 'restored']]);
    expect(await statusOf(id)).toBe('sending');
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
    t.ps.state.enable('operator');
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(PAID);
    expect(await minedCount(url, driver.address)).toBe(1);
    expect((await restoreFromJournal(t.ps, 'operator')).map((x) => x.outcome)).toEqual(['present']);
  });

  it('payserv dies after the journal record, before the commit; restored: the next payment is not taken for a rolled-back nonce store (the harness, seed 1)', async () => {
    const first = await pending();
    t.ps.faults = {
      async at(p) {
        if (p === 'payment.journaled') throw new Error('SIGKILL');
      },
    };
    await approveWithdrawal(t.ps, first.id, caller);
    t.ps.faults = undefined;
    // The nonce counter's raise was rolled back with the commit; the restore brings it up to the journaled nonce.
    expect((await restoreFromJournal(t.ps, 'operator')).map((x) => x.outcome)).toEqual(['restored']);
    t.ps.state.enable('operator');
    expect((await checkWithdrawal(t.ps, first.id, caller)).reply).toBe('SENDING');
    const second = await pending();
    const r = await approveWithdrawal(t.ps, second.id, caller);
    expect([r.reply, r.message]).toEqual(['SENDING', undefined]);
    expect(t.ps.state.enabled).toBe(true);
    await mine(url, 12);
    for (const { id } of [first, second]) expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, first.m.address)).toBe(PAID);
    expect(await balanceOf(url, second.m.address)).toBe(PAID);
    expect(await minedCount(url, driver.address)).toBe(2);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('the attacker reads the bytes after the commit, erases the payment and broadcasts them: resolve credits nothing back, the restore records it, paid once', async () => {
    const { id, m } = await pending();
    let raw = '';
    t.ps.faults = {
      async at(p, info) {
        if (p !== 'payment.committed' || !info.withdrawals.includes(id)) return;
        raw = (await t.ledger.db.query<{ raw: string }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [info.hash]))[0]!.raw;
        await asAttacker(t.ledger.db, [...cutHistory(id, 1), ['DELETE FROM payserv_chain_txs', []], ['DELETE FROM payserv_nonces', []]]);
        throw new Error('SIGKILL');
      },
    };
    await approveWithdrawal(t.ps, id, caller).catch(() => undefined);
    t.ps.faults = undefined;
    expect(await statusOf(id)).toBe('pending');
    await ethClient(url).request({ method: 'eth_sendRawTransaction', params: [raw as Hex] });
    await mine(url, 1);
    expect(await balanceOf(url, m.address)).toBe(PAID);
    t.ps.state.enable('operator');
    // Neither paid again nor credited back on the database's word.
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('ERROR');
    expect(t.ps.state.enabled).toBe(false);
    t.ps.state.enable('operator');
    expect((await resolveCoin(t.ps, 'ETH', 'operator')).resolutions.filter((x) => x.decision === 'credited')).toEqual([]);
    expect(await t.ledger.db.query(`SELECT id FROM ${WITHDRAWALS} WHERE parent_id = $1`, [id])).toEqual([]);
    expect((await restoreFromJournal(t.ps, 'operator')).map((x) => x.outcome)).toEqual(['restored']);
    t.ps.state.enable('operator');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(PAID);
    expect(await minedCount(url, driver.address)).toBe(1);
  });

  it('any status change rolled back before its checkpoint moved (Process approving): a fail-stop, never "nothing new"', async () => {
    const m = await newMiner(t, nextUser++);
    const id = await request(t, m, { amount: '1' });
    const before = await rowOf(id);
    rollBackAt('status.committed', id, before);
    const r = await processWithdrawal(t.ps, id, caller);
    expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
    expect(r.message).toMatch(/moved to pending \(status entry 1\).*now has processing at entry 0: rolled back/);
    expect(t.ps.state.enabled).toBe(false);
    expect(await statusOf(id)).toBe('processing');
  });

  it('an advance that fails after a status change is a fail-stop, not an internal error with payouts left on', async () => {
    const { id } = await pending();
    t.ps.faults = {
      async at(p, info) {
        if (p === 'status.committed' && info.withdrawals.includes(id)) {
          await t.ledger.db.query('ALTER TABLE finances_user_balance_checkpoints RENAME TO checkpoints_elsewhere');
        }
      },
    };
    try {
      const r = await approveWithdrawal(t.ps, id, caller);
      expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
      expect(r.message).toMatch(/could not move over it/);
      expect(t.ps.state.enabled).toBe(false);
      expect(t.alerts.map((a) => a.kind)).toContain('fail_stop');
    } finally {
      await t.ledger.db.query('ALTER TABLE checkpoints_elsewhere RENAME TO finances_user_balance_checkpoints');
    }
    // The payment itself was written ahead and broadcast: it completes once, nothing twice.
    t.ps.faults = undefined;
    t.ps.state.enable('operator');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await minedCount(url, driver.address)).toBe(1);
  });

  it('the nonce counter raised far above the chain: the next payment fails-stop before signing, nothing stuck', async () => {
    const { id, m } = await pending();
    const hashes = async () =>
      (await t.ledger.db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs ORDER BY hash')).map((x) => x.hash);
    const txs = await hashes();
    await asAttacker(t.ledger.db, [
      [
        'INSERT INTO payserv_nonces (chain, address, next_nonce) VALUES ($1, $2, 1000) ON CONFLICT (chain, address) DO UPDATE SET next_nonce = payserv_nonces.next_nonce + 1000',
        ['evm:31337', driver.address],
      ],
    ]);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
    expect(r.message).toMatch(/raised/);
    expect(t.ps.state.enabled).toBe(false);
    expect(await statusOf(id)).toBe('pending');
    expect(await hashes()).toEqual(txs);
    expect(await balanceOf(url, m.address)).toBe(0n);
  });

  it('a payment journal that cannot record stops payouts before anything is committed or broadcast', async () => {
    const { id, m } = await pending();
    const j = t.ps.journal;
    const original = j.recordAttempt.bind(j);
    j.recordAttempt = async () => {
      const { JournalError } = await import('../src/journal/record.js');
      throw new JournalError('payment journal: cannot append (ENOSPC: no space left on device): nothing may be broadcast');
    };
    try {
      const r = await approveWithdrawal(t.ps, id, caller);
      expect(r.reply).toBe('ERROR');
      expect(t.ps.state.enabled).toBe(false);
      expect(t.ps.state.status().reason).toMatch(/ENOSPC/);
    } finally {
      j.recordAttempt = original;
    }
    // The write-ahead transaction was rolled back with it: nothing stored, nothing sent.
    expect(await statusOf(id)).toBe('pending');
    expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toEqual([]);
    await mine(url, 1);
    expect(await minedCount(url, driver.address)).toBe(0);
    expect(await balanceOf(url, m.address)).toBe(0n);
    // Fixed, enabled: Approve pays it, once.
    t.ps.state.enable('operator');
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(PAID);
    expect(await minedCount(url, driver.address)).toBe(1);
  });
});
