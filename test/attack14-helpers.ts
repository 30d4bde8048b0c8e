// Attack support (issue 14 attack): a tiny JSON-RPC man-in-the-middle in front of a node, answering some
// calls itself (an error or a result a real node gives in some state) and forwarding the rest as they came.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export type Rewrite = (method: string, params: unknown[]) => { error: { code: number; message: string } } | { result: unknown } | null;

export interface Mitm {
  url: string;
  /** Replace the rule (null: forward everything). */
  rule(r: Rewrite | null): void;
  target(url: string): void;
  calls: string[];
  stop(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startMitm(to: string): Promise<Mitm> {
  let target = to;
  let rule: Rewrite | null = null;
  const calls: string[] = [];
  const sockets = new Set<Socket>();
  const one = async (el: Record<string, unknown>): Promise<unknown> => {
    const method = String(el.method);
    calls.push(method);
    const params = (el.params as unknown[] | undefined) ?? [];
    const r = rule?.(method, params) ?? null;
    if (r) return { jsonrpc: el.jsonrpc ?? '2.0', id: el.id, ...('error' in r ? { result: null, error: r.error } : { result: r.result }) };
    const res = await fetch(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(el) });
    return JSON.parse(await res.text()) as unknown;
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const parsed = JSON.parse(await body(req)) as Record<string, unknown> | Array<Record<string, unknown>>;
    const out = Array.isArray(parsed) ? await Promise.all(parsed.map(one)) : await one(parsed);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
  };
  const server = createServer((req, res) => void handle(req, res).catch(() => req.socket.destroy()));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    rule: (r) => void (rule = r),
    target: (u) => void (target = u),
    calls,
    stop: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}
