// Outsider attack (issue 18, round 2): a node that lies about the hot wallet's UTXO values makes payserv
// burn the wallet's money on fees.
//
// The driver takes each input's value from scantxoutset (and a replacement's from getrawtransaction's JSON),
// computes the fee as inputs less outputs, and holds that fee to fee_rate_max; testmempoolaccept's fee is
// compared with it, but it is the same node's word. A P2PKH input's signature (legacy sighash, no FORKID)
// does not commit to the value it spends, so a node that under-reports a UTXO's value gets a valid
// transaction whose real fee is the difference: burnt (or, for a node run by a miner, taken). A P2WPKH
// input's BIP143 signature commits to the value: the real chain refuses the transaction.
//
// The promise asserted: whatever the node says, a transaction payserv signs never pays the chain more than
// fee_rate_max per vbyte (the hot wallet loses the payment plus at most that fee).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver, type BtcSettings } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { describePerDataPath } from './support/backend.js';
import { amountOf, sat, startLyingNode, type LyingNode } from './support/btc-lying-node.js';
import { litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 21 };
const caller = 'test';
const confirmations = 6;
/** The ceiling the driver is configured with (LTC_SETTINGS): base units per vbyte. */
const FEE_RATE_MAX = 100n;
/** What the lying node hides of each of the hot wallet's UTXOs. */
const HIDDEN = COIN / 2n;

const litecoind = litecoindForFile();
let node: Litecoind;
let liar: LyingNode;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;

afterEach(async () => {
  client?.close();
  await liar?.stop();
  await t?.ledger.db.close();
});

/** A payserv whose LTC driver asks the lying node; the hot wallet funded with one 1-LTC output (on the real node). */
async function setup(settings: Partial<BtcSettings>): Promise<void> {
  node = await litecoind();
  client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
  liar = await startLyingNode(node);
  // Every UTXO of the hot wallet is reported HIDDEN short; testmempoolaccept's fee is lowered to match (the
  // node's own view, consistent with its lie); a broadcast goes on to the real node with no fee limit.
  liar.lie('scantxoutset', (r) => {
    const scan = r as { unspents: Array<{ amount: unknown }>; total_amount: unknown };
    for (const u of scan.unspents) u.amount = amountOf(sat(u.amount) - HIDDEN);
    scan.total_amount = amountOf(sat(scan.total_amount) - HIDDEN * BigInt(scan.unspents.length));
    return scan;
  });
  liar.lie('testmempoolaccept', (r) => {
    const [a] = r as Array<{ fees?: { base: unknown } }>;
    if (a?.fees) a.fees.base = amountOf(sat(a.fees.base) - HIDDEN);
    return r;
  });
  liar.twist('testmempoolaccept', (p) => [p[0], 0]);
  liar.twist('sendrawtransaction', (p) => [p[0], 0]);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ltcDriver(node, deps, [COIN], { ...settings, url: liar.url });
      return new Map([['LTC', driver]]);
    },
  });
}

/** The real fee of a transaction on the real node: its inputs' values less its outputs, with its vsize. */
async function realFee(txid: string): Promise<{ fee: bigint; vsize: number }> {
  const tx = (await node.rpc('getrawtransaction', [txid, true])) as {
    vsize: number;
    vin: Array<{ txid: string; vout: number }>;
    vout: Array<{ value: unknown }>;
  };
  let fee = -tx.vout.reduce((a, o) => a + sat(o.value), 0n);
  for (const i of tx.vin) {
    const prev = (await node.rpc('getrawtransaction', [i.txid, true])) as { vout: Array<{ n: number; value: unknown }> };
    fee += sat(prev.vout.find((o) => o.n === i.vout)?.value);
  }
  return { fee, vsize: tx.vsize };
}

/** The hot wallet's value on the real chain. */
async function realBalance(): Promise<bigint> {
  return (await client.scanTxOutSet([`addr(${driver.address})`])).unspents.reduce((a, u) => a + u.amount, 0n);
}

async function paying(amount: string): Promise<{ id: number; value: bigint; hash: string }> {
  const address = p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));
  const m = await newMiner(t, 9100, '20', { tag: 'LTC', address });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  const r = await approveWithdrawal(t.ps, id, caller);
  return { id, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8), hash: (r.txHash as string | null) ?? '' };
}

describePerDataPath('attack 18: a node under-reporting the hot wallet UTXOs values', () => {
  it('P2PKH hot wallet: the transaction payserv signs pays the chain no more than fee_rate_max per vbyte', async () => {
    await setup({ wallet: 'p2pkh' });
    const before = await realBalance();
    expect(before).toBe(COIN);
    const p = await paying('0.2');
    const mempool = (await node.rpc('getrawmempool')) as string[];
    if (p.hash && mempool.includes(p.hash)) {
      await node.mine(confirmations);
      const { fee, vsize } = await realFee(p.hash);
      await checkWithdrawal(t.ps, p.id, caller);
      const [row] = await t.ledger.db.query<{ max_fee: string }>('SELECT max_fee::text FROM payserv_chain_txs WHERE hash = $1', [p.hash]);
      // Evidence, printed: what payserv believed the fee was, what the chain took.
      console.log(
        `attack18-fee-lie: tx ${p.hash} vsize ${vsize}: payserv stored max_fee ${row?.max_fee}, the chain took ${fee}; ceiling ${FEE_RATE_MAX * BigInt(vsize)}`,
      );
      expect(fee).toBeLessThanOrEqual(FEE_RATE_MAX * BigInt(vsize));
      expect(before - (await realBalance())).toBeLessThanOrEqual(p.value + FEE_RATE_MAX * BigInt(vsize));
    } else {
      // The defence: nothing reached the chain, nothing was burnt.
      expect(await realBalance()).toBe(before);
    }
  });

  it('P2WPKH hot wallet (control): BIP143 commits to the value, the real node refuses, nothing is burnt', async () => {
    await setup({ wallet: 'p2wpkh' });
    const before = await realBalance();
    const p = await paying('0.2');
    await node.mine(confirmations);
    if (p.hash) await checkWithdrawal(t.ps, p.id, caller);
    expect(await realBalance()).toBe(before);
    expect(await node.rpc('getrawmempool')).toEqual([]);
  });
});
