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
import { expect, it } from 'vitest';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { caller, confirmations, ltcBench, processed, type LtcBench } from './support/btc-attack.js';

const bench = ltcBench(28, { mempoolReplacement: true });

const monitor = (b: LtcBench) =>
  new Monitor(b.t.ps, { intervalMs: 60_000, stuckAfterMs: 3_600_000, nodeUnhealthyAfterMs: 600_000, finality: new Map([['LTC', 20]]) });

describePerDataPath('attack 18: a reorg that mines the payment s own replacement after it was recorded sent', () => {
  it('the replacement mined instead of the original: not gone, no payment_reorged, paid once', async () => {
    const b = await bench({ settings: { feeBump: 'rbf', replaceAfterMs: 0 } });
    const w = await processed(b, 9700, '1');
    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    expect(r.reply).toBe('SENDING');
    const p1 = r.txHash as string;
    const p1raw = (await b.client.getRawTransaction(p1))?.hex as string;

    // Stale at once (replace_after_s 0): Check replaces it; the node now holds P1'.
    const p2 = (await checkWithdrawal(b.t.ps, w.id, caller)).txHash as string;
    expect(p2).not.toBe(p1);
    expect(await b.node.rpc('getrawmempool')).toEqual([p2]);
    const p2raw = (await b.client.getRawTransaction(p2))?.hex as string;

    // A miner takes the original; buried; recorded sent by P1 and watched.
    const block = await b.node.generateBlock([p1raw]);
    await b.node.mine(confirmations - 1);
    expect((await checkWithdrawal(b.t.ps, w.id, caller)).txHash).toBe(p1);
    await monitor(b).tick();
    expect(b.t.ps.state.enabled).toBe(true);

    // The reorg: P1's block invalidated, the new branch mines P1' and grows past the old head.
    await b.node.invalidateBlock(block);
    await b.node.generateBlock([p2raw]);
    await b.node.mine(confirmations + 1);
    expect((await b.client.scanTxOutSet([`addr(${w.address})`])).unspents.map((u) => [u.txid, u.amount])).toEqual([[p2, w.value]]);

    await monitor(b).tick();
    console.log(
      `attack18-reorg-replacement: P1 ${p1} reorged out, P1' ${p2} mined; payouts enabled: ${b.t.ps.state.enabled}; alerts: ${JSON.stringify(
        b.t.alerts.map((a) => [a.kind, a.reason.slice(0, 300)]),
      )}`,
    );
    expect(b.t.alerts.map((a) => a.kind)).not.toContain('payment_reorged');
    expect(b.t.ps.state.enabled).toBe(true);
  });
});
