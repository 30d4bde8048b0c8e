import { intakeRefusal, type IntakeParams } from '../api/intake.js';
import type { DataTx } from '../data/data.js';
import { AccountVerifier, EMPTY_ACCOUNT, type AccountResult, type AccountState } from '../ledger/account.js';
import type { Coin, Signed } from '../ledger/records.js';
import { formatAmount, sub, type Amount } from '../money/amount.js';
import { getWithdrawal, streamAccountCredits, streamAccountWithdrawals, type WithdrawalWithHistory } from '../store/reads.js';
import { withIncomeFlags } from '../verify/batch.js';
import type { LedgerView } from '../verify/view.js';
import type { Intake } from './context.js';
import { verifyRememberedAccount } from './heads.js';
import { intakeView, verifiedCoin } from './ledger.js';

// A user's verified balance, as `pscli balance` computes it: every signed credit (each with its pool
// income) and every signed withdrawal with its status history, chained and checked. The intake's host
// has no local copy of payserv's checkpoints, which alone make a database checkpoint trustworthy, so it
// verifies the account from the beginning of its history instead of from a checkpoint. A process that
// verifies the same accounts every interval (the pool adapters) remembers where each one stopped, in its
// own memory, and continues from there: rows it verified are never read again, so an edit to them
// changes nothing it computed, and every new row must chain onto what it remembers.

/** Where a verification of an account stopped: its state (credit chain, final prefix, head) and its chains' last row times (ms). */
export interface VerifiedPoint {
  state: AccountState;
  creditAt: number;
  debitAt: number;
}

export const FROM_THE_START: VerifiedPoint = { state: EMPTY_ACCOUNT, creditAt: 0, debitAt: 0 };

export interface AccountRun extends AccountResult {
  /** Where the next verification continues; only to be remembered when this one found no problem. */
  next: VerifiedPoint;
}

/**
 * One account verified from `from`, a point this process verified itself (never one read from the database): only the
 * credits after it and the withdrawals after its final prefix (the open ones again, until final) are read, chained onto
 * it; its head must still be there and its open withdrawals' statuses not fewer. `each` sees every withdrawal read.
 */
export async function verifyAccountFrom(
  view: LedgerView,
  userId: number,
  coin: Signed<Coin>,
  from: VerifiedPoint,
  each: (r: WithdrawalWithHistory) => void = () => undefined,
): Promise<AccountRun> {
  const s = from.state;
  const reference = { ...s, userId, coinId: coin.id, version: 0, madeAt: new Date(0) };
  const v = new AccountVerifier(userId, coin.id, view.book, s, null, coin.feeUserId, reference);
  v.resumeAt(from.creditAt, from.debitAt);
  let creditAt = from.creditAt;
  for await (const [c, hasIncome] of withIncomeFlags(view.db, streamAccountCredits(view.db, userId, coin.id, s.lastCreditId))) {
    v.credit(c, hasIncome);
    creditAt = c.createdAt.getTime();
  }
  const at = new Map<number, number>();
  for await (const r of streamAccountWithdrawals(view.db, userId, coin.id, s.lastWithdrawalId)) {
    const w = r.withdrawal;
    // A reversal's original inside the verified prefix is read (from the start, it came earlier in the stream).
    const parent = w.parentId !== null && w.parentId <= s.lastWithdrawalId ? await getWithdrawal(view.db, w.parentId) : null;
    v.withdrawal(w, r.history, parent);
    at.set(w.id, w.createdAt.getTime());
    each(r);
  }
  const r = v.finish();
  return { ...r, next: { state: r.state, creditAt, debitAt: at.get(r.state.lastWithdrawalId) ?? from.debitAt } };
}

/** `seen`: told of each withdrawal as it is verified (the miners' API tallies payments in the same pass). */
export const verifyWholeAccount = (
  view: LedgerView,
  userId: number,
  coin: Signed<Coin>,
  seen?: (w: WithdrawalWithHistory) => void,
): Promise<AccountRun> => verifyAccountFrom(view, userId, coin, FROM_THE_START, seen);

/**
 * The balance (credits less debits) of an account verified whole and against where it already was (payserv's
 * signed checkpoint, this host's memory of its head); refused as integrity, naming the problems, otherwise.
 */
export async function verifiedBalance(
  it: Intake,
  view: LedgerView,
  userId: number,
  coin: Signed<Coin>,
): Promise<{ r: AccountResult; balance: Amount }> {
  const r = await verifyRememberedAccount(view, it.heads, userId, coin);
  return { r, balance: sub(r.creditTotal, r.debitTotal) };
}

/** No credit and no withdrawal: nobody by that id has this account; "0" would say otherwise. */
export const hasNoHistory = (r: AccountResult): boolean => !r.state.lastCreditId && !r.state.lastWithdrawalId && !r.open.length;

export async function balanceCall(it: Intake, p: IntakeParams<'Balance.Get'>, q: DataTx = it.db) {
  const view = await intakeView(it, q);
  const coin = verifiedCoin(view, p.coin);
  const { r, balance } = await verifiedBalance(it, view, p.user, coin);
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
