// payserv's data-access interface over dbgw: each named operation is a Dbgw.Query call carrying the
// name and the bound parameters; a transaction or an advisory-lock session is a dbgw session, kept
// alive while it is open and rolled back on any failure. dbgw restarted: the calls in flight fail, the
// open sessions are gone (the server rolled them back), and the next call hands the database over
// again and carries on.
import type { Data, DataTx } from '../data/data.js';
import type { Op } from '../db/op.js';
import { rowFromWire, toWire, type WireValue } from '../data/wire.js';
import { DbError, type Row } from '../db/db.js';
import type { Logger } from '../log/index.js';
import { RPC, RpcError } from '../api/jsonrpc.js';
import type { DbgwClient } from './client.js';

export interface ConnectParams {
  url: string;
  pool_size?: number;
  statement_timeout_ms?: number;
}

export interface DbgwDataOptions {
  /** What payserv hands over when dbgw has no database (at start, and after a dbgw restart); absent: dbgw has its own. */
  connect?: ConnectParams | undefined;
  log: Logger;
}

/** A database error reported by dbgw: the message and the SQLSTATE, as an in-process driver gives them. */
export class DbgwDbError extends DbError {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

export interface DbgwData extends Data {
  /** Hands the database over now, if this payserv holds its parameters. */
  connect(): Promise<void>;
}

export function dbgwData(client: DbgwClient, opts: DbgwDataOptions): DbgwData {
  const { rpc } = client;
  let connecting: Promise<void> | null = null;

  const connect = (): Promise<void> => {
    if (!opts.connect) return Promise.resolve();
    connecting ??= rpc
      .call<{ database: string }>('Dbgw.Connect', { ...opts.connect })
      .then((r) => opts.log.warn({ dbgw: rpc.endpoint, database: r.database }, 'database handed over to dbgw'))
      .finally(() => (connecting = null));
    return connecting;
  };

  /** One call; a dbgw without its database (restarted) is given it and asked once more: nothing ran the first time. */
  const call = async <T>(
    method: 'Dbgw.Query' | 'Dbgw.Begin' | 'Dbgw.End' | 'Dbgw.Touch',
    params: Record<string, unknown>,
    retry: boolean,
  ): Promise<T> => {
    try {
      return await rpc.call<T>(method, params);
    } catch (e) {
      if (retry && opts.connect && e instanceof RpcError && e.code === RPC.NOT_CONNECTED) {
        await connect();
        return rpc.call<T>(method, params);
      }
      throw e;
    }
  };

  const failure = (what: string, e: unknown): Error => {
    if (e instanceof RpcError && e.code === RPC.DB_ERROR) {
      const state = (e.data as { sqlstate?: unknown } | undefined)?.sqlstate;
      return new DbgwDbError(e.message, typeof state === 'string' ? state : undefined);
    }
    return new DbError(`${what} through dbgw at ${rpc.endpoint}: ${(e as Error).message}`, { cause: e });
  };

  const query = async <T extends Row>(op: Op<T>, params: readonly unknown[] | undefined, session?: string): Promise<T[]> => {
    const wire = (params ?? []).map((v, i) => toWire(v, `${op.name} parameter $${i + 1}`));
    try {
      const r = await call<{ rows: Record<string, WireValue>[] }>(
        'Dbgw.Query',
        { op: op.name, params: wire, ...(session ? { session } : {}) },
        !session,
      );
      return r.rows.map(rowFromWire) as T[];
    } catch (e) {
      throw failure(op.name, e);
    }
  };

  /** Runs fn inside a dbgw session: ended with commit when fn resolves, rolled back when it throws. */
  const within = async <T>(mode: 'transaction' | 'session', fn: (tx: DataTx) => Promise<T>): Promise<T> => {
    let session: string;
    let idleMs: number;
    try {
      ({ session, idle_ms: idleMs } = await call<{ session: string; idle_ms: number }>('Dbgw.Begin', { mode }, true));
    } catch (e) {
      throw failure(`begin ${mode}`, e);
    }
    // Touched three times per idle period: a busy event loop or one slow call does not lose it.
    const keep = setInterval(
      () => void client.keepalive.call('Dbgw.Touch', { session }).catch(() => undefined),
      Math.max(100, Math.floor(idleMs / 3)),
    );
    keep.unref();
    let result: T;
    try {
      result = await fn({ query: (op, params) => query(op, params, session) });
    } catch (e) {
      clearInterval(keep);
      await rpc.call('Dbgw.End', { session, commit: false }).catch(() => undefined);
      throw e;
    }
    clearInterval(keep);
    try {
      await call('Dbgw.End', { session, commit: true }, false);
    } catch (e) {
      throw failure(mode === 'transaction' ? 'commit' : 'end session', e);
    }
    return result;
  };

  return {
    kind: 'postgres',
    where: `PostgreSQL through dbgw at ${rpc.endpoint}`,
    query: (op, params) => query(op, params),
    transaction: (fn) => within('transaction', fn),
    withSession: (fn) => within('session', fn),
    connect,
    close: async () => client.close(),
  };
}
