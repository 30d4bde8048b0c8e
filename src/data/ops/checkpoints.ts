import { op } from '../../db/op.js';

// Writes of the database copy of checkpoints (src/verify/advance.ts).

export const CHECKPOINTS = {
  // Held to the end of the transaction: one advance of a given checkpoint at a time, across processes.
  // $1: the key payserv derives from the checkpoint's name (src/data/lock-keys.ts), so nobody else can take it.
  lock: op('checkpoints.lock', 'SELECT pg_advisory_xact_lock($1::bigint)'),

  // Only from the version before ($3 - 1 / $2 - 1): no row returned means another writer moved it, or it was tampered with.
  upsertUser: op(
    'checkpoints.upsertUser',
    `INSERT INTO finances_user_balance_checkpoints (user_id, coin_id, version, last_credit_id, last_block_hash, credit_total, last_withdrawal_id,
       debit_total, sent_total, status_count, head_withdrawal_id, head_debit, open_status_count, made_at, sig_key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
     ON CONFLICT (user_id, coin_id) DO UPDATE SET version = EXCLUDED.version, last_credit_id = EXCLUDED.last_credit_id,
       last_block_hash = EXCLUDED.last_block_hash, credit_total = EXCLUDED.credit_total, last_withdrawal_id = EXCLUDED.last_withdrawal_id,
       debit_total = EXCLUDED.debit_total, sent_total = EXCLUDED.sent_total, status_count = EXCLUDED.status_count,
       head_withdrawal_id = EXCLUDED.head_withdrawal_id, head_debit = EXCLUDED.head_debit, open_status_count = EXCLUDED.open_status_count,
       made_at = EXCLUDED.made_at, sig_key_id = EXCLUDED.sig_key_id, signature = EXCLUDED.signature
     WHERE finances_user_balance_checkpoints.version = $3 - 1
     RETURNING version`,
  ),
  upsertCoin: op(
    'checkpoints.upsertCoin',
    `INSERT INTO finances_coin_checkpoints (coin_id, version, last_income_id, pool_balance, last_block_hash, last_fee_credit_id, fee_total, made_at, sig_key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (coin_id) DO UPDATE SET version = EXCLUDED.version, last_income_id = EXCLUDED.last_income_id, pool_balance = EXCLUDED.pool_balance,
       last_block_hash = EXCLUDED.last_block_hash, last_fee_credit_id = EXCLUDED.last_fee_credit_id, fee_total = EXCLUDED.fee_total,
       made_at = EXCLUDED.made_at, sig_key_id = EXCLUDED.sig_key_id, signature = EXCLUDED.signature
     WHERE finances_coin_checkpoints.version = $2 - 1
     RETURNING version`,
  ),

  /** Every (user, coin) with a credit or a withdrawal, in key order: the accounts advanceAll walks. */
  accountsPage: op<{ user_id: number; coin_id: number }>(
    'checkpoints.accountsPage',
    `SELECT user_id, coin_id FROM (SELECT user_id, coin_id FROM finances_user_balance_transaction
            UNION SELECT user_id, coin_id FROM finances_withdrawal_transaction) a
          WHERE (user_id, coin_id) > ($1, $2) ORDER BY user_id, coin_id LIMIT $3`,
  ),
} as const;
