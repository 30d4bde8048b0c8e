// Regression (from an outsider's attack on issue 18): a database attacker rolls a Bitcoin-family payment back after its
// broadcast, and asks for it again.
//
// The payment P1 is approved, written ahead and broadcast (in the node's mempool). The attacker (SQL only)
// then makes the database look as before the Approve: the withdrawal's signed history cut back to its last
// entry before `sending` (every row left validly signed), P1's payserv_chain_txs row and its input
// reservations deleted. P1 is still on its way to the chain; a second payment would spend other UTXOs of the
// wallet (it holds two), so the node would take both.
//
// The promise asserted: Approve, SendCoin and Resend pay nothing again (the host's journal knows P1); the miner is paid once.
import { expect, it } from 'vitest';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { asAttacker, cutHistory, STATUS_SIGNATURES } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, confirmations, ltcBench, processed } from './support/btc-attack.js';

const bench = ltcBench(27);

describePerDataPath('Bitcoin family: a Bitcoin-family payment rolled back after its broadcast', () => {
  it('history cut back, stored attempt and reservations deleted: nothing is paid again', async () => {
    const b = await bench({ fund: [COIN, COIN] });
    const w = await processed(b, 9600, '0.2');
    const [before] = await b.t.ledger.db.query<{ seq: number }>(
      `SELECT max(seq)::int AS seq FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`,
      [w.id],
    );
    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    expect(r.reply).toBe('SENDING');
    const p1 = r.txHash as string;
    expect(await b.node.rpc('getrawmempool')).toEqual([p1]);

    await asAttacker(b.t.ledger.db, [
      ...cutHistory(w.id, before?.seq as number),
      [`DELETE FROM payserv_utxo_reservations WHERE spent_by = $1`, [p1]],
      [`DELETE FROM payserv_chain_txs WHERE hash = $1`, [p1]],
    ]);

    const outcomes: string[] = [];
    for (const [name, call] of [
      ['Approve', () => approveWithdrawal(b.t.ps, w.id, caller)],
      ['SendCoin', async () => (await sendCoin(b.t.ps, 'LTC', caller)).results[0] ?? { reply: 'none', message: '' }],
      ['Resend', () => resendWithdrawal(b.t.ps, w.id, caller)],
      ['Check', () => checkWithdrawal(b.t.ps, w.id, caller)],
    ] as const) {
      const o = await call().catch((e: unknown) => ({ reply: 'threw', message: (e as Error).message }));
      outcomes.push(`${name}: ${o.reply} ${o.message ?? ''}`);
    }
    console.log(
      `rollback: ${outcomes.join(' | ')}; payouts enabled: ${b.t.ps.state.enabled}; alerts ${JSON.stringify(b.t.alerts.map((a) => a.kind))}`,
    );
    await b.node.mine(confirmations);
    const paid = (await b.client.scanTxOutSet([`addr(${w.address})`])).unspents;
    expect(paid.map((u) => u.txid)).toEqual([p1]);
    expect(b.t.ps.state.enabled).toBe(false);
  });
});
