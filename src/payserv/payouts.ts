import { validateAddress } from '../chains/address.js';
import type { ChainDriver } from '../chains/driver.js';
import { PAYOUTS } from '../data/ops/payouts.js';
import type { Problem } from '../ledger/problem.js';
import type { Signed, Wallet, WithdrawalStatus } from '../ledger/records.js';
import { isReviewed, walletSignatureProblem } from '../ledger/wallets.js';
import { add, formatAmount, parseAmount, ZERO, type Amount } from '../money/amount.js';
import { precisionProblem } from '../money/precision.js';
import { getWallet } from '../store/reads.js';
import { rememberWallets, verifyWallets } from '../verify/wallets.js';
import type { PayoutResult, Refusal, RefusalCode, Reply } from '../api/payserv.js';
import type { Payserv } from './context.js';
import { busyMessage, guarded, isReply, payoutsOff, refused, result, verifyHeld, withFreeLocks, type Verified } from './guard.js';
import { move, decline } from './moves.js';
import { payWithdrawals } from './payments/pay.js';
import { paymentsOf } from './payments/attempts.js';
import { checkPayment } from './payments/check.js';
import { decide } from './policy.js';

// The PayServ.* methods of DESIGN §4, with the original's accepted statuses and replies. Coins without
// a chain driver follow the "other coins" rows: payserv approves, an operator pays and marks them sent.

/** Why a request cannot be paid: its code and the words for people. */
interface Why {
  code: RefusalCode;
  message: string;
}

const why = (code: RefusalCode, message: string): Why => ({ code, message });

/** Why the request's wallet cannot be paid (asked at Process, and again at every payment), or null. */
function walletProblem(v: Verified, wallet: Signed<Wallet> | null): Why | null {
  const { w, coin } = v;
  if (!wallet) return why('invalid_wallet', `wallet ${w.walletId} does not exist`);
  if (!wallet.signature) return why('wallet_not_reviewed', `wallet ${w.walletId} has not been reviewed and signed yet`);
  if (wallet.userId !== w.userId || wallet.coinId !== w.coinId)
    return why('invalid_wallet', `wallet ${w.walletId} is not a ${coin.tag} wallet of user ${w.userId}`);
  // walletIntegrity has verified the flags are the pool's signed state: a signed deletion, honestly declined.
  // Any of the user's reviewed wallets still signed active may be named, not only the newest: the user
  // chose it, and the back end signed the request naming it (autopay alone keeps to the newest).
  if (wallet.deleted || !wallet.active) return why('wallet_deleted', `wallet ${w.walletId} is ${wallet.deleted ? 'deleted' : 'inactive'}`);
  if (wallet.address !== w.address) return why('wallet_changed', `wallet ${w.walletId}'s address is no longer the one requested`);
  return null;
}

/**
 * Before a payment: the wallet still as Process found it. One the pool deleted (signed) since is not
 * paid: the request waits for a manager's Decline (or autopay's resolve) and nothing changes.
 */
export async function walletStillPayable(ps: Payserv, v: Verified): Promise<PayoutResult | null> {
  const gone = walletProblem(v, await getWallet(ps.db, v.w.walletId));
  return gone ? refused(v.w.id, v.w.status, gone.code, `not paid: ${gone.message} since it was requested; decline the request`) : null;
}

/** An amount or fee finer than the coin's decimals (written before the writer refused it): no chain can pay it. */
function amountProblem(v: Verified): Why | null {
  const p = precisionProblem(v.w.amount, v.coin, 'amount') ?? precisionProblem(v.w.fee, v.coin, 'fee');
  return p ? why('bad_amount', `withdrawal ${v.w.id}: ${p}`) : null;
}

/**
 * Before a payment: an unpayable amount is declined (given back) when no transaction was ever sent for
 * it; one that was sent before is only refused, nothing changed, for an operator (never credited back twice).
 */
async function amountStillPayable(ps: Payserv, v: Verified): Promise<PayoutResult | null> {
  const no = amountProblem(v);
  if (!no) return null;
  if (paymentsOf(v.history).length === 0) return decline(ps, v, no.code, no.message);
  return refused(v.w.id, v.w.status, no.code, `not paid: ${no.message}; an earlier transaction was sent for it: look at it`);
}

