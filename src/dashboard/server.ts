// The operator dashboard's listener: HTTPS with the dashboard's P-256 server certificate (browsers speak no
// Ed25519), a client certificate required (the dashboard CA's or the pinned root's, clientAuth; src/esman/pki-dashboard.ts),
// and then only an operator's (OU=operator) that is not
// revoked: the back end's, dbgw's or the shared pscli identity's certificate gets 403. Read-only unless
// [dashboard] actions = true; an action is a POST from a confirmation page carrying a single-use token bound to
// the certificate, and runs through payserv's own RPC handler, so it is verified and audited as
// "pscli (operator NAME via dashboard)".
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Method } from '../api/payserv.js';
import { RpcError } from '../api/jsonrpc.js';
import { DASHBOARD } from '../data/ops/dashboard.js';
import type { Logger } from '../log/index.js';
import type { Payserv } from '../payserv/context.js';
import type { Monitor } from '../payserv/monitor.js';
import { closeNow, listenOn } from '../rpc/listen.js';
import { PAYSERV_CONTRACT, validateParams } from '../rpc/params.js';
import type { RpcContext } from '../rpc/server.js';
import { peerIdentity, serverTlsOptions, type TlsMaterial } from '../rpc/tls.js';
import { h, STYLE } from './html.js';
import { readOverview } from './overview.js';
import { renderConfirm, renderMessage, renderOverview, renderWithdrawal, type Explorers, type RenderOptions } from './render.js';
import { FormTokens } from './token.js';

const CONNECTIONS_MAX = 32;
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
/** A form's body: a withdrawal id and a token. */
const BODY_BYTES_MAX = 4096;

/** Nothing but the one inline style block; no script, no image, no frame, forms only to this origin. */
const CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;
const HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': CSP,
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on the forms' POSTs; explorer links get nothing.
  'referrer-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'strict-transport-security': 'max-age=31536000',
};

/** Runs a call as the JSON-RPC server would (the same handler: verification, audit trail). */
export type DashboardCall = (method: Method, params: unknown, ctx: RpcContext) => Promise<unknown>;

export interface DashboardOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
  ps: Payserv;
  monitor: Monitor | null;
  log: Logger;
  actions: boolean;
  rows: number;
  explorers: Explorers;
  call: DashboardCall;
  /** Why an operator's certificate is refused (revoked), or null; asked on every request. */
  operatorRefusal: (operator: string) => string | null;
}

export interface DashboardServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** What each action runs, and what its confirmation says. */
const ACTIONS = {
  '/approve': { method: 'PayServ.Approve', title: 'approve withdrawal', button: 'Approve this withdrawal' },
  '/enable': { method: 'Utils.Enable', title: 'enable payouts', button: 'Enable payouts' },
} as const satisfies Record<string, { method: Method; title: string; button: string }>;
type ActionPath = keyof typeof ACTIONS;
const isAction = (p: string): p is ActionPath => Object.hasOwn(ACTIONS, p);

class Refusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...HEADERS, ...extra, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  if ((req.headers['content-type'] ?? '').split(';')[0]?.trim() !== 'application/x-www-form-urlencoded')
    throw new Refusal(415, 'expected a form (application/x-www-form-urlencoded)');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > BODY_BYTES_MAX) throw new Refusal(413, `the form is larger than ${BODY_BYTES_MAX} bytes`);
    chunks.push(c);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

/** Each parameter at most once: with two `id`s or `target`s, which one is meant is not guessed. */
function once(params: URLSearchParams, where: string): URLSearchParams {
  const seen = new Set<string>();
  for (const k of params.keys()) {
    if (seen.has(k)) throw new Refusal(400, `the ${where} has the parameter "${k.slice(0, 40)}" more than once`);
    seen.add(k);
  }
  return params;
}

/** The path and query of a request's target; anything but "/…" (an absolute URL, "//host…", "*") is no page here. */
function urlOf(target: string): URL {
  if (!target.startsWith('/') || target.startsWith('//')) throw new Refusal(404, `no such page: ${target.slice(0, 80)}`);
  try {
    return new URL(`https://dashboard.invalid${target}`);
  } catch {
    throw new Refusal(404, `no such page: ${target.slice(0, 80)}`);
  }
}

/** A withdrawal id from a query or a form: a positive decimal integer, else refused naming it. */
function idOf(text: string | null): number {
  if (text === null || !/^[1-9]\d{0,15}$/.test(text) || !Number.isSafeInteger(Number(text)))
    throw new Refusal(400, 'expected a withdrawal id (a positive integer)');
  return Number(text);
}

/** A POST from another origin is refused before its token is even read (the browser says where it came from). */
function sameOrigin(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  // Origin and Referer, each when sent (the page's Referrer-Policy: same-origin sends a Referer to itself only).
  return [req.headers.origin, req.headers.referer].every((u) => u === undefined || sameHost(u, req.headers.host));
}

/** The host only: behind a local TLS helper (README) the browser's origin is http://127.0.0.1:PORT, and so is its Host. */
function sameHost(url: string, host: string | undefined): boolean {
  try {
    return new URL(url).host === host;
  } catch {
    return false;
  }
}

