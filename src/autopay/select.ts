import { invariant } from '../ledger/invariant.js';
import type { Coin } from '../ledger/records.js';
import { formatAmount, sum, type Amount } from '../money/amount.js';

// Who autopay pays in one run for one coin: pure rules, no I/O. The caller reads the candidates
// (verified balances, thresholds, signed wallets) and writes the requests; this only decides.
// Each user is paid the whole available balance, so one request empties the account and the next
// run starts from zero. Only actionable skips are reported by user: the thousands below their
// threshold are counted, not listed.

/** The part of a coin the rules read. */
export type AutopayCoin = Pick<Coin, 'tag' | 'minWithdrawal' | 'withdrawalFee'>;

export interface AutopayRules {
  coin: AutopayCoin;
  /** The coin's threshold from configuration: no one is paid below it. */
  threshold: Amount;
  /** At most this many requests per run, so one run stays small enough to review. */
  maxPerRun: number;
}

export interface Candidate {
  userId: number;
  /** Verified credits − debits for the coin. */
  available: Amount;
  /** The user's own threshold, if set. */
  ownThreshold: Amount | null;
  /** The user's reviewed, signed, active wallet for the coin; null: walletProblem says why. */
  walletId: number | null;
  walletProblem: string | null;
}

export interface Payee {
  userId: number;
  walletId: number;
  /** The whole available balance; the chain output is amount − fee. */
  amount: Amount;
  fee: Amount;
}

export interface Skipped {
  userId: number;
  reason: string;
}

export interface Selection {
  /** Largest amount first, ties by lower userId. */
  payees: Payee[];
  /** Ordered by userId. */
  skipped: Skipped[];
  /** Candidates below their effective threshold: counted, not listed. */
  belowThreshold: number;
  /** The sum of the payees' amounts. */
  total: Amount;
}

/** A user's own threshold can raise the coin's, never lower it. */
export function effectiveThreshold(coinThreshold: Amount, own: Amount | null): Amount {
  return own !== null && own > coinThreshold ? own : coinThreshold;
}

export function selectPayees(rules: AutopayRules, candidates: Iterable<Candidate>): Selection {
  const { coin, threshold, maxPerRun } = rules;
  // A zero threshold would make every empty account an actionable "at most the fee" skip.
  if (threshold <= 0n) throw new Error(`${coin.tag}: autopay threshold must be > 0, not ${formatAmount(threshold)}`);
  if (coin.withdrawalFee < 0n || coin.minWithdrawal < 0n) throw new Error(`${coin.tag}: negative withdrawal fee or minimum`);
  if (!Number.isSafeInteger(maxPerRun) || maxPerRun < 1)
    throw new Error(`${coin.tag}: max_per_run must be an integer ≥ 1, not ${maxPerRun}`);

  const seen = new Set<number>();
  const qualifying: Payee[] = [];
  const skipped: Skipped[] = [];
  let belowThreshold = 0;
  for (const c of candidates) {
    // Two rows for one user would pay one balance twice: the caller's query is wrong, stop.
    invariant(!seen.has(c.userId), `${coin.tag}: user ${c.userId} is a candidate twice`);
    seen.add(c.userId);
    if (c.available < effectiveThreshold(threshold, c.ownThreshold)) {
      belowThreshold++;
      continue;
    }
    if (c.walletId === null) {
      skipped.push({ userId: c.userId, reason: `no signed wallet: ${c.walletProblem ?? 'none given'}` });
    } else if (c.available < coin.minWithdrawal) {
      // Possible when the threshold is configured below the coin's minimum.
      skipped.push({
        userId: c.userId,
        reason: `below the coin's minimum withdrawal ${formatAmount(coin.minWithdrawal)} ${coin.tag}: ${formatAmount(c.available)} available`,
      });
    } else if (c.available <= coin.withdrawalFee) {
      skipped.push({
        userId: c.userId,
        reason: `not above the withdrawal fee ${formatAmount(coin.withdrawalFee)} ${coin.tag}: ${formatAmount(c.available)} available, nothing would reach the chain`,
      });
    } else {
      qualifying.push({ userId: c.userId, walletId: c.walletId, amount: c.available, fee: coin.withdrawalFee });
    }
  }

  // Largest balances first: the users owed most wait least; the rest are first next run.
  qualifying.sort((a, b) => (a.amount === b.amount ? a.userId - b.userId : a.amount > b.amount ? -1 : 1));
  const payees = qualifying.slice(0, maxPerRun);
  for (const p of qualifying.slice(maxPerRun)) skipped.push({ userId: p.userId, reason: `over max_per_run (${maxPerRun}): next run` });
  skipped.sort((a, b) => a.userId - b.userId);
  return { payees, skipped, belowThreshold, total: sum(payees.map((p) => p.amount)) };
}
