// payserv's data access at start, once it holds its key: through dbgw when [dbgw] is configured (handing
// it the database's parameters, if payserv holds them), else the database itself, checked to be of the
// current schema. dbgw or the database out of reach is an outage: payserv waits for it (bounded backoff,
// each attempt logged) instead of exiting and coming back locked for another key ceremony. A gateway of
// another release, a refused handover or a database of another schema is a configuration fault: exit 2.
import { setTimeout as sleep } from 'node:timers/promises';
import { RpcError, RPC } from '../api/jsonrpc.js';
import { ConfigError } from '../config/error.js';
import type { Config } from '../config/load.js';
import type { Data } from '../data/data.js';
import { MigrationError, requireCurrentSchema } from '../db/migrate.js';
import { openDatabase } from '../db/open.js';
import { DbgwVersionError, openDbgw } from '../dbgw/client.js';
import { dbgwData } from '../dbgw/data.js';
import type { Logger } from '../log/index.js';
import { scrubSecrets } from '../log/scrub.js';
import type { TlsMaterial } from '../rpc/tls.js';
import { isDataOutage } from './outage.js';

type Database = Config<'payserv'>['database'];

/** The wait between attempts: doubling from the first, never longer than the last. */
export const OPEN_RETRY_MS = { first: 1_000, max: 30_000 } as const;

/** A stop (SIGTERM) while payserv was still starting: nothing runs, nothing to undo. */
export class StoppedBeforeStart extends Error {
  override name = 'StoppedBeforeStart';
}

async function throughDbgw(config: Config<'payserv'>, database: Database, tls: TlsMaterial, log: Logger): Promise<Data> {
  const gw = config.dbgw as NonNullable<Config<'payserv'>['dbgw']>;
  const client = await openDbgw({ host: gw.host, port: gw.port, tls, timeoutMs: gw.timeout_ms }).catch((e: unknown) => {
    throw e instanceof DbgwVersionError ? new ConfigError(e.message) : e;
  });
  const connect = database.url
    ? { url: database.url, pool_size: database.poolSize, statement_timeout_ms: database.statementTimeoutMs }
    : undefined;
  const data = dbgwData(client, { connect, log });
  try {
    await data.connect();
  } catch (e) {
    client.close();
    // NOT_CONNECTED: dbgw could not reach the database (an outage); any other answer refuses these parameters.
    throw e instanceof RpcError && e.code !== RPC.NOT_CONNECTED ? new ConfigError(`dbgw refused the database: ${e.message}`) : e;
  }
  log.warn({ dbgw: client.rpc.endpoint, release: client.version.version, hands_over: connect !== undefined }, 'data access through dbgw');
  return data;
}

async function direct(config: Config<'payserv'>, database: Database): Promise<Data> {
  // One connection holds the advisory locks while another does the work: a pool of one would deadlock.
  if (database.url && database.poolSize < 2)
    throw new ConfigError(`[database] pool_size = ${database.poolSize}: payserv needs at least 2 connections`);
  const db = await openDatabase(database, config.stateDir);
  try {
    await requireCurrentSchema(db);
  } catch (e) {
    await db.close().catch(() => undefined);
    throw e instanceof MigrationError ? new ConfigError(e.message) : e;
  }
  return db;
}

/** Opens the data access, waiting out an unreachable dbgw or database; `signal` (SIGTERM) ends the wait. */
export async function openData(
  config: Config<'payserv'>,
  database: Database,
  o: { tls: TlsMaterial; log: Logger; signal?: AbortSignal | undefined },
): Promise<Data> {
  for (let attempt = 1, waitMs: number = OPEN_RETRY_MS.first; ; attempt++, waitMs = Math.min(waitMs * 2, OPEN_RETRY_MS.max)) {
    try {
      return config.dbgw ? await throughDbgw(config, database, o.tls, o.log) : await direct(config, database);
    } catch (e) {
      if (!isDataOutage(e)) throw e;
      o.log.warn(
        { attempt, retry_in_ms: waitMs, err: scrubSecrets((e as Error).message) },
        `${config.dbgw ? 'dbgw or the database' : 'the database'} is unreachable: payserv keeps its key and tries again`,
      );
    }
    try {
      await sleep(waitMs, undefined, o.signal ? { signal: o.signal } : {});
    } catch {
      throw new StoppedBeforeStart('stopped before start: the key was received, the data access never answered');
    }
  }
}
