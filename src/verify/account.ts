import { AccountVerifier, EMPTY_ACCOUNT, stateOf, type AccountResult } from '../ledger/account.js';
import type { Signed, UserCheckpoint } from '../ledger/records.js';
import { getCredit, getWithdrawal, streamAccountCredits, streamAccountWithdrawals } from '../store/reads.js';
import { withIncomeFlags } from './batch.js';
import { userCheckpoint } from './checkpoint-trust.js';
import { coinOf, type LedgerView } from './view.js';

export type Mode = 'incremental' | 'full';

export interface AccountVerification extends AccountResult {
  /** The trusted checkpoint the verification started from or compared with (null: none). */
  checkpoint: Signed<UserCheckpoint> | null;
}

/**
 * Verifies one (user, coin). Incremental: from its checkpoint, reading only the rows after it (what
 * payserv does before a payout). Full: from the beginning of history, also proving the checkpoint
 * still matches the rows behind it (what the operator's checks do).
 */
export async function verifyAccount(view: LedgerView, userId: number, coinId: number, mode: Mode): Promise<AccountVerification> {
  const coin = coinOf(view, coinId);
  const trusted = await userCheckpoint(view, userId, coinId);
  const cp = trusted.checkpoint;
  if (trusted.problems.length && mode === 'incremental') {
    // Nothing after an untrusted checkpoint can be trusted either; stop here (fail-stop upstream).
    const v = new AccountVerifier(userId, coinId, view.book, EMPTY_ACCOUNT, null, coin.feeUserId);
    const r = v.finish();
    return { ...r, problems: [...trusted.problems, ...r.problems], checkpoint: null };
  }
  const incremental = mode === 'incremental' && cp !== null;
  const v = new AccountVerifier(
    userId,
    coinId,
    view.book,
    incremental ? stateOf(cp) : EMPTY_ACCOUNT,
    incremental ? null : cp,
    coin.feeUserId,
    incremental ? cp : null,
  );
  if (incremental) {
    v.boundaryCredit(cp.lastCreditId ? await getCredit(view.db, cp.lastCreditId) : null, cp);
    v.boundaryWithdrawal(cp.lastWithdrawalId ? await getWithdrawal(view.db, cp.lastWithdrawalId) : null, cp);
  }
  const start = incremental ? cp : null;
  for await (const [c, hasIncome] of withIncomeFlags(view.db, streamAccountCredits(view.db, userId, coinId, start?.lastCreditId ?? 0))) {
    v.credit(c, hasIncome);
  }
  for await (const { withdrawal, history } of streamAccountWithdrawals(view.db, userId, coinId, start?.lastWithdrawalId ?? 0)) {
    const parent =
      withdrawal.parentId !== null && start && withdrawal.parentId <= start.lastWithdrawalId
        ? await getWithdrawal(view.db, withdrawal.parentId)
        : null;
    v.withdrawal(withdrawal, history, parent);
  }
  const r = v.finish();
  return { ...r, problems: [...trusted.problems, ...r.problems], checkpoint: cp };
}
