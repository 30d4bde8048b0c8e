// The HTTP side of a bitcoind-style node's JSON-RPC (JSON-RPC 1.0 over HTTP, basic auth), shared by the
// Zcash and the Bitcoin-family clients: the URL's credentials taken out (sent as basic auth, never
// shown), one POST with a timeout and a reply size limit, and a failure that says whether the request
// may have run. It never retries and never parses: each client reads the body its own way.
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { z } from 'zod';

export interface NodeEndpoint {
  /** Where the node is, without credentials: the only form that may appear in a message or a log. */
  readonly endpoint: string;
  readonly url: URL;
  readonly authorization: string | undefined;
  readonly agent: HttpAgent;
}

/** The URL with its credentials taken out: the only form of it that may appear in a message or a log. */
export function redactUrl(url: URL): string {
  return `${url.protocol}//${url.host}${url.pathname === '/' ? '' : url.pathname}`;
}

/** Parses a node URL (`what`: "the Zcash node URL"); its error never repeats the URL, credentials and all. */
export function nodeEndpoint(raw: string, what: string): NodeEndpoint {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${what} is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${what} must be http or https, not ${url.protocol}`);
  const authorization =
    url.username || url.password
      ? `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
      : undefined;
  url.username = '';
  url.password = '';
  // One connection per call: a node drops idle connections on its own schedule, and a call written
  // onto a connection it is closing fails as "may have run", which for a broadcast means a recheck.
  const agentOptions = { keepAlive: false, maxSockets: 4 };
  const agent = url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
  return { endpoint: redactUrl(url), url, authorization, agent };
}

/** The node answered with a JSON-RPC error (code and message are the node's). Each client names its own subclass. */
export class NodeRpcError extends Error {
  override readonly name: string = 'NodeRpcError';

  constructor(
    readonly method: string,
    readonly code: number,
    /** The node's own message, as it sent it (cut to 500 characters). */
    readonly nodeMessage: string,
  ) {
    super(`${method}: node error ${code}: ${nodeMessage}`);
  }
}

/** No answer (refused, timed out, cut off, not JSON-RPC): nothing can be concluded, a broadcast may have been relayed. */
export class NodeRpcUnavailable extends Error {
  override readonly name: string = 'NodeRpcUnavailable';

