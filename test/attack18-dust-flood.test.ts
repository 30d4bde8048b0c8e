// Outsider attack (issue 18, round 2): anyone floods the hot wallet with small outputs and payouts stop.
//
// The hot wallet's address is public (every payment's change goes back to it). The node client refuses a
// scantxoutset reply of more than 50,000 UTXOs (UTXOS_MAX, README: "more than 50,000 UTXOs are refused:
// consolidate"), and both payments and a rotation's sweep read the wallet through that scan. An outsider with
// no access at all sends 52,500 outputs of 3,000 litoshi (just above Litecoin's P2WPKH dust threshold, 2,940)
// to the hot wallet: about 1.6 LTC. payserv has no consolidation of its own.
//
// The promise asserted: coins sent to the hot wallet by a stranger do not stop payouts: a withdrawal is paid.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode, UTXOS_MAX } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { fromHex } from '../src/chains/zcash/bytes.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 26 };
const caller = 'test';
const PER_TX = 2_500;
const DUST_PLUS = 3_000n;

const litecoind = litecoindForFile();
let node: Litecoind;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

describePerDataPath('attack 18: a stranger flooding the hot wallet with small outputs', () => {
  it('more than 50,000 outputs sent to the hot wallet by a stranger: payouts still pay', { timeout: 600_000 }, async () => {
    node = await litecoind();
    client = new BtcNode({ url: node.url, timeoutMs: 120_000, responseBytesMax: 256 * 1024 * 1024 });
    t = await testPayserv({
      seed: SEED,
      drivers: async (deps) => {
        driver = await ltcDriver(node, deps, [5n * COIN], { timeoutMs: 120_000 });
        return new Map([['LTC', driver]]);
      },
    });

    // The stranger: a key of their own, funded once, then transactions of 2,500 outputs each to the hot wallet's script, one a block.
    const key = secp256k1.utils.randomPrivateKey();
    const stranger = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(key, true));
    const hot = (await client.scanTxOutSet([`addr(${driver.address})`])).unspents[0]?.scriptPubKey as string;
    const target = fromHex(hot, 'script');
    const funded = await node.fund(p2wpkhAddress(NET, stranger.publicKey), 3n * COIN);
    let utxo = { txid: funded.txid, vout: funded.vout, value: 3n * COIN };
    const rounds = Math.ceil((UTXOS_MAX + 1) / PER_TX);
    for (let i = 0; i < rounds; i++) {
      const outputs = Array.from({ length: PER_TX }, () => ({ script: target, value: DUST_PLUS }));
      const plan = planPayment({ net: NET, wallet: stranger, utxos: [utxo], outputs, feeRate: 1n });
      if (plan.kind !== 'ok') throw new Error(`round ${i}: ${plan.kind}`);
      const tx = signPayment(NET, stranger, plan, key);
      await node.generateBlock([tx.rawHex]);
      utxo = { txid: tx.txid, vout: PER_TX, value: plan.change as bigint };
    }

    const address = p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));
    const m = await newMiner(t, 9500, '20', { tag: 'LTC', address });
    const id = await request(t, m, { amount: '0.2' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    const r = await approveWithdrawal(t.ps, id, caller).catch((e: unknown) => {
      // A payout call must answer (a refusal, a wait), never throw: an exception here is the evidence.
      console.log(
        `attack18-dust-flood: Approve threw ${(e as Error).name}: ${(e as Error).message}; payouts enabled: ${t.ps.state.enabled}`,
      );
      return null;
    });
    const [w] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
    console.log(
      `attack18-dust-flood: ${rounds * PER_TX} outputs of ${DUST_PLUS} sent to the hot wallet; Approve: ${r?.reply ?? 'threw'} ${r?.message ?? ''}; ` +
        `withdrawal ${w?.status}; alerts ${JSON.stringify(t.alerts.map((a) => a.kind))}`,
    );
    expect(r?.reply).toBe('SENDING');
  });
});
