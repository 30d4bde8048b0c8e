// Bitcoin-family payouts on a real litecoind regtest node (issue 18): a single payout and a SendCoin
// batch end SENT with one output per withdrawal of amount − fee; a lost sendrawtransaction reply and a
// restart of the driver pay exactly once; a double-spend of one of a payment's inputs, mined and buried,
// proves the payment failed (send_error), and Resend pays once.
import type { CoinChains } from '../src/chains/coin-chain.js';
import { fileSchema } from '../src/config/schema.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver, type BtcSettings } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { verifyBtcTx } from '../src/chains/btc/verify.js';
import { fromHex } from '../src/chains/zcash/bytes.js';
import { NodeUnavailable, type ChainDriver } from '../src/chains/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { runAutopay } from '../src/autopay/run.js';
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
async function setup(
  fund: bigint[],
  o: { auto?: boolean; wrap?: (d: BtcDriver) => ChainDriver; coins?: CoinChains; settings?: Partial<BtcSettings> } = {},
): Promise<void> {
  node = await litecoind();
  client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
  t = await testPayserv({
    seed: SEED,
    ...(o.coins ? { coins: o.coins } : {}),
    ...(o.auto ? { policies: { LTC: AUTO } } : {}),
    drivers: async (deps) => {
      driver = await ltcDriver(node, deps, fund, o.settings);
      return new Map([['LTC', o.wrap ? o.wrap(driver) : driver]]);
    },
  });
}

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

async function processed(amount: string, fee?: string): Promise<{ id: number; m: Miner; value: bigint }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress() });
  const id = await request(t, m, { amount, ...(fee ? { fee: parseAmount(fee) } : {}) });
  expect(['PENDING', 'APPROVED']).toContain((await processWithdrawal(t.ps, id, caller)).reply);
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), fee ? parseAmount(fee) : m.coin.withdrawalFee), 8) };
}

