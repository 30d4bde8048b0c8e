// payserv's side of dbgw: a mutual-TLS client that insists on the dbgw identity and, before anything
// else, on the version handshake: a gateway of another project, component, protocol or release is refused.
import { z } from 'zod';
import { RpcClient, type RpcClientOptions } from '../rpc/client.js';
import { CATALOG_DIGEST } from '../data/catalog.js';
import { DBGW_VERSION, type DbgwVersion } from '../api/dbgw.js';

export class DbgwVersionError extends Error {
  override name = 'DbgwVersionError';
}

const versionSchema = z.object({
  project: z.string(),
  component: z.string(),
  version: z.string(),
  protocol: z.number(),
  catalog: z.string().optional(),
});

/** Null when `theirs` is the gateway this payserv was built with, else why not. */
export function versionMismatch(theirs: DbgwVersion, ours: DbgwVersion = { ...DBGW_VERSION, catalog: CATALOG_DIGEST }): string | null {
  if (theirs.project !== ours.project || theirs.component !== ours.component)
    return `it is ${theirs.project} ${theirs.component}, not ${ours.project} ${ours.component}`;
  if (theirs.protocol !== ours.protocol) return `it speaks protocol ${theirs.protocol}, this payserv ${ours.protocol}`;
  if (theirs.version !== ours.version) return `it is release ${theirs.version}, this payserv ${ours.version}`;
  if (theirs.catalog !== ours.catalog)
    return `it serves other operations (catalog ${theirs.catalog ?? 'none'}, this payserv ${ours.catalog})`;
  return null;
}

const DBGW_SOCKETS_MAX = 256;

export interface DbgwClient {
  rpc: RpcClient;
  /** A connection of its own for keeping sessions alive: never queued behind a burst of calls on `rpc`. */
  keepalive: RpcClient;
  version: DbgwVersion;
  close(): void;
}

/** Connects, checks the version, and returns the client; refuses (and closes) on any mismatch. */
export async function openDbgw(o: Omit<RpcClientOptions, 'serverIdentity'>): Promise<DbgwClient> {
  // Calls inside a transaction must never queue for a socket behind calls that wait, in dbgw, for that
  // transaction's lock: the socket limit is dbgw's own in-flight limit, not a small pool.
  const rpc = new RpcClient({ maxSockets: DBGW_SOCKETS_MAX, ...o, serverIdentity: 'dbgw' });
  try {
    const reply = versionSchema.safeParse(await rpc.call('Dbgw.Version'));
    if (!reply.success) throw new DbgwVersionError(`dbgw at ${o.host}:${o.port} did not answer Dbgw.Version with a version`);
    const why = versionMismatch(reply.data);
    if (why) throw new DbgwVersionError(`dbgw at ${o.host}:${o.port} is refused: ${why}`);
    const keepalive = new RpcClient({ ...o, serverIdentity: 'dbgw', maxSockets: 1 });
    return { rpc, keepalive, version: reply.data, close: () => (rpc.close(), keepalive.close()) };
  } catch (e) {
    rpc.close();
    throw e;
  }
}
