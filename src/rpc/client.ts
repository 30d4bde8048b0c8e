// A JSON-RPC client for payserv (pscli, the benchmark, tests): one keep-alive agent, so a run of
// calls pays for one TLS handshake per connection rather than one per call.
//
// It never retries. Most methods move money, and a call whose connection broke after the request was
// sent may have run: only the caller can decide to look (PayServ.Check) before trying again.
import { Agent, request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Method } from '../api/payserv.js';
import type { DbgwMethod } from '../api/dbgw.js';
import type { IntakeMethod } from '../api/intake.js';
import type { MinersMethod } from '../api/miners.js';
import type { TlsIdentity } from '../pki/roles.js';
import { parseResponse, RpcError } from '../api/jsonrpc.js';
import { clientTlsOptions, type TlsMaterial } from './tls.js';

export interface RpcClientOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
  /** The name to verify the server's certificate against (and send as SNI), when it differs from `host`. */
  servername?: string;
  /** For one call, from sending it to reading the whole reply. */
  timeoutMs: number;
  /** For a new connection's TCP and TLS handshake (default the smaller of timeoutMs and 10 s). */
  handshakeTimeoutMs?: number;
  /** The identity the server's certificate must carry (default payserv). */
  serverIdentity?: TlsIdentity;
  /** Connections kept at once; further calls wait for one (default 16). */
  maxSockets?: number;
  /** Largest reply read (default 16 MiB): a broken or hostile server must not fill our memory. */
  responseBytesMax?: number;
}

/**
 * The call did not get a JSON-RPC reply: connection refused, TLS refused, timeout, a reply that is not
 * JSON-RPC. `mayHaveRun` is false only when the server certainly did not run the call (it was never sent, or TLS refused it).
 */
export class RpcTransportError extends Error {
  override readonly name = 'RpcTransportError';

