// The payserv suite over dbgw: in the `dbgw` vitest project payserv's data access goes through a real
// dbgw (mutual TLS, named operations, sessions) in front of the test's PostgreSQL database, handed over
// by payserv with Dbgw.Connect as in production. The pool's writer and the attacker keep their direct
// connection: they are not payserv.
import { loadConfig, type Config } from '../../src/config/load.js';
import type { Data } from '../../src/data/data.js';
import type { Db } from '../../src/db/db.js';
import { openDbgw } from '../../src/dbgw/client.js';
import { dbgwData, type DbgwData } from '../../src/dbgw/data.js';
import { startDbgw, type RunningDbgw } from '../../src/dbgw/service.js';
import { createLogger } from '../../src/log/index.js';
import { urlOf } from './db.js';
import { tlsOf } from './spawn.js';

export const DBGW_TEST_IDLE_MS = 5_000;

/** Whether this vitest project runs payserv's data access through dbgw. */
export const overDbgw = (): boolean => process.env.PAYSERV_TEST_DATA === 'dbgw';

/** A dbgw on a free port, with the state directory's PKI and no database until one is handed over. */
export async function startTestDbgw(stateDir: string, tune: (c: Config<'dbgw'>) => void = () => undefined): Promise<RunningDbgw> {
  const config = await loadConfig('dbgw', undefined, { stateDir, env: {} });
  config.rpc.port = 0;
  // A killed payserv's open transaction and locks are held until dbgw gives up on them: shorter in tests.
  config.sessions.idle_ms = DBGW_TEST_IDLE_MS;
  tune(config);
  return startDbgw(config, createLogger('dbgw', 'silent'));
}

/** payserv's client of a dbgw at `port`, handing over `url` whenever dbgw has no database. */
export async function dbgwDataAt(stateDir: string, port: number, url: string): Promise<DbgwData> {
  const client = await openDbgw({ host: '127.0.0.1', port, tls: tlsOf(stateDir, 'payserv'), timeoutMs: 30_000 });
  const data = dbgwData(client, { connect: { url, pool_size: 4 }, log: createLogger('payserv', 'silent') });
  await data.connect();
  return data;
}

/**
 * What payserv's code is given in this project: the database itself, or (dbgw project) a dbgw in front
 * of it (handed `url`, else the URL freshDb made the database with), stopped when the test closes its database.
 */
export async function payservData(db: Db, stateDir: string, url?: string): Promise<Data> {
  if (!overDbgw()) return db;
  const gw = await startTestDbgw(stateDir);
  const data = await dbgwDataAt(stateDir, gw.server.port, url ?? urlOf(db));
  const close = db.close.bind(db);
  db.close = async () => {
    await data.close();
    await gw.stop();
    await close();
  };
  return data;
}
