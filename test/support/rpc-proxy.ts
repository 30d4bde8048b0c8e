// A JSON-RPC proxy in front of a node, for tests of what a payment does when the network misbehaves:
// a reply lost after the node acted on the request, a 502 from a load balancer, a node that is down.
// Every request is recorded by method; batches (an array body) are handled as one request whose methods
// are all recorded, and a fault set for any of its methods applies to the whole batch.
//
// It also makes the node behind it behave as production nodes do (issue 14): receipts and transactions
// answered null (geth beyond its receipt-index window), a node lagging behind the head (a load-balanced back
// end), and a switch to another node (another chain, or the same chain id restarted fresh). While nullResults
// or lag is on, a request is answered element by element: each element is answered here or forwarded on its
// own (with its own id), and the replies come back in the order of the request; otherwise the body is
// forwarded as it came and the node's reply returned as it came. nullResults is asked before lag. An element
// that is not a call is forwarded as it is (the node answers its own error). Answering one by one is bounded
// (BATCH_ELEMENTS_MAX, else 413); a node unreachable or not answering JSON-RPC is a 502 for the whole request,
// a nullResults predicate that throws a 500 naming it.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readBounded } from '../../src/devnet/anvil.js';

export interface RpcProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  stop(): Promise<void>;
  /**
   * The next `times` requests calling `method` are forwarded to the node (so it acts on them: a transaction
   * is accepted) and then the client's connection is destroyed without an answer: "the node accepted the
   * transaction and the reply was lost".
   */
  dropReplyTo(method: string, times?: number): void;
  /** The next `times` requests calling `method` get HTTP 502 and are NOT forwarded (the node never sees them). */
  failNext(method: string, times?: number): void;
  /**
   * The next request calling `method` hangs: 'request' never forwards it (the caller dies before the node
   * hears of it), 'reply' forwards it and never answers (the node acted; the caller dies before it learns).
   */
  hold(method: string, what: 'request' | 'reply'): void;
  /** How many requests are being held. */
  held(): number;
  /** While on, every connection is closed at once, unanswered: the node is down. */
  down(on: boolean): void;
  /** Forgets every fault armed and not yet used (drops, failures, holds to come); requests already held stay held. */
  clear(): void;
  /** Every method seen, in order (batches: each element's method), including those failed or dropped; while down nothing is seen. */
  calls: string[];
  /**
   * While on, requests calling `method` (e.g. eth_getTransactionReceipt, eth_getTransactionByHash) are answered
   * `{"jsonrpc":"2.0","id":<id>,"result":null}` here, never forwarded: geth beyond its receipt-index window, or
   * a back end that has not indexed the block yet. `on` may be a predicate on the call's params (e.g. only
   * some hashes: `(p) => hashes.has(String(p[0]).toLowerCase())`): then only the calls it accepts are
   * answered null. `false` turns it off for that method. In a batch, only the elements calling `method` are.
   * A mode, not an armed fault: clear() leaves it on.
   */
  nullResults(method: string, on: boolean | ((params: readonly unknown[]) => boolean)): void;
  /**
   * The node appears `blocks` behind the real head H (read from the node once per request: a batch sees one head), at V = max(0, H − blocks):
   * - eth_blockNumber answers V;
   * - eth_getBlockByNumber: "latest"/"pending" answer block V, "safe"/"finalized" the node's own unless it is
   *   above V (then block V); a number above V answers null (as geth does for a block it does not have);
   * - state reads (eth_getBalance, eth_getTransactionCount, eth_getCode, eth_getStorageAt, eth_call,
   *   eth_estimateGas, eth_createAccessList, eth_getProof): "latest" or no block reads at V, "safe"/"finalized"
   *   at most at V; a number above V (or `{blockNumber}` above V) answers geth's error
   *   `{"code":-32000,"message":"header not found"}`, a block hash (bare or `{blockHash}`) of a block above V geth's
   *   `{"code":-32000,"message":"header for hash not found"}`; "pending" is forwarded as it is (the node's
   *   pool holds every transaction sent through it), so is "earliest";
   * - eth_getTransactionReceipt, eth_getTransactionByHash: a transaction mined above V answers null;
   *   eth_getBlockByHash, eth_getBlockReceipts (by number, tag or hash): a block above V answers null;
   * - eth_feeHistory: a newest block "latest"/"pending" is V; one above V answers geth's
   *   `{"code":-32000,"message":"request beyond head block: requested <n>, head <V>"}`.
   * Every other method (eth_getLogs among them) is forwarded as it is. lag(0) turns it off; a mode: clear() leaves it on.
   */
  lag(blocks: number): void;
  /**
   * From now on every request is forwarded to `url` (another node: another chain id, or the same chain id
   * started fresh with another genesis); `retarget(<the first url>)` switches back. Requests already
   * forwarded finish with the node they went to. Not undone by clear().
   */
  retarget(url: string): void;
  /** The node requests are forwarded to now. */
  target(): string;
}

