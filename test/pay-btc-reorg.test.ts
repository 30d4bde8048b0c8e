// Reorgs on a real litecoind regtest node (issue 18), staged with invalidateblock:
// - before the confirmations: a payment mined, then its block invalidated and a longer branch without it
//   mined, is never recorded sent; it stays sending (back in the mempool) and ends sent once mined again,
//   paid once;
// - after the confirmations: a payment recorded sent whose block is invalidated, with a conflicting spend of
//   one of its inputs mined on the new branch, is `gone` to the finality watch: payment_reorged, payserv
//   disabled (fail-stop), nothing paid twice;
// - the depth of a payment's inputs: an output of the hot wallet is spent only once it is input_confirmations
//   deep (default: the coin's confirmations): with only a shallower one the payment waits (send_retry, nothing
//   stored or broadcast), and is paid, once, when the output is deep enough;
// - a reorg deeper than input_confirmations undoes the transaction that funded a payment's input, and a
//   transaction spending that funding transaction's own input is mined instead: the payment can never be
//   mined, yet nothing spends its inputs, so nothing proves it failed. It stays `sending`, Check's reason
//   names the missing funding transaction, input_missing is alerted (once), Resend is refused, nothing new
//   is broadcast and nothing is paid.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import type { BtcDriver, BtcSettings } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
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

async function setup(fund: bigint[], settings: Partial<BtcSettings> = {}): Promise<void> {
  node = await litecoind();
  client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ltcDriver(node, deps, fund, settings);
      return new Map([['LTC', driver]]);
    },
  });
}

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

