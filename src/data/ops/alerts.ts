import { op } from '../../db/op.js';

// Alerts (src/alerts/alerts.ts): an append-only table.

export const ALERTS_TABLE = 'payserv_alerts';

export const ALERTS = {
  insert: op<{ id: number }>(
    'alerts.insert',
    `INSERT INTO ${ALERTS_TABLE} (at, kind, reason, details) VALUES ($1::timestamptz, $2, $3, $4::jsonb) RETURNING id`,
  ),
  newest: op<{ id: number; at: Date; kind: string; reason: string; details: Record<string, unknown> }>(
    'alerts.newest',
    `SELECT id, at, kind, reason, details FROM ${ALERTS_TABLE} ORDER BY id DESC LIMIT $1`,
  ),
} as const;
