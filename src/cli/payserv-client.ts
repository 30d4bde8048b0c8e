import { RpcClient } from '../rpc/client.js';
import type { Context } from './context.js';
import { pscliTls } from './tls.js';

/** pscli's client for payserv: its own TLS pair and the pinned root from the state directory, the address from [payserv]. */
export function payservClient(ctx: Context): RpcClient {
  const c = ctx.config.payserv;
  return new RpcClient({ host: c.host, port: c.port, timeoutMs: c.timeout_ms, tls: pscliTls(ctx) });
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
