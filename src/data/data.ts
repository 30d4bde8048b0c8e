import type { Row } from '../db/db.js';
import type { Op } from '../db/op.js';

// payserv's data-access interface. Two implementations: in process (a Db: the embedded default, and
// tests) and over dbgw (src/dbgw/data.ts). Both run the same named operations.

export interface DataTx {
  query<T extends Row = Row>(op: Op<T>, params?: readonly unknown[]): Promise<T[]>;
}

export interface Data extends DataTx {
  /** The database engine behind it (over dbgw: PostgreSQL). */
  readonly kind: 'postgres' | 'pglite';
  /** Human-readable location with no credentials in it. */
  readonly where: string;
  /** Runs fn in one transaction: committed if fn resolves, rolled back if it throws (or if its holder disappears). */
  transaction<T>(fn: (tx: DataTx) => Promise<T>): Promise<T>;
  /**
   * Runs fn on one connection held for its whole duration, outside any transaction: for session-level
   * advisory locks, which the server releases by itself if the holder's connection dies.
   */
  withSession<T>(fn: (session: DataTx) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
