import { op } from '../../db/op.js';

// The payout methods' own reads (src/payserv/payouts.ts); their writes are in ./writes.ts.

export const PAYOUTS = {
  /** Withdrawn of a coin since $3 (by user $2, or by everyone when $2 is null), counting every status that pays. */
  sumSince: op<{ total: string }>(
    'payouts.sumSince',
    `SELECT coalesce(sum(amount), 0)::text AS total FROM finances_withdrawal_transaction
     WHERE coin_id = $1 AND ($2::bigint IS NULL OR user_id = $2) AND parent_id IS NULL AND created_at > $3
       AND status IN ('approved', 'sending', 'sent', 'send_error', 'send_retry')`,
  ),
  coinId: op<{ id: number }>('payouts.coinId', 'SELECT id FROM coins_coin WHERE tag = $1'),
  /** A coin's withdrawals waiting to be sent, oldest first, at most $2. */
  toSend: op<{ id: number }>(
    'payouts.toSend',
    `SELECT id FROM finances_withdrawal_transaction WHERE coin_id = $1 AND status IN ('approved', 'send_retry') ORDER BY id LIMIT $2`,
  ),
} as const;
