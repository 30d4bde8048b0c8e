import { invariant } from '../../ledger/invariant.js';
import type { Coin, Withdrawal } from '../../ledger/records.js';
import { fromBaseUnits, sub, toBaseUnits, type Amount } from '../../money/amount.js';

// What leaves the hot wallet for a withdrawal: its amount less the pool's withdrawal fee, in base units.

/** The on-chain value of a withdrawal's payment; throws when it is not a positive whole number of base units. */
export function payValue(coin: Pick<Coin, 'decimals' | 'tag'>, w: Pick<Withdrawal, 'id' | 'amount' | 'fee'>): bigint {
  const units = toBaseUnits(sub(w.amount, w.fee), coin.decimals);
  invariant(units > 0n, `withdrawal ${w.id}: amount less fee is not positive`);
  return units;
}

/** Withdrawal `i` of a payment of `n` withdrawals: which of feeShares(fee, n) it carries. */
export interface FeeShare {
  n: number;
  i: number;
}
/** A payment of one withdrawal. */
export const SOLE: FeeShare = { n: 1, i: 0 };

/** A transaction's fee shared by the withdrawals it pays (the remainder on the first), as amounts. */
export function feeShares(fee: bigint, n: number, decimals: number): Amount[] {
  const each = fee / BigInt(n);
  return Array.from({ length: n }, (_, i) => fromBaseUnits(i === 0 ? each + (fee - each * BigInt(n)) : each, decimals));
}
