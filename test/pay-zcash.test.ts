// Zcash payouts against the node stand-in (which verifies every signature, input, fee, expiry and
// branch id it is sent): single and batch payments, a batch split by the hot wallet's balance, an
// expired transaction that releases its inputs and is paid anew once, and a restart between signing
// and broadcasting that sends the very same transaction.
import { afterEach, expect, it, onTestFinished } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import { ZcashDriver } from '../src/chains/zcash/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { asAttacker } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { ZEC_SETTINGS, zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { startRpcProxy } from './support/rpc-proxy.js';
import { driverStorage } from '../src/app/drivers.js';

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let driver: ZcashDriver;
let nextUser = 3000;

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 9 };
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};
const caller = 'test';

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
  await node.setDown(false);
  await t.ledger.db.close();
});

/** A processed ZEC request to a fresh address: PENDING (or APPROVED under the automatic policy). */
async function processed(amount = '1'): Promise<{ id: number; m: Miner; value: bigint }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
  const id = await request(t, m, { amount });
  expect(['PENDING', 'APPROVED']).toContain((await processWithdrawal(t.ps, id, caller)).reply);
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

const confirmations = 10;

describePerDataPath('Zcash payouts on the node stand-in', () => {
  it('a single payout: the stand-in verifies and accepts it, SENT after the confirmations, amount − fee paid once', async () => {
    await setup([5_000_000_000n]);
    const { id, m, value } = await processed('1.5');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(node.mempool()).toEqual([r.txHash]);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await node.mine(confirmations);
    const done = await checkWithdrawal(t.ps, id, caller);
    expect(done.reply).toBe('SENT');
    expect(node.paidTo(m.address)).toBe(value);
    expect(node.rejected()).toEqual([]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('SendCoin: many withdrawals in one transaction, one output each, change back to the hot wallet', async () => {
    await setup([3_000_000_000n, 3_000_000_000n], true);
    const reqs = [];
    for (let i = 0; i < 12; i++) reqs.push(await processed(`0.${i + 1}`));
    const r = await sendCoin(t.ps, 'ZEC', caller);
    expect(r.reply).toBe('SENDING');
    const hashes = new Set(r.results.map((x) => x.txHash));
    expect(hashes.size).toBe(1);
    expect(r.results.every((x) => x.reply === 'SENDING')).toBe(true);
    const tx = node.received().find((x) => hashes.has(x.txid));
    expect(tx?.tx.outputs.length).toBe(reqs.length + 1);
    // Two fundings of the same amount are two outputs (each funding transaction has its own txid).
    expect(node.outputsTo(driver.address).filter((o) => o.height !== null && o.value === 3_000_000_000n).length).toBe(2);
    await node.mine(confirmations);
    for (const q of reqs) expect((await checkWithdrawal(t.ps, q.id, caller)).reply).toBe('SENT');
    for (const q of reqs) expect(node.paidTo(q.m.address)).toBe(q.value);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('SendCoin with a hot wallet that covers only part: the part is paid, the rest waits (SEND_RETRY)', async () => {
    await setup([250_000_000n], true);
    const reqs = [];
    for (let i = 0; i < 4; i++) reqs.push(await processed('1'));
    const r = await sendCoin(t.ps, 'ZEC', caller);
    const sending = r.results.filter((x) => x.reply === 'SENDING');
    const retry = r.results.filter((x) => x.reply === 'SEND_RETRY');
    expect(sending).toHaveLength(2);
    expect(retry).toHaveLength(2);
    expect(retry[0]?.message).toMatch(/hot wallet short/);
    await node.mine(confirmations);
    for (const q of reqs) {
      // Sent ones are confirmed; waiting ones are not sending, so Check refuses them.
      expect((await checkWithdrawal(t.ps, q.id, caller)).reply).toBe(sending.some((s) => s.id === q.id) ? 'SENT' : 'ERROR');
    }
    const paid = reqs.filter((q) => node.paidTo(q.m.address) === q.value);
    expect(paid.map((q) => q.id).sort()).toEqual(sending.map((s) => s.id).sort());
    expect(reqs.filter((q) => node.paidTo(q.m.address) === 0n)).toHaveLength(2);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('an expired, never-mined transaction: SEND_ERROR with the proof, its inputs released; Resend pays once', async () => {
    await setup([5_000_000_000n]);
    const { id, m, value } = await processed('2');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(node.dropFromMempool(r.txHash as string)).toBe(true);
    // Not expired yet: rebroadcast the same bytes, which the node takes back; drop it again.
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    expect(node.mempool()).toEqual([r.txHash]);
    node.dropFromMempool(r.txHash as string);
    await node.mine(40 + confirmations);
    const failed = await checkWithdrawal(t.ps, id, caller);
    expect(failed.reply).toBe('SEND_ERROR');
    expect(failed.message).toMatch(/expired at height/);
    const held = await t.ledger.db.query<{ released_at: Date | null }>(
      'SELECT released_at FROM payserv_utxo_reservations WHERE spent_by = $1',
      [r.txHash],
    );
    expect(held.length).toBeGreaterThan(0);
    expect(held.every((h) => h.released_at !== null)).toBe(true);
    expect(node.paidTo(m.address)).toBe(0n);
    const again = await resendWithdrawal(t.ps, id, caller);
    expect(again.reply).toBe('SENDING');
    expect(again.txHash).not.toBe(r.txHash);
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(node.paidTo(m.address)).toBe(value);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it("reservation values edited in the database before the payment is mined: the recorded fee is the chain's", async () => {
    await setup([3_000_000_000n, 3_000_000_000n]);
    // 40 ZEC: both 30 ZEC outputs are spent, so both reservations are edited.
    const m = await newMiner(t, nextUser++, '50', { tag: 'ZEC', address: zcashAddress() });
    const id = await request(t, m, { amount: '40' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const hash = r.txHash as string;
    // The attacker inflates what the payment's inputs are worth (the column is nobody's signature).
    const edited = await asAttacker(t.ledger.db, [
      ['UPDATE payserv_utxo_reservations SET value = value + 100000000 WHERE spent_by = $1 RETURNING value::text AS v', [hash]],
    ]);
    expect(edited).toHaveLength(2);
    await node.mine(confirmations);
    expect(await checkWithdrawal(t.ps, id, caller)).toMatchObject({ reply: 'SENT', txHash: hash });
    // The fee from the chain alone: the hot wallet's outputs it spent (the node's own record) less what it pays.
    const spent = node.outputsTo(driver.address).filter((o) => o.spentBy === hash);
    expect(spent.map((o) => o.value)).toEqual([3_000_000_000n, 3_000_000_000n]);
    const paid =
      node
        .received()
        .find((x) => x.txid === hash)
        ?.tx.outputs.reduce((a, o) => a + o.value, 0n) ?? 0n;
    const fee = spent.reduce((a, o) => a + o.value, 0n) - paid;
    expect(fee).toBeGreaterThan(0n);
    expect(fee).toBeLessThan(100_000_000n);
    const [row] = await t.ledger.db.query<{ fee: string }>(
      'SELECT round(tx_fee * 100000000)::text AS fee FROM finances_withdrawal_transaction WHERE id = $1',
      [id],
    );
    expect(row?.fee).toBe(fee.toString());
    expect(node.paidTo(m.address)).toBe(toBaseUnits(sub(parseAmount('40'), m.coin.withdrawalFee), 8));
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('a restart between signing and broadcasting: the new process sends the very same transaction', async () => {
    node = await standin();
    const proxy = await startRpcProxy(node.url);
    onTestFinished(() => proxy.stop());
    t = await testPayserv({
      seed: SEED,
      drivers: async (deps) => {
        driver = await zcashDriver(node, deps, { fund: [5_000_000_000n], settings: { url: proxy.url } });
        return new Map([['ZEC', driver]]);
      },
    });
    const { id, m, value } = await processed('1');
    const before = node.mempool();
    // The broadcast never reaches the node (the process died there).
    proxy.failNext('sendrawtransaction');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(node.mempool()).toEqual(before);
    // A new driver, as after a restart: nothing in memory, only the database and the state directory.
    const restarted = new ZcashDriver(ZEC_SETTINGS(node.url), await loadHotKey(t.ledger.stateDir, 'ZEC'), {
      storage: driverStorage(t.ledger.db, t.ledger.trust),
      log: t.ps.log,
      journal: t.ps.journal,
      stateDir: t.ledger.stateDir,
    });
    await restarted.start();
    t.ps.drivers = new Map([['ZEC', restarted]]);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    expect(node.mempool()).toEqual([...before, r.txHash]);
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(node.paidTo(m.address)).toBe(value);
  });

  it('a node whose next branch id is not a known upgrade: nothing is signed, the payment waits', async () => {
    await setup([5_000_000_000n]);
    const { id, m, value } = await processed('1');
    const received = node.received().length;
    node.announceBranchId(0x12345678);
    try {
      const r = await approveWithdrawal(t.ps, id, caller);
      expect(r.reply).toBe('SEND_RETRY');
      expect(r.message).toMatch(/node not ready: unknown consensus branch id|not a known network upgrade/);
      expect(node.received()).toHaveLength(received);
      expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toHaveLength(0);
    } finally {
      node.announceBranchId(null);
    }
    const paid = await resendWithdrawal(t.ps, id, caller);
    expect(paid.reply).toBe('SENDING');
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(node.paidTo(m.address)).toBe(value);
  });
});
