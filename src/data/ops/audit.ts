import { op } from '../../db/op.js';

// The audit trail (src/payserv/audit.ts): appends under one lock, and keyset pages for verification.

export const AUDIT_TABLE = 'payserv_audit';
export const AUDIT_COLUMNS = 'id, at, client, method, target, reply, duration_ms, prev_hash, hash, code';

/** An audit row as the database returns it. */
export type AuditDbRow = {
  id: number;
  at: Date;
  client: string;
  method: string;
  target: string;
  reply: string;
  duration_ms: number;
  prev_hash: Uint8Array | null;
  hash: Uint8Array;
  /** The refusal code (migration 0006); null when the call was not refused, and on older rows. */
  code: string | null;
};

export const AUDIT = {
  /** $1: the appends' advisory lock key (derived from payserv's key, src/data/lock-keys.ts), held to the end of the transaction. */
  lock: op('audit.lock', 'SELECT pg_advisory_xact_lock($1::bigint)'),
  last: op<{ id: number; hash: Uint8Array }>('audit.last', `SELECT id, hash FROM ${AUDIT_TABLE} ORDER BY id DESC LIMIT 1`),
  hashOf: op<{ hash: Uint8Array }>('audit.hashOf', `SELECT hash FROM ${AUDIT_TABLE} WHERE id = $1`),
  // The id is taken before the insert: it is part of the hashed row.
  nextId: op<{ id: number }>('audit.nextId', `SELECT nextval(pg_get_serial_sequence('${AUDIT_TABLE}', 'id')) AS id`),
  insert: op('audit.insert', `INSERT INTO ${AUDIT_TABLE} (${AUDIT_COLUMNS}) VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9, $10)`),

  firstPage: op<AuditDbRow>('audit.firstPage', `SELECT ${AUDIT_COLUMNS} FROM ${AUDIT_TABLE} ORDER BY id LIMIT $1`),
  pageAfter: op<AuditDbRow>('audit.pageAfter', `SELECT ${AUDIT_COLUMNS} FROM ${AUDIT_TABLE} WHERE id > $1 ORDER BY id LIMIT $2`),
  /** Rows with $1 < id <= $2. */
  countBetween: op<{ n: number }>('audit.countBetween', `SELECT count(*)::int AS n FROM ${AUDIT_TABLE} WHERE id > $1 AND id <= $2`),
} as const;
