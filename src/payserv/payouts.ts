import { validateAddress } from '../chains/address.js';
import { encodeWallet } from '../ledger/encoding.js';
import { problem, type Problem } from '../ledger/problem.js';
import type { Signed, Wallet, WithdrawalStatus } from '../ledger/records.js';
import { WALLET_SIGNER } from '../ledger/roles.js';
import { add, formatAmount, parseAmount, ZERO, type Amount } from '../money/amount.js';
import { getWallet } from '../store/reads.js';
import { changeStatus, declineWithdrawal, type StatusChange } from '../writer/withdrawals.js';
import type { PayoutResult, Reply } from './api.js';
import type { Payserv } from './context.js';
import { checkpointAfter, guarded, refused, result, type Verified } from './guard.js';
import { decide } from './policy.js';

// The PayServ.* methods of DESIGN §4, with the original's accepted statuses and replies. Coins without
// a chain driver follow the "other coins" rows: payserv approves, an operator pays and marks them sent.

/** One status change, signed by payserv and written with its signature in one transaction, then the checkpoint. */
async function move(ps: Payserv, v: Verified, to: WithdrawalStatus, reply: Reply, change: Omit<StatusChange, 'status'> = {}): Promise<PayoutResult> {
  const changed = await ps.db.transaction((tx) => changeStatus(tx, ps.signers.payserv, v.w.id, v.w.status, { ...change, status: to, at: ps.now() }));
  ps.log.info({ withdrawal: changed.id, from: v.w.status, to, user: changed.userId, coin: v.coin.tag, amount: formatAmount(changed.amount) }, 'withdrawal status changed');
  return (await checkpointAfter(ps, v, changed)) ?? result(reply, changed, change.comment || undefined);
}

async function decline(ps: Payserv, v: Verified, why: string): Promise<PayoutResult> {
  const { original, reversal } = await ps.db.transaction((tx) => declineWithdrawal(tx, ps.signers.payserv, v.w.id, v.w.status, why));
  ps.log.info({ withdrawal: original.id, reversal: reversal.id, from: v.w.status, user: original.userId, coin: v.coin.tag, amount: formatAmount(original.amount), reason: why },
    'withdrawal declined');
  return (await checkpointAfter(ps, v, original)) ?? result('DECLINED', original, why);
}

/** Why a request cannot be paid as asked (a business failure: it is declined), or null. */
function businessProblem(ps: Payserv, v: Verified, wallet: Signed<Wallet> | null): string | null {
  const { w, coin, account } = v;
  if (!coin.active) return `coin ${coin.tag} is not active`;
  if (w.amount < coin.minWithdrawal) return `amount ${formatAmount(w.amount)} is below the minimum ${formatAmount(coin.minWithdrawal)} ${coin.tag}`;
  if (w.fee < coin.withdrawalFee) return `fee ${formatAmount(w.fee)} is below the coin's fee ${formatAmount(coin.withdrawalFee)}`;
  if (!wallet) return `wallet ${w.walletId} does not exist`;
  if (!wallet.signature) return `wallet ${w.walletId} has not been reviewed and signed yet`;
  if (wallet.userId !== w.userId || wallet.coinId !== w.coinId) return `wallet ${w.walletId} is not a ${coin.tag} wallet of user ${w.userId}`;
  if (wallet.deleted || !wallet.active) return `wallet ${w.walletId} is ${wallet.deleted ? 'deleted' : 'inactive'}`;
  if (wallet.address !== w.address) return `wallet ${w.walletId}'s address is no longer the one requested`;
  const bad = ps.drivers.get(coin.tag)?.validateAddress(coin, w.address) ?? validateAddress(coin, w.address);
  if (bad) return `address ${w.address}: ${bad}`;
  const after = add(w.debitBefore, w.amount);
  if (after > account.creditTotal) {
    return `balance short: credits ${formatAmount(account.creditTotal)} ${coin.tag}, debits with this request ${formatAmount(after)}`;
  }
  return null;
}

async function sumSince(ps: Payserv, coinId: number, userId: number | null, since: Date): Promise<Amount> {
  const [r] = await ps.db.query<{ total: string }>(
    `SELECT coalesce(sum(amount), 0)::text AS total FROM finances_withdrawal_transaction
     WHERE coin_id = $1 AND ($2::bigint IS NULL OR user_id = $2) AND parent_id IS NULL AND created_at > $3
       AND status IN ('approved', 'sending', 'sent', 'send_error', 'send_retry')`, [coinId, userId, since]);
  return r ? parseAmount(r.total) : ZERO;
}

