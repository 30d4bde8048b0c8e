// Outside tester. A Decline writes the original as `processed` and a reversal row (the credit-back). At
// 'status.committed' (before the checkpoint moves) the attacker deletes the reversal (row and history):
// the user's money would be neither paid nor owed. Also: the reversal's amount restored to a smaller
// earlier... (no signed earlier copy exists), so only deletion; and a decline's reversal deleted after a
// later request was made on the account (the reversal no longer the tail).
import { afterEach, beforeEach, expect, it } from 'vitest';
import { declineRequest, processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { verifyAccount } from '../src/verify/account.js';
import { formatAmount, sub } from '../src/money/amount.js';

let t: TestPayserv;
beforeEach(async () => {
  t = await testPayserv({
    seed: { users: 2, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 73 },
  });
});
afterEach(async () => {
  await t.ledger.db.close();
});

// Held: both deletions fail-stop ("declined (processed) but its reversal row is missing"; "covered by the checkpoint is gone").
describePerDataPath("a decline's reversal deleted", () => {
  it('at status.committed: the deletion is caught (fail-stop or a check line), the money not silently lost', async () => {
    const m = await newMiner(t, 9301, '20');
    const id = await request(t, m, { amount: '5' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
    t.ps.faults = {
      async at(p, info) {
        if (p !== 'status.committed') return;
        const rev = await t.ledger.db.query<{ id: number }>(`SELECT id FROM ${WITHDRAWALS} WHERE parent_id = $1`, [id]);
        console.log('at', p, info, 'reversals', rev);
        for (const r of rev) {
          await asAttacker(t.ledger.db, [
            [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [r.id]],
            [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [r.id]],
          ]);
        }
      },
    };
    const r = await declineRequest(t.ps, id, 'test');
    t.ps.faults = undefined;
    const a = await verifyAccount(await t.ledger.view(), m.userId, m.coin.id, 'full').catch((e: unknown) => ({
      problems: [String(e)],
      creditTotal: 0n,
      debitTotal: 0n,
    }));
    const checks = await t.ledger.check('balanceerrors');
    console.log(
      'decline:',
      r.reply,
      r.message,
      'enabled',
      t.ps.state.enabled,
      'available',
      formatAmount(sub(a.creditTotal as never, a.debitTotal as never)),
      'problems',
      a.problems,
      'checks',
      checks,
    );
    expect(!t.ps.state.enabled || checks.length > 0).toBe(true);
  });

  it('after a later request: the old reversal (covered as final) deleted is caught', async () => {
    const m = await newMiner(t, 9302, '20');
    const id = await request(t, m, { amount: '5' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
    expect((await declineRequest(t.ps, id, 'test')).reply).toBe('DECLINED');
    const id2 = await request(t, m, { amount: '1' });
    const rev = await t.ledger.db.query<{ id: number }>(`SELECT id FROM ${WITHDRAWALS} WHERE parent_id = $1`, [id]);
    await asAttacker(
      t.ledger.db,
      rev.flatMap(
        (x) =>
          [
            [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [x.id]],
            [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [x.id]],
          ] as const,
      ),
    );
    const r = await processWithdrawal(t.ps, id2, 'test');
    console.log('process after:', r.reply, r.message, 'enabled', t.ps.state.enabled);
    expect(r.reply === 'ERROR' && !t.ps.state.enabled).toBe(true);
  });
});
