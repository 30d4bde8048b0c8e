import { validateAddress } from '../chains/address.js';
import { encodeCoin } from '../ledger/encoding.js';
import { problem, type Problem } from '../ledger/problem.js';
import type { Coin, Withdrawal } from '../ledger/records.js';
import { COIN_SIGNER } from '../ledger/roles.js';
import { isFinal } from '../ledger/status.js';
import { precisionProblem } from '../money/precision.js';
import { isRetired, isReviewed, walletSignatureProblem } from '../ledger/wallets.js';
import { streamWallets } from '../store/reads.js';
import type { LedgerView } from './view.js';
import { verifyWallets } from './wallets.js';

// Coins and wallets: signed by an admin after review. A wallet not signed yet is awaiting review, not
// a problem; it simply cannot be paid to. A reviewed wallet is a signed record in every state: the pool
// deletes or deactivates it under the admin's signature (src/writer/wallets.ts), so a flag flipped
// without one is tampering like any other edit. Where this host remembers an account's wallets
// (payserv's state directory), a retired wallet come back or a remembered one gone is reported too.

export function checkCoins(view: LedgerView, report: (p: Problem) => void): number {
  for (const c of view.coins.values()) {
    const why = view.book.check(encodeCoin(c), c.sigKeyId, c.signature, COIN_SIGNER, c.updatedAt);
    if (why) report(problem('coins_coin', c.id, 'signature', `coin ${c.tag}: ${why}`));
    // Every request of the coin pays at least its fee and minimum: finer ones make every request unpayable.
    const finer = precisionProblem(c.withdrawalFee, c, 'withdrawal fee') ?? precisionProblem(c.minWithdrawal, c, 'minimum withdrawal');
    if (finer) report(problem('coins_coin', c.id, 'precision', `coin ${c.tag}: ${finer}`));
  }
  return view.coins.size;
}

export interface WalletsReport {
  wallets: number;
  unsigned: number;
  /** Accounts whose wallets this host remembers, each checked against that memory. */
  remembered: number;
}

export async function checkWallets(view: LedgerView, report: (p: Problem) => void): Promise<WalletsReport> {
  const out: WalletsReport = { wallets: 0, unsigned: 0, remembered: 0 };
  for await (const w of streamWallets(view.db)) {
    out.wallets++;
    if (!isReviewed(w)) {
      if (!isRetired(w)) out.unsigned++;
      continue;
    }
    const bad = walletSignatureProblem(view.book, w);
    if (bad) report(bad);
    // A retired wallet is never paid to: its coin and address no longer matter.
    if (isRetired(w)) continue;
    const coin = view.coins.get(w.coinId);
    if (!coin) {
      report(problem('users_userwallets', w.id, 'unknown_coin', `wallet of unknown coin ${w.coinId}`));
      continue;
    }
    const why = validateAddress(coin, w.address);
    if (why) report(problem('users_userwallets', w.id, 'address', why));
  }
  for await (const { userId, coinId } of view.local.listWalletAccounts()) {
    out.remembered++;
    // Signatures were judged above, row by row: only what the memory adds.
    for (const p of (await verifyWallets(view, userId, coinId)).problems) if (p.code !== 'signature') report(p);
  }
  return out;
}

/**
 * An open withdrawal whose amount or fee is finer than its coin's decimals: payserv declines it when it
 * comes to pay it (bad_amount). Once declined it is final and no longer reported (its rows stay signed).
 */
export function withdrawalPrecisionProblem(coin: Pick<Coin, 'tag' | 'decimals'>, w: Withdrawal): Problem | null {
  if (isFinal(w.status)) return null;
  const finer = precisionProblem(w.amount, coin, 'amount') ?? precisionProblem(w.fee, coin, 'fee');
  return finer ? problem('finances_withdrawal_transaction', w.id, 'precision', `withdrawal ${w.id} (${w.status}): ${finer}`) : null;
}
