// A JSON-RPC proxy in front of a node, for tests of what a payment does when the network misbehaves:
// a reply lost after the node acted on the request, a 502 from a load balancer, a node that is down.
// Every request is recorded by method; batches (an array body) are handled as one request whose methods
// are all recorded, and a fault set for any of its methods applies to the whole batch.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

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
}

/** Bounds: a test's requests are small; anything bigger is a bug, answered 413. */
const BODY_BYTES_MAX = 4 * 1024 * 1024;
const FORWARD_TIMEOUT_MS = 30_000;

export async function startRpcProxy(target: string): Promise<RpcProxy> {
  const drops = new Map<string, number>();
  const fails = new Map<string, number>();
  const holdRequests = new Map<string, number>();
  const holdReplies = new Map<string, number>();
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
    let upstream: Response;
    let text: string;
    try {
      upstream = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
      });
      text = await upstream.text();
    } catch (e) {
      // The node is unreachable: answer as a gateway would, so the test sees a transport failure.
      if (drop) req.socket.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end(`bad gateway: ${(e as Error).message}`);
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
    res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' }).end(text);
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
    stop() {
      return (stopping ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }));
    },
  };
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
  return items.map((it) => (typeof it === 'object' && it !== null && typeof (it as { method?: unknown }).method === 'string' ? (it as { method: string }).method : '?'));
}
