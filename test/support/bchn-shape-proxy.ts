// A JSON-RPC proxy in front of a litecoind regtest node that gives Bitcoin Cash Node v28's reply shapes where
// they differ from Bitcoin Core 0.21's in what the Bitcoin-family driver calls (test/fixtures/btc/bchn-28-help.ts):
// - `help`: testmempoolaccept in BCHN's form (`( allowhighfees )`), and `estimatefee` (no arguments) in place of
//   estimatesmartfee;
// - `estimatefee`: answered as BCHN computes it (CTxMemPool::estimateFee: the larger of the minimum relay fee and
//   the mempool's minimum fee, coins per 1,000 bytes), from the node's getmempoolinfo;
// - `testmempoolaccept`: the reply without `fees` and `vsize`, as BCHN's carries only txid, allowed and reject-reason.
// Everything else is forwarded as it came, and the node's reply returned as it came. This proves the driver's
// no-fee path on a real node; it is not Bitcoin Cash (BCH signing is proven by test/unit/btc-* vectors).
// With `help: false` the listing stays litecoind's (a node whose testmempoolaccept answers the fee) while its
// replies still lack it: a node that should send fees and does not.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseJsonLossless, satoshisOf } from '../../src/chains/btc/json.js';
import { fromSat, type Litecoind } from './litecoind-node.js';

export interface BchnShapeProxy {
  /** The node's URL (its credentials) at the proxy's port: for the client under test only. */
  url: string;
  /** Every method asked, in order. */
  calls: string[];
  /** Every testmempoolaccept reply as the client got it (JSON text). */
  mempoolReplies: string[];
  /**
   * From now on estimatefee answers this many satoshis per 1,000 bytes (null: as BCHN computes it): a mempool full and
   * evicting raises BCHN's rolling minimum fee, and its estimatefee with it.
   */
  setMempoolMinFee(satPerKb: bigint | null): void;
  stop(): Promise<void>;
}

const BCHN_TESTMEMPOOLACCEPT = 'testmempoolaccept ["rawtx",...] ( allowhighfees )';
const BODY_MAX = 16 * 1024 * 1024;

export async function startBchnShapeProxy(node: Litecoind, opts: { help?: boolean } = {}): Promise<BchnShapeProxy> {
  const calls: string[] = [];
  const mempoolReplies: string[] = [];
  const reshapeHelp = opts.help ?? true;
  let mempoolMinFee: bigint | null = null;

  /** The node's reply: its HTTP status (Bitcoin Core answers an RPC error with 500 or 404) and its text. */
  const forward = (body: string, auth: string | undefined): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: node.rpcPort,
          method: 'POST',
          path: '/',
          headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 502, text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const answer = async (body: string, auth: string | undefined): Promise<{ status: number; text: string }> => {
    const call = JSON.parse(body) as { id: unknown; method: string; params?: unknown[] };
    calls.push(call.method);
    const id = JSON.stringify(call.id ?? null);
    if (call.method === 'estimatefee') {
      const info = parseJsonLossless((await forward(JSON.stringify({ id: call.id, method: 'getmempoolinfo', params: [] }), auth)).text) as {
        result: { minrelaytxfee: unknown; mempoolminfee: unknown };
      };
      const relay = satoshisOf(info.result.minrelaytxfee) ?? 0n;
      const pool = mempoolMinFee ?? satoshisOf(info.result.mempoolminfee) ?? 0n;
      return { status: 200, text: `{"result":${fromSat(relay > pool ? relay : pool)},"error":null,"id":${id}}` };
    }
    const reply = await forward(body, auth);
    if (reply.status !== 200) return reply;
    if (call.method === 'help' && reshapeHelp && !(call.params ?? []).length) {
      const r = JSON.parse(reply.text) as { result: string; error: unknown; id: unknown };
      r.result = r.result
        .split('\n')
        .map((l) => (l.startsWith('testmempoolaccept') ? BCHN_TESTMEMPOOLACCEPT : l.startsWith('estimatesmartfee') ? 'estimatefee' : l))
        .join('\n');
      return { status: 200, text: JSON.stringify(r) };
    }
    if (call.method === 'testmempoolaccept') {
      // No amount is left in the reply once fees are gone: JSON.parse loses nothing.
      const r = JSON.parse(reply.text) as { result: Array<Record<string, unknown>> | null; error: unknown; id: unknown };
      for (const e of r.result ?? []) {
        delete e.fees;
        delete e.vsize;
      }
      const text = JSON.stringify(r);
      mempoolReplies.push(text);
      return { status: 200, text };
    }
    return reply;
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
      if (body.length > BODY_MAX) req.destroy();
    });
    req.on('end', () => {
      answer(body, req.headers.authorization).then(
        (r) => {
          res.statusCode = r.status;
          res.setHeader('content-type', 'application/json');
          res.end(r.text);
        },
        (e: unknown) => {
          res.statusCode = 502;
          res.end(String(e));
        },
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = new URL(node.url);
  url.port = String((server.address() as AddressInfo).port);
  return {
    url: url.toString(),
    calls,
    mempoolReplies,
    setMempoolMinFee: (satPerKb) => {
      mempoolMinFee = satPerKb;
    },
    stop: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