/** Why a request cannot be paid as asked (a business failure: it is declined), or null. */
function businessProblem(ps: Payserv, v: Verified, wallet: Signed<Wallet> | null): Why | null {
  const { w, coin, account } = v;
  if (!coin.active) return why('coin_inactive', `coin ${coin.tag} is not active`);
  const unpayableAmount = amountProblem(v);
  if (unpayableAmount) return unpayableAmount;
  if (w.amount < coin.minWithdrawal)
    return why('below_minimum', `amount ${formatAmount(w.amount)} is below the minimum ${formatAmount(coin.minWithdrawal)} ${coin.tag}`);
  if (w.fee < coin.withdrawalFee)
    return why('below_fee', `fee ${formatAmount(w.fee)} is below the coin's fee ${formatAmount(coin.withdrawalFee)}`);
  const unpayable = walletProblem(v, wallet);
  if (unpayable) return unpayable;
  const bad = ps.drivers.get(coin.tag)?.validateAddress(w.address) ?? validateAddress(coin, w.address, ps.coins);
  if (bad) return why('invalid_address', `address ${w.address}: ${bad}`);
  const after = add(w.debitBefore, w.amount);
  if (after > account.creditTotal) {
    return why(
      'balance_short',
      `balance short: credits ${formatAmount(account.creditTotal)} ${coin.tag}, debits with this request ${formatAmount(after)}`,
    );
  }
  return null;
}

async function sumSince(ps: Payserv, coinId: number, userId: number | null, since: Date): Promise<Amount> {
  const [r] = await ps.db.query(PAYOUTS.sumSince, [coinId, userId, since]);
  return r ? parseAmount(r.total) : ZERO;
}

/**
 * The wallets of the request's account, every reviewed one signed as it now is and nothing the host saw
 * retired come back (src/verify/wallets.ts); any failure is tampering (fail-stop), not a business
 * matter. A wallet the pool deleted under its signature is declined below (businessProblem). What was
 * seen clean is remembered, so a later rollback of it is caught.
 */
async function walletIntegrity(ps: Payserv, v: Verified): Promise<Problem[]> {
  const seen = await verifyWallets(v.view, v.w.userId, v.w.coinId);
  const named = await getWallet(ps.db, v.w.walletId);
  // Another account's wallet (declined below) that carries a signature must still carry a good one.
  const foreign =
    named && isReviewed(named) && !seen.reviewed.some((x) => x.id === named.id) ? walletSignatureProblem(v.view.book, named) : null;
  const problems = foreign ? [...seen.problems, foreign] : seen.problems;
  if (!problems.length) await rememberWallets(ps.db, ps.local, ps.signers.payserv, seen);
  return problems;
}

export function processWithdrawal(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(
    ps,
    'Process',
    caller,
    id,
    ['processing'],
    async (v) => {
      const wallet = await getWallet(ps.db, v.w.walletId);
      const no = businessProblem(ps, v, wallet);
      if (no) return decline(ps, v, no.code, no.message);
      const now = ps.now();
      const day = new Date(now.getTime() - 86_400_000);
      const decision = decide(ps.policies.get(v.coin.tag), {
        amount: v.w.amount,
        userLast24h: await sumSince(ps, v.coin.id, v.w.userId, day),
        coinLast24h: await sumSince(ps, v.coin.id, null, day),
        walletSignedAt: wallet?.signedAt ?? now,
        now,
      });
      if (decision.approve) return move(ps, v, 'approved', 'APPROVED');
      const r = await move(ps, v, 'pending', 'PENDING', { comment: `waits for a manager: ${decision.reason}` });
      return r.reply === 'PENDING' ? { ...r, code: 'policy' } : r;
    },
    (v) => walletIntegrity(ps, v),
  );
}

export function declineRequest(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(ps, 'Decline', caller, id, ['pending'], (v) => decline(ps, v, 'manager_declined', `declined by ${caller}`));
}

/** Approve and Resend: a coin with a chain driver is paid on-chain; any other coin is approved for an operator to pay. */
function payOrApprove(
  ps: Payserv,
  method: string,
  caller: string,
  id: number,
  accepts: readonly WithdrawalStatus[],
): Promise<PayoutResult> {
  return guarded(
    ps,
    method,
    caller,
    id,
    accepts,
    async (v) => {
      const gone = (await amountStillPayable(ps, v)) ?? (await walletStillPayable(ps, v));
      if (gone) return gone;
      const driver = ps.drivers.get(v.coin.tag);
      if (driver) return (await payWithdrawals(ps, driver, [v], caller))[0] ?? refused(id, v.w.status, 'not_paid', 'not paid');
      if (v.w.status === 'approved') return result('APPROVED', v.w);
      return move(ps, v, 'approved', 'APPROVED', { comment: `approved by ${caller}; paid by an operator` });
    },
    (v) => walletIntegrity(ps, v),
  );
}

