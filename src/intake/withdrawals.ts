import { intakeRefusal, type IntakeParams } from '../api/intake.js';
import type { Queryable } from '../db/db.js';
import type { Coin, Signed, Wallet, Withdrawal } from '../ledger/records.js';
import { formatProblem } from '../ledger/problem.js';
import { isRetired, retiredWord, walletSignatureProblem } from '../ledger/wallets.js';
import { formatAmount, parseAmount, type Amount } from '../money/amount.js';
import { getWallet, getWithdrawalWithHistory, type WithdrawalWithHistory } from '../store/reads.js';
import { lockAccountDebits } from '../writer/locks.js';
import { requestWithdrawal } from '../writer/withdrawals.js';
import { verifiedBalance } from './balance.js';
import type { Intake } from './context.js';
import { decoded, integrityRefusal, requestFaults } from './integrity.js';
import { withdrawalJson } from './json.js';
import { coinById, intakeView, isUniqueViolation } from './ledger.js';

// Withdrawals.Request: a request to a reviewed wallet, signed by autopay, after the user's verified
// balance covers it. The pool's own id of the request is signed into it (comment `intake:<key>`), so a
// retry finds it (migration 0007 indexes it, unique) and the id cannot be moved to another request
// without breaking the signature.

const commentOf = (key: string) => `intake:${key}`;

async function byKey(q: Queryable, key: string): Promise<WithdrawalWithHistory | null> {
  const [row] = await q.query<{ withdrawal_id: number }>(
    // The LIKE repeats the partial index's predicate (migration 0007), so the planner may use it.
    "SELECT withdrawal_id FROM finances_withdrawal_signatures WHERE seq = 0 AND comment = $1 AND comment LIKE 'intake:%'",
    [commentOf(key)],
  );
  if (!row) return null;
  const subject = `request key ${key}`;
  const found = await decoded(subject, () => getWithdrawalWithHistory(q, row.withdrawal_id));
  if (!found) throw integrityRefusal(subject, [`its signed entry names withdrawal ${row.withdrawal_id}, which is not in the ledger`]);
  return found;
}

/** The request under this key: the same fields answer it; any other is a conflict. */
function sameRequest(w: Withdrawal, p: IntakeParams<'Withdrawals.Request'>, amount: Amount, fee: Amount | null): void {
  const diff = [
    w.walletId !== p.wallet ? 'wallet' : '',
    w.amount !== amount ? 'amount' : '',
    fee !== null && w.fee !== fee ? 'fee' : '',
  ].filter(Boolean);
  if (diff.length)
    throw intakeRefusal('conflict', `request key ${p.key} is withdrawal ${w.id} with another ${diff.join(', ')}: nothing changed`, {
      withdrawal: w.id,
    });
}

function payable(w: Signed<Wallet> | null, id: number): Signed<Wallet> {
  if (!w) throw intakeRefusal('unknown_wallet', `unknown wallet id ${id}`);
  if (isRetired(w)) throw intakeRefusal('wallet_deleted', `wallet ${w.id} is ${retiredWord(w)}`);
  if (!w.signature) throw intakeRefusal('wallet_not_reviewed', `wallet ${w.id} has not been reviewed and signed yet`);
  return w;
}

function checkAmounts(coin: Signed<Coin>, amount: Amount, fee: Amount): void {
  if (!coin.active) throw intakeRefusal('coin_inactive', `coin ${coin.tag} is not active`);
  if (amount <= 0n) throw intakeRefusal('bad_amount', 'amount: must be more than 0');
  if (amount < coin.minWithdrawal)
    throw intakeRefusal(
      'below_minimum',
      `amount ${formatAmount(amount)} is below ${coin.tag}'s minimum ${formatAmount(coin.minWithdrawal)}`,
    );
  if (fee < coin.withdrawalFee || fee > amount)
    throw intakeRefusal(
      'below_fee',
      `fee ${formatAmount(fee)}: at least ${coin.tag}'s withdrawal fee ${formatAmount(coin.withdrawalFee)} and at most the amount`,
    );
}

export async function requestCall(it: Intake, p: IntakeParams<'Withdrawals.Request'>) {
  const amount = parseAmount(p.amount, 'amount');
  const askedFee = p.fee === undefined ? null : parseAmount(p.fee, 'fee');
  const answer = (w: Withdrawal, tag: string, already: boolean) => ({ ...withdrawalJson(w, p.key, tag), already });
  const retried = async () => {
    const found = await byKey(it.db, p.key);
    if (!found) return null;
    const { withdrawal: w, history } = found;
    const view = await intakeView(it, it.db);
    // A planted request under the key must not stand in for the pool's: the real one would never be written.
    const faults = requestFaults(view.book, w, history, commentOf(p.key));
    if (faults.length) throw integrityRefusal(`request key ${p.key} (withdrawal ${w.id})`, faults, { withdrawal: w.id });
    sameRequest(w, p, amount, askedFee);
    return answer(w, coinById(view, w.coinId).tag, true);
  };
  const found = await retried();
  if (found) return found;
  try {
    return await it.db.transaction(async (tx) => {
      const wallet = payable(await getWallet(tx, p.wallet), p.wallet);
      // The account's debit chain first: the balance read below stays true until this request is written.
      await lockAccountDebits(tx, wallet.userId, wallet.coinId);
      const view = await intakeView(it, tx);
      const coin = coinById(view, wallet.coinId);
      const forged = walletSignatureProblem(view.book, wallet);
      if (forged) throw intakeRefusal('integrity', `wallet ${wallet.id}: its signed record does not verify: ${formatProblem(forged)}`);
      const fee = askedFee ?? coin.withdrawalFee;
      checkAmounts(coin, amount, fee);
      const { balance } = await verifiedBalance(it, view, wallet.userId, coin);
      if (balance < amount)
        throw intakeRefusal('balance_short', `user ${wallet.userId} has ${formatAmount(balance)} ${coin.tag}, less than ${p.amount}`, {
          balance: formatAmount(balance),
        });
      const w = await requestWithdrawal(tx, it.signers.autopay, {
        userId: wallet.userId,
        coinId: coin.id,
        walletId: wallet.id,
        address: wallet.address,
        amount,
        fee,
        comment: commentOf(p.key),
      });
      it.log.info(
        { withdrawal: w.id, requestKey: p.key, user: w.userId, coin: coin.tag, amount: formatAmount(amount) },
        'withdrawal requested',
      );
      return answer(w, coin.tag, false);
    });
  } catch (e) {
    // Another call under the same key won the race: the same answer as a retry.
    if (isUniqueViolation(e)) {
      const again = await retried();
      if (again) return again;
    }
    throw e;
  }
}
