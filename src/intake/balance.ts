import { intakeRefusal, type IntakeParams } from '../api/intake.js';
import type { DataTx } from '../data/data.js';
import { AccountVerifier, EMPTY_ACCOUNT, type AccountResult } from '../ledger/account.js';
import { formatProblem } from '../ledger/problem.js';
import type { Coin, Signed } from '../ledger/records.js';
import { formatAmount, sub, type Amount } from '../money/amount.js';
import { streamAccountCredits, streamAccountWithdrawals, type WithdrawalWithHistory } from '../store/reads.js';
import { withIncomeFlags } from '../verify/batch.js';
import type { LedgerView } from '../verify/view.js';
import type { Intake } from './context.js';
import { intakeView, verifiedCoin } from './ledger.js';

// A user's verified balance, as `pscli balance` computes it: every signed credit (each with its pool
// income) and every signed withdrawal with its status history, chained and checked. The intake's host
// has no local copy of payserv's checkpoints, which alone make a database checkpoint trustworthy, so it
// verifies the account from the beginning of its history instead of from a checkpoint.

/** `seen`: told of each withdrawal as it is verified (the miners' API tallies payments in the same pass). */
export async function verifyWholeAccount(
  view: LedgerView,
  userId: number,
  coin: Signed<Coin>,
  seen?: (w: WithdrawalWithHistory) => void,
): Promise<AccountResult> {
  const v = new AccountVerifier(userId, coin.id, view.book, EMPTY_ACCOUNT, null, coin.feeUserId);
  for await (const [c, hasIncome] of withIncomeFlags(view.db, streamAccountCredits(view.db, userId, coin.id, 0))) v.credit(c, hasIncome);
  // From the beginning, a reversal's original is always earlier in the stream: no parent to fetch.
  for await (const w of streamAccountWithdrawals(view.db, userId, coin.id, 0)) {
    v.withdrawal(w.withdrawal, w.history, null);
    seen?.(w);
  }
  return v.finish();
}

/** The balance (credits less debits) of a verified account; refused, naming the first problem, when it does not verify. */
export async function verifiedBalance(
  view: LedgerView,
  userId: number,
  coin: Signed<Coin>,
  seen?: (w: WithdrawalWithHistory) => void,
): Promise<{ r: AccountResult; balance: Amount }> {
  const r = await verifyWholeAccount(view, userId, coin, seen);
  const first = r.problems[0];
  if (first)
    throw intakeRefusal('integrity', `user ${userId} ${coin.tag}: the account does not verify: ${formatProblem(first)}`, {
      problems: r.problems.length,
    });
  return { r, balance: sub(r.creditTotal, r.debitTotal) };
}

/** No credit and no withdrawal: nobody by that id has this account; "0" would say otherwise. */
export const hasNoHistory = (r: AccountResult): boolean => !r.state.lastCreditId && !r.state.lastWithdrawalId && !r.open.length;

export async function balanceCall(it: Intake, p: IntakeParams<'Balance.Get'>, q: DataTx = it.db) {
  const view = await intakeView(it, q);
  const coin = verifiedCoin(view, p.coin);
  const { r, balance } = await verifiedBalance(view, p.user, coin);
  if (hasNoHistory(r))
    throw intakeRefusal('unknown_user', `unknown user ${p.user} for ${coin.tag}: no credit or withdrawal`, {
      user: p.user,
      coin: coin.tag,
    });
  return {
    user: p.user,
    coin: coin.tag,
    balance: formatAmount(balance),
    credits: formatAmount(r.creditTotal),
    debits: formatAmount(r.debitTotal),
  };
}
