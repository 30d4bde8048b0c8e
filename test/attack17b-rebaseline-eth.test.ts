// attack17b C1 regression: a sent ETH payment rolled back by a database attacker while the host's state is lost is not paid
// again: no anchor on a ledger with history is lost state (rebaseline_required). (Was:) A payment in flight on anvil when the payserv host's local state was lost (journal, checkpoints, nonce cache, chain
// pins, audit head): after two operators' rebaseline the payment shows as journal_unrecorded, Check settles it from
// the chain with the same transaction, and the miner is paid exactly once.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { mine } from '../src/devnet/anvil.js';
import { enablePayouts } from '../src/payserv/admin.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import type { Payserv } from '../src/payserv/context.js';
import { PAID, rebaselineGate, restartedEth, restartPayserv } from './attack-helpers.js';
import { describePerDataPath } from './support/backend.js';
import { balanceOf } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { ethBench } from './support/payserv.js';
import { asAttacker } from './support/attacker.js';

const bench = ethBench(23);

/** The gate startPayserv puts on a restarted payserv (src/app/service.ts), payouts disabled while it stands. */
async function gate(ps: Payserv): Promise<void> {
  const why = (await rebaselineGate(bench.t, ps)).required;
  if (why) ps.state.disable('start', why);
}

describePerDataPath('attack17b: lost local state + a database attacker, on anvil', () => {
  it('a sent ETH payment rolled back while the host state is lost, with the checkpoints and audit emptied: refused, paid once', async () => {
    const { t, url } = bench;
    const m = await newMiner(t, 7100);
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
    expect((await approveWithdrawal(t.ps, id, 'test')).reply).toBe('SENDING');
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, id, 'test')).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(PAID);
    await t.ps.journal.close();
    // The disk died: every part of the local state, the local-state anchor with it.
    for (const p of ['checkpoints', 'journal', 'audit', 'nonces', 'chains', 'local-state.json'])
      rmSync(join(t.ledger.stateDir, p), { recursive: true, force: true });
    // The database attacker: the withdrawal's history cut back to `pending`, the payment records and every
    // checkpoint and audit row gone (so the database looks like one no payserv ever checkpointed).
    const [pend] = await t.ledger.db.query<{ seq: number; comment: string }>(
      `SELECT seq, comment FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 AND status = 'pending'`,
      [id],
    );
    const extra = ['payserv_chain_txs', 'payserv_sent_watch', 'payserv_audit'];
    await asAttacker(t.ledger.db, [
      ...extra.map((x) => `ALTER TABLE ${x} DISABLE TRIGGER USER`),
      [`DELETE FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 AND seq > $2`, [id, pend?.seq]],
      [
        `UPDATE finances_withdrawal_transaction SET status = 'pending', status_seq = $2, comment = $3, tx_hash = NULL, tx_fee = NULL WHERE id = $1`,
        [id, pend?.seq, pend?.comment],
      ],
      `DELETE FROM payserv_sent_watch`,
      `DELETE FROM payserv_chain_txs`,
      `DELETE FROM finances_user_balance_checkpoints`,
      `DELETE FROM finances_coin_checkpoints`,
      `DELETE FROM payserv_audit`,
      ...extra.map((x) => `ALTER TABLE ${x} ENABLE TRIGGER USER`),
    ]);
    const ps = await restartPayserv(t, async (deps) => new Map([['ETH', await restartedEth(url, deps)]]));
    await gate(ps);
    // The database has ledger history and the host no anchor: lost, though the database shows no checkpoint or audit row.
    expect(ps.rebaseline?.required).toMatch(/no local-state anchor/);
    await expect(enablePayouts(ps, 'alice')).rejects.toThrow(/local state is lost/);
    const second = await approveWithdrawal(ps, id, 'alice').catch((e: Error) => e);
    expect(JSON.stringify(second)).not.toMatch(/SENDING/);
    await mine(url, 12);
    expect(await balanceOf(url, m.address)).toBe(PAID);
  });
});
