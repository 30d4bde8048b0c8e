// payserv's RPC server: JSON-RPC 2.0 in HTTP/1.1 POSTs over mutually authenticated TLS 1.3 (and, where a
// service declares them, GET paths that run a method of its contract: RestRoute).
//
// Every request passes the same gates, cheapest and least revealing first, and stops at the first it
// fails: the client certificate's identity, the HTTP method and content type, the body size, the
// JSON-RPC envelope, shutdown, the method's existence, the ACL, the in-flight limit, the params. Only
// then does the handler run, so a caller the contract does not allow never reaches any work, and a
// handler only ever sees params its schema accepted.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { performance } from 'node:perf_hooks';
import type { Method } from '../api/payserv.js';
import type { TlsIdentity } from '../pki/roles.js';
import type { Logger } from '../log/index.js';
import { httpStatusFor, isJsonContentType, readBody } from './http.js';
import { listenOn } from './listen.js';
import {
  errorResponse,
  INTERNAL_MESSAGE,
  layerError,
  parseRequest,
  resultResponse,
  RPC,
  RpcError,
  type RpcId,
  type RpcLayerCode,
  type RpcResponse,
} from '../api/jsonrpc.js';
import { isMethod, PAYSERV_CONTRACT, validateParams, type RpcContract } from './params.js';
import { watchCertificate, type CertReloadOptions, type CertReloadOutcome } from './cert-reload.js';
import { peerIdentity, serverTlsOptions, type Peer, type PeerIdentity, type TlsMaterial } from './tls.js';

/** What a handler learns about the call besides its params. */
export interface RpcContext {
  identity: TlsIdentity;
  /** The client certificate's CN, for the log and the ledger's "who asked". */
  commonName: string;
  /** The person, when the certificate is an operator's (then `identity` is the one the operator acts as). */
  operator?: string;
  /** This HTTP request's id, also sent back as X-Request-Id and logged: ties the caller's report to our log. */
  requestId: string;
  /** Where the call came from when not over JSON-RPC (the operator dashboard), for the audit trail. */
  via?: 'dashboard';
}

/** Runs one method. `params` has already passed METHODS[method]. Throw RpcError to choose the error. */
export type RpcHandler<M extends string = Method> = (method: M, params: unknown, ctx: RpcContext) => Promise<unknown>;

export interface RpcLimits {
  /** Largest request body; the API's params are a few hundred bytes. */
  bodyBytesMax: number;
  /** For receiving a request, and again for its handler to answer. */
  requestTimeoutMs: number;
  /** Handlers running at once (including ones whose caller already had a timeout reply). */
  inFlightMax: number;
}

/**
 * A GET path served beside the JSON-RPC POSTs (the miners' API: MiningCore's REST paths): the method it
 * runs, through the same gates (identity, ACL, in-flight limit, params), and how its answer is written:
 * the result or {error} alone, without the JSON-RPC envelope.
 */
export interface RestRoute<M extends string> {
  method: M;
  params: unknown;
  present(result: unknown): unknown;
  /** The HTTP status of a refusal the handler threw (its JSON-RPC answer would be 200). */
  refusalStatus(error: { code: number; data?: unknown }): number;
}

export const DEFAULT_LIMITS: RpcLimits = { bodyBytesMax: 64 * 1024, requestTimeoutMs: 60_000, inFlightMax: 256 };