  constructor(
    message: string,
    readonly mayHaveRun: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A server that accepts TCP but never speaks TLS (another service's port) would otherwise hold a call for its whole
 * timeout, then read as "no reply", as if the request had gone out: a handshake gets its own, shorter bound.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Below the server's keep-alive timeout (src/rpc/server.ts). */
const IDLE_CONNECTION_MS = 4_000;

export class RpcClient {
  readonly endpoint: string;
  private readonly agent: Agent;
  private nextId = 1;
  private readonly responseBytesMax: number;
  /** Who answers: named in the advice of a refused connection. */
  private readonly server: TlsIdentity;

  constructor(private readonly opts: RpcClientOptions) {
    this.endpoint = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
    this.responseBytesMax = opts.responseBytesMax ?? 16 * 1024 * 1024;
    this.server = opts.serverIdentity ?? 'payserv';
    this.agent = new Agent({
      ...clientTlsOptions(opts.tls, opts.serverIdentity ?? 'payserv'),
      keepAlive: true,
      maxSockets: opts.maxSockets ?? 16,
      // Drop an idle connection before the server does (its keep-alive timeout is 5 s), so a call is
      // never written onto a connection the server is closing: that would fail as "may have run".
      // Node lowers this further to a server's "Keep-Alive: timeout=N" hint, but only when it is set:
      // with no agent timeout the hint is ignored. On a busy connection it only emits an event.
      timeout: IDLE_CONNECTION_MS,
      ...(opts.servername !== undefined ? { servername: opts.servername } : {}),
    });
  }

  /**
   * Calls `method`; resolves with its result, rejects with RpcError (the server's answer) or
   * RpcTransportError. Params are not checked here: the server validates them against the contract.
   */
  call<T = unknown>(method: Method | DbgwMethod | IntakeMethod | MinersMethod, params?: unknown[] | Record<string, unknown>): Promise<T> {
    const id = this.nextId++;
    const body = JSON.stringify(params === undefined ? { jsonrpc: '2.0', method, id } : { jsonrpc: '2.0', method, params, id });
    return this.post(body, method).then((reply) => this.unwrap<T>(reply.status, reply.body, id, method));
  }

  private post(body: string, what: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      let sent = false;
      // 'finish' comes when the body is buffered, before the handshake: nothing reaches the server before it.
      let secured = false;
      let settled = false;
      let handshake: NodeJS.Timeout | undefined;
      const fail = (reason: string, cause?: NodeJS.ErrnoException) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearTimeout(handshake);
        req.destroy();
        if (!secured && cause && notTls(cause)) {
          reject(
            new RpcTransportError(`${this.server} at ${this.endpoint} did not speak TLS (wrong port?): nothing was sent`, false, { cause }),
          );
          return;
        }
        const mayHaveRun = sent && secured && !(cause && isTlsRefusal(cause));
        reject(
          new RpcTransportError(
            `${what} to ${this.endpoint}: ${reason}${mayHaveRun ? ' (the request was sent and may have run)' : ''}`,
            mayHaveRun,
            { cause },
          ),
        );
      };
      const req = request({
        agent: this.agent,
        host: this.opts.host,
        port: this.opts.port,
        method: 'POST',
        path: '/',
        headers: { 'Content-Type': 'application/json', Accept: 'application/json', 'Content-Length': Buffer.byteLength(body) },
      });
      const timer = setTimeout(() => fail(`no reply within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => fail(describeTransportError(err, req.reusedSocket, this.server), err));
      req.on('finish', () => (sent = true));
      req.on('socket', (socket: TLSSocket) => {
        if (req.reusedSocket) secured = true;
        else {
          handshake = setTimeout(() => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            req.destroy();
            reject(new RpcTransportError(this.handshakeTimeoutMessage(), false));
          }, this.handshakeTimeoutMs);
          socket.once('secureConnect', () => {
            secured = true;
            clearTimeout(handshake);
          });
        }
      });
      req.on('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.responseBytesMax) fail(`reply larger than ${this.responseBytesMax} bytes`);
          else chunks.push(c);
        });
        res.on('error', (err: NodeJS.ErrnoException) => fail(describeTransportError(err, true, this.server), err));
        res.on('close', () => {
          if (!res.complete) fail('the connection closed in the middle of the reply');
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          clearTimeout(handshake);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(body);
    });
  }

  private get handshakeTimeoutMs(): number {
    return this.opts.handshakeTimeoutMs ?? Math.min(this.opts.timeoutMs, HANDSHAKE_TIMEOUT_MS);
  }

  private handshakeTimeoutMessage(): string {
    return `${this.server} at ${this.endpoint} did not complete a TLS handshake within ${this.handshakeTimeoutMs / 1000} s (wrong port?): nothing was sent`;
  }

  private unwrap<T>(status: number, text: string, id: number, method: string): T {
    const r = parseResponse(text);
    if (r === null) throw new RpcTransportError(`${method} to ${this.endpoint}: HTTP ${status} without a JSON-RPC reply`, true);
    if ('error' in r) {
      // A refusal before parsing (413, 403, -32700) comes back with id null: it is still this call's answer.
      if (r.id !== id && r.id !== null)
        throw new RpcTransportError(`${method} to ${this.endpoint}: reply for id ${JSON.stringify(r.id)}, not ${id}`, true);
      throw new RpcError(r.error.code, r.error.message, r.error.data);
    }
    if (r.id !== id) throw new RpcTransportError(`${method} to ${this.endpoint}: reply for id ${JSON.stringify(r.id)}, not ${id}`, true);
    return r.result as T;
  }

  /** Drops every connection; calls in progress fail. */
  close(): void {
    this.agent.destroy();
  }
}

/**
 * A TLS refusal, by either side. In TLS 1.3 the client's handshake is complete before the server has
 * judged the client's certificate, so the server's refusal arrives as an alert after the request was
 * written: but the server never read it, so it cannot have run.
 */
export function isTlsRefusal(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? '';
  return code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || /CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH/.test(code);
}

/** OpenSSL reading something that is no TLS record (a plain HTTP or line server, an SSH banner): the port is wrong. */
function notTls(err: NodeJS.ErrnoException): boolean {
  return /wrong version number|packet length too long|record layer failure|http request/i.test(err.message);
}

/** Node's TLS and socket errors in words an operator can act on; the code stays for searching. */
function describeTransportError(err: NodeJS.ErrnoException & { reason?: unknown }, reusedSocket: boolean, server: TlsIdentity): string {
  const code = err.code ?? '';
  if (code === 'ECONNREFUSED') return `connection refused (is ${server} running and listening there?)`;
  if (code === 'ECONNRESET' || code === 'EPIPE') {
    // A certificate the server's OpenSSL accepted but Node then refused (another CA, wrong purpose,
    // expired) ends a fresh connection like this, without a TLS alert to say so.
    if (!reusedSocket)
      return `connection reset by the server before any reply (${code}); if it refused this client's certificate, its log says why`;
    return `connection reset by the server (${code})`;
  }
  if (code === 'ETIMEDOUT') return 'connection timed out';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `host not found (${code})`;
  if (isTlsRefusal(err)) {
    // OpenSSL's own message is a multi-line dump of internal function names; its "reason" is the useful part.
    const why = typeof err.reason === 'string' ? err.reason : err.message.split('\n')[0];
    const side = code.includes('ALERT') ? 'the server refused the TLS connection' : 'TLS failure';
    return `${side}: ${why} (${code})`;
  }
  return `${err.message}${code ? ` (${code})` : ''}`;
}

/** One Utils.Version call's round trip, in milliseconds (for the benchmark: the client must be pscli). */
export async function rpcRoundTrip(client: RpcClient): Promise<number> {
  const t0 = performance.now();
  await client.call('Utils.Version');
  return performance.now() - t0;
}
