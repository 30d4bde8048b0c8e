// payserv's side of dbgw: a mutual-TLS client that insists on the dbgw identity and, before anything
// else, on the version handshake: a gateway of another project, component, protocol or release is refused.
import { z } from 'zod';
import { RpcClient, type RpcClientOptions } from '../rpc/client.js';
import { DBGW_VERSION, type DbgwVersion } from './api.js';

export class DbgwVersionError extends Error {
  override name = 'DbgwVersionError';
}

const versionSchema = z.object({ project: z.string(), component: z.string(), version: z.string(), protocol: z.number() });

/** Null when `theirs` is the gateway this payserv was built with, else why not. */
export function versionMismatch(theirs: DbgwVersion, ours: DbgwVersion = DBGW_VERSION): string | null {
  if (theirs.project !== ours.project || theirs.component !== ours.component) return `it is ${theirs.project} ${theirs.component}, not ${ours.project} ${ours.component}`;
  if (theirs.protocol !== ours.protocol) return `it speaks protocol ${theirs.protocol}, this payserv ${ours.protocol}`;
  if (theirs.version !== ours.version) return `it is release ${theirs.version}, this payserv ${ours.version}`;
  return null;
}

export interface DbgwClient {
  rpc: RpcClient;
  version: DbgwVersion;
  close(): void;
}

/** Connects, checks the version, and returns the client; refuses (and closes) on any mismatch. */
export async function openDbgw(o: Omit<RpcClientOptions, 'serverIdentity'>): Promise<DbgwClient> {
  const rpc = new RpcClient({ ...o, serverIdentity: 'dbgw' });
  try {
    const reply = versionSchema.safeParse(await rpc.call('Dbgw.Version'));
    if (!reply.success) throw new DbgwVersionError(`dbgw at ${o.host}:${o.port} did not answer Dbgw.Version with a version`);
    const why = versionMismatch(reply.data);
    if (why) throw new DbgwVersionError(`dbgw at ${o.host}:${o.port} is refused: ${why}`);
    return { rpc, version: reply.data, close: () => rpc.close() };
  } catch (e) {
    rpc.close();
    throw e;
  }
}
