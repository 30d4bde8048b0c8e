// Outsider attack (issue 18, round 2): every address kind payserv accepts, in one SendCoin batch on the real node.
//
// payserv accepts P2PKH, P2SH, P2WPKH, P2WSH and P2TR addresses for Litecoin. A kind the node would not relay,
// accepted at Process, would hold every batch it is in (testmempoolaccept refuses the whole transaction): one
// miner's address choice stopping everybody's payouts. The promise asserted: each accepted kind is paid, in one
// batch, exactly its amount less fee, once; and the hot wallet's key is in none of payserv's log lines.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { scriptAddress } from '../src/chains/btc/address.js';
import { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { checkWithdrawal, processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 24 };
const caller = 'test';
/** Autopay-style limits: Process approves these withdrawals, SendCoin pays them. */
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};
const confirmations = 6;

const litecoind = litecoindForFile();
let node: Litecoind;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const xOnly = () => secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true).slice(1);
const KINDS: Record<string, () => Uint8Array> = {
  p2pkh: () => Uint8Array.from([0x76, 0xa9, 0x14, ...rand(20), 0x88, 0xac]),
  p2sh: () => Uint8Array.from([0xa9, 0x14, ...rand(20), 0x87]),
  p2wpkh: () => Uint8Array.from([0x00, 0x14, ...rand(20)]),
  p2wsh: () => Uint8Array.from([0x00, 0x20, ...rand(32)]),
  p2tr: () => Uint8Array.from([0x51, 0x20, ...xOnly()]),
};

describePerDataPath('attack 18: every address kind payserv accepts, in one batch', () => {
  it('P2PKH, P2SH, P2WPKH, P2WSH and P2TR: one batch, each paid its value once', async () => {
    node = await litecoind();
    client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
    t = await testPayserv({
      seed: SEED,
      policies: { LTC: AUTO },
      drivers: async (deps) => {
        driver = await ltcDriver(node, deps, [5n * COIN]);
        return new Map([['LTC', driver]]);
      },
    });
    const reqs: Array<{ kind: string; id: number; address: string; value: bigint }> = [];
    let user = 9300;
    for (const [kind, script] of Object.entries(KINDS)) {
      const address = scriptAddress(NET, script()) as string;
      const m = await newMiner(t, user++, '20', { tag: 'LTC', address });
      const id = await request(t, m, { amount: '0.3' });
      const p = await processWithdrawal(t.ps, id, caller);
      expect(p.reply, `${kind} ${address}: ${p.message}`).toBe('APPROVED');
      reqs.push({ kind, id, address, value: toBaseUnits(sub(parseAmount('0.3'), m.coin.withdrawalFee), 8) });
    }
    const batch = await sendCoin(t.ps, 'LTC', caller);
    console.log(`attack18-address-kinds: ${JSON.stringify(batch.results.map((r) => [r.reply, r.message]))}`);
    expect(batch.results.map((r) => r.reply)).toEqual(reqs.map(() => 'SENDING'));
    await node.mine(confirmations);
    for (const q of reqs) {
      expect((await checkWithdrawal(t.ps, q.id, caller)).reply, q.kind).toBe('SENT');
      expect(
        (await client.scanTxOutSet([`addr(${q.address})`])).unspents.map((u) => u.amount),
        q.kind,
      ).toEqual([q.value]);
    }
    // Keys never exposed: the hot wallet's secret (hex) is in no log line payserv wrote while paying.
    const secret = Buffer.from(await loadHotKey(t.ledger.stateDir, 'LTC')).toString('hex');
    expect(t.logs.length).toBeGreaterThan(0);
    expect(t.logs.filter((l) => l.toLowerCase().includes(secret))).toEqual([]);
  });
});
