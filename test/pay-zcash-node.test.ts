// Zcash payouts against the stand-in as zebrad and as zcashd (issue 14): a zebrad node pays (no
// getconnectioncount), a syncing node holds payouts, a node answering another txid fail-stops with
// nothing paid twice and nothing recorded failed, coinbase outputs are never spent, a dropped dust change
// lowers the fee to that of the outputs built, an expiry read from a node on another chain never
// records send_error, and a sent payment is watched to finality or proved gone after a deep reorg.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { ChainIdentityError, type Attempt } from '../src/chains/driver.js';
import type { ZcashDriver } from '../src/chains/zcash/driver.js';
import { estimateTransparentFeeZat } from '../src/chains/zcash/fee.js';
import { ZcashRpc } from '../src/chains/zcash/rpc.js';
import { startZcashStandin, type ZcashStandin, type ZcashStandinOptions } from '../src/devnet/zcash-standin.js';
import { zcashAddressScript } from '../src/chains/address.js';
import { buildTransparentTx } from '../src/chains/zcash/build.js';
import { fromHex } from '../src/chains/zcash/bytes.js';
import { signTransparentTx } from '../src/chains/zcash/sign.js';
import { NU6_3_BRANCH_ID } from '../src/devnet/zcash-standin.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver } from './support/chains.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

let node: ZcashStandin;
let t: TestPayserv;
let driver: ZcashDriver;
let rpc: ZcashRpc;
let nextUser = 5000;

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 9 };
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};
const caller = 'test';
const confirmations = 10;

async function setup(
  fund: bigint[],
  o: { node?: Partial<ZcashStandinOptions>; auto?: boolean; coinbase?: bigint[]; minPeers?: number } = {},
): Promise<void> {
  node = await startZcashStandin({ network: 'mainnet', ...o.node });
  rpc = new ZcashRpc({ url: node.url, timeoutMs: 5_000 });
  t = await testPayserv({
    seed: SEED,
    ...(o.auto ? { policies: { ZEC: AUTO } } : {}),
    drivers: async (deps) => {
      driver = await zcashDriver(node, deps, { fund, settings: { minPeers: o.minPeers ?? 0 } });
      for (const z of o.coinbase ?? []) await node.mineCoinbase(driver.address, z);
      return new Map([['ZEC', driver]]);
    },
  });
}

afterEach(async () => {
  rpc?.close();
  await node?.stop();
  await t?.ledger.db.close();
});

async function processed(amount = '1'): Promise<{ id: number; m: Miner; value: bigint }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
  const id = await request(t, m, { amount });
  expect(['PENDING', 'APPROVED']).toContain((await processWithdrawal(t.ps, id, caller)).reply);
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

async function status(id: number): Promise<string> {
  const [r] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'missing';
}

async function attemptOf(hash: string): Promise<Attempt> {
  const [r] = await t.ledger.db.query<{ raw: string }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [hash]);
  if (!r) throw new Error(`no stored ${hash}`);
  return { hash, raw: r.raw, signedAt: new Date() };
}

