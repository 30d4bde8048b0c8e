import type { Verdict } from '../../chains/driver.js';
import type { PayoutResult } from '../../api/payserv.js';
import type { Payserv } from '../context.js';
import type { Verified } from '../guard.js';
import { move } from '../moves.js';
import { watchSent } from '../../data/chain-store.js';
import { feeShares, type FeeShare } from './value.js';
import { approvedAt, tell } from '../events.js';

// A payment the chain confirmed, recorded: the withdrawal `sent` by its transaction, and that transaction
// watched to finality (migration 0005) in the same database transaction, so that no withdrawal is ever
// recorded sent without its watch, whichever of Check or Resend found it mined.

/** `payees`: how many withdrawals the transaction pays (its fee is shared among them). */
export async function recordSent(
  ps: Payserv,
  v: Verified,
  verdict: Extract<Verdict, { kind: 'confirmed' }>,
  share: FeeShare,
  comment: string,
): Promise<PayoutResult> {
  const fee = feeShares(verdict.fee, share.n, v.coin.decimals)[share.i];
  const r = await move(ps, v, 'sent', 'SENT', { txHash: verdict.hash, ...(fee === undefined ? {} : { txFee: fee }), comment }, (tx) =>
    watchSent(tx, { coinId: v.coin.id, withdrawalId: v.w.id, hash: verdict.hash, block: verdict.block, at: ps.now() }),
  );
  const approved = approvedAt(v.history);
  tell(ps, (e) => e.confirmed(v.coin.tag, fee ?? null, approved ? ps.now().getTime() - approved.getTime() : null));
  return r;
}
