// The metrics and health listener: plain HTTP on its own port (loopback by default), read-only, GET and
// HEAD of two paths. Separate from the RPC port so a scraper or a load balancer needs no certificate,
// and can reach nothing that pays.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/index.js';
import { closeNow, listenOn } from '../rpc/listen.js';
import type { Health } from './health.js';

/** Connections at once at most: a scraper and a few health checkers need no more. */
const CONNECTIONS_MAX = 32;
/** A request's headers must arrive within this, the whole request within the next. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;

export interface MetricsEndpoints {
  metrics(): Promise<{ body: string; contentType: string }>;
  health(): Health;
}

export interface MetricsServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

function send(res: ServerResponse, req: IncomingMessage, status: number, contentType: string, body: string): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

async function answer(req: IncomingMessage, res: ServerResponse, ends: MetricsEndpoints): Promise<void> {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/metrics' && path !== '/health') return send(res, req, 404, 'text/plain', 'not found: /metrics or /health\n');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    return send(res, req, 405, 'text/plain', 'method not allowed: GET or HEAD\n');
  }
  if (path === '/health') {
    const h = ends.health();
    return send(res, req, h.http, 'application/json', `${JSON.stringify({ status: h.status, reason: h.reason, since: h.since })}\n`);
  }
  const m = await ends.metrics();
  send(res, req, 200, m.contentType, m.body);
}

export async function startMetricsServer(o: {
  host: string;
  port: number;
  log: Logger;
  endpoints: MetricsEndpoints;
}): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    answer(req, res, o.endpoints).catch((e: Error) => {
      o.log.error({ component: 'metrics', path: req.url, err: e.message }, 'metrics request failed');
      if (!res.headersSent) send(res, req, 500, 'text/plain', 'internal error\n');
      else res.destroy();
    });
  });
  server.maxConnections = CONNECTIONS_MAX;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  await listenOn(server, o.host, o.port, 'payserv metrics listener');
  const { port } = server.address() as AddressInfo;
  o.log.info({ component: 'metrics', address: o.host, port }, 'metrics and health listener bound: /metrics, /health');
  return {
    host: o.host,
    port,
    close: () => closeNow(server),
  };
}