export const approveWithdrawal = (ps: Payserv, id: number, caller: string) =>
  payOrApprove(ps, 'Approve', caller, id, ['pending', 'approved']);
export const resendWithdrawal = (ps: Payserv, id: number, caller: string) =>
  payOrApprove(ps, 'Resend', caller, id, ['send_error', 'send_retry']);

export function checkWithdrawal(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(ps, 'Check', caller, id, ['sending'], async (v) => {
    const driver = ps.drivers.get(v.coin.tag);
    if (driver) return checkPayment(ps, driver, v);
    return move(ps, v, 'sent', 'SENT', { comment: `confirmed by ${caller}` });
  });
}

/** An operator paid it by hand: forced to sent. */
export function sendWithdrawal(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(ps, 'Send', caller, id, ['approved', 'sending', 'send_error'], (v) =>
    move(ps, v, 'sent', 'SENT', { comment: `marked sent by ${caller}` }),
  );
}

/** SendCoin's reply for the coin, with each withdrawal's result; an ERROR names its code (api.ts REFUSAL_CODES). */
export type SendCoinResult = { coin: string; results: PayoutResult[]; message?: string } & (
  { reply: 'ERROR'; code: RefusalCode } | { reply: Exclude<Reply, Refusal>; code?: never }
);

/** The most withdrawals one SendCoin call takes on (the rest wait for the next call). */
const SEND_COIN_MAX = 2000;

/** Every approved or retrying withdrawal of a coin, paid in as few transactions as its driver allows. */
/**
 * Pays the given approved (or retrying) withdrawals of one coin in as few transactions as its chain
 * allows, each verified under its lock; one result per id (busy ones refused). SendCoin and autopay.
 */
export async function payTogether(ps: Payserv, driver: ChainDriver, ids: readonly number[], caller: string): Promise<PayoutResult[]> {
  const results: PayoutResult[] = [];
  await withFreeLocks(ps, ids, caller, async (held) => {
    const batch: Verified[] = [];
    for (const id of held) {
      const v = await verifyHeld(ps, 'SendCoin', id, ['approved', 'send_retry'], (x) => walletIntegrity(ps, x));
      const gone = isReply(v) ? null : ((await amountStillPayable(ps, v)) ?? (await walletStillPayable(ps, v)));
      if (isReply(v) || gone) results.push(isReply(v) ? v : (gone as PayoutResult));
      else batch.push(v);
      if (!ps.state.enabled) return;
    }
    if (batch.length) results.push(...(await payWithdrawals(ps, driver, batch, caller)));
  });
  const off = ps.state.enabled ? null : payoutsOff(ps);
  for (const id of ids.filter((x) => !results.some((r) => r.id === x)))
    results.push(off ? refused(id, null, off.code, off.message) : refused(id, null, 'busy', busyMessage(id)));
  return results;
}

export async function sendCoin(ps: Payserv, tag: string, caller: string): Promise<SendCoinResult> {
  const coinTag = tag.toUpperCase();
  const fail = (code: RefusalCode, message: string): SendCoinResult => ({ reply: 'ERROR', coin: coinTag, results: [], code, message });
  if (!ps.state.enabled) {
    const off = payoutsOff(ps);
    return fail(off.code, off.message);
  }
  const [coin] = await ps.db.query(PAYOUTS.coinId, [coinTag]);
  if (!coin) return fail('unknown_coin', `unknown coin ${tag}`);
  const driver = ps.drivers.get(coinTag);
  if (!driver) return fail('no_driver', `coin ${coinTag} has no chain driver: it is paid by an operator, then marked sent with Send`);
  const ids = (await ps.db.query(PAYOUTS.toSend, [coin.id, SEND_COIN_MAX])).map((r) => r.id);
  const results = await payTogether(ps, driver, ids, `SendCoin by ${caller}`);
  const sending = results.filter((r) => r.reply === 'SENDING').length;
  const message = `${sending} of ${ids.length} withdrawals sent`;
  if (results.some((r) => r.reply === 'ERROR') && sending === 0)
    return { reply: 'ERROR', coin: coinTag, results, code: 'none_sent', message };
  return { reply: sending ? 'SENDING' : 'SEND_RETRY', coin: coinTag, results, message };
}
