// Issue 13, Zcash: the inputs of a payment in flight come from the payment journal on the payserv host
// as well as the database's reservations. A reservation the attacker deletes does not free an input
// that is on its way; one the attacker invents is tampering (fail-stop), never silently honoured. A
// batch payserv committed and died before sending is journaled with every withdrawal it pays: a payee
// rolled back while payserv was down, or after, is never paid twice (the harness's seed 541, test/sim).
import { afterEach, expect, it } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import { ZcashDriver } from '../src/chains/zcash/driver.js';
import { journalDir, PaymentJournal } from '../src/journal/journal.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { LockKeys } from '../src/data/lock-keys.js';
import { LockWatch } from '../src/payserv/lock-watch.js';
import { Locks } from '../src/payserv/locks.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { ServiceState } from '../src/payserv/state.js';
import { asAttacker, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { ZEC_SETTINGS, zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { driverStorage } from '../src/app/drivers.js';

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let driver: ZcashDriver;
let nextUser = 7000;
const caller = 'test';
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 19 };

const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};

async function setup(fund: bigint[], auto = false): Promise<void> {
  node = await standin();
  t = await testPayserv({
    seed: SEED,
    ...(auto ? { policies: { ZEC: AUTO } } : {}),
    drivers: async (deps) => {
      driver = await zcashDriver(node, deps, { fund });
      return new Map([['ZEC', driver]]);
    },
  });
}

afterEach(async () => {
  await t.ledger.db.close();
});

async function processed(amount = '1', reply = 'PENDING') {
  const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe(reply);
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

/** SendCoin of two approved withdrawals in one transaction; payserv killed right after its write-ahead commit (journaled, nothing sent). */
async function batchKilledAfterCommit() {
  await setup([300_000_000n, 300_000_000n, 300_000_000n], true);
  const a = await processed('1', 'APPROVED');
  const b = await processed('1', 'APPROVED');
  const heard = node.received().length;
  t.ps.faults = {
    async at(point) {
      if (point === 'payment.committed') throw new Error('payserv killed');
    },
  };
  await expect(sendCoin(t.ps, 'ZEC', caller)).rejects.toThrow('payserv killed');
  expect(node.received()).toHaveLength(heard);
  // The restart: the journal read back from its file, a new driver, payserv disabled until the operator enables it.
  await PaymentJournal.closeAll();
  const journal = await PaymentJournal.open(journalDir(t.ledger.stateDir));
  const restarted = new ZcashDriver(ZEC_SETTINGS(node.url), await loadHotKey(t.ledger.stateDir, 'ZEC'), {
    storage: driverStorage(t.ps.db, t.ps.trust),
    log: t.ps.log,
    journal,
    stateDir: t.ledger.stateDir,
  });
  await restarted.start();
  const state = new ServiceState(t.ps.log, { raise: async (kind, reason, details) => void t.alerts.push({ kind, reason, details }) });
  const locks = new Locks(t.ps.db, LockKeys.of(t.ledger.signers.payserv), { log: t.ps.log });
  t.ps = {
    ...t.ps,
    journal,
    drivers: new Map([['ZEC', restarted]]),
    state,
    locks,
    lockWatch: new LockWatch({ locks, alerts: { raise: async () => undefined }, log: t.ps.log, heldMaxMs: 300_000 }),
    faults: undefined,
  };
  return { a, b, heard };
}

/** The attacker cuts a withdrawal's signed history back to before its payment: approved again, as far as the database says. */
async function rollBackToApproved(id: number): Promise<void> {
  const [{ seq }] = (await t.ledger.db.query<{ seq: number }>(
    `SELECT max(seq) AS seq FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND status = 'approved'`,
    [id],
  )) as [{ seq: number }];
  await asAttacker(t.ledger.db, [
    [
      `UPDATE ${WITHDRAWALS} w SET status = s.status, status_seq = s.seq, tx_hash = s.tx_hash, tx_fee = s.tx_fee, comment = s.comment, updated_at = s.created_at
      FROM ${STATUS_SIGNATURES} s WHERE w.id = $1 AND s.withdrawal_id = $1 AND s.seq = $2`,
      [id, seq],
    ],
    [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, seq]],
  ]);
}

const reservations = async () =>
  await t.ledger.db.query<{ txid: string; vout: number }>(
    'SELECT txid, vout FROM payserv_utxo_reservations WHERE released_at IS NULL ORDER BY txid, vout',
  );

