// Bitcoin-family payouts on a real litecoind regtest node (issue 18): a single payout and a SendCoin
// batch end SENT with one output per withdrawal of amount − fee; a lost sendrawtransaction reply and a
// restart of the driver pay exactly once; a double-spend of one of a payment's inputs, mined and buried,
// proves the payment failed (send_error), and Resend pays once.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { NodeUnavailable, type ChainDriver } from '../src/chains/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { driverDeps, LTC_SETTINGS } from './support/chain-settings.js';
import { litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 11 };
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};
const caller = 'test';
/** The seeded coin's confirmations (src/writer/seed.ts, a coin without defaults). */
const confirmations = 6;

const litecoind = litecoindForFile();
let node: Litecoind;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;
let nextUser = 7000;

/** A payserv on a fresh ledger with a fresh LTC hot wallet, funded with one confirmed output per entry (satoshis). */
async function setup(fund: bigint[], o: { auto?: boolean; wrap?: (d: BtcDriver) => ChainDriver } = {}): Promise<void> {
  node = await litecoind();
  client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
  t = await testPayserv({
    seed: SEED,
    ...(o.auto ? { policies: { LTC: AUTO } } : {}),
    drivers: async (deps) => {
      driver = await ltcDriver(node, deps, fund);
      return new Map([['LTC', o.wrap ? o.wrap(driver) : driver]]);
    },
  });
}

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

async function processed(amount: string): Promise<{ id: number; m: Miner; value: bigint }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress() });
  const id = await request(t, m, { amount });
  expect(['PENDING', 'APPROVED']).toContain((await processWithdrawal(t.ps, id, caller)).reply);
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

/** What the chain's UTXO set holds for an address: its outputs' values. */
async function paidTo(address: string): Promise<bigint[]> {
  return (await client.scanTxOutSet([`addr(${address})`])).unspents.map((u) => u.amount);
}

/** The outputs of a transaction paying `address`. */
async function outputsTo(txid: string, address: string): Promise<bigint[]> {
  const tx = await client.getRawTransaction(txid);
  return (tx?.vout ?? []).filter((o) => o.scriptPubKey.addresses?.includes(address)).map((o) => o.value);
}

async function status(id: number): Promise<string> {
  const [r] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'missing';
}

