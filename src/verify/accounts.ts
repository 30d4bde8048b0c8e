import { AccountVerifier, EMPTY_ACCOUNT } from '../ledger/account.js';
import { problem, userKey, type Problem } from '../ledger/problem.js';
import type { Credit, Signed, UserCheckpoint } from '../ledger/records.js';
import {
  getUserCheckpoint,
  streamAllCredits,
  streamAllWithdrawals,
  streamUserCheckpoints,
  type WithdrawalWithHistory,
} from '../store/reads.js';
import { withIncomeFlags } from './batch.js';
import { withdrawalPrecisionProblem } from './catalog.js';
import { userCheckpoint } from './checkpoint-trust.js';
import type { LedgerView } from './view.js';

// The full check of every account: three streams ordered by (user, coin) — credits, withdrawals,
// database checkpoints — merged so each account is verified whole while only one page of each
// stream is in memory. Then the local store is walked for checkpoints the database lost.

type Key = { user: number; coin: number };
const cmp = (a: Key, b: Key) => a.user - b.user || a.coin - b.coin;

class Peek<T> {
  head: T | undefined;
  done = false;
  constructor(readonly it: AsyncIterator<T>) {}
  async next(): Promise<void> {
    const r = await this.it.next();
    this.done = !!r.done;
    this.head = r.done ? undefined : r.value;
  }
}

export interface AccountsReport {
  accounts: number;
  credits: number;
  withdrawals: number;
}

export async function verifyAllAccounts(
  view: LedgerView,
  report: (p: Problem) => void,
  progress?: (accounts: number) => void,
): Promise<AccountsReport> {
  const credits = new Peek<[Signed<Credit>, boolean]>(withIncomeFlags(view.db, streamAllCredits(view.db))[Symbol.asyncIterator]());
  const withdrawals = new Peek<WithdrawalWithHistory>(streamAllWithdrawals(view.db)[Symbol.asyncIterator]());
  const checkpoints = new Peek<Signed<UserCheckpoint>>(streamUserCheckpoints(view.db)[Symbol.asyncIterator]());
  await Promise.all([credits.next(), withdrawals.next(), checkpoints.next()]);
  const keyOf = {
    c: () => (credits.head ? { user: credits.head[0].userId, coin: credits.head[0].coinId } : null),
    w: () => (withdrawals.head ? { user: withdrawals.head.withdrawal.userId, coin: withdrawals.head.withdrawal.coinId } : null),
    k: () => (checkpoints.head ? { user: checkpoints.head.userId, coin: checkpoints.head.coinId } : null),
  };
  const totals: AccountsReport = { accounts: 0, credits: 0, withdrawals: 0 };
  let matchedCheckpoints = 0;
  for (;;) {
    const keys = [keyOf.c(), keyOf.w(), keyOf.k()].filter((k): k is Key => k !== null);
    if (keys.length === 0) break;
    const key = keys.reduce((a, b) => (cmp(a, b) <= 0 ? a : b));
    const dbCp = checkpoints.head && cmp(keyOf.k() as Key, key) === 0 ? checkpoints.head : null;
    if (dbCp) await checkpoints.next();
    const trusted = await userCheckpoint(view, key.user, key.coin, dbCp);
    trusted.problems.forEach(report);
    if (dbCp && trusted.localFound) matchedCheckpoints++;
    const coin = view.coins.get(key.coin);
    if (!coin)
      report(
        problem('finances_user_balance_transaction', userKey(key.user, key.coin), 'unknown_coin', `rows for unknown coin ${key.coin}`),
      );
    const v = new AccountVerifier(key.user, key.coin, view.book, EMPTY_ACCOUNT, dbCp, coin?.feeUserId ?? null);
    while (credits.head && cmp(keyOf.c() as Key, key) === 0) {
      v.credit(credits.head[0], credits.head[1]);
      totals.credits++;
      await credits.next();
    }
    while (withdrawals.head && cmp(keyOf.w() as Key, key) === 0) {
      v.withdrawal(withdrawals.head.withdrawal, withdrawals.head.history);
      const finer = coin ? withdrawalPrecisionProblem(coin, withdrawals.head.withdrawal) : null;
      if (finer) report(finer);
      totals.withdrawals++;
      await withdrawals.next();
    }
    v.finish().problems.forEach(report);
    totals.accounts++;
    progress?.(totals.accounts);
  }
  // Local checkpoints whose database copy is gone. On a clean ledger the counts agree and this costs one directory walk.
  let localCount = 0;
  for await (const _ of view.local.listUsers()) localCount++;
  if (localCount !== matchedCheckpoints) {
    for await (const { userId, coinId } of view.local.listUsers()) {
      if (!(await getUserCheckpoint(view.db, userId, coinId))) {
        const t = await userCheckpoint(view, userId, coinId, null);
        t.problems.forEach(report);
      }
    }
  }
  return totals;
}