describePerDataPath('Zcash inputs in flight under attack (issue 13)', () => {
  it('reservations deleted while a payment is in flight: the next payment spends other inputs, both paid once', async () => {
    await setup([300_000_000n, 300_000_000n]);
    const a = await processed('1');
    expect((await approveWithdrawal(t.ps, a.id, caller)).reply).toBe('SENDING');
    const held = await reservations();
    expect(held).toHaveLength(1);
    await asAttacker(t.ledger.db, ['DELETE FROM payserv_utxo_reservations']);
    const b = await processed('1');
    expect((await approveWithdrawal(t.ps, b.id, caller)).reply).toBe('SENDING');
    expect(node.rejected()).toEqual([]);
    expect(node.mempool()).toHaveLength(2);
    await node.mine(10);
    expect((await checkWithdrawal(t.ps, a.id, caller)).reply).toBe('SENT');
    expect((await checkWithdrawal(t.ps, b.id, caller)).reply).toBe('SENT');
    expect(node.paidTo(a.m.address)).toBe(a.value);
    expect(node.paidTo(b.m.address)).toBe(b.value);
  });

  it('a reservation the attacker invents on an unspent output: the next payment fails-stop, nothing is signed', async () => {
    await setup([300_000_000n]);
    const utxo = node.outputsTo(driver.address)[0]!;
    const coin = (await t.ledger.db.query<{ id: number }>("SELECT id FROM coins_coin WHERE tag = 'ZEC'"))[0]!.id;
    await asAttacker(t.ledger.db, [
      [
        'INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by) VALUES ($1, $2, $3, 1, $4)',
        [coin, utxo.txid, utxo.vout, 'f'.repeat(64)],
      ],
    ]);
    const a = await processed('1');
    const heard = node.received().length;
    const r = await approveWithdrawal(t.ps, a.id, caller);
    expect(r.reply).toBe('ERROR');
    expect(r.message).toMatch(/reserved for f{64}.*someone else/);
    expect(t.ps.state.enabled).toBe(false);
    expect(node.received()).toHaveLength(heard);
    expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toEqual([]);
  });

  it('a batch committed, payserv killed before sending it, a payee rolled back after the recovery: Approve of it fails-stop, each paid once', async () => {
    const { a, b, heard } = await batchKilledAfterCommit();
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
    t.ps.state.enable('operator');
    // The operator's recovery: Check of the first sends the batch (both payees), the second finds it in the mempool.
    expect((await checkWithdrawal(t.ps, a.id, caller)).reply).toBe('SENDING');
    expect((await checkWithdrawal(t.ps, b.id, caller)).reply).toBe('SENDING');
    expect(node.received()).toHaveLength(heard + 1);
    await rollBackToApproved(b.id);
    const again = await approveWithdrawal(t.ps, b.id, caller);
    expect(again.reply).toBe('ERROR');
    expect(again.message).toMatch(/payment journal.*rolled back/);
    expect(t.ps.state.enabled).toBe(false);
    expect(node.received()).toHaveLength(heard + 1);
    await node.mine(10);
    expect(node.paidTo(a.m.address)).toBe(a.value);
    expect(node.paidTo(b.m.address)).toBe(b.value);
  });

  it("a batch committed, a payee rolled back while payserv was down: the operator's checks name it, and nothing pays it twice", async () => {
    const { a, b, heard } = await batchKilledAfterCommit();
    await rollBackToApproved(b.id);
    expect((await t.ledger.check('balanceerrors')).join('\n')).toMatch(new RegExp(`withdrawal ${b.id} \\(payment journal.*rolled back`));
    // Enabled all the same: Check of the other payee sends the batch, which pays the rolled-back one too; Approve of it fails-stop.
    t.ps.state.enable('operator');
    expect((await checkWithdrawal(t.ps, a.id, caller)).reply).toBe('SENDING');
    const again = await approveWithdrawal(t.ps, b.id, caller);
    expect(again.reply).toBe('ERROR');
    expect(t.ps.state.enabled).toBe(false);
    expect(node.received()).toHaveLength(heard + 1);
    await node.mine(10);
    expect(node.paidTo(a.m.address)).toBe(a.value);
    expect(node.paidTo(b.m.address)).toBe(b.value);
  });
});