export interface RpcServerOptions<M extends string = Method> {
  /** The methods served and who may call them; default: payserv's. */
  contract?: RpcContract<M>;
  /** Default 127.0.0.1: listening on other interfaces is a deliberate choice. */
  host?: string;
  /** 0: any free port (see the returned port). */
  port: number;
  tls: TlsMaterial;
  handle: RpcHandler<M>;
  limits?: Partial<RpcLimits>;
  log: Logger;
  /** Who listens, for the error on a taken port ("…: the port is in use (another dbgw running?)"). */
  who?: string;
  /** A socket bound earlier (payserv binds its port before the key ceremony): served instead of binding `port`. */
  listener?: NetServer;
  /**
   * Told of each call to a served method refused before its handler (a caller the method is not for, params
   * that do not fit), before the answer is written: payserv audits these too. Not of a call refused for load:
   * a write per refusal would add to the load (the log has them).
   */
  refused?: (method: M, code: RpcLayerCode, rpcCode: number, ctx: RpcContext) => Promise<void>;
  /** Why an operator's certificate is refused (revoked), or null: asked on every call, so a revocation needs no restart. */
  operatorRefusal?: (operator: string) => string | null;
  /** GET paths served as methods (RestRoute); null: not a path served, 404. Without it, only POST. */
  routes?: (url: URL) => RestRoute<M> | null;
  /** Where a renewed certificate of this server's TLS pair is taken up from without a restart (src/rpc/cert-reload.ts). */
  certReload?: CertReloadOptions;
}

export interface RpcServer {
  port: number;
  address: string;
  /**
   * Stops accepting connections, answers requests that still arrive with -32002, waits up to `graceMs`
   * for running handlers, then drops every connection. Resolves when the server is closed; handlers
   * still running then are logged (their outcome is for the ledger to tell).
   */
  close(graceMs: number): Promise<void>;
  /** Looks for a renewed certificate now (SIGHUP); 'absent' without `certReload`. */
  reloadCertificate(): CertReloadOutcome;
}

/** Idle keep-alive connections are closed after this; Node tells clients in a Keep-Alive header so they drop theirs first. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000;

interface Outcome {
  status: number;
  response: RpcResponse;
  /** For the log only. */
  method?: string;
  err?: unknown;
  /** Ask the client to drop the connection (refused identity, oversized body, shutdown). */
  close?: boolean;
  headers?: Record<string, string>;
  /** A served method's call refused before its handler ran, with the caller. */
  refused?: { code: RpcLayerCode; ctx: RpcContext };
  /** Answered to a GET route: written without the envelope. */
  rest?: RestRoute<string>;
}