/** Bounds: a test's requests are small; anything bigger is a bug, answered 413. */
const BODY_BYTES_MAX = 4 * 1024 * 1024;
/** A node's reply (a block with its transactions, a batch) may be bigger than a request; past this it is a 502. */
const REPLY_BYTES_MAX = 16 * 1024 * 1024;
const FORWARD_TIMEOUT_MS = 30_000;
/** Elements of a batch answered one by one (geth's own default batch limit); more is answered 413. */
const BATCH_ELEMENTS_MAX = 1_000;
/** geth's code for a plain error (rpc/errors.go errcodeDefault). */
const GETH_ERROR_CODE = -32000;

/** Methods reading state at a block, and where that block is in their params. */
const STATE_BLOCK_PARAM: Record<string, number> = {
  eth_getBalance: 1,
  eth_getTransactionCount: 1,
  eth_getCode: 1,
  eth_getStorageAt: 2,
  eth_call: 1,
  eth_estimateGas: 1,
  eth_createAccessList: 1,
  eth_getProof: 2,
};

type NullRule = true | ((params: readonly unknown[]) => boolean);

/** One JSON-RPC call of a request (an element of a batch). */
interface Call {
  id: unknown;
  method: string;
  params: unknown[];
  /** The element as it came, forwarded unchanged when nothing here applies. */
  raw: Record<string, unknown>;
}

type Reply = Record<string, unknown>;

/** The node could not be reached or answered something that is not a JSON-RPC reply: the request gets a 502. */
class UpstreamError extends Error {}
/** The request cannot be answered element by element within the bounds: 413. */
class TooLarge extends Error {}

