// stateOf: the summary a user checkpoint carries, every field of it and nothing of the checkpoint's own
// (user, coin, version, time), so that advancing compares like with like and verification resumes from it.
import { describe, expect, it } from 'vitest';
import { EMPTY_ACCOUNT, stateOf } from '../../src/ledger/account.js';
import type { UserCheckpoint } from '../../src/ledger/records.js';
import { parseAmount } from '../../src/money/amount.js';

describe('stateOf', () => {
  it("copies every summary field of a checkpoint and none of the checkpoint's own", () => {
    const summary = {
      lastCreditId: 11,
      lastBlockHash: '0xb10c',
      creditTotal: parseAmount('12.5'),
      lastWithdrawalId: 7,
      debitTotal: parseAmount('3'),
      sentTotal: parseAmount('2.25'),
      statusCount: 9,
      headWithdrawalId: 8,
      headDebit: parseAmount('1'),
      openStatusCount: 2,
    };
    const cp: UserCheckpoint = { ...summary, userId: 1, coinId: 2, version: 3, madeAt: new Date(0) };
    expect(stateOf(cp)).toStrictEqual(summary);
    expect(Object.keys(stateOf(cp)).sort()).toEqual(Object.keys(EMPTY_ACCOUNT).sort());
  });
});
