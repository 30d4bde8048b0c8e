// Issue 13, Zcash: the inputs of a payment in flight come from the payment journal on the payserv host
// as well as the database's reservations. A reservation the attacker deletes does not free an input
// that is on its way; one the attacker invents is tampering (fail-stop), never silently honoured.
import { afterEach, expect, it } from 'vitest';
import type { ZcashStandin } from '../src/chains/zcash/standin.js';
import type { ZcashDriver } from '../src/chains/zcash/driver.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let driver: ZcashDriver;
let nextUser = 7000;
const caller = 'test';
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 19 };

async function setup(fund: bigint[]): Promise<void> {
  node = await standin();
  t = await testPayserv({ seed: SEED, drivers: async (deps) => {
    driver = await zcashDriver(node, deps, { fund });
    return new Map([['ZEC', driver]]);
  } });
}

afterEach(async () => {
  await t.ledger.db.close();
});

async function processed(amount = '1') {
  const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

const reservations = async () => (await t.ledger.db.query<{ txid: string; vout: number }>('SELECT txid, vout FROM payserv_utxo_reservations WHERE released_at IS NULL ORDER BY txid, vout'));

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
    await asAttacker(t.ledger.db, [['INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by) VALUES ($1, $2, $3, 1, $4)',
      [coin, utxo.txid, utxo.vout, 'f'.repeat(64)]]]);
    const a = await processed('1');
    const heard = node.received().length;
    const r = await approveWithdrawal(t.ps, a.id, caller);
    expect(r.reply).toBe('ERROR');
    expect(r.message).toMatch(/reserved for f{64}.*someone else/);
    expect(t.ps.state.enabled).toBe(false);
    expect(node.received()).toHaveLength(heard);
    expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toEqual([]);
  });
});