export async function startRpcProxy(initialTarget: string): Promise<RpcProxy> {
  let target = checkUrl(initialTarget);
  const drops = new Map<string, number>();
  const fails = new Map<string, number>();
  const holdRequests = new Map<string, number>();
  const holdReplies = new Map<string, number>();
  const nulls = new Map<string, NullRule>();
  let lagBlocks = 0;
  let holding = 0;
  const calls: string[] = [];
  const sockets = new Set<Socket>();
  let isDown = false;

  /** Takes one from `counts` for the first of `methods` that has some left; true if it did. */
  const take = (counts: Map<string, number>, methods: string[]): boolean => {
    for (const m of methods) {
      const left = counts.get(m) ?? 0;
      if (left > 0) {
        if (left === 1) counts.delete(m);
        else counts.set(m, left - 1);
        return true;
      }
    }
    return false;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (isDown) {
      req.socket.destroy();
      return;
    }
    const body = await readBody(req);
    if (body === null) {
      res.writeHead(413).end();
      return;
    }
    const methods = methodsOf(body);
    calls.push(...methods);
    if (isDown) {
      req.socket.destroy();
      return;
    }
    if (take(fails, methods)) {
      res.writeHead(502, { 'content-type': 'text/plain' }).end('bad gateway (rpc-proxy failNext)');
      return;
    }
    if (take(holdRequests, methods)) {
      holding++;
      return;
    }
    const holdReply = take(holdReplies, methods);
    const drop = take(drops, methods);
    // The node this request goes to, whatever retarget() does meanwhile.
    const to = target;
    let answer: { status: number; contentType: string; text: string };
    try {
      const each = nulls.size > 0 || lagBlocks > 0 ? callsOf(body) : null;
      answer = each === null ? await forwardAsIs(to, body) : await answerEach(to, each);
    } catch (e) {
      if (drop) {
        req.socket.destroy();
        return;
      }
      if (e instanceof TooLarge) res.writeHead(413, { 'content-type': 'text/plain' }).end(`rpc-proxy: ${e.message}`);
      // The node is unreachable: answer as a gateway would, so the test sees a transport failure.
      else if (e instanceof UpstreamError) res.writeHead(502, { 'content-type': 'text/plain' }).end(`bad gateway: ${e.message}`);
      // A bug of the test's own (a nullResults predicate that threw): said as such.
      else res.writeHead(500, { 'content-type': 'text/plain' }).end(`rpc-proxy: ${(e as Error).message}`);
      return;
    }
    if (holdReply) {
      holding++;
      return;
    }
    if (drop) {
      // The node has acted on the request; the client never learns how.
      req.socket.destroy();
      return;
    }
    res.writeHead(answer.status, { 'content-type': answer.contentType }).end(answer.text);
  };

  /** The request as one: the body forwarded as it came, the reply returned as it came. */
  const forwardAsIs = async (to: string, body: string) => {
    const upstream = await post(to, body);
    return { status: upstream.status, contentType: upstream.contentType ?? 'application/json', text: upstream.text };
  };

  /** Each call answered here or forwarded on its own; the replies in the order of the calls. */
  const answerEach = async (to: string, parsed: { calls: Array<Call | Record<string, unknown>>; batch: boolean }) => {
    if (parsed.calls.length > BATCH_ELEMENTS_MAX)
      throw new TooLarge(`a batch of ${parsed.calls.length} elements; at most ${BATCH_ELEMENTS_MAX} are answered element by element`);
    const view = new LaggedView(to, lagBlocks);
    const replies: Reply[] = [];
    // One after the other, as a node would take them: a batch's side effects (a transaction sent) in its order.
    for (const c of parsed.calls) replies.push(isCall(c) ? await answerOne(to, c, view) : await rpcRaw(to, c));
    return { status: 200, contentType: 'application/json', text: JSON.stringify(parsed.batch ? replies : replies[0]) };
  };

  const answerOne = async (to: string, c: Call, view: LaggedView): Promise<Reply> => {
    const rule = nulls.get(c.method);
    if (rule !== undefined && (rule === true || askPredicate(rule, c))) return result(c, null);
    if (view.lag === 0) return rpcRaw(to, c.raw);
    return answerLagged(to, c, view);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on('connection', (s: Socket) => {
    if (isDown) {
      s.destroy();
      return;
    }
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('rpc-proxy: no TCP address');

  let stopping: Promise<void> | null = null;
  return {
    url: `http://127.0.0.1:${addr.port}`,
    calls,
    dropReplyTo(method, times = 1) {
      drops.set(method, (drops.get(method) ?? 0) + times);
    },
    hold(method, what) {
      const m = what === 'request' ? holdRequests : holdReplies;
      m.set(method, (m.get(method) ?? 0) + 1);
    },
    held: () => holding,
    failNext(method, times = 1) {
      fails.set(method, (fails.get(method) ?? 0) + times);
    },
    clear() {
      for (const m of [drops, fails, holdRequests, holdReplies]) m.clear();
    },
    down(on) {
      isDown = on;
      // Keep-alive connections opened before would otherwise still reach the node.
      if (on) for (const s of sockets) s.destroy();
    },
    nullResults(method, on) {
      if (typeof on !== 'boolean' && typeof on !== 'function')
        throw new Error(`rpc-proxy nullResults(${method}): on must be a boolean or a predicate on the params`);
      if (on === false) nulls.delete(method);
      else nulls.set(method, on);
    },
    lag(blocks) {
      if (!Number.isSafeInteger(blocks) || blocks < 0)
        throw new Error(`rpc-proxy lag: bad block count ${blocks} (a whole number ≥ 0; 0 turns lagging off)`);
      lagBlocks = blocks;
    },
    retarget(url) {
      target = checkUrl(url);
    },
    target: () => target,
    stop() {
      return (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }));
    },
  };
}

function askPredicate(rule: (params: readonly unknown[]) => boolean, c: Call): boolean {
  try {
    return rule(c.params);
  } catch (e) {
    throw new Error(
      `the nullResults predicate for ${c.method} threw on ${JSON.stringify(c.params).slice(0, 200)}: ${(e as Error).message}`,
    );
  }
}

// ---- the lagging node ----------------------------------------------------------------------------------

/** What a node `lag` blocks behind the real head shows; the head is read once per request, when first needed. */
class LaggedView {
  private visibleP: Promise<bigint> | null = null;
  constructor(
    readonly to: string,
    readonly lag: number,
  ) {}

  /** V = max(0, head − lag). */
  visible(): Promise<bigint> {
    return (this.visibleP ??= (async () => {
      const head = quantity(await rpcResult(this.to, 'eth_blockNumber', []), 'eth_blockNumber');
      const v = head - BigInt(this.lag);
      return v < 0n ? 0n : v;
    })());
  }
}

/** A call answered as a node `view.lag` blocks behind would answer it (see RpcProxy.lag). */
async function answerLagged(to: string, c: Call, view: LaggedView): Promise<Reply> {
  const forward = (params: unknown[] = c.params) => rpcRaw(to, params === c.params ? c.raw : { ...c.raw, params });
  const v = await view.visible();
  const blockAbove = (r: Reply): boolean => {
    const res = r.result as { blockNumber?: unknown; number?: unknown } | null | undefined;
    if (typeof res !== 'object' || res === null) return false;
    const n = res.blockNumber ?? res.number;
    return typeof n === 'string' && isQuantity(n) && BigInt(n) > v;
  };

  switch (c.method) {
    case 'eth_blockNumber':
      return result(c, hex(v));

    case 'eth_getBlockByNumber': {
      const tag = c.params[0];
      if (tag === 'latest' || tag === 'pending') return forward(withParam(c.params, 0, hex(v)));
      if (tag === 'safe' || tag === 'finalized') {
        const r = await forward();
        return blockAbove(r) ? forward(withParam(c.params, 0, hex(v))) : r;
      }
      if (typeof tag === 'string' && isQuantity(tag) && BigInt(tag) > v) return result(c, null);
      return forward();
    }

    case 'eth_getTransactionReceipt':
    case 'eth_getTransactionByHash':
    case 'eth_getBlockByHash': {
      const r = await forward();
      return blockAbove(r) ? result(c, null) : r;
    }

    case 'eth_getBlockReceipts': {
      const b = c.params[0];
      if (b === 'latest' || b === 'pending') return forward(withParam(c.params, 0, hex(v)));
      if (typeof b === 'string' && isQuantity(b) && BigInt(b) > v) return result(c, null);
      const hash = typeof b === 'string' ? b : typeof b === 'object' && b !== null ? (b as { blockHash?: unknown }).blockHash : undefined;
      if (typeof hash === 'string' && (await hashAbove(to, hash, v))) return result(c, null);
      return forward();
    }

    case 'eth_feeHistory': {
      const newest = c.params[1];
      if (newest === 'latest' || newest === 'pending') return forward(withParam(c.params, 1, hex(v)));
      if (typeof newest === 'string' && isQuantity(newest) && BigInt(newest) > v) {
        return gethError(c, `request beyond head block: requested ${BigInt(newest)}, head ${v}`);
      }
      return forward();
    }
  }

  const at = STATE_BLOCK_PARAM[c.method];
  if (at === undefined) return forward();
  const b = c.params[at];
  // No block: geth reads at "latest" (eth_call, eth_estimateGas); so does the lagging node, at V.
  if (b === undefined || b === null || b === 'latest') return c.params.length >= at ? forward(withParam(c.params, at, hex(v))) : forward();
  if (b === 'safe' || b === 'finalized') {
    const tagged = await rpcResult(to, 'eth_getBlockByNumber', [b, false]);
    const n = tagged !== null && typeof tagged === 'object' ? (tagged as { number?: unknown }).number : undefined;
    const at_ = typeof n === 'string' && isQuantity(n) && BigInt(n) < v ? BigInt(n) : v;
    return forward(withParam(c.params, at, hex(at_)));
  }
  const number = typeof b === 'string' ? b : typeof b === 'object' ? (b as { blockNumber?: unknown }).blockNumber : undefined;
  if (typeof number === 'string' && isQuantity(number)) return BigInt(number) > v ? gethError(c, 'header not found') : forward();
  // A block hash, bare (geth takes one as BlockNumberOrHash) or as {blockHash}.
  const hash =
    typeof b === 'string' ? (isHash(b) ? b : undefined) : typeof b === 'object' ? (b as { blockHash?: unknown }).blockHash : undefined;
  if (typeof hash === 'string' && (await hashAbove(to, hash, v))) return gethError(c, 'header for hash not found');
  // "pending", "earliest", a block it has, or something the node will refuse itself.
  return forward();
}

/** True if the block `hash` is one the lagging node does not have: unknown to the node, or above V. */
async function hashAbove(to: string, hash: string, v: bigint): Promise<boolean> {
  const block = await rpcResult(to, 'eth_getBlockByHash', [hash, false]);
  if (block === null) return true;
  const n = typeof block === 'object' ? (block as { number?: unknown }).number : undefined;
  return typeof n === 'string' && isQuantity(n) && BigInt(n) > v;
}

// ---- JSON-RPC plumbing -----------------------------------------------------------------------------------

const hex = (n: bigint) => `0x${n.toString(16)}`;
/** A block number (uint64, so at most 16 hex digits: a 32-byte block hash is not one). */
const isQuantity = (s: string) => /^0x[0-9a-fA-F]{1,16}$/.test(s);
const isHash = (s: string) => /^0x[0-9a-fA-F]{64}$/.test(s);
const result = (c: Call, value: unknown): Reply => ({ jsonrpc: '2.0', id: c.id, result: value });
const gethError = (c: Call, message: string): Reply => ({ jsonrpc: '2.0', id: c.id, error: { code: GETH_ERROR_CODE, message } });

/** `params` with `params[i] = value` (padded with nulls if shorter), a copy. */
function withParam(params: unknown[], i: number, value: unknown): unknown[] {
  const p = [...params];
  while (p.length < i) p.push(null);
  p[i] = value;
  return p;
}

function quantity(x: unknown, what: string): bigint {
  if (typeof x !== 'string' || !isQuantity(x)) throw new UpstreamError(`${what}: the node answered ${JSON.stringify(x)}, not a quantity`);
  return BigInt(x);
}

function checkUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`rpc-proxy: ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`rpc-proxy: ${url} is not an http(s) URL`);
  return url;
}

/** The calls of a JSON-RPC body, or null if it is not one (not JSON, an empty batch, not objects): then it is forwarded as it is. */
function callsOf(body: string): { calls: Array<Call | Record<string, unknown>>; batch: boolean } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return null;
  }
  const batch = Array.isArray(parsed);
  const items: unknown[] = batch ? (parsed as unknown[]) : [parsed];
  if (items.length === 0 || !items.every((it) => typeof it === 'object' && it !== null && !Array.isArray(it))) return null;
  return {
    batch,
    calls: (items as Array<Record<string, unknown>>).map((raw) =>
      typeof raw.method === 'string' && (raw.params === undefined || Array.isArray(raw.params))
        ? { id: raw.id ?? null, method: raw.method, params: (raw.params as unknown[] | undefined) ?? [], raw }
        : raw,
    ),
  };
}

function isCall(c: Call | Record<string, unknown>): c is Call {
  return 'raw' in c && typeof c.method === 'string' && Array.isArray(c.params);
}

/** A node URL with a user and password (litecoind's): fetch refuses it, the credentials go as basic auth. */
function splitCredentials(to: string): { url: string; authorization: string | null } {
  const u = new URL(to);
  if (!u.username && !u.password) return { url: to, authorization: null };
  const authorization = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization };
}

/** POSTs `body` to the node; the reply's status, type and text (bounded). A transport failure is an UpstreamError. */
async function post(to: string, body: string): Promise<{ status: number; contentType: string | null; text: string }> {
  let res: Response;
  const { url, authorization } = splitCredentials(to);
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body,
      signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
    });
    return { status: res.status, contentType: res.headers.get('content-type'), text: await readReply(res) };
  } catch (e) {
    throw e instanceof UpstreamError ? e : new UpstreamError(`${url}: ${(e as Error).message}`);
  }
}

/** One element forwarded on its own: the node's JSON-RPC reply object (an error reply included). */
async function rpcRaw(to: string, element: Record<string, unknown>): Promise<Reply> {
  const what = typeof element.method === 'string' ? element.method : 'a request';
  const r = await post(to, JSON.stringify(element));
  let reply: unknown;
  try {
    reply = JSON.parse(r.text);
  } catch {
    throw new UpstreamError(`${what}: the node answered HTTP ${r.status}, not JSON: ${r.text.slice(0, 200)}`);
  }
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply))
    throw new UpstreamError(`${what}: the node answered HTTP ${r.status}, not a JSON-RPC reply: ${r.text.slice(0, 200)}`);
  return reply as Reply;
}

let ownIds = 0;

/** A call of the proxy's own (not recorded in `calls`): its result; a JSON-RPC error is an UpstreamError. */
async function rpcResult(to: string, method: string, params: unknown[]): Promise<unknown> {
  const r = await rpcRaw(to, { jsonrpc: '2.0', id: `rpc-proxy-${++ownIds}`, method, params });
  if (r.error !== undefined || !('result' in r))
    throw new UpstreamError(`${method} (the proxy's own call): the node answered ${JSON.stringify(r).slice(0, 300)}`);
  return r.result;
}

/** The reply's body as text, refused past REPLY_BYTES_MAX. */
function readReply(res: Response): Promise<string> {
  return readBounded(res, REPLY_BYTES_MAX, () => new UpstreamError(`the node's reply is longer than ${REPLY_BYTES_MAX} bytes`));
}

/** The body, or null past BODY_BYTES_MAX. */
async function readBody(req: IncomingMessage): Promise<string | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > BODY_BYTES_MAX) return null;
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The methods a JSON-RPC body calls ('?' for what is not a call). */
function methodsOf(body: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return ['?'];
  }
  const items = Array.isArray(parsed) ? parsed : [parsed];
  return items.map((it) =>
    typeof it === 'object' && it !== null && typeof (it as { method?: unknown }).method === 'string'
      ? (it as { method: string }).method
      : '?',
  );
}
