import { formatAmount, type Amount } from '../money/amount.js';

// When Process may approve by itself (DESIGN §4, issue 3): only when a configured rule for the coin
// allows it; otherwise the request waits as PENDING for a manager. No rule: everything waits.

export interface CoinPolicy {
  /** The largest single withdrawal approved automatically. */
  amountMax: Amount;
  /** The user's total over the last 24 h (this one included) approved automatically. */
  userDailyMax: Amount;
  /** The coin's total over the last 24 h (this one included) approved automatically. */
  coinDailyMax: Amount;
  /** The wallet must have been reviewed and signed at least this long ago. */
  walletAgeHoursMin: number;
}

export interface PolicyFacts {
  amount: Amount;
  userLast24h: Amount;
  coinLast24h: Amount;
  walletSignedAt: Date;
  now: Date;
}

export type Decision = { approve: true } | { approve: false; reason: string };

export function decide(policy: CoinPolicy | undefined, f: PolicyFacts): Decision {
  if (!policy) return { approve: false, reason: 'no automatic approval is configured for this coin' };
  if (f.amount > policy.amountMax)
    return { approve: false, reason: `amount ${formatAmount(f.amount)} is above ${formatAmount(policy.amountMax)}` };
  const user = f.userLast24h + f.amount;
  if (user > policy.userDailyMax)
    return {
      approve: false,
      reason: `the user's 24 h total ${formatAmount(user as Amount)} would pass ${formatAmount(policy.userDailyMax)}`,
    };
  const coin = f.coinLast24h + f.amount;
  if (coin > policy.coinDailyMax)
    return {
      approve: false,
      reason: `the coin's 24 h total ${formatAmount(coin as Amount)} would pass ${formatAmount(policy.coinDailyMax)}`,
    };
  const ageHours = (f.now.getTime() - f.walletSignedAt.getTime()) / 3_600_000;
  if (ageHours < policy.walletAgeHoursMin)
    return { approve: false, reason: `the wallet was reviewed ${ageHours.toFixed(1)} h ago, less than ${policy.walletAgeHoursMin} h` };
  return { approve: true };
}

/** Automatic threshold payouts of one coin ([autopay.coins.*]): the state machine holds them, autopay runs them. */
export interface AutopaySettings {
  threshold: Amount;
  requirePeers: number;
  maxPerRun: number;
}
