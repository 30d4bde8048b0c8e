// Outsider attack (issue 18, round 2): a reorg after `sent` that mines the payment's own replacement instead.
//
// With fee_bump = "rbf" a stale payment P1 is replaced by P1' (the same inputs and payees, a higher fee). Here the
// miner takes P1 (generateblock, as in test/pay-btc-rbf.test.ts), P1 is buried and the withdrawal recorded `sent`
// by P1; the finality watch follows P1's txid. Then a reorg: P1's block is invalidated and the new branch mines
// P1' (its bytes are in the database and the journal, anyone may broadcast them; a miner who kept it does).
// The miner is still paid, exactly once, by P1'. The watch asks only about P1: gone. payserv fail-stops with
// `payment_reorged`, whose instructions say: if the transaction can never be mined again (its inputs were
// taken: they were, by P1'), pay the withdrawals by hand. Check, for a payment in flight, recognises any attempt
// (and any transaction of the key paying the same outputs) as the payment; the watch does not.
//
// The promise asserted: a sent payment that is still paid on the chain (by its own replacement) is not reported
// gone; nothing tells the operator to pay it again.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { describePerDataPath } from './support/backend.js';
import { litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 28 };
const caller = 'test';
const confirmations = 6;

const litecoind = litecoindForFile({ mempoolReplacement: true });
let node: Litecoind;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

const monitor = () =>
  new Monitor(t.ps, { intervalMs: 60_000, stuckAfterMs: 3_600_000, nodeUnhealthyAfterMs: 600_000, finality: new Map([['LTC', 20]]) });

describePerDataPath('attack 18: a reorg that mines the payment s own replacement after it was recorded sent', () => {
  it('the replacement mined instead of the original: not gone, no payment_reorged, paid once', async () => {
    node = await litecoind();
    client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
    t = await testPayserv({
      seed: SEED,
      drivers: async (deps) => {
        driver = await ltcDriver(node, deps, [5n * COIN], { feeBump: 'rbf', replaceAfterMs: 0 });
        return new Map([['LTC', driver]]);
      },
    });
    const address = p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));
    const m = await newMiner(t, 9700, '20', { tag: 'LTC', address });
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const p1 = r.txHash as string;
    const p1raw = (await client.getRawTransaction(p1))?.hex as string;
    const value = toBaseUnits(sub(parseAmount('1'), m.coin.withdrawalFee), 8);

    // Stale at once (replace_after_s 0): Check replaces it; the node now holds P1'.
    const c = await checkWithdrawal(t.ps, id, caller);
    const p2 = c.txHash as string;
    expect(p2).not.toBe(p1);
    expect(await node.rpc('getrawmempool')).toEqual([p2]);
    const p2raw = (await client.getRawTransaction(p2))?.hex as string;

    // A miner takes the original; buried; recorded sent by P1 and watched.
    const block = await node.generateBlock([p1raw]);
    await node.mine(confirmations - 1);
    expect((await checkWithdrawal(t.ps, id, caller)).txHash).toBe(p1);
    await monitor().tick();
    expect(t.ps.state.enabled).toBe(true);

    // The reorg: P1's block invalidated, the new branch mines P1' and grows past the old head.
    await node.invalidateBlock(block);
    await node.generateBlock([p2raw]);
    await node.mine(confirmations + 1);
    expect((await client.scanTxOutSet([`addr(${address})`])).unspents.map((u) => [u.txid, u.amount])).toEqual([[p2, value]]);

    await monitor().tick();
    console.log(
      `attack18-reorg-replacement: P1 ${p1} reorged out, P1' ${p2} mined; payouts enabled: ${t.ps.state.enabled}; alerts: ${JSON.stringify(
        t.alerts.map((a) => [a.kind, a.reason.slice(0, 300)]),
      )}`,
    );
    expect(t.alerts.map((a) => a.kind)).not.toContain('payment_reorged');
    expect(t.ps.state.enabled).toBe(true);
  });
});
