// dbgw as a service: its own TLS pair (the original kept DBGW.TLS.KEY beside its binary), mutual TLS to
// the payserv and pscli identities only, and no database until it is given one: by payserv through
// Dbgw.Connect once payserv's key store is open, or by dbgw's own [database] url.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/load.js';
import { requireCurrentSchema } from '../db/migrate.js';
import type { Db, Queryable } from '../db/db.js';
import { CATALOG, CATALOG_DIGEST } from '../data/catalog.js';
import { fromWire, rowToWire, type WireValue } from '../data/wire.js';
import { openPostgres } from '../db/postgres.js';
import type { Logger } from '../log/index.js';
import { loadTrust, pkiPaths, revocationCheck } from '../esman/pki-files.js';
import { ConfigError } from '../config/error.js';
import { isConnectionError } from '../db/reach.js';
import type { TlsMaterial } from '../rpc/tls.js';
import { RPC, RpcError } from '../api/jsonrpc.js';
import { startRpcServer, type RpcContext, type RpcServer } from '../rpc/server.js';
import type { Op } from '../db/op.js';
import { DBGW_ACL, DBGW_METHODS, DBGW_VERSION, type DbgwMethod } from '../api/dbgw.js';
import { Sessions, type SessionMode } from './sessions.js';

export interface RunningDbgw {
  server: RpcServer;
  /** Where the database is (no password), or null until connected. */
  database(): string | null;
  stop(): Promise<void>;
}

interface Connection {
  db: Db;
  url: string;
}

type ConnectParams = { url: string; pool_size?: number; statement_timeout_ms?: number };
type QueryParams = { op: string; params: WireValue[]; session?: string };

/** Runs one named operation; the database's refusal goes back with its SQLSTATE, never as an internal error. */
async function runOp(q: Queryable, op: Op, p: QueryParams): Promise<{ rows: Record<string, WireValue>[] }> {
  if (p.params.length !== op.arity)
    throw new RpcError(RPC.INVALID_PARAMS, `operation ${op.name} takes ${op.arity} parameters, not ${p.params.length}`);
  let rows;
  try {
    rows = await q.query(op, p.params.map(fromWire));
  } catch (e) {
    const err = e as Error & { code?: unknown };
    throw new RpcError(
      RPC.DB_ERROR,
      `operation ${op.name}: ${err.message}`,
      typeof err.code === 'string' ? { sqlstate: err.code } : undefined,
    );
  }
  return { rows: rows.map(rowToWire) };
}

/**
 * dbgw's TLS pair and the pinned root, from its state directory. A missing or unreadable one is a deployment
 * step not done (README "Preparing a host", step 5): a configuration error naming the file and where its
 * directory comes from, not a raw ENOENT.
 */
function dbgwTls(config: Config<'dbgw'>): TlsMaterial {
  const p = pkiPaths(config.stateDir);
  const fix = `dbgw reads it from its state directory ${config.stateDir} (state_dir in ${config.file ?? 'dbgw.toml'}, --state-dir or $PAYSERV_STATE_DIR)`;
  const read = (path: string, what: string, how: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      throw new ConfigError(
        `${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}; ${fix}: ${how}`,
      );
    }
  };
  const install = "install the certificate from payserv's state directory";
  read(p.root, 'the pinned root certificate', install);
  let caPem: string;
  try {
    caPem = loadTrust(config.stateDir).root.toString();
  } catch (e) {
    throw new ConfigError((e as Error).message);
  }
  return {
    certPem: read(p.tlsCert('dbgw'), 'the dbgw TLS certificate', install),
    keyPem: read(p.tlsKey('dbgw'), 'the dbgw TLS key', `esman export dbgw.TLS.KEY --to ${p.tlsKey('dbgw')}`),
    caPem,
  };
}

