import { op } from '../op.js';

// payserv's session-level advisory locks (src/payserv/locks.ts), keyed by a hash of 'payserv:' || name.

export const LOCKS = {
  tryLock: op<{ ok: boolean }>('locks.tryLock', "SELECT pg_try_advisory_lock(hashtextextended('payserv:' || $1, 0)) AS ok"),
  unlock: op('locks.unlock', "SELECT pg_advisory_unlock(hashtextextended('payserv:' || $1, 0))"),
  /** Advisory locks granted to other connections on this database. */
  heldElsewhere: op<{ n: number }>('locks.heldElsewhere',
    "SELECT count(*)::bigint AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"),
} as const;
