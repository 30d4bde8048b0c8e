import { op } from '../../db/op.js';
import { FLIGHT_STATUS, inFlightIds } from './in-flight.js';

// payserv's monitor (src/payserv/monitor.ts, finality.ts): sent payments watched to finality
// (migration 0005), and withdrawals stuck in flight. Block numbers and ids are read as text and
// checked by the caller: these rows are input like any other.

export const MONITOR = {
  /**
   * In the transaction that records a withdrawal sent: its transaction watched from where the verdict
   * found it. A batch's later withdrawals join the row; a placement already watched is kept (the watch follows it).
   */
  watchSent: op(
    'monitor.watchSent',
    `INSERT INTO payserv_sent_watch (hash, coin_id, withdrawal_ids, block_number, block_hash, sent_at, expect)
       VALUES ($1, $2, ARRAY[$3::bigint], $4::bigint, $5, $6::timestamptz, $7)
     ON CONFLICT (hash) DO UPDATE SET withdrawal_ids = CASE WHEN $3::bigint = ANY(payserv_sent_watch.withdrawal_ids)
       THEN payserv_sent_watch.withdrawal_ids ELSE payserv_sent_watch.withdrawal_ids || $3::bigint END`,
  ),
  /** Rows not yet final, by hash after $1, at most $2. */
  unfinalPage: op<{
    hash: string;
    coin_id: number;
    withdrawal_ids: unknown;
    block_number: string;
    block_hash: string;
    sent_at: Date;
    expect: string;
  }>(
    'monitor.unfinalPage',
    `SELECT hash, coin_id, withdrawal_ids::text[] AS withdrawal_ids, block_number::text AS block_number, block_hash, sent_at, expect
       FROM payserv_sent_watch WHERE final_at IS NULL AND hash > $1 ORDER BY hash LIMIT $2`,
  ),
  /** The chain's word on one row: where it is now ($2, $3), final since $4 (null: not yet), when asked ($5) and what it said ($6). */
  watched: op(
    'monitor.watched',
    `UPDATE payserv_sent_watch SET block_number = $2::bigint, block_hash = $3, final_at = $4::timestamptz, checked_at = $5::timestamptz, last_result = $6
       WHERE hash = $1 AND final_at IS NULL`,
  ),
  /** Asked, and nothing concluded (unknown, gone): only when and what. */
  checked: op('monitor.checked', 'UPDATE payserv_sent_watch SET checked_at = $2::timestamptz, last_result = $3 WHERE hash = $1'),
  /** The row of one transaction (tests, the operator's eye). */
  byHash: op<{
    hash: string;
    coin_id: number;
    withdrawal_ids: unknown;
    block_number: string;
    block_hash: string;
    final_at: Date | null;
    last_result: string | null;
  }>(
    'monitor.byHash',
    `SELECT hash, coin_id, withdrawal_ids::text[] AS withdrawal_ids, block_number::text AS block_number, block_hash, final_at, last_result
       FROM payserv_sent_watch WHERE hash = $1`,
  ),
  /**
   * Withdrawals in flight (sending, send_retry: by the row's column or by its last signed entry, src/data/ops/in-flight.ts)
   * in that status since before $1, by id after $2, at most $3. "Since" is the signed time of its current status entry
   * (signed_at), or updated_at if older: updated_at is no signature's, so a later one cannot make a payment look young. A
   * row without its current entry (forged, its entry removed, or its column not its last signed status) is always
   * returned: the monitor verifies the rows it reports.
   */
  stuckPage: op<{ id: number; coin_id: number; status: string; tx_hash: string | null; updated_at: Date; signed_at: Date | null }>(
    'monitor.stuckPage',
    `SELECT id, coin_id, status, tx_hash, updated_at, signed_at FROM (
       SELECT w.id, w.coin_id, ${FLIGHT_STATUS} AS status, w.tx_hash, w.updated_at,
              (SELECT s.created_at FROM finances_withdrawal_signatures s
                WHERE s.withdrawal_id = w.id AND s.seq = w.status_seq AND s.status = w.status) AS signed_at
         FROM finances_withdrawal_transaction w WHERE w.id IN (${inFlightIds('$2')})
     ) x WHERE signed_at IS NULL OR LEAST(updated_at, signed_at) < $1::timestamptz ORDER BY id LIMIT $3`,
  ),
} as const;