export async function startDbgw(config: Config<'dbgw'>, log: Logger): Promise<RunningDbgw> {
  const tls = dbgwTls(config);
  let conn: Connection | null = null;
  const sessions = new Sessions(config.sessions.idle_ms, log);
  let connecting: Promise<Connection> | null = null;

  const connect = (c: ConnectParams): Promise<Connection> => {
    if (conn) {
      if (conn.url !== c.url)
        throw new RpcError(RPC.INVALID_PARAMS, `dbgw is already connected to ${conn.db.where}: restart it to change the database`);
      return Promise.resolve(conn);
    }
    connecting ??= (async () => {
      const poolSize = c.pool_size ?? config.database.poolSize;
      const db = await openPostgres({
        url: c.url,
        poolSize,
        statementTimeoutMs: c.statement_timeout_ms ?? config.database.statementTimeoutMs,
      });
      try {
        // A database of another schema (or none) is refused before any operation reaches it.
        await requireCurrentSchema(db);
      } catch (e) {
        await db.close().catch(() => undefined);
        throw e;
      }
      conn = { db, url: c.url };
      sessions.setPoolSize(poolSize);
      log.warn({ database: db.where }, 'database connected: dbgw serves its operations');
      return conn;
    })().finally(() => (connecting = null));
    return connecting;
  };

  if (config.database.url) await connect({ url: config.database.url });
  const db = (): Db => {
    if (!conn)
      throw new RpcError(RPC.NOT_CONNECTED, 'dbgw has no database yet: payserv hands it over with Dbgw.Connect once its key store is open');
    return conn.db;
  };

  const handlers: Record<DbgwMethod, (params: unknown, ctx: RpcContext) => Promise<unknown>> = {
    'Dbgw.Version': async () => ({ ...DBGW_VERSION, catalog: CATALOG_DIGEST }),
    'Dbgw.Status': async () => ({
      connected: conn !== null,
      database: conn?.db.where ?? null,
      sessions: sessions.size,
      operations: CATALOG.size,
    }),
    'Dbgw.Connect': async (params) => {
      const c = await connect(params as ConnectParams).catch((e: Error) => {
        if (e instanceof RpcError) throw e;
        // The message names the (redacted) address and why; the URL's password never leaves. A database out of
        // reach is still no database (payserv waits and hands it over again); anything else is a refusal of these parameters.
        throw new RpcError(isConnectionError(e) ? RPC.NOT_CONNECTED : RPC.INVALID_PARAMS, `cannot connect: ${e.message}`);
      });
      return { connected: true, database: c.db.where };
    },
    'Dbgw.Query': async (params, ctx) => {
      const p = params as QueryParams;
      const op = CATALOG.get(p.op);
      if (!op) throw new RpcError(RPC.INVALID_PARAMS, `unknown operation ${JSON.stringify(p.op)}`);
      // Only payserv writes; pscli's checks read, outside any session.
      if (ctx.identity !== 'payserv' && (!op.readOnly || p.session))
        throw new RpcError(RPC.FORBIDDEN, `${ctx.identity} may run read-only operations only, outside a session: not ${op.name}`);
      return p.session ? sessions.use(p.session, (q) => runOp(q, op, p)) : runOp(db(), op, p);
    },
    // The caller touches a quiet session well within idle_ms; it learns idle_ms here.
    'Dbgw.Begin': async (params) => ({
      session: await sessions.begin(db(), (params as { mode: SessionMode }).mode),
      idle_ms: config.sessions.idle_ms,
    }),
    'Dbgw.End': async (params) => {
      const p = params as { session: string; commit: boolean };
      await sessions.end(p.session, p.commit).catch((e: Error) => {
        if (e instanceof RpcError) throw e;
        throw new RpcError(RPC.DB_ERROR, `commit: ${e.message}`);
      });
      return { ended: true };
    },
    'Dbgw.Touch': async (params) => {
      sessions.touch((params as { session: string }).session);
      return { alive: true };
    },
  };

  const server = await startRpcServer<DbgwMethod>({
    host: config.rpc.host,
    port: config.rpc.port,
    tls,
    certReload: { file: pkiPaths(config.stateDir).tlsCert('dbgw'), identity: 'dbgw' },
    log,
    who: 'dbgw',
    contract: { methods: DBGW_METHODS, allowed: (identity, m) => DBGW_ACL[identity](m) },
    limits: {
      bodyBytesMax: config.rpc.body_bytes_max,
      requestTimeoutMs: config.rpc.request_timeout_ms,
      inFlightMax: config.rpc.in_flight_max,
    },
    handle: (method, params, ctx) => handlers[method](params, ctx),
    operatorRefusal: revocationCheck(config.stateDir, (message, reason) => log.error({ reason }, message)),
  });
  log.warn(
    { address: server.address, port: server.port, connected: conn !== null },
    conn ? 'dbgw started' : 'dbgw started: no database until payserv hands over its parameters (Dbgw.Connect)',
  );
  return {
    server,
    database: () => (conn ? (conn as Connection).db.where : null),
    async stop() {
      await server.close(config.rpc.shutdown_grace_ms);
      await sessions.closeAll();
      await (conn as Connection | null)?.db.close();
      log.warn({}, 'dbgw stopped');
    },
  };
}
