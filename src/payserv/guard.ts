import { advanceCoinCheckpoint, advanceUserCheckpoint } from '../checkpoints/advance.js';
import { encodeCoin } from '../ledger/encoding.js';
import { formatProblem, problem, type Problem } from '../ledger/problem.js';
import type { Coin, Signed, Withdrawal, WithdrawalStatus } from '../ledger/records.js';
import { COIN_SIGNER } from '../ledger/roles.js';
import { getWithdrawalWithHistory } from '../store/reads.js';
import { verifyAccount, type AccountVerification } from '../verify/account.js';
import { openView, type LedgerView } from '../verify/view.js';
import { WithdrawalStateError } from '../writer/withdrawals.js';
import type { PayoutResult, Reply } from './api.js';
import type { Payserv } from './context.js';
import { LockBusy, withdrawalLock } from './locks.js';

// Every payout call goes through here: payouts enabled; the withdrawal's lock; the status the method
// accepts; then the account verified from its checkpoint and the coin's pool income reconciled. Any
// integrity problem is a fail-stop; the method body runs only on a verified ledger.

/** What the method body works on, all of it verified in this call. */
export interface Verified {
  view: LedgerView;
  coin: Signed<Coin>;
  w: Withdrawal;
  account: AccountVerification;
}

export const result = (reply: Reply, w: Pick<Withdrawal, 'id' | 'status' | 'txHash'> | { id: number; status: null }, message?: string): PayoutResult => ({
  reply, id: w.id, status: w.status, ...(message ? { message } : {}), ...('txHash' in w && w.txHash ? { txHash: w.txHash } : {}),
});

export const refused = (id: number, status: WithdrawalStatus | null, message: string): PayoutResult => ({ reply: 'ERROR', id, status, message });

/** Disables payouts and answers ERROR naming the first problem. */
export async function failStop(ps: Payserv, what: string, problems: readonly Problem[], id: number, status: WithdrawalStatus | null): Promise<PayoutResult> {
  const lines = problems.map(formatProblem);
  const reason = `${what}: ${lines[0] ?? 'unknown'}${lines.length > 1 ? ` (and ${lines.length - 1} more)` : ''}`;
  await ps.state.failStop(reason, { withdrawal: id, problems: lines.slice(0, 50) });
  return refused(id, status, ps.state.status().reason ?? reason);
}

function refusedIfDisabled(ps: Payserv, id: number, status: WithdrawalStatus | null): PayoutResult | null {
  return ps.state.enabled ? null : refused(id, status, `payouts are disabled: ${ps.state.status().reason}`);
}

/**
 * `integrity`: the method's own integrity checks (e.g. Process: the wallet's signature). They run with the
 * guard's, before anything is written: a call that fails-stop leaves the ledger and its checkpoints as it found them.
 */
export async function guarded(ps: Payserv, method: string, caller: string, id: number, accepts: readonly WithdrawalStatus[],
  body: (v: Verified) => Promise<PayoutResult>, integrity?: (v: Verified) => Promise<Problem[]>): Promise<PayoutResult> {
  const off = refusedIfDisabled(ps, id, null);
  if (off) return off;
  try {
    return await ps.locks.with(withdrawalLock(id), `${method} by ${caller}`, async () => {
      const found = await getWithdrawalWithHistory(ps.db, id);
      if (!found) return refused(id, null, `unknown withdrawal id ${id}`);
      const status = found.withdrawal.status;
      if (!accepts.includes(status)) return refused(id, status, `withdrawal ${id} is ${status}; ${method} takes ${accepts.join(' or ')}`);
      const view = await openView(ps.db, ps.trust, ps.local);
      const coin = view.coins.get(found.withdrawal.coinId);
      if (!coin) return failStop(ps, method, [problem('finances_withdrawal_transaction', id, 'unknown_coin', `coin ${found.withdrawal.coinId} does not exist`)], id, status);
      const coinWhy = view.book.check(encodeCoin(coin), coin.sigKeyId, coin.signature, COIN_SIGNER, coin.updatedAt);
      if (coinWhy) return failStop(ps, method, [problem('coins_coin', coin.id, 'signature', `coin ${coin.tag}: ${coinWhy}`)], id, status);
      const account = await verifyAccount(view, found.withdrawal.userId, found.withdrawal.coinId, 'incremental');
      if (account.problems.length) return failStop(ps, method, account.problems, id, status);
      const w = account.open.find((o) => o.id === id);
      if (!w) {
        return failStop(ps, method, [problem('finances_withdrawal_transaction', id, 'status_rolled_back',
          `${status}, but its account's checkpoint covers it as final`)], id, status);
      }
      const more = integrity ? await integrity({ view, coin, w, account }) : [];
      if (more.length) return failStop(ps, method, more, id, status);
      const pool = await advanceCoinCheckpoint(ps.db, view, ps.signers.payserv, coin.id, ps.now());
      if (!pool.ok) return failStop(ps, method, pool.problems, id, status);
      // A concurrent call on another withdrawal may have failed-stop meanwhile.
      return refusedIfDisabled(ps, id, status) ?? (await body({ view, coin, w, account }));
    });
  } catch (e) {
    if (e instanceof LockBusy) return refused(id, null, `withdrawal ${id} is being handled by another call; try again`);
    if (e instanceof WithdrawalStateError) return refused(id, null, e.message);
    throw e;
  }
}

/** After a status change: the account's checkpoint moves over it (a status change is never left uncovered). */
export async function checkpointAfter(ps: Payserv, v: Verified, changed: Withdrawal): Promise<PayoutResult | null> {
  const r = await advanceUserCheckpoint(ps.db, v.view, ps.signers.payserv, changed.userId, changed.coinId, ps.now());
  return r.ok ? null : failStop(ps, 'checkpoint', r.problems, changed.id, changed.status);
}
