// A node whose testmempoolaccept answers no fee (Bitcoin Cash Node's shape), on a real litecoind regtest node behind a
// reply-shape proxy (test/support/bchn-shape-proxy.ts): with fee_estimate = "estimatefee" the driver reads the fee
// rate from the node's estimatefee, finds the node's kind from its help listing, and pays a payout end to end relying
// on its own fee (still checking `allowed` and the txid). A node whose listing says its testmempoolaccept answers the
// fee, and whose reply lacks it, is not relaxed: nothing is broadcast, nothing stored. This proves the no-fee path,
// not Bitcoin Cash itself (BCH signing: the vectors of test/unit/btc-*).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import type { BtcDriver, BtcSettings } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { parseRawTx } from '../src/chains/btc/rawtx.js';
import { fromHex } from '../src/chains/zcash/bytes.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { startBchnShapeProxy, type BchnShapeProxy } from './support/bchn-shape-proxy.js';
import { litecoindForFile, ltcDriver, txFee, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 18 };
const caller = 'test';
/** The seeded coin's confirmations (src/writer/seed.ts). */
const confirmations = 6;

const litecoind = litecoindForFile();
let node: Litecoind;
let client: BtcNode;
let proxy: BchnShapeProxy;
let t: TestPayserv;
let driver: BtcDriver;
let nextUser = 8000;

async function setup(settings: Partial<BtcSettings>, shape: { help?: boolean } = {}): Promise<void> {
  node = await litecoind();
  client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
  proxy = await startBchnShapeProxy(node, shape);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ltcDriver(node, deps, [5n * COIN], { url: proxy.url, ...settings });
      return new Map([['LTC', driver]]);
    },
  });
}

afterEach(async () => {
  client?.close();
  await proxy?.stop();
  await t?.ledger.db.close();
});

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

async function processed(amount: string): Promise<{ id: number; address: string; value: bigint }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress() });
  const id = await request(t, m, { amount });
  expect(['PENDING', 'APPROVED']).toContain((await processWithdrawal(t.ps, id, caller)).reply);
  return { id, address: m.address, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

/** A transaction's fee from the chain: its inputs' values (txindex) less its outputs. */
async function chainFee(txid: string): Promise<bigint> {
  const fee = await txFee(client, txid);
  if (fee === null) throw new Error(`${txid} unknown`);
  return fee;
}

describePerDataPath('a node whose testmempoolaccept answers no fee (Bitcoin Cash Node shape) on litecoind regtest', () => {
  it('fee_estimate = "estimatefee": the fee rate from estimatefee, the payout tested without a fee, sent and SENT with one output', async () => {
    await setup({ feeEstimate: 'estimatefee' });
    expect(await driver.health()).toMatchObject({ ok: true });
    const { id, address, value } = await processed('1.5');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply, r.message).toBe('SENDING');
    const hash = r.txHash as string;
    // The node's kind came from its listing; the fee rate from estimatefee; its testmempoolaccept answered no fee.
    expect(proxy.calls).toContain('estimatefee');
    expect(proxy.calls).not.toContain('estimatesmartfee');
    expect(proxy.mempoolReplies.length).toBeGreaterThan(0);
    for (const reply of proxy.mempoolReplies) {
      expect(reply).not.toContain('fees');
      expect(reply).toContain('"allowed":true');
    }
    expect(proxy.mempoolReplies.at(-1)).toContain(hash);
    expect(await client.getMempoolEntry(hash)).not.toBeNull();
    await node.mine(confirmations);
    const c = await checkWithdrawal(t.ps, id, caller);
    expect(c.reply, c.message).toBe('SENT');
    // One output of amount − fee to the miner; the fee at least the node's relay floor (1 litoshi per vbyte) times the vsize bound.
    const tx = await client.getRawTransaction(hash);
    expect(tx?.vout.filter((o) => o.scriptPubKey.addresses?.includes(address)).map((o) => o.value)).toEqual([value]);
    const vsize = BigInt(tx?.vsize as number);
    const fee = await chainFee(hash);
    expect(fee).toBeGreaterThanOrEqual(vsize);
    expect(fee).toBeLessThan(2n * vsize);
    expect(parseRawTx(fromHex(tx?.hex as string, 'tx')).inputs.length).toBe(1);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it("the rate is estimatefee's: a mempool's higher minimum fee (BCHN's rolling floor) is paid, one above fee_rate_max waits", async () => {
    await setup({ feeEstimate: 'estimatefee', feeRateMax: 10n });
    // 5,000 litoshi per 1,000 bytes: 5 per vbyte, above the floor of 1.
    proxy.setMempoolMinFee(5_000n);
    const a = await processed('1');
    const r = await approveWithdrawal(t.ps, a.id, caller);
    expect(r.reply, r.message).toBe('SENDING');
    const hash = r.txHash as string;
    const tx = await client.getRawTransaction(hash);
    const vsize = BigInt(tx?.vsize as number);
    const fee = await chainFee(hash);
    expect(fee).toBeGreaterThanOrEqual(5n * vsize);
    expect(fee).toBeLessThan(6n * vsize);
    // 11 per vbyte, above fee_rate_max 10: the payment waits, nothing tested or sent.
    proxy.setMempoolMinFee(11_000n);
    const b = await processed('1');
    const asked = proxy.calls.length;
    const w = await approveWithdrawal(t.ps, b.id, caller);
    expect(w.reply, w.message).not.toBe('SENDING');
    expect(w.message).toContain(
      'the node estimates 11 per vbyte to enter its mempool now (estimatefee), above the configured fee_rate_max 10',
    );
    expect(proxy.calls.slice(asked)).not.toContain('testmempoolaccept');
    expect(proxy.calls.slice(asked)).not.toContain('sendrawtransaction');
  });

  it('a node whose listing says its testmempoolaccept answers the fee, and whose reply lacks it: not relaxed, nothing sent or stored', async () => {
    await setup({ feeEstimate: 'floor' }, { help: false });
    const { id } = await processed('1');
    // A bad reply, as inconclusive as none: the signing transaction rolls back, nothing stored; the payment waits, the reason named.
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SEND_RETRY');
    expect(r.message).toContain('the node answered testmempoolaccept with a bad reply: allowed without vsize or fees');
    const [w] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
    expect(w?.status).toBe('send_retry');
    expect(proxy.calls).toContain('testmempoolaccept');
    expect(proxy.calls).not.toContain('sendrawtransaction');
    expect(proxy.calls).not.toContain('estimatefee');
    expect((await client.getBlockchainInfo()).blocks).toBeGreaterThan(0);
    const [{ n }] = (await t.ledger.db.query<{ n: string }>('SELECT count(*)::text AS n FROM payserv_utxo_reservations', [])) as [
      { n: string },
    ];
    expect(n).toBe('0');
  });
});
