// Calls on different withdrawals of one account (and one coin) run at once: each advances the same
// account and coin checkpoints. They must take turns, so the local and database copies never part.
import { afterEach, describe, expect, it } from 'vitest';
import { parseAmount, ZERO } from '../src/money/amount.js';
import { processWithdrawal, sendWithdrawal } from '../src/payserv/payouts.js';
import { creditBlock } from '../src/writer/blocks.js';
import { requestWithdrawal } from '../src/writer/withdrawals.js';
import { backend } from './support/db.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

describe(`concurrent calls on one account (${backend()})`, () => {
  let t: TestPayserv | undefined;
  afterEach(async () => t?.ledger.db.close());

  it('all succeed, one after another on the checkpoints, and the ledger stays clean', async () => {
    t = await testPayserv({
      policies: {
        ETH: { amountMax: parseAmount('1'), userDailyMax: parseAmount('100'), coinDailyMax: parseAmount('1000'), walletAgeHoursMin: 0 },
      },
    });
    const { ledger, ps } = t;
    const coin = [...(await ledger.view()).coins.values()].find((c) => c.tag === 'ETH');
    if (!coin) throw new Error('no ETH');
    const [wallet] = await ledger.db.query<{ id: number; user_id: number; address: string }>(
      'SELECT id, user_id, address FROM users_userwallets WHERE coin_id = $1 ORDER BY id LIMIT 1',
      [coin.id],
    );
    if (!wallet) throw new Error('no wallet');
    await creditBlock(ledger.db, ledger.signers.admin, coin, {
      blockHash: '0xrace',
      shares: [{ userId: wallet.user_id, amount: parseAmount('20') }],
      poolFee: ZERO,
    });
    const ids: number[] = [];
    for (let i = 0; i < 8; i++) {
      const w = await ledger.db.transaction((tx) =>
        requestWithdrawal(tx, ledger.signers.autopay, {
          userId: wallet.user_id,
          coinId: coin.id,
          walletId: wallet.id,
          address: wallet.address,
          amount: parseAmount('0.5'),
          fee: coin.withdrawalFee,
        }),
      );
      ids.push(w.id);
    }
    const replies = await Promise.all(ids.map((id) => processWithdrawal(ps, id, 'race')));
    expect(replies.map((r) => `${r.reply} ${r.message ?? ''}`.trim())).toEqual(ids.map(() => 'APPROVED'));
    // And payouts of one account at once: each marked sent, one after another on its checkpoint.
    const sent = await Promise.all(ids.map((id) => sendWithdrawal(ps, id, 'race')));
    expect(sent.map((r) => `${r.reply} ${r.message ?? ''}`)).toEqual(ids.map(() => 'SENT marked sent by race'));
    expect(t.alerts).toEqual([]);
    expect(ps.state.enabled).toBe(true);
    // Both copies of every checkpoint agree (the check compares them), and nothing else is wrong.
    expect(await ledger.check('balanceerrors')).toEqual([]);
  });
});
