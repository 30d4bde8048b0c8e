// A reorg after `sent` that mines the payment's own replacement instead (issue 18, finding 4; first an outsider's attack).
//
// With fee_bump = "rbf" a stale payment P1 is replaced by P1' (the same inputs and payees, a higher fee). Here the
// miner takes P1 (generateblock, as in test/pay-btc-rbf.test.ts), P1 is buried and the withdrawal recorded `sent`
// by P1; the finality watch follows P1's txid. Then a reorg: P1's block is invalidated and the new branch mines
// P1' (its bytes are in the database and the journal, anyone may broadcast them; a miner who kept it does).
// The miner is still paid, exactly once, by P1'. Before the fix the watch asked only about P1 (gone): payserv
// fail-stopped with `payment_reorged`, whose instructions lead to paying by hand. The watch now knows, as Check
// does, that a mined transaction spending the payment's inputs and paying all its outputs is the payment: it
// follows P1' to finality, the row and the log name both transactions, nothing is paid again.
//
// The promise asserted: a sent payment that is still paid on the chain (by its own replacement) is not reported
// gone; nothing tells the operator to pay it again; the withdrawal stays recorded sent by P1 (the signed ledger
// has no edge out of sent), paid once on the chain.
import { expect, it } from 'vitest';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal } from '../src/payserv/payouts.js';
import { getWithdrawalWithHistory } from '../src/store/reads.js';
import { describePerDataPath } from './support/backend.js';
import { caller, confirmations, ltcBench, paidTo, processed, statusOf, type LtcBench } from './support/btc-attack.js';

const bench = ltcBench(28, { mempoolReplacement: true });

const monitor = (b: LtcBench) =>
  new Monitor(b.t.ps, { intervalMs: 60_000, stuckAfterMs: 3_600_000, nodeUnhealthyAfterMs: 600_000, finality: new Map([['LTC', 20]]) });

describePerDataPath('a reorg that mines the payment s own replacement after it was recorded sent', () => {
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

    const watched = async () =>
      (
        await b.t.ledger.db.query<{ block_hash: string; final_at: Date | null; last_result: string }>(
          'SELECT block_hash, final_at, last_result FROM payserv_sent_watch WHERE hash = $1',
          [p1],
        )
      )[0];
    const p2block = (await b.client.getRawTransaction(p2))?.blockhash;
    await monitor(b).tick();
    expect(b.t.alerts.map((a) => a.kind)).not.toContain('payment_reorged');
    expect(b.t.ps.state.enabled).toBe(true);
    // The row follows P1' where it is mined, and says so; the payment is final once P1' is deep enough.
    const row = await watched();
    expect(row?.block_hash).toBe(p2block);
    expect(row?.last_result).toMatch(new RegExp(`mined as ${p2} \\(another transaction of the payment, fee \\+[1-9]\\d*\\)`));
    // The warning names both transactions and the fee difference (the replacement paid more).
    const warned = b.t.logs.find((l) => l.includes('another transaction of the same payment'));
    expect(warned).toContain(p1);
    expect(warned).toContain(p2);
    expect(warned).toMatch(/"fee_delta":"[1-9]\d*"/);
    expect(row?.final_at).toBeNull();
    await b.node.mine(20);
    await monitor(b).tick();
    expect((await watched())?.final_at).not.toBeNull();
    expect(b.t.alerts.map((a) => a.kind)).not.toContain('payment_reorged');
    expect(b.t.ps.state.enabled).toBe(true);

    // Paid once, recorded sent by P1 as the signed ledger has it (no corrective entry: sent is final); Check pays nothing more.
    expect(await statusOf(b, w.id)).toBe('sent');
    const history = (await getWithdrawalWithHistory(b.t.ps.db, w.id))?.history ?? [];
    expect(history.filter((e) => e.status === 'sent').map((e) => e.txHash)).toEqual([p1]);
    expect((await checkWithdrawal(b.t.ps, w.id, caller)).reply).not.toBe('SENDING');
    expect(await b.node.rpc('getrawmempool')).toEqual([]);
    expect(await paidTo(b, w.address)).toEqual([w.value]);
  });
});
