import { op } from '../../db/op.js';
import { AUDIT_TABLE } from './audit.js';
import { FLIGHT_STATUS, inFlightIds } from './in-flight.js';

// The operator dashboard's reads (src/dashboard): each list a LIMITed query over an index, newest or
// oldest first, so that a page costs the same whatever the ledger's size. Amounts come back as text.

/** A withdrawal as the dashboard lists it (the database's row as it is: not verified). */
export type DashboardWithdrawal = {
  id: number;
  tag: string;
  user_id: number;
  address: string;
  amount: string;
  fee: string;
  status: string;
  tx_hash: string | null;
  comment: string;
  created_at: Date;
  updated_at: Date;
};

const COLUMNS = `w.id, c.tag, w.user_id, w.address, w.amount::text AS amount, w.fee::text AS fee, w.status, w.tx_hash, w.comment,
  w.created_at, w.updated_at`;

export const DASHBOARD = {
  /** Withdrawals waiting for a manager (PENDING), oldest first. */
  pending: op<DashboardWithdrawal>(
    'dashboard.pending',
    `SELECT ${COLUMNS} FROM finances_withdrawal_transaction w JOIN coins_coin c ON c.id = w.coin_id
      WHERE w.status = 'pending' AND w.parent_id IS NULL ORDER BY w.id LIMIT $1`,
  ),
  /** Payments in flight (sending, send_retry: by the column or the last signed entry), the longest in that status first. */
  inFlight: op<DashboardWithdrawal>(
    'dashboard.inFlight',
    `SELECT ${COLUMNS.replace('w.status', `${FLIGHT_STATUS} AS status`)} FROM finances_withdrawal_transaction w JOIN coins_coin c ON c.id = w.coin_id
      WHERE w.id IN (${inFlightIds('0')}) ORDER BY w.updated_at, w.id LIMIT $1`,
  ),
  /** The newest sent payments. */
  recentSent: op<DashboardWithdrawal>(
    'dashboard.recentSent',
    `SELECT ${COLUMNS} FROM finances_withdrawal_transaction w JOIN coins_coin c ON c.id = w.coin_id
      WHERE w.status = 'sent' ORDER BY w.id DESC LIMIT $1`,
  ),
  /** One withdrawal, for an action's confirmation page. */
  withdrawal: op<DashboardWithdrawal>(
    'dashboard.withdrawal',
    `SELECT ${COLUMNS} FROM finances_withdrawal_transaction w JOIN coins_coin c ON c.id = w.coin_id WHERE w.id = $1`,
  ),
  /** The audit trail's newest rows (who did what), newest first. */
  audit: op<{ id: number; at: Date; client: string; method: string; target: string; reply: string; code: string | null }>(
    'dashboard.audit',
    `SELECT id, at, client, method, target, reply, code FROM ${AUDIT_TABLE} ORDER BY id DESC LIMIT $1`,
  ),
} as const;
