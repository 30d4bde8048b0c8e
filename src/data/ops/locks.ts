import { op } from '../../db/op.js';

// payserv's session-level advisory locks (src/payserv/locks.ts). Each key is computed by payserv from
// the lock's name and a secret only payserv has (src/data/lock-keys.ts) and bound as a bigint: nobody
// else can compute the key of a withdrawal's or a coin's lock, so nobody else can hold it.

/** A granted advisory lock of one of the given keys: which session holds it, and since when that session says it exists. */
export type LockHolderRow = {
  /** The lock's bigint key, as decimal text. */
  key: string;
  pid: number;
  mode: string;
  /** pg_stat_activity's times; null when the server does not tell this role (another user's session). */
  backend_start: Date | null;
  xact_start: Date | null;
  state_change: Date | null;
  application_name: string | null;
};

export const LOCKS = {
  /** $1: the lock's key. */
  tryLock: op<{ ok: boolean }>('locks.tryLock', 'SELECT pg_try_advisory_lock($1::bigint) AS ok'),
  unlock: op('locks.unlock', 'SELECT pg_advisory_unlock($1::bigint)'),
  /** Advisory locks granted to other connections on this database. */
  heldElsewhere: op<{ n: number }>(
    'locks.heldElsewhere',
    "SELECT count(*)::bigint AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
  ),
  /**
   * Every session holding one of the keys $1 (bigint[]). A bigint key is locked as (classid, objid) =
   * its high and low 32 bits with objsubid 1 (the two-int4 form has objsubid 2: another lock); the
   * shift wraps, giving back the signed key. Reads pg_locks, takes no lock.
   */
  holders: op<LockHolderRow>(
    'locks.holders',
    `SELECT ((l.classid::bigint << 32) | l.objid::bigint)::text AS key, l.pid, l.mode,
            a.backend_start, a.xact_start, a.state_change, a.application_name
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND ((l.classid::bigint << 32) | l.objid::bigint) = ANY ($1::bigint[])
      ORDER BY l.pid`,
  ),
} as const;