export async function startDashboard(o: DashboardOptions): Promise<DashboardServer> {
  const tokens = new FormTokens();

  /** The operator behind this connection, or a refusal (403) naming why. */
  function operatorOf(req: IncomingMessage): { name: string; cert: string } {
    const socket = req.socket as TLSSocket;
    const who = peerIdentity(socket, 'dashboard');
    if (!who.ok) throw new Refusal(403, `forbidden: ${who.reason}`);
    if (!who.operator)
      throw new Refusal(
        403,
        `forbidden: the dashboard is for operators' certificates (pscli pki issue --operator NAME), not ${who.identity}`,
      );
    const revoked = o.operatorRefusal(who.operator);
    if (revoked) throw new Refusal(403, `forbidden: ${revoked}`);
    const fp = socket.getPeerCertificate().fingerprint256;
    if (!fp) throw new Refusal(403, 'forbidden: no client certificate');
    return { name: who.operator, cert: fp };
  }

  async function confirm(path: ActionPath, url: URL, who: { name: string; cert: string }, opt: RenderOptions): Promise<string> {
    const a = ACTIONS[path];
    let target = '';
    let what = h`<p>Payouts will be enabled: payserv starts paying approved withdrawals${o.ps.autopay.size ? ' and autopay runs' : ''}.</p>`;
    if (path === '/approve') {
      const id = idOf(once(url.searchParams, 'query').get('id'));
      const [w] = await o.ps.db.query(DASHBOARD.withdrawal, [id]);
      if (!w) throw new Refusal(404, `no withdrawal ${id}`);
      if (w.status !== 'pending') throw new Refusal(409, `withdrawal ${id} is ${w.status}, not pending`);
      target = String(id);
      what = h`<p>Withdrawal ${id} will be approved for payment (payserv verifies its account first).</p>${renderWithdrawal(w)}`;
    }
    const token = tokens.make(who.cert, path, target, o.ps.now());
    return renderConfirm(opt, { action: a.title, path, target, token, what, button: a.button });
  }

  async function act(path: ActionPath, req: IncomingMessage, who: { name: string; cert: string }, requestId: string): Promise<unknown> {
    if (!sameOrigin(req)) throw new Refusal(403, 'forbidden: a form from another site');
    const form = once(await readForm(req), 'form');
    const target = form.get('target') ?? '';
    const token = tokens.use(form.get('token'), who.cert, path, target, o.ps.now());
    if (token === 'invalid')
      throw new Refusal(
        403,
        'forbidden: the form has no valid token (expired, forged, or made for another certificate): open the confirmation page again',
      );
    if (token === 'used')
      throw new Refusal(403, 'forbidden: this form was already submitted (a token acts once): open the confirmation page again');
    const method = ACTIONS[path].method;
    const params = path === '/approve' ? [idOf(target)] : [];
    // The gates the RPC server applies before its handler: the ACL and the params' schema.
    if (!PAYSERV_CONTRACT.allowed('pscli', method)) throw new Refusal(403, `forbidden: pscli may not call ${method}`);
    const v = validateParams(PAYSERV_CONTRACT, method, params);
    if (!v.ok) throw new Refusal(400, v.error.message);
    o.log.warn({ component: 'dashboard', operator: who.name, method, target, requestId }, 'dashboard action');
    return o.call(method, v.params, { identity: 'pscli', commonName: who.name, operator: who.name, requestId, via: 'dashboard' });
  }

  async function answer(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> {
    const who = operatorOf(req);
    const url = urlOf(req.url ?? '/');
    const opt: RenderOptions = { operator: who.name, actions: o.actions, explorers: o.explorers };
    const path = url.pathname;
    if (path !== '/' && !isAction(path)) throw new Refusal(404, `no such page: ${path.slice(0, 80)}`);
    if (path === '/' || req.method === 'GET') {
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new Refusal(405, 'method not allowed');
      if (path === '/') return send(res, 200, renderOverview(await readOverview(o.ps, o.monitor, o.rows), opt, o.rows));
      if (!o.actions) throw new Refusal(403, 'forbidden: the dashboard is read-only ([dashboard] actions = false)');
      return send(res, 200, await confirm(path as ActionPath, url, who, opt));
    }
    if (req.method !== 'POST') throw new Refusal(405, 'method not allowed');
    if (!o.actions) throw new Refusal(403, 'forbidden: the dashboard is read-only ([dashboard] actions = false)');
    try {
      const result = await act(path as ActionPath, req, who, requestId);
      const r = result as { reply?: unknown; message?: unknown; enabled?: unknown };
      const reply = typeof r?.reply === 'string' ? r.reply : r?.enabled === true ? 'ENABLED' : 'OK';
      const ok = reply !== 'ERROR' && reply !== 'DECLINED';
      const message = typeof r?.message === 'string' ? `${reply}: ${r.message}` : reply;
      send(res, ok ? 200 : 409, renderMessage(opt, 'payserv: done', message, ok));
    } catch (e) {
      if (e instanceof RpcError) throw new Refusal(409, e.message);
      throw e;
    }
  }

  const server: Server = createServer({ ...serverTlsOptions(o.tls) }, (req, res) => {
    const requestId = randomUUID();
    answer(req, res, requestId).catch((e: Error) => {
      if (res.headersSent) return void res.destroy();
      if (e instanceof Refusal) {
        o.log.warn(
          { component: 'dashboard', requestId, path: (req.url ?? '').slice(0, 100), status: e.status, reason: e.message },
          'dashboard request refused',
        );
        return send(res, e.status, renderMessage(null, 'payserv: refused', e.message, false));
      }
      o.log.error({ component: 'dashboard', requestId, err: e.message }, 'dashboard request failed');
      send(res, 500, renderMessage(null, 'payserv: error', `internal error (request ${requestId}: see payserv's log)`, false));
    });
  });
  server.maxConnections = CONNECTIONS_MAX;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  await listenOn(server, o.host, o.port, 'payserv dashboard listener');
  const { port } = server.address() as AddressInfo;
  o.log.info(
    { component: 'dashboard', address: o.host, port, actions: o.actions },
    "operator dashboard listening (operators' certificates only)",
  );
  return {
    host: o.host,
    port,
    close: () => closeNow(server),
  };
}
