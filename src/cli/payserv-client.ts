import { readFileSync } from 'node:fs';
import { pkiPaths } from '../pki/files.js';
import { RpcClient } from '../rpc/client.js';
import type { Context } from './context.js';
import { CliError, EXIT } from './exit.js';

/** pscli's client for payserv: its own TLS pair and the pinned root from the state directory, the address from [payserv]. */
export function payservClient(ctx: Context): RpcClient {
  const p = pkiPaths(ctx.stateDir);
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      throw new CliError(`${what} not found at ${path} (run \`pscli pki init\`, or copy pscli's TLS pair there)`, EXIT.USAGE);
    }
  };
  const c = ctx.config.payserv;
  return new RpcClient({
    host: c.host, port: c.port, timeoutMs: c.timeout_ms,
    tls: { certPem: read(p.tlsCert('pscli'), 'pscli TLS certificate'), keyPem: read(p.tlsKey('pscli'), 'pscli TLS key'), caPem: read(p.root, 'pinned root certificate') },
  });
}

/** Runs calls on one client and always closes it. */
export async function withPayserv<T>(ctx: Context, fn: (c: RpcClient) => Promise<T>): Promise<T> {
  const client = payservClient(ctx);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}
