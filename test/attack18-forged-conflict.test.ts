// Outsider attack (issue 18, round 2): a node that forges the proof of failure of a payment that is mined.
//
// Check records a Bitcoin-family payment `send_error` ("nothing was paid, manual processing required") when
// the node shows, for every attempt, a mined transaction that is not ours spending one of its inputs. The
// spender is read from the node's word alone: gettxout (null), getblock (its JSON inputs) and
// getrawtransaction (bytes that hash to its txid, that do not pay our outputs). Its signature is never
// checked, although only the hot wallet's key can spend the hot wallet's outputs: a genuine conflict is
// always signed by that key, a forged one cannot be.
//
// Here the payment P1 is mined and buried on the real chain; the lying node answers -5 for P1 and shows, in
// P1's own block, a transaction X in its place, spending P1's input to a stranger (signed with another key).
// The promises asserted: a payment mined on the chain is never recorded failed (send_error), and never
// credited back by resolve (the miner would be paid on the chain and again from the restored balance).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { resolveCoin } from '../src/autopay/resolve.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { startLyingNode, type LyingNode } from './support/btc-lying-node.js';
import { LitecoindError, litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 22 };
const caller = 'test';
const confirmations = 6;

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

const freshKey = () => secp256k1.utils.randomPrivateKey();
const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(freshKey(), true));

async function status(id: number): Promise<string> {
  const [r] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'missing';
}

describePerDataPath('attack 18: a node forging the spender of a mined payment', () => {
  it('a payment mined and buried is never recorded send_error on a forged conflicting spend', async () => {
    node = await litecoind();
    client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
    liar = await startLyingNode(node);
    t = await testPayserv({
      seed: SEED,
      drivers: async (deps) => {
        driver = await ltcDriver(node, deps, [COIN], { url: liar.url });
        return new Map([['LTC', driver]]);
      },
    });
    const address = freshAddress();
    const m = await newMiner(t, 9200, '20', { tag: 'LTC', address });
    const id = await request(t, m, { amount: '0.2' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const p1 = r.txHash as string;
    const value = toBaseUnits(sub(parseAmount('0.2'), m.coin.withdrawalFee), 8);

    // P1 is mined and buried on the real chain: the miner is paid.
    const [block] = await node.mine(confirmations + 1);
    const height = (await node.height()) - confirmations;
    const real = await client.getRawTransaction(p1);
    expect(real?.blockhash).toBe(block);
    expect((await client.scanTxOutSet([`addr(${address})`])).unspents.map((u) => u.amount)).toEqual([value]);

    // The forged spender X: P1's input, to a stranger, signed with a stranger's key.
    const input = driver.decode(real?.hex as string).inputs[0] as { txid: string; vout: number };
    const strangerKey = freshKey();
    const stranger = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(strangerKey, true));
    const plan = planPayment({
      net: NET,
      wallet: stranger,
      utxos: [{ ...input, value: COIN }],
      outputs: [{ script: stranger.script, value: COIN / 2n }],
      feeRate: 2n,
    });
    if (plan.kind !== 'ok') throw new Error(plan.kind);
    const x = signPayment(NET, stranger, plan, strangerKey);
    const decoded = (await node.rpc('decoderawtransaction', [x.rawHex])) as Record<string, unknown>;

    liar.answer('getrawtransaction', async (p) => {
      if (p[0] === p1)
        throw new LitecoindError(
          'getrawtransaction',
          -5,
          'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.',
        );
      if (p[0] === x.txid) return { ...decoded, hex: x.rawHex, blockhash: block, confirmations: (await node.height()) - height + 1 };
      return undefined;
    });
    liar.lie('getblock', (res) => {
      const b = res as { hash: string; tx?: Array<Record<string, unknown>> };
      if (b.hash !== block || !Array.isArray(b.tx)) return res;
      b.tx = b.tx.map((tx) => (tx.txid === p1 ? { ...decoded, hex: x.rawHex } : tx));
      return b;
    });

    const c = await checkWithdrawal(t.ps, id, caller);
    console.log(`attack18-forged-conflict: P1 ${p1} mined in ${block}; forged spender ${x.txid}; Check: ${c.reply} ${c.message ?? ''}`);
    // The promise: paid on the chain, never recorded failed.
    expect.soft(await status(id)).not.toBe('send_error');

    // What follows a wrong send_error (evidence only): Resend must not pay again.
    const again = await resendWithdrawal(t.ps, id, caller);
    console.log(`attack18-forged-conflict: Resend: ${again.reply} ${again.message ?? ''}`);
    expect((await client.scanTxOutSet([`addr(${address})`])).unspents.map((u) => u.amount)).toEqual([value]);

    // And resolve (pscli resolve / autopay's), which credits back a failure the chain proved: the miner, paid on
    // the chain, would get the amount back into the balance too (paid twice at the next withdrawal).
    const res = await resolveCoin(t.ps, 'LTC', 'operator');
    console.log(`attack18-forged-conflict: resolve: ${JSON.stringify(res.resolutions.map((x) => [x.withdrawal, x.decision, x.reason]))}`);
    expect(res.resolutions.filter((x) => x.withdrawal === id).map((x) => x.decision)).not.toContain('credited');
  });
});
