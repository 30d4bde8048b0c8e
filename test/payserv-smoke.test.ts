import { afterEach, describe, expect, it } from 'vitest';
import { approveWithdrawal, processWithdrawal, sendWithdrawal } from '../src/payserv/payouts.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

describe('payserv state machine (in process)', () => {
  let t: TestPayserv | undefined;
  afterEach(async () => t?.ledger.db.close());

  it('processes a request to PENDING, approves it, marks it sent, and the ledger stays clean', async () => {
    t = await testPayserv();
    const [w] = await t.ledger.db.query<{ id: number }>(
      `SELECT id FROM finances_withdrawal_transaction WHERE status = 'processing' ORDER BY id LIMIT 1`,
    );
    const id = (w as { id: number }).id;
    const p = await processWithdrawal(t.ps, id, 'test');
    expect(['PENDING', 'DECLINED']).toContain(p.reply);
    if (p.reply === 'PENDING') {
      expect((await approveWithdrawal(t.ps, id, 'test')).reply).toBe('APPROVED');
      expect((await sendWithdrawal(t.ps, id, 'test')).reply).toBe('SENT');
    }
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
    expect(t.alerts).toEqual([]);
  });
});
