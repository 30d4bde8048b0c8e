import { connect } from 'node:net';
import { RpcClient, RpcTransportError } from '../rpc/client.js';
import type { Context } from './context.js';
import { CliError, EXIT } from './exit.js';
import { pscliTls } from './tls.js';

/** pscli's client for payserv: its own TLS pair and the pinned root from the state directory, the address from [payserv]. */
export function payservClient(ctx: Context): RpcClient {
  const c = ctx.config.payserv;
  return new RpcClient({ host: c.host, port: c.port, timeoutMs: c.timeout_ms, tls: pscliTls(ctx) });
}

/** Runs calls on one client and always closes it; a payserv that cannot answer is named in plain words. */
export async function withPayserv<T>(ctx: Context, fn: (c: RpcClient) => Promise<T>): Promise<T> {
  const client = payservClient(ctx);
  try {
    return await fn(client);
  } catch (e) {
    throw e instanceof RpcTransportError ? await unreachable(ctx, e) : e;
  } finally {
    client.close();
  }
}

/** The line a locked payserv writes on its RPC port to any connection, then closes (it has no TLS key yet). */
interface LockedNotice {
  service: 'payserv';
  state: 'locked';
  waiting_for: string;
}

const PROBE_BYTES_MAX = 1024;
const PROBE_MS = 2_000;

/** Up to 1 KiB read for up to 2 s over plain TCP: the locked notice, or null for anything else. */
export function probeLocked(host: string, port: number): Promise<LockedNotice | null> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect({ host, port });
    const done = () => {
      socket.destroy();
      clearTimeout(timer);
      resolve(parseNotice(text));
    };
    const timer = setTimeout(done, PROBE_MS);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      if (text.length >= PROBE_BYTES_MAX || text.includes('\n')) done();
    });
    socket.on('end', done).on('error', done).on('close', done);
  });
}

function parseNotice(text: string): LockedNotice | null {
  try {
    const n = JSON.parse(text.slice(0, PROBE_BYTES_MAX).split('\n')[0] ?? '') as Partial<LockedNotice> | null;
    return n?.service === 'payserv' && n.state === 'locked' && typeof n.waiting_for === 'string' ? (n as LockedNotice) : null;
  } catch {
    return null;
  }
}

/**
 * Why payserv did not answer, as a sentence: not running (refused), locked (the TLS handshake failed and
 * a plain connection gets its notice), else the transport's own words. A retry may succeed: exit 3.
 */
async function unreachable(ctx: Context, e: RpcTransportError): Promise<CliError> {
  const { host, port } = ctx.config.payserv;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const code = (e.cause as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED') return new CliError(`payserv is not running at ${where} (connection refused)`, EXIT.RUNTIME);
  const locked = await probeLocked(host, port);
  if (locked)
    return new CliError(
      `payserv is locked, waiting for ${locked.waiting_for} (at ${where}): an operator answers there, then try again`,
      EXIT.RUNTIME,
    );
  return new CliError(
    `${e.message}${e.mayHaveRun ? ' — the call may have run: look before retrying (pscli transinfo)' : ''}`,
    EXIT.RUNTIME,
  );
}
