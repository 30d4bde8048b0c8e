// The one database interface. Both back ends (PostgreSQL over `pg`, embedded PGlite) run the same SQL
// and return rows with the same JS types: BIGINT → number (refused past 2^53), NUMERIC → string,
// TIMESTAMPTZ → Date, BYTEA → Uint8Array.

import type { Op } from './op.js';

export type Row = Record<string, unknown>;

/**
 * A connection in process: named operations (payserv's code: src/data) and, for the pool's writer,
 * migrations and tests, SQL text.
 */
export interface Queryable {
  query<T extends Row = Row>(sql: string | Op<T>, params?: readonly unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations only). */
  exec(sql: string): Promise<void>;
}

/** A Db is also payserv's in-process Data (src/data/data.ts), which it satisfies by its shape. */
export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Human-readable location with no credentials in it. */
  readonly where: string;
  /** Runs fn in one transaction: committed if fn resolves, rolled back if it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs fn on one connection held for its whole duration, outside any transaction: for session-level
   * advisory locks, which the server releases by itself if the holder's connection dies.
   */
  withSession<T>(fn: (session: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export class DbError extends Error {
  override name = 'DbError';
}

/** BIGINT columns are ids and counts: exact up to 2^53, and anything beyond is refused, never rounded. */
export function parseBigintColumn(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new DbError(`BIGINT value out of the exact range: ${text}`);
  return n;
}

/** Credentials never reach a log line or an error message. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    // libpq and pg also take the password as a query parameter.
    for (const k of [...u.searchParams.keys()]) if (/^pass(word)?$/i.test(k)) u.searchParams.set(k, '***');
    return u.toString();
  } catch {
    return '<unparseable database URL>';
  }
}

/** The text to run: an operation's statement, once its parameters are the number it takes. */
export function sqlOf(q: string | Op, params: readonly unknown[] | undefined): string {
  if (typeof q === 'string') return q;
  const n = params?.length ?? 0;
  if (n !== q.arity) throw new DbError(`operation ${q.name} takes ${q.arity} parameters, not ${n}`);
  return q.sql;
}