describePerDataPath('Zcash payouts on zebrad and zcashd', () => {
  it.each(['zebrad', 'zcashd'] as const)('pays on %s: peers from getpeerinfo, SENT with the block it was mined in', async (mode) => {
    await setup([5_000_000_000n], { node: { mode } });
    // zebrad does not serve getconnectioncount; zcashd does: the driver never asks it.
    const h = await driver.health();
    expect(h).toMatchObject({ ok: true, details: { peers: 8 } });
    const { id, m, value } = await processed('1.5');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(node.paidTo(m.address)).toBe(value);
    const v = await driver.verdict([await attemptOf(r.txHash as string)], { now: new Date(), confirmations });
    expect(v.kind).toBe('confirmed');
    const mined = await rpc.getRawTransaction(r.txHash as string);
    expect(v).toMatchObject({ block: { blockNumber: mined?.height, blockHash: mined?.blockhash } });
    expect(await rpc.getBlockHash(mined?.height as number)).toBe(mined?.blockhash);
  });

  it.each(['zebrad', 'zcashd'] as const)('a syncing %s holds payouts (send_retry), then pays once it has caught up', async (mode) => {
    await setup([5_000_000_000n], { node: { mode } });
    node.setSyncing(500);
    const { id } = await processed('1');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SEND_RETRY');
    expect(r.message).toMatch(/syncing|initial block download/);
    expect(node.received()).toHaveLength(0);
    // zebrad: a quiet spell on a synced node (its estimate a few blocks ahead) is not syncing.
    if (mode === 'zebrad') {
      node.setSyncing(5);
      expect((await driver.health()).ok).toBe(true);
    }
    node.setSyncing(0);
    expect((await resendWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
  });

  it('too few peers (getpeerinfo) holds payouts', async () => {
    await setup([5_000_000_000n], { minPeers: 1 });
    expect((await driver.health()).ok).toBe(true);
    node.setPeers(0);
    const h = await driver.health();
    expect(h.ok).toBe(false);
    expect(h.reason).toMatch(/0 peers/);
  });

  it('a node answering another txid for our bytes: payouts stop, the payment stays sending, nothing paid twice or recorded failed', async () => {
    await setup([5_000_000_000n]);
    const a = await processed('1');
    const b = await processed('1');
    node.lieAboutTxid(true);
    const r = await approveWithdrawal(t.ps, a.id, caller);
    expect(r.reply).toBe('SENDING');
    expect(r.message).toMatch(/payouts stopped.*answered with txid/);
    expect(t.ps.state.enabled).toBe(false);
    expect(t.alerts.some((x) => x.kind === 'fail_stop' && /answered with txid/.test(x.reason))).toBe(true);
    expect(await status(a.id)).toBe('sending');
    // Nothing else is paid while payouts are stopped; Check changes nothing either.
    expect((await approveWithdrawal(t.ps, b.id, caller)).reply).not.toBe('SENDING');
    expect((await checkWithdrawal(t.ps, a.id, caller)).reply).not.toBe('SEND_ERROR');
    await node.mine(confirmations);
    expect(await status(a.id)).toBe('sending');
    expect(await status(b.id)).not.toBe('sending');
    expect(node.received()).toHaveLength(1);
    expect(node.paidTo(a.m.address)).toBe(a.value);
    expect(node.paidTo(b.m.address)).toBe(0n);
  });

  it('coinbase outputs in the hot wallet are never chosen as inputs', async () => {
    // A small ordinary output and a large coinbase one: the payment the ordinary one cannot cover waits.
    await setup([20_000n], { coinbase: [9_000_000_000n] });
    const cb = node.outputsTo(driver.address).filter((o) => o.value === 9_000_000_000n);
    expect(cb).toHaveLength(1);
    const { id } = await processed('1');
    await t.ledger.db.transaction(async (tx) => expect(await driver.spendable(tx)).toBe(20_000n));
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SEND_RETRY');
    expect(r.message).toMatch(/short/);
    expect(node.received()).toHaveLength(0);
    expect(node.rejected()).toEqual([]);
    expect(t.logs.some((l) => /coinbase/.test(JSON.stringify(l)))).toBe(true);
    // An ordinary output that covers it is spent; the coinbase output stays unspent.
    await node.fund(driver.address, 5_000_000_000n);
    const paid = await resendWithdrawal(t.ps, id, caller);
    expect(paid.reply).toBe('SENDING');
    const sent = node.received()[0];
    expect(sent?.tx.inputs.map((i) => Buffer.from(i.prevout.txid).reverse().toString('hex'))).not.toContain(cb[0]?.txid);
    expect(node.outputsTo(driver.address).find((o) => o.txid === cb[0]?.txid)?.spentBy).toBeNull();
  });

  it('the stand-in refuses a transparent spend of a coinbase output, immature or not, as the network does', async () => {
    await setup([], { coinbase: [5_000_000_000n] });
    const [u] = await rpc.getAddressUtxos(driver.address);
    if (!u) throw new Error('no coinbase output listed');
    expect((await rpc.getRawTransaction(u.txid))?.vin?.[0]?.coinbase).toBeDefined();
    const key = await loadHotKey(t.ledger.stateDir, 'ZEC');
    const spend = () => {
      const unsigned = buildTransparentTx({
        version: 5,
        branchId: NU6_3_BRANCH_ID,
        expiryHeight: node.height() + 40,
        inputs: [{ txid: u.txid, vout: u.outputIndex, value: u.satoshis, scriptPubKey: fromHex(u.script) }],
        outputs: [{ scriptPubKey: zcashAddressScript('mainnet', zcashAddress()), value: u.satoshis - 10_000n }],
      });
      return signTransparentTx(unsigned, unsigned.prevouts, [key]).rawHex;
    };
    await expect(rpc.sendRawTransaction(spend())).rejects.toThrow(/bad-txns-premature-spend-of-coinbase/);
    await node.mine(100);
    await expect(rpc.sendRawTransaction(spend())).rejects.toThrow(
      /-25: failed to validate tx: WtxId\("private"\), error: .*bad-txns-coinbase-spend-has-transparent-outputs/,
    );
    expect(node.received()).toHaveLength(0);
  });

  it('a dropped dust change: the transaction pays the fee of the outputs it has (no extra input, no wait), maxFee what it pays', async () => {
    await setup([], { auto: true });
    const a = await processed('0.5');
    const b = await processed('0.7');
    const scripts = [a.m.address, b.m.address].map((x) => zcashAddressScript('mainnet', x));
    const hotScript = zcashAddressScript('mainnet', driver.address);
    const noChange = estimateTransparentFeeZat(1, scripts);
    const withChange = estimateTransparentFeeZat(1, [...scripts, hotScript]);
    // Two outputs and a change make three logical actions, two outputs two: the change costs more than it is worth.
    expect(withChange).toBeGreaterThan(noChange);
    const dust = 20n;
    await node.fund(driver.address, a.value + b.value + noChange + dust);
    const r = await sendCoin(t.ps, 'ZEC', caller);
    expect(r.results.map((x) => x.reply)).toEqual(['SENDING', 'SENDING']);
    const sent = node.received()[0];
    expect(sent?.tx.outputs).toHaveLength(2);
    const [row] = await t.ledger.db.query<{ max_fee: string }>('SELECT max_fee::text FROM payserv_chain_txs WHERE hash = $1', [sent?.txid]);
    expect(BigInt(row?.max_fee ?? -1)).toBe(noChange + dust);
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, a.id, caller)).reply).toBe('SENT');
    expect(node.rejected()).toEqual([]);
  });

  it('expiry read from a node restarted on a fresh chain or another network never records send_error', async () => {
    await setup([5_000_000_000n], { node: { mode: 'zebrad' } });
    const { id } = await processed('2');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    // The genesis is pinned on the host at first sight.
    const pin = join(t.ledger.stateDir, 'chains', 'ZEC-mainnet.json');
    expect(existsSync(pin)).toBe(true);
    expect(JSON.parse(readFileSync(pin, 'utf8'))).toMatchObject({ chain: 'mainnet', genesis: node.genesisHash() });
    // A fresh chain (same network, another genesis) far past the expiry height, the payment in no block.
    node.restart({ genesisSeed: 'fresh', startHeight: node.height() + 500 });
    const c1 = await checkWithdrawal(t.ps, id, caller);
    expect(c1.reply).toBe('SENDING');
    expect(c1.message).toMatch(/genesis/);
    expect(await status(id)).toBe('sending');
    expect((await driver.health()).reason).toMatch(/genesis/);
    // Another network.
    node.restart({ network: 'testnet', genesisSeed: 'testnet', startHeight: node.height() + 500 });
    const c2 = await checkWithdrawal(t.ps, id, caller);
    expect(c2.reply).toBe('SENDING');
    expect(c2.message).toMatch(/chain testnet/);
    expect(await status(id)).toBe('sending');
    await expect(driver.verdict([await attemptOf(r.txHash as string)], { now: new Date(), confirmations })).rejects.toBeInstanceOf(
      ChainIdentityError,
    );
    expect(t.alerts.filter((a) => a.kind === 'fail_stop')).toEqual([]);
  });

  it('a head gone back further than the confirmations is not the chain either', async () => {
    await setup([5_000_000_000n]);
    const h = node.height();
    expect((await driver.health()).ok).toBe(true);
    // The same chain (same genesis), but a node far behind the one asked before.
    node.restart({ genesisSeed: 'stand-in', startHeight: h - 50 });
    expect((await driver.health()).reason).toMatch(/behind the highest head seen/);
  });

  it('watch: settling, then final at the finality depth; gone only with proof after a reorg deeper than the confirmations', async () => {
    await setup([5_000_000_000n, 5_000_000_000n]);
    const finality = 20;
    const { id } = await processed('1');
    const r = await approveWithdrawal(t.ps, id, caller);
    const hash = r.txHash as string;
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    const v = await driver.verdict([await attemptOf(hash)], { now: new Date(), confirmations });
    if (v.kind !== 'confirmed') throw new Error(`not confirmed: ${v.kind}`);
    const seen = v.block;
    expect(await driver.watch(hash, seen, { finality })).toMatchObject({ kind: 'settling', confirmations, block: seen });
    // Absence alone proves nothing: without where it was seen, or with its block still in place.
    expect((await driver.watch('ab'.repeat(32), null, { finality })).kind).toBe('unknown');
    expect((await driver.watch('ab'.repeat(32), seen, { finality })).kind).toBe('unknown');

    // A reorg deeper than the confirmations that mines it again elsewhere: settling in its new block.
    await node.reorg(confirmations + 1);
    const moved = await driver.watch(hash, seen, { finality });
    expect(moved.kind).toBe('settling');
    if (moved.kind !== 'settling') return;
    expect(moved.block.blockHash).not.toBe(seen.blockHash);
    await node.mine(finality);
    const final = await driver.watch(hash, moved.block, { finality });
    expect(final.kind).toBe('final');

    // Another payment, and a reorg deeper than the confirmations that leaves it out (a double spend won).
    const second = await processed('1');
    const r2 = await approveWithdrawal(t.ps, second.id, caller);
    const hash2 = r2.txHash as string;
    await node.mine(confirmations);
    expect((await checkWithdrawal(t.ps, second.id, caller)).reply).toBe('SENT');
    const v2 = await driver.verdict([await attemptOf(hash2)], { now: new Date(), confirmations });
    if (v2.kind !== 'confirmed') throw new Error(`not confirmed: ${v2.kind}`);
    await node.reorg(confirmations + 2, [hash2]);
    const gone = await driver.watch(hash2, v2.block, { finality });
    expect(gone.kind).toBe('gone');
    if (gone.kind === 'gone') expect(gone.proof).toMatch(new RegExp(`block ${v2.block.blockHash} at height ${v2.block.blockNumber}`));
    // The first payment, final before, is still final.
    expect((await driver.watch(hash, moved.block, { finality })).kind).toBe('final');
  });
});