export async function startRpcServer<M extends string = Method>(opts: RpcServerOptions<M>): Promise<RpcServer> {
  const contract = opts.contract ?? (PAYSERV_CONTRACT as unknown as RpcContract<M>);
  const limits: RpcLimits = { ...DEFAULT_LIMITS, ...opts.limits };
  const log = opts.log.child({ component: 'rpc' });
  const host = opts.host ?? '127.0.0.1';

  const server: Server = createServer({
    ...serverTlsOptions(opts.tls),
    // Node's own limits for receiving a request (slow senders): the whole request, and its headers.
    requestTimeout: limits.requestTimeoutMs,
    headersTimeout: Math.min(limits.requestTimeoutMs, 20_000),
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  });

  let closing = false;
  /** Handler promises not yet settled, whether or not their caller was answered. */
  const handlers = new Set<Promise<unknown>>();
  /** Requests not yet fully answered. */
  const requests = new Set<Promise<void>>();
  /** Raw TCP sockets, including ones still in the TLS handshake, which Node's HTTP layer does not know about. */
  const sockets = new Set<Socket>();
  /** One certificate check per connection: it cannot change within one. */
  const identities = new WeakMap<TLSSocket, PeerIdentity>();

  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
    // Refused handshakes: no certificate, another CA, a signer's certificate, TLS < 1.3, or a scanner.
    // A certificate that fails verification (another CA, a signer's, expired) is not refused by OpenSSL
    // but by Node after the handshake, which drops the socket without an alert: the reason is then
    // authorizationError, and the error itself is just the resulting ECONNRESET.
    const verdict = socket.authorizationError ? { certificate: String(socket.authorizationError) } : {};
    log.warn({ remote: socket.remoteAddress, reason: err.code ?? err.message, ...verdict }, 'TLS handshake refused');
  });

  const identityOf = (socket: TLSSocket): PeerIdentity => {
    let who = identities.get(socket);
    if (!who) identities.set(socket, (who = peerIdentity(socket)));
    return who;
  };

  const refuse = (code: number, word: RpcLayerCode, message: string, id: RpcId = null, extra: Partial<Outcome> = {}): Outcome => ({
    status: httpStatusFor(code),
    response: errorResponse(id, layerError(code, word, message)),
    ...extra,
  });

  async function decide(req: IncomingMessage, requestId: string, who: Peer, t0: number): Promise<Outcome> {
    if (req.method === 'GET' && opts.routes) return get(req, requestId, who, t0);
    if (req.method !== 'POST')
      return refuse(RPC.INVALID_REQUEST, 'bad_request', 'invalid request: use POST', null, {
        status: 405,
        headers: { Allow: opts.routes ? 'GET, POST' : 'POST' },
      });
    if (!isJsonContentType(req.headers['content-type'])) {
      return refuse(RPC.INVALID_REQUEST, 'bad_request', 'invalid request: Content-Type must be application/json', null, { status: 415 });
    }
    const body = await readBody(req, limits.bodyBytesMax);
    if (!body.ok && body.reason === 'aborted')
      return refuse(RPC.INVALID_REQUEST, 'bad_request', 'invalid request: the body was cut short', null, { close: true });
    if (!body.ok) {
      // The rest of an oversized body is not kept: close the connection once answered rather than read on.
      return refuse(RPC.INVALID_REQUEST, 'bad_request', `invalid request: the body exceeds ${limits.bodyBytesMax} bytes`, null, {
        status: 413,
        close: true,
      });
    }
    const parsed = parseRequest(body.body);
    if (!parsed.ok) return { status: httpStatusFor(parsed.error.code), response: errorResponse(parsed.id, parsed.error) };
    return run(parsed.request.id, parsed.request.method, parsed.request.params, requestId, who, t0);
  }

  async function get(req: IncomingMessage, requestId: string, who: Peer, t0: number) {
    const route = opts.routes?.(new URL(req.url ?? '/', 'https://localhost'));
    if (!route) return refuse(RPC.METHOD_NOT_FOUND, 'unknown_method', 'not found: no such path');
    const out = await run(null, route.method, route.params, requestId, who, t0);
    const refusedByHandler = 'error' in out.response && out.status === 200;
    return {
      ...out,
      rest: route,
      ...(refusedByHandler && 'error' in out.response ? { status: route.refusalStatus(out.response.error) } : {}),
    };
  }

  /** The gates after the envelope, then the handler: one path for a POSTed call and a GET route. */
  async function run(id: RpcId, method: string, rawParams: unknown, requestId: string, who: Peer, t0: number): Promise<Outcome> {
    // Checked after parsing so that the caller gets its id back and knows which call was not run.
    if (closing) return refuse(RPC.SHUTTING_DOWN, 'shutting_down', 'shutting down: the request was not run', id, { close: true });
    if (!isMethod(contract, method))
      return refuse(RPC.METHOD_NOT_FOUND, 'unknown_method', `method not found: ${JSON.stringify(method.slice(0, 64))}`, id, {
        method: method.slice(0, 64),
      });
    const ctx: RpcContext = {
      identity: who.identity,
      commonName: who.commonName,
      requestId,
      ...(who.operator ? { operator: who.operator } : {}),
    };
    // Checked per call, after the method is known, so that the refusal is in the audit trail with the operator's name.
    const revoked = who.operator && opts.operatorRefusal ? opts.operatorRefusal(who.operator) : null;
    if (revoked) return refuse(RPC.FORBIDDEN, 'forbidden', `forbidden: ${revoked}`, id, { method, refused: { code: 'forbidden', ctx } });
    if (!contract.allowed(who.identity, method))
      return refuse(RPC.FORBIDDEN, 'forbidden', `forbidden: ${who.identity} may not call ${method}`, id, {
        method,
        refused: { code: 'forbidden', ctx },
      });
    if (handlers.size >= limits.inFlightMax)
      return refuse(RPC.BUSY, 'overloaded', 'busy: too many requests in flight; retry later', id, {
        method,
        headers: { 'Retry-After': '1' },
      });
    const params = validateParams(contract, method, rawParams);
    if (!params.ok)
      return {
        status: httpStatusFor(params.error.code),
        response: errorResponse(id, params.error),
        method,
        refused: { code: 'bad_params', ctx },
      };

    const running = Promise.resolve().then(() => opts.handle(method, params.params, ctx));
    handlers.add(running);
    let timedOut = false;
    running.then(
      () => handlers.delete(running),
      (err: unknown) => {
        handlers.delete(running);
        // The caller already had the timeout reply: the real outcome still belongs in the log.
        if (timedOut)
          log.error(
            { requestId, method, rpcId: id, err: err instanceof RpcError ? err.toJSON() : err },
            'handler failed after the request timeout',
          );
      },
    );
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), Math.max(limits.requestTimeoutMs - (performance.now() - t0), 0));
    });
    try {
      const result = await Promise.race([running, timeout]);
      if (result === 'timeout') {
        timedOut = true;
        log.warn({ requestId, method, rpcId: id }, 'handler still running after the request timeout');
        return refuse(
          RPC.INTERNAL_ERROR,
          'timeout',
          `no result within ${limits.requestTimeoutMs} ms; the call may still complete: check its outcome before retrying`,
          id,
          { method },
        );
      }
      return { status: 200, response: resultResponse(id, result), method };
    } catch (err) {
      if (err instanceof RpcError) return { status: httpStatusFor(err.code), response: errorResponse(id, err), method };
      return refuse(RPC.INTERNAL_ERROR, 'internal', INTERNAL_MESSAGE, id, { method, err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** A GET route's answer: the presented result, or the error alone. */
  function restBody(out: Outcome): unknown {
    if (!out.rest) return undefined;
    return 'error' in out.response ? { error: out.response.error } : out.rest.present(out.response.result);
  }

  /** Writes the answer; false when the connection is already gone. */
  function send(res: ServerResponse, out: Outcome): boolean {
    let text: string;
    try {
      text = JSON.stringify(restBody(out) ?? out.response);
    } catch (err) {
      // A result that is not JSON (a bigint, a cycle) is the handler's bug: the caller gets -32603, the log the reason.
      out.status = 500;
      out.err = err;
      out.response = errorResponse(
        'id' in out.response ? out.response.id : null,
        layerError(RPC.INTERNAL_ERROR, 'internal', INTERNAL_MESSAGE),
      );
      text = JSON.stringify(out.response);
    }
    if (res.headersSent || res.destroyed) return false;
    res.statusCode = out.status;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.setHeader('Cache-Control', 'no-store');
    for (const [k, v] of Object.entries(out.headers ?? {})) res.setHeader(k, v);
    // Once closing, every answer ends its connection so that keep-alive clients move on.
    if (out.close || closing) res.setHeader('Connection', 'close');
    res.end(text);
    return true;
  }

  function logRequest(requestId: string, who: PeerIdentity, out: Outcome | { aborted: true; method?: string }, t0: number): void {
    const ms = Math.round((performance.now() - t0) * 10) / 10;
    const base = {
      requestId,
      identity: who.ok ? who.identity : null,
      ...(who.ok ? { cn: who.commonName, ...(who.operator ? { operator: who.operator } : {}) } : { refused: who.reason }),
    };
    if ('aborted' in out) {
      log.info({ ...base, outcome: 'aborted', ms }, 'rpc request');
      return;
    }
    const error = 'error' in out.response ? out.response.error : null;
    // Only the method and the ids: params and results stay out of the log.
    const line = { ...base, method: out.method ?? null, rpcId: out.response.id, code: error ? error.code : 0, status: out.status, ms };
    if (out.err !== undefined) log.error({ ...line, err: out.err }, 'rpc request');
    else if (error && (error.code === RPC.FORBIDDEN || error.code === RPC.INTERNAL_ERROR)) log.warn(line, 'rpc request');
    else log.info(line, 'rpc request');
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const requestId = randomBytes(8).toString('hex');
    res.setHeader('X-Request-Id', requestId);
    const who = identityOf(req.socket as TLSSocket);
    let out: Outcome;
    try {
      if (!who.ok) {
        out = {
          status: 403,
          response: errorResponse(
            null,
            layerError(RPC.FORBIDDEN, 'forbidden', 'forbidden: this client certificate names no payserv identity'),
          ),
          close: true,
        };
      } else {
        out = await decide(req, requestId, who, t0);
      }
    } catch (err) {
      out = { status: 500, response: errorResponse(null, layerError(RPC.INTERNAL_ERROR, 'internal', INTERNAL_MESSAGE)), err };
    }
    // Recorded before the answer, as a handled call is: the caller's next call comes after it in the trail.
    if (out.refused && opts.refused && out.method && 'error' in out.response)
      await opts
        .refused(out.method as M, out.refused.code, out.response.error.code, out.refused.ctx)
        .catch((err: unknown) => log.error({ requestId, method: out.method, err }, 'refused call not recorded'));
    if (res.destroyed || req.socket.destroyed) {
      logRequest(requestId, who, { aborted: true, ...(out.method ? { method: out.method } : {}) }, t0);
      return;
    }
    // Counted as in progress until written out, so that close() does not cut an answer short.
    await new Promise<void>((resolve) => {
      res.once('close', resolve);
      res.once('finish', resolve);
      if (!send(res, out)) resolve();
    });
    logRequest(requestId, who, out, t0);
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const p = onRequest(req, res).catch((err: unknown) => {
      log.error({ err }, 'rpc request failed');
      res.destroy();
    });
    requests.add(p);
    void p.finally(() => requests.delete(p));
  });

  // A client announcing a large body with "Expect: 100-continue" (curl does) is refused before it sends it.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    const declared = Number(req.headers['content-length']);
    if (!(declared > limits.bodyBytesMax)) res.writeContinue();
    server.emit('request', req, res);
  });

  const listener = opts.listener;
  if (listener) listener.on('connection', (socket: Socket) => server.emit('connection', socket));
  else await listenOn(server, host, opts.port, opts.who ?? 'the RPC server');
  server.on('error', (err) => log.error({ err }, 'rpc server error'));
  const addr = (listener ?? server).address();
  if (addr === null || typeof addr === 'string') throw new Error('the RPC server has no TCP address');
  log.info({ address: addr.address, port: addr.port }, 'rpc server listening');
  const certWatch = opts.certReload ? watchCertificate(server, opts.tls, opts.certReload, log) : null;
  // At start too: a renewal written while the server was down (the store still holding the older certificate).
  certWatch?.check();

  let closed: Promise<void> | undefined;
  const close = (graceMs: number): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      certWatch?.stop();
      const serverClosed = Promise.all(
        [server, ...(listener ? [listener] : [])].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
      );
      // Keep-alive connections with no request on them would hold server.close() open until they time out.
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      let late = false;
      const deadline = new Promise<void>((resolve) => (timer = setTimeout(() => resolve(void (late = true)), graceMs)));
      // Requests keep arriving on open connections during the grace period (and are answered -32002): wait for those too.
      while (!late && handlers.size + requests.size > 0) await Promise.race([Promise.allSettled([...handlers, ...requests]), deadline]);
      clearTimeout(timer);
      if (handlers.size > 0) log.warn({ running: handlers.size }, 'rpc server closed with handlers still running');
      // Whatever is left (requests being sent slowly, connections mid-handshake, idle ones) is dropped.
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await serverClosed;
      log.info('rpc server closed');
    })();
    return closed;
  };

  return { port: addr.port, address: addr.address, close, reloadCertificate: () => certWatch?.check() ?? 'absent' };
}