/** A withdrawal requested and processed: its id, recipient and the value it must receive. */
async function processed(amount: string): Promise<{ id: number; address: string; value: bigint }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress() });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return { id, address: m.address, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

/** A withdrawal approved and broadcast: its id, recipient, the value it must receive and the txid. */
async function paying(amount: string): Promise<{ id: number; address: string; value: bigint; hash: string }> {
  const w = await processed(amount);
  const r = await approveWithdrawal(t.ps, w.id, caller);
  expect(r.reply).toBe('SENDING');
  return { ...w, hash: r.txHash as string };
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

async function storedTxs(): Promise<number> {
  const [r] = await t.ledger.db.query<{ n: number }>('SELECT count(*)::int AS n FROM payserv_chain_txs');
  return r?.n ?? -1;
}

/** Satoshis as an RPC amount (a decimal string, never a float). */
const ltc = (sat: bigint) => `${sat / COIN}.${(sat % COIN).toString().padStart(8, '0')}`;

const spendable = () => t.ps.db.transaction((tx) => driver.spendable(tx));

/**
 * A transaction of the node's wallet spending `txid`'s first input elsewhere (to the wallet itself): mined, it
 * makes `txid` impossible on that branch.
 */
async function conflictOf(txid: string): Promise<string> {
  const f = (await node.rpc('getrawtransaction', [txid, true])) as { vin: Array<{ txid: string; vout: number }> };
  const spent = f.vin[0] as { txid: string; vout: number };
  const prev = (await client.getRawTransaction(spent.txid))?.vout.find((o) => o.n === spent.vout);
  if (!prev) throw new Error(`no output ${spent.txid}:${spent.vout}`);
  const raw = (await node.rpc('createrawtransaction', [[spent], { [await node.minerAddress()]: ltc(prev.value - 100_000n) }])) as string;
  // The spent output named: the chain may not have it unspent when this is signed.
  const prevtx = { ...spent, scriptPubKey: prev.scriptPubKey.hex, amount: ltc(prev.value) };
  const signed = (await node.rpc('signrawtransactionwithwallet', [raw, [prevtx]], 'miner')) as { hex: string; complete: boolean };
  if (!signed.complete) throw new Error('the conflict is not fully signed');
  return signed.hex;
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

describePerDataPath('Bitcoin-family payment inputs deep enough (input_confirmations), on litecoind regtest', () => {
  it('only a 1-confirmation output in the hot wallet: the payment waits (send_retry), nothing stored, then is paid once it is deep enough', async () => {
    await setup([]);
    await node.fund(driver.address, 5n * COIN, { depth: 1 });
    const w = await processed('1.5');
    const first = await approveWithdrawal(t.ps, w.id, caller);
    expect(first.reply).toBe('SEND_RETRY');
    expect(first.message).toMatch(/hot wallet short: 0 spendable/);
    expect(first.message).toMatch(
      /500000000 more in 1 output\(s\) under input_confirmations = 6, spendable once that deep: [0-9a-f]{64}:\d+ \(1\)/,
    );
    expect(await storedTxs()).toBe(0);
    expect(await node.rpc('getrawmempool')).toEqual([]);
    expect(await spendable()).toBe(0n);

    // One block short of the depth: still waiting, still nothing stored.
    await node.mine(confirmations - 2);
    expect((await resendWithdrawal(t.ps, w.id, caller)).reply).toBe('SEND_RETRY');
    expect(await storedTxs()).toBe(0);
    expect(await node.rpc('getrawmempool')).toEqual([]);

    // Deep enough: paid, once.
    await node.mine(1);
    expect(await spendable()).toBe(5n * COIN);
    const paid = await resendWithdrawal(t.ps, w.id, caller);
    expect(paid.reply).toBe('SENDING');
    expect(await node.rpc('getrawmempool')).toEqual([paid.txHash]);
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, w.id, caller)).reply).toBe('SENT');
    expect(await paidTo(w.address)).toEqual([w.value]);
    expect(await storedTxs()).toBe(1);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it("a reorg deeper than input_confirmations undoes the input's funding transaction: stays sending, input_missing names it, nothing paid twice", async () => {
    await setup([], { inputConfirmations: 2 });
    const f = await node.fund(driver.address, 5n * COIN, { depth: 2 });
    const w = await processed('1.5');
    const p = await approveWithdrawal(t.ps, w.id, caller);
    expect(p.reply).toBe('SENDING');
    const hash = p.txHash as string;
    expect(driver.decode((await client.getRawTransaction(hash))?.hex as string).inputs).toEqual([{ txid: f.txid, vout: f.vout }]);
    expect(await node.rpc('getrawmempool')).toEqual([hash]);

    // An empty block on top (the funding 3 deep), then a reorg of those 3 blocks: on the new branch a
    // transaction spending the funding transaction's input elsewhere is mined, and the branch grows past the old head.
    await node.generateBlock([]);
    const conflict = await conflictOf(f.txid);
    await node.invalidateBlock(f.block as string);
    await node.generateBlock([conflict]);
    for (let i = 0; i < 5; i++) await node.generateBlock([]);
    expect(await node.rpc('getrawmempool')).toEqual([]);
    expect(await client.getTxOut(f.txid, f.vout, true)).toBeNull();

    const c = await checkWithdrawal(t.ps, w.id, caller);
    expect(c.reply).toBe('SENDING');
    expect(c.message).toContain(`${hash} is unknown to the node and its input ${f.txid}:${f.vout} exists nowhere`);
    expect(c.message).toContain(`funding transaction ${f.txid} is`);
    expect(await status(w.id)).toBe('sending');
    const raised = t.alerts.filter((a) => a.kind === 'input_missing');
    expect(raised).toHaveLength(1);
    expect(raised[0]?.reason).toContain(`withdrawal ${w.id} (LTC)`);
    expect(raised[0]?.reason).toContain(`funding transaction ${f.txid}`);
    expect(raised[0]?.details).toMatchObject({ withdrawal: w.id, coin: 'LTC', funding: [f.txid], inputs: [`${f.txid}:${f.vout}`] });

    // Checked again: the same episode, not alerted twice; the rebroadcast is refused by the node (its input is missing).
    expect((await checkWithdrawal(t.ps, w.id, caller)).reply).toBe('SENDING');
    expect(t.alerts.filter((a) => a.kind === 'input_missing')).toHaveLength(1);
    // Absence is no proof: no Resend of a payment still sending, nothing new stored or broadcast, nothing paid.
    const again = await resendWithdrawal(t.ps, w.id, caller);
    expect(again.reply).not.toBe('SENDING');
    expect(await status(w.id)).toBe('sending');
    expect(await storedTxs()).toBe(1);
    expect(await node.rpc('getrawmempool')).toEqual([]);
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, w.id, caller)).reply).toBe('SENDING');
    expect(await paidTo(w.address)).toEqual([]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });
});
