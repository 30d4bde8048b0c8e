// Reorgs on a real litecoind regtest node (issue 18), staged with invalidateblock:
// - before the confirmations: a payment mined, then its block invalidated and a longer branch without it
//   mined, is never recorded sent; it stays sending (back in the mempool) and ends sent once mined again,
//   paid once;
// - after the confirmations: a payment recorded sent whose block is invalidated, with a conflicting spend of
//   one of its inputs mined on the new branch, is `gone` to the finality watch: payment_reorged, payserv
//   disabled (fail-stop), nothing paid twice.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 12 };
const caller = 'test';
/** The seeded coin's confirmations (src/writer/seed.ts, a coin without defaults). */
const confirmations = 6;

const litecoind = litecoindForFile();
let node: Litecoind;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;
let nextUser = 8000;

async function setup(fund: bigint[]): Promise<void> {
  node = await litecoind();
  client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ltcDriver(node, deps, fund);
      return new Map([['LTC', driver]]);
    },
  });
}

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

/** A withdrawal approved and broadcast: its id, recipient, the value it must receive and the txid. */
async function paying(amount: string): Promise<{ id: number; address: string; value: bigint; hash: string }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress() });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  const r = await approveWithdrawal(t.ps, id, caller);
  expect(r.reply).toBe('SENDING');
  return { id, address: m.address, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8), hash: r.txHash as string };
}

/** What the best chain's UTXO set holds for an address. */
async function paidTo(address: string): Promise<bigint[]> {
  return (await client.scanTxOutSet([`addr(${address})`])).unspents.map((u) => u.amount);
}

async function status(id: number): Promise<string> {
  const [r] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'missing';
}

async function blockOf(hash: string): Promise<string> {
  const tx = await client.getRawTransaction(hash);
  if (!tx?.blockhash) throw new Error(`${hash} is not mined`);
  return tx.blockhash;
}

const monitor = () =>
  new Monitor(t.ps, { intervalMs: 60_000, stuckAfterMs: 3_600_000, nodeUnhealthyAfterMs: 600_000, finality: new Map([['LTC', 10]]) });

describePerDataPath('Bitcoin-family reorgs on litecoind regtest', () => {
  it('reorged out before the confirmations: never recorded sent, stays sending, sent once mined again, paid once', async () => {
    await setup([5n * COIN]);
    const p = await paying('1.5');
    await node.mine(3);
    const block = await blockOf(p.hash);
    expect((await checkWithdrawal(t.ps, p.id, caller)).message).toMatch(/3 of 6 confirmations/);

    // Its block is invalidated; a longer branch of empty blocks is mined past the old head.
    await node.invalidateBlock(block);
    for (let i = 0; i < 5; i++) await node.generateBlock([]);
    expect(await node.rpc('getrawmempool')).toEqual([p.hash]);
    const c = await checkWithdrawal(t.ps, p.id, caller);
    expect(c.reply).toBe('SENDING');
    expect(await status(p.id)).toBe('sending');
    expect(await paidTo(p.address)).toEqual([]);

    // Mined again on the new branch: sent after the confirmations there, one output, one payment.
    await node.mine(confirmations - 1);
    expect((await checkWithdrawal(t.ps, p.id, caller)).reply).toBe('SENDING');
    await node.mine(1);
    expect((await checkWithdrawal(t.ps, p.id, caller)).reply).toBe('SENT');
    expect(await blockOf(p.hash)).not.toBe(block);
    expect(await paidTo(p.address)).toEqual([p.value]);
    expect(await node.rpc('getrawmempool')).toEqual([]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('reorged out after it was recorded sent, a conflicting spend mined instead: gone, alerted, fail-stop, nothing paid twice', async () => {
    await setup([COIN, COIN, COIN]);
    const p = await paying('1.5');
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, p.id, caller)).reply).toBe('SENT');
    const block = await blockOf(p.hash);
    await monitor().tick();
    expect(t.ps.state.enabled).toBe(true);

    // The block is invalidated (the payment returns to the mempool); a block on the new branch mines another
    // transaction of the hot wallet's key spending one of its inputs, and the branch grows past the old head.
    const spent = driver.decode((await client.getRawTransaction(p.hash))?.hex as string).inputs;
    await node.invalidateBlock(block);
    const key = await loadHotKey(t.ledger.stateDir, 'LTC');
    const wallet = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(key, true));
    const input = { ...(spent[0] as { txid: string; vout: number }), value: COIN };
    const plan = planPayment({ net: NET, wallet, utxos: [input], outputs: [{ script: wallet.script, value: COIN / 2n }], feeRate: 2n });
    if (plan.kind !== 'ok') throw new Error(plan.kind);
    const conflict = signPayment(NET, wallet, plan, key);
    await node.generateBlock([conflict.rawHex]);
    await node.mine(confirmations + 1);
    expect(await paidTo(p.address)).toEqual([]);

    const mon = monitor();
    await mon.tick();
    expect(t.alerts.map((a) => a.kind)).toContain('payment_reorged');
    expect(t.ps.state.enabled).toBe(false);
    // The record stays as it was (sent): no resend on its own, no second payment anywhere.
    expect(await status(p.id)).toBe('sent');
    expect(await node.rpc('getrawmempool')).toEqual([]);
    const [{ n }] = (await t.ledger.db.query('SELECT count(*)::int AS n FROM payserv_chain_txs')) as [{ n: number }];
    expect(n).toBe(1);
  });
});
