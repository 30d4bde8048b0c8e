// Which withdrawals are in flight (sending, send_retry). The row's status column is unsigned: an attacker who sets it
// to `sent` must not hide a payment from the monitor, the metrics, the dashboard, autopay or the checks. So a
// withdrawal is in flight when its column says so OR its last signed status entry does (migration 0008 indexes those
// entries); each reader verifies the rows it gets, and a row whose column and last signed entry disagree is tampering.

/** The statuses of a payment in flight, as SQL. */
const FLIGHT = `('sending', 'send_retry')`;

/** The last signed status of withdrawal `w` (SQL; null: it has none). */
export const LAST_SIGNED_STATUS = `(SELECT l.status FROM finances_withdrawal_signatures l WHERE l.withdrawal_id = w.id ORDER BY l.seq DESC LIMIT 1)`;

/** Withdrawal `w`'s status as the in-flight lists show it: its last signed one when that is in flight, else the column. */
export const FLIGHT_STATUS = `CASE WHEN ${LAST_SIGNED_STATUS} IN ${FLIGHT} THEN ${LAST_SIGNED_STATUS} ELSE w.status END`;

/** The ids (SQL, one column) of withdrawals whose last signed entry is in `statuses` (in flight), id after `after` ($n). */
export function signedInFlightIds(after: string, statuses: string = FLIGHT): string {
  return `SELECT s.withdrawal_id FROM finances_withdrawal_signatures s
      WHERE s.status IN ${statuses} AND s.status IN ${FLIGHT} AND s.withdrawal_id > ${after}
        AND NOT EXISTS (SELECT 1 FROM finances_withdrawal_signatures n WHERE n.withdrawal_id = s.withdrawal_id AND n.seq > s.seq)`;
}

/**
 * The ids (SQL, one column `id`) of withdrawals in `statuses` (default: in flight) by their column or by their last signed
 * entry, id after `after` (a parameter such as `$2`). The column half is an index scan (finances_wt_status); the signed
 * half reads finances_ws_in_flight, which holds every signed in-flight entry ever made (one per payment or more), and
 * drops those followed by a later entry: its cost grows with the payments made, not with the whole ledger.
 */
export function inFlightIds(after: string, statuses: string = FLIGHT): string {
  return `SELECT id FROM finances_withdrawal_transaction WHERE status IN ${statuses} AND id > ${after}
    UNION ${signedInFlightIds(after, statuses)}`;
}
