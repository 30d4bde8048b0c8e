import { op } from '../../db/op.js';
import { FLIGHT_STATUS, signedInFlightIds } from './in-flight.js';

// Automatic payouts (src/autopay): the per-coin runner lock and halt, users' own thresholds, and the
// coin's open withdrawals (the pending log resolve settles).

export type AutopayRow = {
  coin_id: number;
  state: 'idle' | 'running' | 'halted';
  holder: string;
  since: Date;
  reason: string;
  withdrawal_id: number | null;
};

const COLUMNS = 'coin_id, state, holder, since, reason, withdrawal_id';

export const AUTOPAY = {
  ensure: op(
    'autopay.ensure',
    "INSERT INTO payserv_autopay (coin_id, state, since) VALUES ($1, 'idle', $2::timestamptz) ON CONFLICT (coin_id) DO NOTHING",
  ),
  // One runner per coin: only an idle row can be taken, by one UPDATE.
  take: op<{ coin_id: number }>(
    'autopay.take',
    "UPDATE payserv_autopay SET state = 'running', holder = $2, since = $3::timestamptz, reason = '', withdrawal_id = NULL WHERE coin_id = $1 AND state = 'idle' RETURNING coin_id",
  ),
  release: op<{ coin_id: number }>(
    'autopay.release',
    "UPDATE payserv_autopay SET state = 'idle', holder = '', since = $3::timestamptz WHERE coin_id = $1 AND state = 'running' AND holder = $2 RETURNING coin_id",
  ),
  halt: op<{ coin_id: number }>(
    'autopay.halt',
    "UPDATE payserv_autopay SET state = 'halted', reason = $3, withdrawal_id = $4, since = $5::timestamptz WHERE coin_id = $1 AND holder = $2 RETURNING coin_id",
  ),
  unlock: op<{ state: string }>(
    'autopay.unlock',
    "UPDATE payserv_autopay SET state = 'idle', holder = '', reason = '', withdrawal_id = NULL, since = $2::timestamptz WHERE coin_id = $1 AND state <> 'idle' RETURNING state",
  ),
  get: op<AutopayRow>('autopay.get', `SELECT ${COLUMNS} FROM payserv_autopay WHERE coin_id = $1`),
  all: op<AutopayRow>('autopay.all', `SELECT ${COLUMNS} FROM payserv_autopay ORDER BY coin_id LIMIT $1`),
  userThreshold: op<{ threshold: string }>(
    'autopay.userThreshold',
    'SELECT threshold FROM users_autopay_thresholds WHERE user_id = $1 AND coin_id = $2',
  ),
  // The coin's withdrawals not yet final, oldest first: every payment that may be in flight (by the column, or by the last
  // signed entry: a row set to `sent` by SQL is still seen, with its signed status).
  open: op<{ id: number; status: string }>(
    'autopay.open',
    `SELECT w.id, ${FLIGHT_STATUS} AS status FROM finances_withdrawal_transaction w
      WHERE w.coin_id = $1 AND w.parent_id IS NULL AND w.id IN (
        SELECT id FROM finances_withdrawal_transaction WHERE coin_id = $1 AND status NOT IN ('sent', 'processed', 'declined') AND id > $2
        UNION ${signedInFlightIds('$2')}) ORDER BY w.id LIMIT $3`,
  ),
} as const;
