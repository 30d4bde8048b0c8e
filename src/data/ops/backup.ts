import { op, type Op } from '../../db/op.js';

// Backup.Take's reads (src/payserv/backup.ts): every table of the schema, a page at a time, inside one
// REPEATABLE READ transaction, so the pages of all tables are one moment of the database. The same SQL
// on PostgreSQL and PGlite, and through dbgw (named operations like every other).

/** Every table of the schema (migrations 0001..0007), parents before the tables that refer to them: the order a restore inserts. */
export const BACKUP_TABLES = [
  'crypto_certs',
  'coins_coin',
  'users_userwallets',
  'finances_proxypool_transactions',
  'finances_user_balance_transaction',
  'finances_withdrawal_transaction',
  'finances_withdrawal_signatures',
  'finances_user_balance_checkpoints',
  'finances_coin_checkpoints',
  'payserv_audit',
  'payserv_alerts',
  'payserv_chain_txs',
  'payserv_nonces',
  'payserv_utxo_reservations',
  'payserv_autopay',
  'users_autopay_thresholds',
  'payserv_sent_watch',
] as const;

export type BackupTable = (typeof BACKUP_TABLES)[number];

const camel = (t: string) => t.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** One page of a table as JSON text per row, in the order of its storage (stable inside one snapshot): $1 limit, $2 offset. */
const pages = Object.fromEntries(
  BACKUP_TABLES.map((t) => [
    t,
    op<{ row: string }>(`backup.${camel(t)}`, `SELECT to_jsonb(t)::text AS row FROM ${t} t ORDER BY ctid LIMIT $1 OFFSET $2`),
  ]),
) as Record<BackupTable, Op<{ row: string }>>;

export const BACKUP = {
  /** The first statement of the backup's transaction: every later read sees the same snapshot. */
  snapshot: op('backup.snapshot', 'SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY'),
  migrations: op<{ version: number; name: string; checksum: string }>(
    'backup.migrations',
    'SELECT version, name, checksum FROM schema_migrations ORDER BY version',
  ),
  ...pages,
};