/** The driver with its dust check at request time hidden while `hidden()`: a dust withdrawal approved before the limit was known. */
const hidingDust = (hidden: () => boolean) => (d: BtcDriver) =>
  new Proxy(d, {
    get(target, p) {
      if (p === 'outputProblem' && hidden()) return undefined;
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });

/** 0.01 LTC less a fee of 0.00999: 1,000 litoshi, below Litecoin's P2WPKH dust threshold (2,940). */
const DUST = { amount: '0.01', fee: '0.00999' };

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

  it('an upper-case bech32 spelling: paid once, and Check knows the stored transaction pays it (the script, not the text)', async () => {
    const coins = fileSchema('payserv').parse({
      coins: { LTC: { chain: 'btc', node_url: 'http://127.0.0.1:1', network: { preset: 'LTC-regtest' } } },
    }).coins;
    await setup([5n * COIN], { coins });
    const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress().toUpperCase() });
    const id = await request(t, m, { amount: '1' });
    const p = await processWithdrawal(t.ps, id, caller);
    expect(['PENDING', 'APPROVED'], p.message).toContain(p.reply);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply, r.message).toBe('SENDING');
    await node.mine(confirmations);
    const c = await checkWithdrawal(t.ps, id, caller);
    expect(c.reply, c.message).toBe('SENT');
    expect(t.ps.state.enabled).toBe(true);
    expect(await paidTo(m.address.toLowerCase())).toEqual([toBaseUnits(sub(parseAmount('1'), m.coin.withdrawalFee), 8)]);
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
    expect(await t.ps.db.transaction((tx) => driver.sign(tx, own, { confirmations: 1 }))).toEqual({
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

describePerDataPath('Bitcoin-family batches on litecoind regtest: dust, weight, a P2PKH hot wallet', () => {
  it('a dust amount is declined at Process (below_dust), nothing reserved or sent', async () => {
    await setup([COIN], { auto: true });
    const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress() });
    const id = await request(t, m, { amount: DUST.amount, fee: parseAmount(DUST.fee) });
    const r = await processWithdrawal(t.ps, id, caller);
    expect(r).toMatchObject({ reply: 'DECLINED', code: 'below_dust' });
    expect(r.message).toMatch(/1000 base units is below LTC-regtest's dust threshold 2940/);
    expect(await status(id)).toBe('processed');
    expect(await node.rpc('getrawmempool')).toEqual([]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  for (const at of ['SendCoin', 'signing'] as const)
    it(`a dust withdrawal in a SendCoin batch, caught at ${at}: kept out with the reason, the others paid once in one transaction`, async () => {
      let hide = true;
      const atSigning = at === 'signing';
      await setup([3n * COIN], { auto: true, wrap: hidingDust(() => hide) });
      const reqs = [await processed('0.2'), await processed(DUST.amount, DUST.fee), await processed('0.3')];
      const dust = reqs[1] as (typeof reqs)[number];
      hide = atSigning;
      const r = await sendCoin(t.ps, 'LTC', caller);
      const of = (id: number) => r.results.find((x) => x.id === id);
      expect(of(dust.id)).toMatchObject(atSigning ? { reply: 'SEND_ERROR' } : { reply: 'DECLINED', code: 'below_dust' });
      expect(of(dust.id)?.message).toMatch(/below LTC-regtest's dust threshold 2940/);
      expect(await status(dust.id)).toBe(atSigning ? 'send_error' : 'processed');
      const paid = reqs.filter((q) => q !== dust);
      for (const q of paid) expect(of(q.id)?.reply).toBe('SENDING');
      const hashes = new Set(paid.map((q) => of(q.id)?.txHash));
      expect(hashes.size).toBe(1);
      const [hash] = [...hashes] as string[];
      expect((await client.getRawTransaction(hash as string))?.vout).toHaveLength(paid.length + 1);
      await node.mine(confirmations);
      for (const q of paid) expect((await checkWithdrawal(t.ps, q.id, caller)).reply).toBe('SENT');
      for (const q of paid) expect(await paidTo(q.m.address)).toEqual([q.value]);
      expect(await paidTo(dust.m.address)).toEqual([]);
      expect(await t.ledger.check('balanceerrors')).toEqual([]);
    });

  it('a batch over the weight limit is split into transactions under it, each output exactly once', async () => {
    const maxWeight = 1000;
    await setup([COIN, COIN, COIN], { auto: true, settings: { maxWeight } });
    const reqs = [];
    for (let i = 0; i < 8; i++) reqs.push(await processed(`0.1${i}`));
    const r = await sendCoin(t.ps, 'LTC', caller);
    expect(r.results.map((x) => x.reply)).toEqual(reqs.map(() => 'SENDING'));
    const hashes = [...new Set(r.results.map((x) => x.txHash as string))];
    expect(hashes.length).toBeGreaterThan(1);
    for (const h of hashes)
      expect(((await node.rpc('getrawtransaction', [h, true])) as { weight: number }).weight).toBeLessThanOrEqual(maxWeight);
    await node.mine(confirmations);
    for (const q of reqs) expect((await checkWithdrawal(t.ps, q.id, caller)).reply).toBe('SENT');
    for (const q of reqs) expect(await paidTo(q.m.address)).toEqual([q.value]);
    // Every output of the payments is one withdrawal's or change: nothing paid twice.
    const outputs = (await Promise.all(hashes.map((h) => client.getRawTransaction(h)))).flatMap((tx) => tx?.vout ?? []);
    expect(outputs.filter((o) => !o.scriptPubKey.addresses?.includes(driver.address))).toHaveLength(reqs.length);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('a P2PKH hot wallet pays a single payout and a batch; the independent verifier passes on what the node took', async () => {
    await setup([2n * COIN, 2n * COIN], { auto: true, settings: { wallet: 'p2pkh' } });
    expect(driver.address).toMatch(/^[mn]/);
    const one = await processed('0.5');
    const single = await approveWithdrawal(t.ps, one.id, caller);
    expect(single.reply).toBe('SENDING');
    const reqs = [];
    for (let i = 0; i < 5; i++) reqs.push(await processed(`0.2${i}`));
    const batch = await sendCoin(t.ps, 'LTC', caller);
    expect(batch.results.map((x) => x.reply)).toEqual(reqs.map(() => 'SENDING'));
    const hashes = [single.txHash as string, ...new Set(batch.results.map((x) => x.txHash as string))];
    expect(hashes).toHaveLength(2);
    for (const h of hashes) {
      const raw = (await client.getRawTransaction(h))?.hex as string;
      const prevouts = new Map<string, { value: bigint; script: Uint8Array }>();
      for (const i of driver.decode(raw).inputs) {
        const prev = (await client.getRawTransaction(i.txid))?.vout[i.vout];
        prevouts.set(`${i.txid}:${i.vout}`, { value: prev?.value as bigint, script: fromHex(prev?.scriptPubKey.hex as string, 'script') });
      }
      const v = verifyBtcTx(NET, raw, (id, vout) => prevouts.get(`${id}:${vout}`));
      expect(v.problems).toEqual([]);
      expect(v.txid).toBe(h);
      expect(v.fee).toBe((await client.getMempoolEntry(h))?.fees.base);
    }
    await node.mine(confirmations);
    for (const q of [one, ...reqs]) expect((await checkWithdrawal(t.ps, q.id, caller)).reply).toBe('SENT');
    for (const q of [one, ...reqs]) expect(await paidTo(q.m.address)).toEqual([q.value]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });
});

describePerDataPath('autopay of a Bitcoin-family coin on litecoind regtest', () => {
  it('a balance whose payment would be dust on this network: no request is made, the run reports it skipped', async () => {
    // A network whose dust limit (10 LTC, flat) is above the balance: the output could never be relayed.
    await setup([COIN], { auto: true, settings: { net: { ...NET, dust: { kind: 'fixed', min: 10n * COIN } } } });
    t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
    const m = await newMiner(t, nextUser++, '2', { tag: 'LTC', address: freshAddress() });
    const r = await runAutopay(t.ps, 'LTC', { threshold: parseAmount('1'), requirePeers: 0, maxPerRun: 50 }, 'dust run');
    expect(r.paid.count).toBe(0);
    expect(r.skipped).toContainEqual({
      userId: m.userId,
      reason: expect.stringMatching(/below LTC-regtest's dust threshold 1000000000/) as string,
    });
    const [made] = await t.ledger.db.query<{ n: string }>('SELECT count(*) AS n FROM finances_withdrawal_transaction WHERE user_id = $1', [
      m.userId,
    ]);
    expect(Number(made?.n)).toBe(0);
    expect(await node.rpc('getrawmempool')).toEqual([]);
  });
});
