// payserv without its data: dbgw or the database out of reach is an outage (it passes: wait, retry,
// tell the caller so), never a configuration fault nor a statement the database refused.
import { RPC, RpcError } from '../api/jsonrpc.js';
import { refusal, UNAVAILABLE } from '../api/payserv.js';
import type { Data } from '../data/data.js';
import { LEDGER } from '../data/ops/ledger.js';
import { DbError } from '../db/db.js';
import { isConnectionError } from '../db/reach.js';
import { DbgwDbError } from '../dbgw/data.js';
import { isTlsRefusal, RpcTransportError } from '../rpc/client.js';

/** How long the probe after a failed call waits for one small read. */
const PROBE_MS = 5_000;

/** dbgw not reached (not a TLS refusal: that is a deployment fault), dbgw without its database, or the database not reached. */
export function isDataOutage(e: unknown): boolean {
  if (isConnectionError(e)) return true;
  for (let c = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    if (c instanceof RpcError && c.code === RPC.NOT_CONNECTED) return true;
    if (c instanceof RpcTransportError && !(c.cause instanceof Error && isTlsRefusal(c.cause as NodeJS.ErrnoException))) return true;
  }
  return false;
}

/** Why `db` cannot be read right now (an outage, or no answer in time), or null when it can. */
export async function dataOutage(db: Data): Promise<string | null> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), PROBE_MS)));
  try {
    const r = await Promise.race([db.query(LEDGER.coins, [1]).then(() => 'ok' as const), timeout]);
    return r === 'ok' ? null : `no answer within ${PROBE_MS} ms`;
  } catch (e) {
    return isDataOutage(e) ? (e as Error).message : null;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The answer to a call that failed for want of its data: database_unavailable, when the failure came from the
 * data access (not a statement the database refused) and a probe confirms it is out of reach; else null.
 */
export async function outageRefusal(db: Data, e: unknown): Promise<RpcError | null> {
  if (e instanceof RpcError) return null;
  if (!isDataOutage(e) && !(e instanceof DbError && !(e instanceof DbgwDbError))) return null;
  if ((await dataOutage(db)) === null) return null;
  return refusal('database_unavailable', `the database (${db.where}) is unreachable: nothing was done`, UNAVAILABLE);
}
