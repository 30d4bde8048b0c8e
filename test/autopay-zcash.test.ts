// Autopay on Zcash (the node stand-in checks every transaction it is sent): a run pays every user over
// the threshold once, all in one transaction; a node that takes a transaction and loses the reply halts the coin, and resolve
// records it paid once the chain has it.
import { afterEach, expect, it, onTestFinished } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import { resolveCoin } from '../src/autopay/resolve.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let proxy: RpcProxy;

const SEED = { users: 0, blocks: 0, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 13 };
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};
const SETTINGS: AutopaySettings = { threshold: parseAmount('1'), requirePeers: 1, maxPerRun: 50 };
const CONFIRMATIONS = 10;

afterEach(async () => {
  await t.ledger.db.close();
});

async function setup(): Promise<void> {
  node = await standin();
  proxy = await startRpcProxy(node.url);
  onTestFinished(() => proxy.stop());
  t = await testPayserv({
    seed: SEED,
    policies: { ZEC: AUTO },
    drivers: async (deps) => new Map([['ZEC', await zcashDriver(node, deps, { fund: [50_000_000_000n], settings: { url: proxy.url } })]]),
  });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
}

const value = (m: Miner, earned: string) => toBaseUnits(sub(parseAmount(earned), m.coin.withdrawalFee), 8);

describePerDataPath('autopay on the Zcash stand-in', () => {
  it('pays every user over the threshold once, each exactly amount − fee on the chain; none under it', async () => {
    await setup();
    const over = [
      await newMiner(t, 9001, '2.5', { tag: 'ZEC', address: zcashAddress() }),
      await newMiner(t, 9002, '1', { tag: 'ZEC', address: zcashAddress() }),
    ];
    const under = await newMiner(t, 9003, '0.4', { tag: 'ZEC', address: zcashAddress() });
    const r = await runAutopay(t.ps, 'ZEC', SETTINGS, 'zcash run');
    expect([r.outcome, r.paid.count, r.paid.sum, r.belowThreshold]).toEqual(['done', 2, '3.5', 1]);
    // One transaction pays both (Zcash batches outputs).
    expect(node.mempool()).toHaveLength(1);
    await node.mine(CONFIRMATIONS);
    expect((await runAutopay(t.ps, 'ZEC', SETTINGS, 'settle')).confirmed.sort()).toEqual([...r.paid.withdrawals].sort());
    expect(node.paidTo(over[0]!.address)).toBe(value(over[0]!, '2.5'));
    expect(node.paidTo(over[1]!.address)).toBe(value(over[1]!, '1'));
    expect(node.paidTo(under.address)).toBe(0n);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('the node takes a transaction and loses the reply: halted; resolve waits for the chain, then records it paid, once', async () => {
    await setup();
    const m = await newMiner(t, 9101, '2', { tag: 'ZEC', address: zcashAddress() });
    proxy.dropReplyTo('sendrawtransaction');
    const r = await runAutopay(t.ps, 'ZEC', SETTINGS, 'lost reply');
    expect(r.outcome).toBe('halted');
    expect(r.reason).toMatch(/outcome unknown/);
    expect(node.mempool()).toHaveLength(1);
    const early = await resolveCoin(t.ps, 'ZEC', 'operator');
    expect(early.resolutions.map((x) => x.decision)).toEqual(['unknown']);
    expect(await runAutopay(t.ps, 'ZEC', SETTINGS, 'while halted')).toMatchObject({
      outcome: 'skipped',
      code: 'coin_halted',
      reason: expect.stringMatching(/halted since/),
    });
    await node.mine(CONFIRMATIONS);
    const res = await resolveCoin(t.ps, 'ZEC', 'operator');
    expect(res.resolutions.map((x) => x.decision)).toEqual(['paid']);
    expect(res.lines.at(-1)).toBe('Payouts unlocked');
    expect((await runAutopay(t.ps, 'ZEC', SETTINGS, 'after resolve')).paid.count).toBe(0);
    // The stand-in serves the whole file: what this miner's address received is the proof of once.
    expect(node.outputsTo(m.address)).toHaveLength(1);
    expect(node.paidTo(m.address)).toBe(value(m, '2'));
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });
});
