import { op } from '../../db/op.js';

// The metrics' reads at scrape time (src/metrics): aggregates the database computes over its indexes,
// a few rows back whatever the ledger's size. Counts and amounts come back as text (exact), for the
// caller to turn into display floats.

/** The newest sent payouts a coin's typical payout is the median of (read with their histories: src/store/reads.ts). */
export const TYPICAL_PAYOUT_SAMPLE = 100;

export const METRICS = {
  /** Withdrawals (reversal rows not counted) by coin and status: the (status, coin_id) index, grouped before the join. */
  withdrawalsByStatus: op<{ tag: string; status: string; n: string }>(
    'metrics.withdrawalsByStatus',
    `SELECT c.tag, s.status, s.n FROM (
       SELECT coin_id, status, count(*) FILTER (WHERE parent_id IS NULL)::text AS n FROM finances_withdrawal_transaction GROUP BY status, coin_id
     ) s JOIN coins_coin c ON c.id = s.coin_id`,
  ),
} as const;
