// Regression (from an outsider's attack on issue 18): a database attacker rolls back ONE member of a SendCoin batch.
//
// SendCoin pays three withdrawals A, B, C in one transaction P (in the node's mempool). The attacker (SQL only,
// no keys, no host) cuts B's signed history back to its last entry before `sending` (every row left validly
// signed: B looks approved and never paid), and leaves P's payserv_chain_txs row and reservations alone (A and C
// still name them). The hot wallet holds other UTXOs, so a second payment to B would not conflict with P.
// Then SendCoin, Approve, Resend and Check are asked for B (the attack: get B paid again, by another transaction).
//
// The promise asserted: B's address receives exactly one output (P's), A and C are paid once, nothing else is broadcast.
import { expect, it } from 'vitest';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { asAttacker, cutHistory, STATUS_SIGNATURES } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { AUTO, caller, COIN, confirmations, ltcBench, processed } from './support/btc-attack.js';

const bench = ltcBench(183);

describePerDataPath('Bitcoin family: one member of a SendCoin batch rolled back by a database attacker', () => {
  it("B's history cut back to approved after the batch's broadcast: B is not paid again", async () => {
    const b = await bench({ fund: [COIN, COIN, COIN], policies: { LTC: AUTO } });
    const ws = [
      await processed(b, 9701, '0.2', { reply: 'APPROVED' }),
      await processed(b, 9702, '0.2', { reply: 'APPROVED' }),
      await processed(b, 9703, '0.2', { reply: 'APPROVED' }),
    ];
    const victim = ws[1] as (typeof ws)[number];
    const [before] = await b.t.ledger.db.query<{ seq: number }>(
      `SELECT max(seq)::int AS seq FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`,
      [victim.id],
    );
    const r = await sendCoin(b.t.ps, 'LTC', caller);
    expect(r.reply, r.message).toBe('SENDING');
    const hashes = new Set(r.results.map((x) => x.txHash));
    expect(hashes.size).toBe(1);
    const p = [...hashes][0] as string;
    expect(await b.node.rpc('getrawmempool')).toEqual([p]);

    await asAttacker(b.t.ledger.db, cutHistory(victim.id, before?.seq as number));

    const outcomes: string[] = [];
    for (const [name, call] of [
      ['SendCoin', async () => (await sendCoin(b.t.ps, 'LTC', caller)).results[0] ?? { reply: 'none', message: '' }],
      ['Approve', () => approveWithdrawal(b.t.ps, victim.id, caller)],
      ['Resend', () => resendWithdrawal(b.t.ps, victim.id, caller)],
      ['Check', () => checkWithdrawal(b.t.ps, victim.id, caller)],
    ] as const) {
      const o = await call().catch((e: unknown) => ({ reply: 'threw', message: (e as Error).message }));
      outcomes.push(`${name}: ${o.reply} ${o.message ?? ''}`);
    }
    console.log(
      `batch rollback: ${outcomes.join(' | ')}; payouts enabled: ${b.t.ps.state.enabled}; alerts ${JSON.stringify(b.t.alerts.map((a) => a.kind))}`,
    );
    expect(await b.node.rpc('getrawmempool')).toEqual([p]);
    await b.node.mine(confirmations);
    for (const w of ws) {
      const paid = (await b.client.scanTxOutSet([`addr(${w.address})`])).unspents;
      expect(paid.map((u) => [u.txid, u.amount])).toEqual([[p, w.value]]);
    }
    // The tampering is seen: payouts stop (as for a single payment rolled back: test/pay-btc-rollback.test.ts).
    expect(b.t.ps.state.enabled).toBe(false);
  });
});
