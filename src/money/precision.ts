import { AmountError, formatAmount, SCALE, type Amount } from './amount.js';

// The one rule: an amount of a coin has at most the coin's `decimals` decimal places (whole wei, zatoshi).
// Every writer of a coin's amounts asks it, and payserv asks it again before paying what is already written.

/** An amount finer than its coin allows: refused as `bad_amount`, nothing written. */
export class PrecisionError extends AmountError {
  override name = 'PrecisionError';
  readonly code = 'bad_amount';
}

interface CoinDecimals {
  tag: string;
  decimals: number;
}

/** Why `amount` is no amount of `coin` (finer than its decimals), or null. */
export function precisionProblem(amount: Amount, coin: CoinDecimals, what = 'amount'): string | null {
  const { decimals } = coin;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > SCALE) return `${coin.tag} has no valid decimals (${decimals})`;
  if (amount % 10n ** BigInt(SCALE - decimals) === 0n) return null;
  return `${what} ${formatAmount(amount)} has more than ${coin.tag}'s ${decimals} decimal places`;
}

/** Throws PrecisionError naming the amount and the coin when `amount` is finer than the coin's decimals. */
export function assertPrecision(amount: Amount, coin: CoinDecimals, what = 'amount'): void {
  const problem = precisionProblem(amount, coin, what);
  if (problem) throw new PrecisionError(problem);
}