  constructor(
    readonly method: string,
    message: string,
    /** False only when the request certainly never reached the node (connection refused, bad URL). */
    readonly mayHaveRun: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** An answer that does not fit the method's schema: as inconclusive as no answer. */
export class NodeRpcBadReply extends Error {
  override readonly name: string = 'NodeRpcBadReply';

  constructor(
    readonly method: string,
    message: string,
  ) {
    super(message);
  }
}

/** The error classes a client throws (its own subclasses, so its callers branch on its names). */
export interface NodeRpcErrors {
  error: new (method: string, code: number, nodeMessage: string) => NodeRpcError;
  unavailable: new (method: string, message: string, mayHaveRun: boolean, options?: { cause?: unknown }) => NodeRpcUnavailable;
  badReply: new (method: string, message: string) => NodeRpcBadReply;
}

export interface NodeRpcCall {
  ep: NodeEndpoint;
  timeoutMs: number;
  responseBytesMax: number;
  errors: NodeRpcErrors;
  /** Reads the body (JSON.parse, or a lossless parser); throws on anything that is not JSON. */
  parse: (text: string) => unknown;
}

/** bitcoind's RPC_IN_WARMUP: the node is starting (loading blocks, verifying) and ran nothing. */
const RPC_IN_WARMUP = -28;

const envelope = z.object({
  result: z.unknown().optional(),
  error: z.object({ code: z.number().int(), message: z.string() }).nullable().optional(),
  id: z.union([z.number(), z.string(), z.null()]),
});

/** One JSON-RPC 1.0 call, its reply checked against `schema`; every failure one of `c.errors`. */
export async function callNode<S extends z.ZodType>(
  c: NodeRpcCall,
  id: number,
  method: string,
  params: unknown[],
  schema: S,
): Promise<z.output<S>> {
  const at = `${method} at ${c.ep.endpoint}`;
  let status: number;
  let body: string;
  try {
    ({ status, body } = await postJson(c.ep, JSON.stringify({ jsonrpc: '1.0', id, method, params }), c));
  } catch (e) {
    if (!(e instanceof NodeHttpFailure)) throw e;
    const note = e.mayHaveRun && e.sent ? ' (the request was sent and may have run)' : '';
    throw new c.errors.unavailable(method, `${at}: ${e.reason}${note}`, e.mayHaveRun, { cause: e.cause });
  }
  let parsed: unknown;
  try {
    parsed = c.parse(body);
  } catch {
    // A node answers 401 with an empty body, a proxy 502/503 with HTML: no JSON-RPC verdict either way.
    const refused = status === 401 || status === 403;
    const why = refused ? `HTTP ${status}: the node refused the RPC credentials` : `HTTP ${status} without a JSON-RPC reply`;
    throw new c.errors.unavailable(method, `${at}: ${why}`, !refused);
  }
  const env = envelope.safeParse(parsed);
  if (!env.success) throw new c.errors.badReply(method, `${at}: not a JSON-RPC reply (${describeIssues(env.error, '')})`);
  if (env.data.id !== id) throw new c.errors.badReply(method, `${at}: reply for id ${JSON.stringify(env.data.id)}, not ${id}`);
  if (env.data.error) {
    const e = env.data.error;
    if (e.code === RPC_IN_WARMUP) throw new c.errors.unavailable(method, `${at}: the node is starting (${clip(e.message)})`, false);
    throw new c.errors.error(method, e.code, clip(e.message));
  }
  if (!('result' in (parsed as object))) throw new c.errors.badReply(method, `${at}: a reply with neither result nor error`);
  const r = schema.safeParse(env.data.result);
  if (!r.success) throw new c.errors.badReply(method, `${at}: unexpected reply: ${describeIssues(r.error, 'result')}`);
  return r.data;
}

/** bitcoind's RPC_INVALID_ADDRESS_OR_KEY: no such transaction, block or mempool entry. */
const RPC_INVALID_ADDRESS_OR_KEY = -5;

/** A lookup's reply, or null for the node's -5: it does not have what was asked for (never a proof of anything). */
export async function nullWhenUnknown<T>(reply: Promise<T>): Promise<T | null> {
  try {
    return await reply;
  } catch (err) {
    if (err instanceof NodeRpcError && err.code === RPC_INVALID_ADDRESS_OR_KEY) return null;
    throw err;
  }
}

/** No answer: refused, timed out, cut off, too large. */
export class NodeHttpFailure extends Error {
  constructor(
    readonly reason: string,
    /** False only when the request certainly never reached the node (connection refused). */
    readonly mayHaveRun: boolean,
    readonly sent: boolean,
    options?: { cause?: unknown },
  ) {
    super(reason, options);
  }
}

/** POSTs a JSON body; resolves with the HTTP status and the whole body, or rejects with a NodeHttpFailure. */
export function postJson(
  ep: NodeEndpoint,
  body: string,
  o: { timeoutMs: number; responseBytesMax: number },
): Promise<{ status: number; body: string }> {
  const request = ep.url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    let sent = false;
    let settled = false;
    const fail = (reason: string, cause?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      const mayHaveRun = sent || (cause as NodeJS.ErrnoException | undefined)?.code !== 'ECONNREFUSED';
      reject(new NodeHttpFailure(reason, mayHaveRun, sent, { cause }));
    };
    const req = request(ep.url, {
      agent: ep.agent,
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        'Content-Length': Buffer.byteLength(body),
        ...(ep.authorization ? { Authorization: ep.authorization } : {}),
      },
    });
    const timer = setTimeout(() => fail(`no reply within ${o.timeoutMs} ms`), o.timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => fail(describeSocketError(err), err));
    req.on('finish', () => (sent = true));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > o.responseBytesMax) fail(`reply larger than ${o.responseBytesMax} bytes`);
        else chunks.push(c);
      });
      res.on('error', (err: NodeJS.ErrnoException) => fail(describeSocketError(err), err));
      res.on('close', () => {
        if (!res.complete) fail('the connection closed in the middle of the reply');
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.end(body);
  });
}

function describeSocketError(err: NodeJS.ErrnoException): string {
  // Any string (Node adds codes): the default is the answer for the others, an absent code among them.
  switch (err.code ?? '') {
    case 'ECONNREFUSED':
      return 'connection refused (is the node running and its RPC port open?)';
    case 'ECONNRESET':
    case 'EPIPE':
      return `connection reset by the node (${err.code})`;
    case 'ETIMEDOUT':
      return 'connection timed out';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found (${err.code})`;
    default:
      // Node's socket messages name the host and port, never the Authorization header.
      return `${err.message}${err.code ? ` (${err.code})` : ''}`;
  }
}

/** A node's message can be anything: keep it one short line. */
export function clip(s: string): string {
  const line = s.replace(/[\r\n\t]+/g, ' ');
  return line.length > 500 ? `${line.slice(0, 500)}…` : line;
}

/** zod issues as "result.consensus.nextblock: a branch id is 8 lowercase hex digits; ...". */
export function describeIssues(error: z.ZodError, root: string): string {
  return error.issues
    .slice(0, 3)
    .map((i) => {
      const path = i.path.reduce<string>((s, p) => (typeof p === 'number' ? `${s}[${p}]` : `${s}${s ? '.' : ''}${String(p)}`), root);
      return `${path || 'reply'}: ${i.message}`;
    })
    .join('; ');
}
