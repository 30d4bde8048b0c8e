// A lying Bitcoin-family node for outsider attacks (issue 18, round 2): a JSON-RPC server in front of a
// real litecoind that forwards every call (with the node's own credentials: the client under test may
// send any) and lets a test rewrite the reply of chosen methods, or the call itself, before it goes on.
// Replies are read and written losslessly (amounts stay JsonDecimal text), so a lie is exactly the
// amount the test names. Node errors are passed back as the node wrote them (code and message).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { JsonDecimal, parseJsonLossless, satoshisOf } from '../../src/chains/btc/json.js';
import { fromSat, LitecoindError, type Litecoind } from './litecoind-node.js';

/** Rewrites one reply: gets the node's result (lossless) and the call's params, returns what the client is told. */
export type Lie = (result: unknown, params: readonly unknown[]) => unknown;
/** Rewrites one call before it reaches the node: its params. */
export type Twist = (params: readonly unknown[]) => unknown[];

export interface LyingNode {
  /** http://liar:liar@127.0.0.1:<port>/ — give it to the driver as its node URL. */
  url: string;
  /** From now on every reply of `method` goes through `lie` (null: told the truth again). */
  lie(method: string, lie: Lie | null): void;
  /** From now on every call of `method` reaches the node with `twist(params)` (null: as it came). */
  twist(method: string, twist: Twist | null): void;
  /**
   * Answers `method` here with what `fn` returns (a LitecoindError it throws: that node error), never asking
   * the node; `fn` returning undefined forwards that call. null: every call forwarded again.
   */
  answer(method: string, fn: ((params: readonly unknown[]) => unknown) | null): void;
  /** Every method called, in order. */
  calls: string[];
  stop(): Promise<void>;
}

/** JSON text of a lossless value: a JsonDecimal written as its text. */
export function losslessJson(v: unknown): string {
  if (v instanceof JsonDecimal) return v.text;
  if (Array.isArray(v)) return `[${v.map(losslessJson).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${JSON.stringify(k)}:${losslessJson(x)}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Satoshis as the JSON amount a node writes (8 decimals). */
export const amountOf = (sat: bigint): JsonDecimal => new JsonDecimal(fromSat(sat));
/** A node amount (JsonDecimal or integer) in satoshis. */
export function sat(v: unknown): bigint {
  const s = satoshisOf(v);
  if (s === null) throw new Error(`not an amount: ${String(v)}`);
  return s;
}

export async function startLyingNode(node: Litecoind): Promise<LyingNode> {
  const lies = new Map<string, Lie>();
  const twists = new Map<string, Twist>();
  const answers = new Map<string, (params: readonly unknown[]) => unknown>();
  const calls: string[] = [];

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = parseJsonLossless(Buffer.concat(chunks).toString('utf8')) as { id: unknown; method: string; params?: unknown[] };
    const params = body.params ?? [];
    calls.push(body.method);
    let reply: { result: unknown; error: { code: number; message: string } | null; id: unknown };
    try {
      let result = await answers.get(body.method)?.(params);
      if (result === undefined) {
        const twist = twists.get(body.method);
        // The node's rpc() takes plain JSON params: the calls payserv makes carry no fractional amounts.
        result = await node.rpc(body.method, (twist ? twist(params) : params) as unknown[]);
      }
      const lie = lies.get(body.method);
      reply = { result: lie ? lie(result, params) : result, error: null, id: body.id };
    } catch (e) {
      if (!(e instanceof LitecoindError)) throw e;
      reply = { result: null, error: { code: e.code, message: e.nodeMessage }, id: body.id };
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(losslessJson(reply));
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500).end(String((e as Error).message));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://liar:liar@127.0.0.1:${port}/`,
    lie: (m, l) => void (l ? lies.set(m, l) : lies.delete(m)),
    twist: (m, t) => void (t ? twists.set(m, t) : twists.delete(m)),
    answer: (m, a) => void (a ? answers.set(m, a) : answers.delete(m)),
    calls,
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