describePerDataPath('Bitcoin-family payouts on litecoind regtest', () => {
  it('a single payout: tested, stored, broadcast, SENT after the confirmations with one output of amount − fee', async () => {
    await setup([5n * COIN]);
    expect(await driver.health()).toMatchObject({ ok: true });
    const { id, m, value } = await processed('1.5');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const hash = r.txHash as string;
    expect(await client.getMempoolEntry(hash)).not.toBeNull();
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await node.mine(confirmations - 1);
    expect((await checkWithdrawal(t.ps, id, caller)).message).toMatch(/5 of 6 confirmations/);
    await node.mine(1);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await outputsTo(hash, m.address)).toEqual([value]);
    expect(await paidTo(m.address)).toEqual([value]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('SendCoin: many withdrawals in one transaction, one output each, change back to the hot wallet', async () => {
    await setup([3n * COIN, 3n * COIN], { auto: true });
    const reqs = [];
    for (let i = 0; i < 8; i++) reqs.push(await processed(`0.${i + 1}`));
    const r = await sendCoin(t.ps, 'LTC', caller);
    expect(r.reply).toBe('SENDING');
    const hashes = new Set(r.results.map((x) => x.txHash));
    expect(hashes.size).toBe(1);
    const [hash] = [...hashes] as string[];
    const tx = await client.getRawTransaction(hash as string);
    expect(tx?.vout).toHaveLength(reqs.length + 1);
    await node.mine(confirmations);
    for (const q of reqs) expect((await checkWithdrawal(t.ps, q.id, caller)).reply).toBe('SENT');
    for (const q of reqs) expect(await outputsTo(hash as string, q.m.address)).toEqual([q.value]);
    expect(await outputsTo(hash as string, driver.address)).toHaveLength(1);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('SendCoin with a hot wallet that covers only part: the part is paid, the rest waits (SEND_RETRY)', async () => {
    await setup([COIN * 2n + COIN / 2n], { auto: true });
    const reqs = [];
    for (let i = 0; i < 4; i++) reqs.push(await processed('1'));
    const r = await sendCoin(t.ps, 'LTC', caller);
    const sending = r.results.filter((x) => x.reply === 'SENDING');
    const retry = r.results.filter((x) => x.reply === 'SEND_RETRY');
    expect(sending).toHaveLength(2);
    expect(retry).toHaveLength(2);
    expect(retry[0]?.message).toMatch(/hot wallet short/);
    await node.mine(confirmations);
    for (const q of reqs) expect(await paidTo(q.m.address)).toEqual(sending.some((s) => s.id === q.id) ? [q.value] : []);
    for (const s of sending) expect((await checkWithdrawal(t.ps, s.id, caller)).reply).toBe('SENT');
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it("another network's address, a bad checksum, an MWEB address, the hot wallet's own: declined with the reason, nothing sent", async () => {
    await setup([COIN]);
    const pub = secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true);
    const good = p2wpkhAddress(NET, pub);
    const bad = [
      [p2wpkhAddress(preset('LTC-mainnet'), pub), /LTC-mainnet/],
      [`${good.slice(0, -1)}${good.endsWith('q') ? 'p' : 'q'}`, /checksum/],
      ['tmweb1qq0hssfh3kjcp4v6xzz7hvcsatfmhq0shhgmx6ym05h0w3emt9jn9kqgc2m9u3ynrfwkcq8dfx4nmvfm9mz9ctp8nr7ps7f47qj5yqt6hm9e2hg', /MWEB/],
      // A payment to itself would be read as the payment's change by a fee bump (src/chains/btc/bump.ts).
      [driver.address, /hot wallet's own address/],
    ] as const;
    for (const [address, reason] of bad) {
      const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address });
      const id = await request(t, m, { amount: '1' });
      const r = await processWithdrawal(t.ps, id, caller);
      expect(r.reply).toBe('DECLINED');
      expect(r.message).toMatch(reason);
      // A decline: the original becomes processed, with a reversal row crediting it back (README "PayServ.Decline").
      expect(await status(id)).toBe('processed');
    }
    // One approved before this check existed is refused at signing, before anything is stored.
    const own = [{ withdrawalId: 1, address: driver.address, value: COIN / 10n, conflicts: [] }];
    expect(await t.ps.db.transaction((tx) => driver.sign(tx, own))).toEqual({
      kind: 'refused',
      reason: `withdrawal 1: address ${driver.address}: it is the hot wallet's own address: payserv does not pay itself`,
    });
    expect(await node.rpc('getrawmempool')).toEqual([]);
  });

  it('a lost sendrawtransaction reply, then a restart of the driver: exactly one payment', async () => {
    let lose = true;
    await setup([5n * COIN], {
      // The node takes the transaction; its reply never arrives.
      wrap: (d) =>
        new Proxy(d, {
          get(target, p) {
            if (p === 'broadcast' && lose)
              return async (raw: string) => {
                await target.broadcast(raw);
                throw new NodeUnavailable('reply lost');
              };
            const v = Reflect.get(target, p, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }),
    });
    const { id, m, value } = await processed('1');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(r.message).toMatch(/outcome unknown/);
    lose = false;
    // Asked again, nothing is paid again: the withdrawal is sending, the node holds the one transaction.
    expect((await approveWithdrawal(t.ps, id, caller)).txHash ?? r.txHash).toBe(r.txHash);
    expect(await status(id)).toBe('sending');
    expect(await node.rpc('getrawmempool')).toEqual([r.txHash]);
    // A restart: a new driver on the same database and journal.
    const restarted = new BtcDriver(
      LTC_SETTINGS(node.url),
      await loadHotKey(t.ledger.stateDir, 'LTC'),
      driverDeps({ ...t.ps, stateDir: t.ledger.stateDir }),
    );
    await restarted.start();
    (t.ps.drivers as Map<string, ChainDriver>).set('LTC', restarted);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await paidTo(m.address)).toEqual([value]);
    expect(await outputsTo(r.txHash as string, m.address)).toEqual([value]);
  });

  it('a broadcast the node never got: Check rebroadcasts the same bytes, one payment', async () => {
    await setup([5n * COIN], {
      wrap: (d) =>
        new Proxy(d, {
          get(target, p) {
            if (p === 'broadcast') return async () => Promise.reject(new NodeUnavailable('connection refused'));
            const v = Reflect.get(target, p, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        }),
    });
    const { id, m, value } = await processed('1');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(await client.getMempoolEntry(r.txHash as string)).toBeNull();
    (t.ps.drivers as Map<string, ChainDriver>).set('LTC', driver);
    // Unknown to the node, no input spent: not failed, the stored bytes are sent again.
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    expect(await client.getMempoolEntry(r.txHash as string)).not.toBeNull();
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await paidTo(m.address)).toEqual([value]);
  });

  it('a double-spend of one of its inputs mined and buried: SEND_ERROR with the proof, then Resend pays once', async () => {
    await setup([COIN, COIN, COIN]);
    const { id, m, value } = await processed('1.5');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const first = r.txHash as string;
    const spent = driver.decode((await client.getRawTransaction(first))?.hex as string).inputs;
    expect(spent).toHaveLength(2);
    // Another transaction of the hot wallet's key spends the first input elsewhere, and a block mines it.
    const key = await loadHotKey(t.ledger.stateDir, 'LTC');
    const wallet = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(key, true));
    const input = { ...(spent[0] as { txid: string; vout: number }), value: COIN };
    const plan = planPayment({ net: NET, wallet, utxos: [input], outputs: [{ script: wallet.script, value: COIN / 2n }], feeRate: 2n });
    if (plan.kind !== 'ok') throw new Error(plan.kind);
    const conflict = signPayment(NET, wallet, plan, key);
    await node.generateBlock([conflict.rawHex]);
    // Mined, not yet buried: nothing is concluded.
    const early = await checkWithdrawal(t.ps, id, caller);
    expect(early.reply).toBe('SENDING');
    expect(early.message).toMatch(/1 of 6 confirmations deep/);
    await node.mine(confirmations - 1);
    const failed = await checkWithdrawal(t.ps, id, caller);
    expect(failed.reply).toBe('SEND_ERROR');
    expect(failed.message).toContain(`spent by ${conflict.txid}`);
    expect(await paidTo(m.address)).toEqual([]);
    const again = await resendWithdrawal(t.ps, id, caller);
    expect(again.reply).toBe('SENDING');
    expect(again.txHash).not.toBe(first);
    // The new payment spends the first one's surviving input: the two can never both be mined.
    const second = driver.decode((await client.getRawTransaction(again.txHash as string))?.hex as string).inputs;
    expect(second).toContainEqual(spent[1]);
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await paidTo(m.address)).toEqual([value]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });
});