/** A wallet that carries a signature must carry a good one: a bad one is tampering (fail-stop), not a business matter. */
async function walletIntegrity(ps: Payserv, v: Verified): Promise<Problem[]> {
  const wallet = await getWallet(ps.db, v.w.walletId);
  if (!wallet?.signature && !wallet?.sigKeyId) return [];
  // A wallet the site deleted or deactivated after review no longer matches its signature, and cannot
  // be paid to whatever it says: it is declined below, not mistaken for tampering.
  if (wallet.deleted || !wallet.active) return [];
  const why = v.view.book.check(encodeWallet(wallet), wallet.sigKeyId, wallet.signature, WALLET_SIGNER, wallet.signedAt ?? wallet.createdAt);
  return why ? [problem('users_userwallets', wallet.id, 'signature', why)] : [];
}

export function processWithdrawal(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(ps, 'Process', caller, id, ['processing'], async (v) => {
    const wallet = await getWallet(ps.db, v.w.walletId);
    const why = businessProblem(ps, v, wallet);
    if (why) return decline(ps, v, why);
    const now = ps.now();
    const day = new Date(now.getTime() - 86_400_000);
    const decision = decide(ps.policies.get(v.coin.tag), {
      amount: v.w.amount, userLast24h: await sumSince(ps, v.coin.id, v.w.userId, day), coinLast24h: await sumSince(ps, v.coin.id, null, day),
      walletSignedAt: wallet?.signedAt ?? now, now,
    });
    return decision.approve ? move(ps, v, 'approved', 'APPROVED') : move(ps, v, 'pending', 'PENDING', { comment: `waits for a manager: ${decision.reason}` });
  }, (v) => walletIntegrity(ps, v));
}

export function declineRequest(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(ps, 'Decline', caller, id, ['pending'], (v) => decline(ps, v, `declined by ${caller}`));
}

/** Approve and Resend: a coin with a driver pays on-chain (issue 4); any other coin is approved for an operator to pay. */
function payOrApprove(ps: Payserv, method: string, caller: string, id: number, accepts: readonly WithdrawalStatus[]): Promise<PayoutResult> {
  return guarded(ps, method, caller, id, accepts, async (v) => {
    if (ps.drivers.has(v.coin.tag)) return refused(id, v.w.status, `coin ${v.coin.tag}: on-chain payment is not available in this version`);
    if (v.w.status === 'approved') return result('APPROVED', v.w);
    return move(ps, v, 'approved', 'APPROVED', { comment: `approved by ${caller}; paid by an operator` });
  });
}

export const approveWithdrawal = (ps: Payserv, id: number, caller: string) => payOrApprove(ps, 'Approve', caller, id, ['pending', 'approved']);
export const resendWithdrawal = (ps: Payserv, id: number, caller: string) => payOrApprove(ps, 'Resend', caller, id, ['send_error', 'send_retry']);

export function checkWithdrawal(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(ps, 'Check', caller, id, ['sending'], async (v) => {
    if (ps.drivers.has(v.coin.tag)) return refused(id, v.w.status, `coin ${v.coin.tag}: on-chain checks are not available in this version`);
    return move(ps, v, 'sent', 'SENT', { comment: `confirmed by ${caller}` });
  });
}

/** An operator paid it by hand: forced to sent. */
export function sendWithdrawal(ps: Payserv, id: number, caller: string): Promise<PayoutResult> {
  return guarded(ps, 'Send', caller, id, ['approved', 'sending', 'send_error'], (v) => move(ps, v, 'sent', 'SENT', { comment: `marked sent by ${caller}` }));
}

export interface SendCoinResult {
  reply: Reply;
  coin: string;
  results: PayoutResult[];
  message?: string;
}

export async function sendCoin(ps: Payserv, tag: string, caller: string): Promise<SendCoinResult> {
  if (!ps.state.enabled) return { reply: 'ERROR', coin: tag, results: [], message: `payouts are disabled: ${ps.state.status().reason}` };
  const coin = (await ps.db.query<{ id: number }>('SELECT id FROM coins_coin WHERE tag = $1', [tag.toUpperCase()]))[0];
  if (!coin) return { reply: 'ERROR', coin: tag, results: [], message: `unknown coin ${tag}` };
  if (!ps.drivers.has(tag.toUpperCase())) {
    return { reply: 'ERROR', coin: tag, results: [], message: `coin ${tag.toUpperCase()} has no chain driver: it is paid by an operator, then marked sent with Send` };
  }
  void caller;
  return { reply: 'ERROR', coin: tag, results: [], message: 'batch payment is not available in this version' };
}

