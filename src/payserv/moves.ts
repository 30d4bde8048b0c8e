import type { DataTx } from '../data/data.js';
import { formatAmount } from '../money/amount.js';
import type { Withdrawal, WithdrawalStatus } from '../ledger/records.js';
import { changeStatus, declineWithdrawal, type StatusChange } from '../writer/withdrawals.js';
import type { PayoutResult, Refusal, RefusalCode, Reply } from '../api/payserv.js';
import type { Payserv } from './context.js';
import { checkpointAfter, result, type Verified } from './guard.js';

// A verified withdrawal's next status: signed by payserv, written with its signature in one
// transaction, logged, and its account's checkpoint moved over it.

/** A write that stands or falls with the status change: run in its transaction, after it. */
export type AlongWith = (tx: DataTx, changed: Withdrawal) => Promise<void>;

/**
 * One status change, signed by payserv and written with its signature in one transaction (with `along`,
 * if given: a `sent` payment's finality watch), then the checkpoint.
 */
export async function move(
  ps: Payserv,
  v: Verified,
  to: WithdrawalStatus,
  reply: Exclude<Reply, Refusal>,
  change: Omit<StatusChange, 'status'> = {},
  along?: AlongWith,
): Promise<PayoutResult> {
  const changed = await ps.db.transaction(async (tx) => {
    const c = await changeStatus(tx, ps.signers.payserv, v.w.id, v.w.status, { ...change, status: to, at: ps.now() });
    if (along) await along(tx, c);
    return c;
  });
  ps.log.info(
    { withdrawal: changed.id, from: v.w.status, to, user: changed.userId, coin: v.coin.tag, amount: formatAmount(changed.amount) },
    'withdrawal status changed',
  );
  if (to === 'sent') noticeSent(ps, v, changed);
  return (await checkpointAfter(ps, v, changed)) ?? result(reply, changed, change.comment || undefined);
}

/** Every way to `sent` (Check's confirmation, an operator's Send) passes here: the payment_sent notice. */
function noticeSent(ps: Payserv, v: Verified, w: Withdrawal): void {
  const amount = formatAmount(w.amount);
  ps.state.notice(
    'payment_sent',
    `withdrawal ${w.id} sent: ${amount} ${v.coin.tag} to user ${w.userId}${w.txHash ? ` in transaction ${w.txHash}` : ''}${w.comment ? ` (${w.comment})` : ''}`,
    {
      withdrawal: w.id,
      user: w.userId,
      coin: v.coin.tag,
      amount,
      fee: formatAmount(w.fee),
      tx: w.txHash,
      tx_fee: w.txFee === null ? null : formatAmount(w.txFee),
    },
  );
}

/** Declines the request (a reversal row gives the amount back); `code` says why (api.ts REFUSAL_CODES). */
export async function decline(ps: Payserv, v: Verified, code: RefusalCode, why: string): Promise<PayoutResult> {
  const { original, reversal } = await ps.db.transaction((tx) =>
    declineWithdrawal(tx, ps.signers.payserv, v.w.id, v.w.status, why, { noWait: true }),
  ); // never waits behind another holder of the account's chain
  ps.log.info(
    {
      withdrawal: original.id,
      reversal: reversal.id,
      from: v.w.status,
      user: original.userId,
      coin: v.coin.tag,
      amount: formatAmount(original.amount),
      code,
      reason: why,
    },
    'withdrawal declined',
  );
  return (await checkpointAfter(ps, v, original)) ?? result('DECLINED', original, why, code);
}
