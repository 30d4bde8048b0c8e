// The JSON-RPC proxy's production-node behaviours (issue 14), each against a real anvil: null receipts and
// transactions, a node lagging behind the head (with geth's errors), a switch to another chain or to the same
// chain id started fresh, and batches answered element by element under all of them.
import { createPublicClient, http, TransactionReceiptNotFoundError, type Hex } from 'viem';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import { anvilRpc, mine, startAnvil, type Anvil } from '../src/devnet/anvil.js';
import { describeOncePerSuite } from './support/backend.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';

const hex = (n: bigint | number) => `0x${n.toString(16)}`;

interface RpcReply {
  jsonrpc: string;
  id: unknown;
  result?: unknown;
  error?: { code: number; message: string };
}

let nextId = 1;
const call = (method: string, params: unknown[] = []) => ({ jsonrpc: '2.0', id: nextId++, method, params });

/** POSTs a body (one call or a batch) and returns the parsed reply, whatever it is. */
async function post(url: string, body: unknown): Promise<{ status: number; text: string; json: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}

/** One call: the whole reply object (to see `result: null` and geth's errors as they are). */
async function reply(url: string, method: string, params: unknown[] = []): Promise<RpcReply> {
  const r = await post(url, call(method, params));
  expect(r.status).toBe(200);
  return r.json as RpcReply;
}

async function blockNumber(url: string): Promise<bigint> {
  return BigInt((await anvilRpc(url, 'eth_blockNumber')) as string);
}

/** A transfer from anvil's first dev account (unlocked), mined at once (automine): its hash and block. */
async function transfer(node: Anvil, value = 1n): Promise<{ hash: Hex; block: bigint; from: string }> {
  const [from] = (await anvilRpc(node.url, 'eth_accounts')) as string[];
  if (from === undefined) throw new Error('anvil has no dev accounts');
  const hash = (await anvilRpc(node.url, 'eth_sendTransaction', [
    { from, to: '0x000000000000000000000000000000000000dEaD', value: hex(value) },
  ])) as Hex;
  // automine mines at once, yet the receipt may trail the send by a moment
  for (const deadline = Date.now() + 5_000; ; await new Promise((r) => setTimeout(r, 20))) {
    const receipt = (await anvilRpc(node.url, 'eth_getTransactionReceipt', [hash])) as { blockNumber: string } | null;
    if (receipt !== null) return { hash, block: BigInt(receipt.blockNumber), from };
    if (Date.now() > deadline) throw new Error(`the transfer ${hash} was not mined within 5 s (is automine off?)`);
  }
}

let node: Anvil;
let other: Anvil;

describeOncePerSuite('rpc-proxy against anvil', () => {
  beforeAll(async () => {
    [node, other] = await Promise.all([startAnvil(), startAnvil({ chainId: 31338 })]);
  });
  afterAll(async () => {
    await Promise.all([node?.stop(), other?.stop()]);
  });

  const proxyTo = async (url: string): Promise<RpcProxy> => {
    const p = await startRpcProxy(url);
    onTestFinished(() => p.stop());
    return p;
  };

  it('nullResults: a mined receipt is answered null without reaching the node; off again, it is there', async () => {
    // inner sees what reaches the node; outer is the proxy under test
    const inner = await proxyTo(node.url);
    const outer = await proxyTo(inner.url);
    const tx = await transfer(node);
    expect((await reply(outer.url, 'eth_getTransactionReceipt', [tx.hash])).result).toMatchObject({
      transactionHash: tx.hash,
      status: '0x1',
    });

    outer.nullResults('eth_getTransactionReceipt', true);
    outer.nullResults('eth_getTransactionByHash', true);
    inner.calls.length = 0;
    const body = call('eth_getTransactionReceipt', [tx.hash]);
    const r = await post(outer.url, body);
    expect([r.status, r.text]).toEqual([200, `{"jsonrpc":"2.0","id":${body.id},"result":null}`]);
    expect((await reply(outer.url, 'eth_getTransactionByHash', [tx.hash])).result).toBeNull();
    expect(inner.calls).toEqual([]); // never forwarded
    // other methods still go through
    expect((await reply(outer.url, 'eth_blockNumber')).result).toBe(hex(await blockNumber(node.url)));
    expect(inner.calls).toEqual(['eth_blockNumber']);
    // a client library sees "not found"
    const viaProxy = createPublicClient({ transport: http(outer.url, { retryCount: 0 }) });
    await expect(viaProxy.getTransactionReceipt({ hash: tx.hash })).rejects.toBeInstanceOf(TransactionReceiptNotFoundError);
    expect(outer.calls.filter((m) => m === 'eth_getTransactionReceipt')).toHaveLength(3);
    // the node itself still has it
    expect(await anvilRpc(node.url, 'eth_getTransactionReceipt', [tx.hash])).toMatchObject({ transactionHash: tx.hash });

    outer.nullResults('eth_getTransactionReceipt', false);
    outer.nullResults('eth_getTransactionByHash', false);
    expect((await reply(outer.url, 'eth_getTransactionReceipt', [tx.hash])).result).toMatchObject({ transactionHash: tx.hash });
    expect((await reply(outer.url, 'eth_getTransactionByHash', [tx.hash])).result).toMatchObject({ hash: tx.hash });
  });

  it('nullResults with a predicate: only the hashes it names are null', async () => {
    const proxy = await proxyTo(node.url);
    const a = await transfer(node);
    const b = await transfer(node);
    const hidden = new Set([a.hash.toLowerCase()]);
    proxy.nullResults('eth_getTransactionReceipt', (p) => hidden.has(String(p[0]).toLowerCase()));
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [a.hash])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [a.hash.toUpperCase().replace('0X', '0x')])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [b.hash])).result).toMatchObject({ transactionHash: b.hash });
    hidden.add(b.hash.toLowerCase()); // the predicate is asked on every call
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [b.hash])).result).toBeNull();
    expect(() => proxy.nullResults('eth_getTransactionReceipt', 'yes' as unknown as boolean)).toThrow(/boolean or a predicate/);
    // a predicate that throws is the test's bug, said as such (500), not a node failure
    proxy.nullResults('eth_getTransactionReceipt', () => {
      throw new Error('oops');
    });
    const r = await post(proxy.url, call('eth_getTransactionReceipt', [a.hash]));
    expect([r.status, r.text]).toEqual([500, expect.stringMatching(/nullResults predicate for eth_getTransactionReceipt threw .*oops/)]);
  });

  it('lag(3): the head is 3 behind; what was mined in the last 3 blocks is not there; state above it is "header not found"', async () => {
    const proxy = await proxyTo(node.url);
    const early = await transfer(node);
    await mine(node.url, 3);
    const before = await anvilRpc(node.url, 'eth_getTransactionCount', [early.from, 'latest']);
    const late = await transfer(node);
    await mine(node.url, 1);
    const head = await blockNumber(node.url);
    expect(late.block).toBe(head - 1n);
    const v = head - 3n;

    proxy.lag(3);
    expect((await reply(proxy.url, 'eth_blockNumber')).result).toBe(hex(v));
    for (const tag of ['latest', 'pending']) {
      const blk = (await reply(proxy.url, 'eth_getBlockByNumber', [tag, false])).result as { number: string; hash: string };
      expect(blk.number).toBe(hex(v));
      expect(blk.hash).toBe(((await anvilRpc(node.url, 'eth_getBlockByNumber', [hex(v), false])) as { hash: string }).hash);
    }
    for (const tag of ['safe', 'finalized']) {
      const blk = (await reply(proxy.url, 'eth_getBlockByNumber', [tag, false])).result as { number: string };
      expect(BigInt(blk.number)).toBeLessThanOrEqual(v);
    }
    // blocks above V: null, as geth answers for a block it does not have
    expect((await reply(proxy.url, 'eth_getBlockByNumber', [hex(v + 1n), false])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getBlockByNumber', [hex(head), true])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getBlockByNumber', [hex(v), false])).result).toMatchObject({ number: hex(v) });
    const lateBlock = (await anvilRpc(node.url, 'eth_getBlockByNumber', [hex(late.block), false])) as { hash: string };
    const earlyBlock = (await anvilRpc(node.url, 'eth_getBlockByNumber', [hex(early.block), false])) as { hash: string };
    expect((await reply(proxy.url, 'eth_getBlockByHash', [lateBlock.hash, false])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getBlockReceipts', [hex(late.block)])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getBlockReceipts', [lateBlock.hash])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getBlockReceipts', [earlyBlock.hash])).result).toEqual([
      expect.objectContaining({ transactionHash: early.hash }),
    ]);

    // the transaction mined in the last 3 blocks: no receipt, no transaction; the earlier one is there
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [late.hash])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getTransactionByHash', [late.hash])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [early.hash])).result).toMatchObject({ transactionHash: early.hash });
    expect((await reply(proxy.url, 'eth_getTransactionByHash', [early.hash])).result).toMatchObject({ hash: early.hash });

    // the nonce at "latest" is the one at V; "pending" is the node's pool (it holds every transaction)
    expect((await reply(proxy.url, 'eth_getTransactionCount', [early.from, 'latest'])).result).toBe(before);
    expect((await reply(proxy.url, 'eth_getTransactionCount', [early.from])).result).toBe(before);
    expect(await anvilRpc(node.url, 'eth_getTransactionCount', [early.from, 'latest'])).not.toBe(before);
    expect((await reply(proxy.url, 'eth_getTransactionCount', [early.from, 'pending'])).result).toBe(
      await anvilRpc(node.url, 'eth_getTransactionCount', [early.from, 'pending']),
    );
    expect((await reply(proxy.url, 'eth_getTransactionCount', [early.from, hex(v)])).result).toBe(before);

    // state at a block above V: geth's error, code and text
    const headerNotFound = { code: -32000, message: 'header not found' };
    expect((await reply(proxy.url, 'eth_getTransactionCount', [early.from, hex(head)])).error).toEqual(headerNotFound);
    expect((await reply(proxy.url, 'eth_getBalance', [early.from, hex(v + 1n)])).error).toEqual(headerNotFound);
    expect((await reply(proxy.url, 'eth_getBalance', [early.from, { blockNumber: hex(head) }])).error).toEqual(headerNotFound);
    expect((await reply(proxy.url, 'eth_getCode', [early.from, hex(head)])).error).toEqual(headerNotFound);
    expect((await reply(proxy.url, 'eth_call', [{ to: early.from, data: '0x' }, hex(head)])).error).toEqual(headerNotFound);
    expect((await reply(proxy.url, 'eth_estimateGas', [{ from: early.from, to: early.from, value: '0x1' }, hex(head)])).error).toEqual(
      headerNotFound,
    );
    expect((await reply(proxy.url, 'eth_getBalance', [early.from, { blockHash: lateBlock.hash }])).error).toEqual({
      code: -32000,
      message: 'header for hash not found',
    });
    expect((await reply(proxy.url, 'eth_getBalance', [early.from, lateBlock.hash])).error).toEqual({
      code: -32000,
      message: 'header for hash not found',
    });
    expect((await reply(proxy.url, 'eth_getBalance', [early.from, earlyBlock.hash])).result).toBe(
      await anvilRpc(node.url, 'eth_getBalance', [early.from, hex(early.block)]),
    );
    expect((await reply(proxy.url, 'eth_feeHistory', ['0x1', hex(head), []])).error).toEqual({
      code: -32000,
      message: `request beyond head block: requested ${head}, head ${v}`,
    });
    // ... and at V or below, answered by the node
    expect((await reply(proxy.url, 'eth_getBalance', [early.from, hex(v)])).result).toBe(
      await anvilRpc(node.url, 'eth_getBalance', [early.from, hex(v)]),
    );
    expect((await reply(proxy.url, 'eth_getBalance', [early.from, 'latest'])).result).toBe(
      await anvilRpc(node.url, 'eth_getBalance', [early.from, hex(v)]),
    );
    expect((await reply(proxy.url, 'eth_estimateGas', [{ from: early.from, to: early.from, value: '0x1' }])).result).toBe('0x5208');
    const fh = (await reply(proxy.url, 'eth_feeHistory', ['0x1', 'latest', []])).result as { oldestBlock: string };
    expect(fh.oldestBlock).toBe(hex(v));

    // a client library sees the lagging node too
    const viaProxy = createPublicClient({ transport: http(proxy.url, { retryCount: 0 }) });
    expect(await viaProxy.getBlockNumber({ cacheTime: 0 })).toBe(v);
    await expect(viaProxy.getTransactionReceipt({ hash: late.hash })).rejects.toBeInstanceOf(TransactionReceiptNotFoundError);
    await expect(viaProxy.getTransactionCount({ address: early.from as Hex, blockNumber: head })).rejects.toThrow(/header not found/);

    // the chain moves on: 3 blocks later the late transaction is within view
    await mine(node.url, 3);
    expect((await reply(proxy.url, 'eth_blockNumber')).result).toBe(hex(head));
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [late.hash])).result).toMatchObject({ transactionHash: late.hash });

    // lag(0): the node as it is
    proxy.lag(0);
    expect((await reply(proxy.url, 'eth_blockNumber')).result).toBe(hex(await blockNumber(node.url)));
    expect((await reply(proxy.url, 'eth_getBlockByNumber', [hex(head + 3n), false])).result).toMatchObject({ number: hex(head + 3n) });
    expect(() => proxy.lag(-1)).toThrow(/bad block count/);
    expect(() => proxy.lag(1.5)).toThrow(/bad block count/);
  });

  it('lag beyond the chain: the node is at genesis', async () => {
    const fresh = await startAnvil({ chainId: 31339 });
    onTestFinished(() => fresh.stop());
    await mine(fresh.url, 2);
    const proxy = await proxyTo(fresh.url);
    proxy.lag(10);
    expect((await reply(proxy.url, 'eth_blockNumber')).result).toBe('0x0');
    expect((await reply(proxy.url, 'eth_getBlockByNumber', ['latest', false])).result).toMatchObject({ number: '0x0' });
    expect((await reply(proxy.url, 'eth_getBlockByNumber', ['0x1', false])).result).toBeNull();
  });

  it('retarget: to an anvil with another chain id and history, and back', async () => {
    const proxy = await proxyTo(node.url);
    await mine(other.url, 5);
    const viaProxy = createPublicClient({ transport: http(proxy.url, { retryCount: 0 }) });
    expect((await reply(proxy.url, 'eth_chainId')).result).toBe(hex(node.chainId));
    const tx = await transfer(node);
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [tx.hash])).result).toMatchObject({ transactionHash: tx.hash });

    proxy.retarget(other.url);
    expect(proxy.target()).toBe(other.url);
    expect((await reply(proxy.url, 'eth_chainId')).result).toBe(hex(31338));
    expect(await viaProxy.getChainId()).toBe(31338);
    expect((await reply(proxy.url, 'eth_blockNumber')).result).toBe(hex(await blockNumber(other.url)));
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [tx.hash])).result).toBeNull(); // not on that chain
    const genesisOther = ((await anvilRpc(other.url, 'eth_getBlockByNumber', ['0x0', false])) as { hash: string }).hash;
    expect(((await reply(proxy.url, 'eth_getBlockByNumber', ['0x0', false])).result as { hash: string }).hash).toBe(genesisOther);

    proxy.retarget(node.url);
    expect((await reply(proxy.url, 'eth_chainId')).result).toBe(hex(node.chainId));
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [tx.hash])).result).toMatchObject({ transactionHash: tx.hash });
    expect(() => proxy.retarget('not a url')).toThrow(/not a URL/);
    expect(() => proxy.retarget('ftp://127.0.0.1:1')).toThrow(/not an http/);
    expect(proxy.target()).toBe(node.url);
  });

  it('retarget: the same chain id restarted fresh (another genesis): nothing of the old chain is there', async () => {
    const genesis = (await anvilRpc(node.url, 'eth_getBlockByNumber', ['0x0', false])) as { hash: string; timestamp: string };
    const fresh = await startAnvil({ chainId: node.chainId, genesisTimestamp: Number(BigInt(genesis.timestamp)) + 1_000 });
    onTestFinished(() => fresh.stop());
    const proxy = await proxyTo(node.url);
    const tx = await transfer(node);
    const nonceBefore = (await reply(proxy.url, 'eth_getTransactionCount', [tx.from, 'latest'])).result as string;
    expect(BigInt(nonceBefore)).toBeGreaterThan(0n);

    proxy.retarget(fresh.url);
    expect((await reply(proxy.url, 'eth_chainId')).result).toBe(hex(node.chainId)); // the same chain id ...
    const freshGenesis = (await reply(proxy.url, 'eth_getBlockByNumber', ['0x0', false])).result as { hash: string; timestamp: string };
    expect(freshGenesis.hash).not.toBe(genesis.hash); // ... another genesis
    expect(BigInt(freshGenesis.timestamp)).toBe(BigInt(genesis.timestamp) + 1_000n);
    expect((await reply(proxy.url, 'eth_blockNumber')).result).toBe('0x0');
    expect((await reply(proxy.url, 'eth_getTransactionReceipt', [tx.hash])).result).toBeNull();
    expect((await reply(proxy.url, 'eth_getTransactionCount', [tx.from, 'latest'])).result).toBe('0x0');

    // the modes apply to whichever node is behind: lag on the fresh chain
    await mine(fresh.url, 4);
    proxy.lag(2);
    expect((await reply(proxy.url, 'eth_blockNumber')).result).toBe('0x2');
    proxy.lag(0);
    proxy.retarget(node.url);
    expect((await reply(proxy.url, 'eth_getTransactionCount', [tx.from, 'latest'])).result).toBe(nonceBefore);
  });

  it('a batch under nullResults and lag is answered element by element, in order, each with its id', async () => {
    const proxy = await proxyTo(node.url);
    const a = await transfer(node);
    await mine(node.url, 2);
    const b = await transfer(node);
    const head = await blockNumber(node.url);
    proxy.lag(1); // b (mined at head) is above V = head - 1
    proxy.nullResults('eth_getTransactionByHash', (p) => p[0] === a.hash);
    const body = [
      call('eth_blockNumber'),
      call('eth_getTransactionReceipt', [a.hash]),
      call('eth_getTransactionReceipt', [b.hash]),
      call('eth_getTransactionByHash', [a.hash]),
      call('eth_getTransactionCount', [a.from, hex(head)]),
      call('eth_chainId'),
      { jsonrpc: '2.0', id: 'not-a-call', params: [] }, // forwarded as it is: the node answers its own error
    ];
    const r = await post(proxy.url, body);
    expect(r.status).toBe(200);
    const replies = r.json as RpcReply[];
    expect(replies.map((x) => x.id)).toEqual(body.map((x) => x.id));
    expect(replies[0]?.result).toBe(hex(head - 1n));
    expect(replies[1]?.result).toMatchObject({ transactionHash: a.hash });
    expect(replies[2]?.result).toBeNull();
    expect(replies[3]?.result).toBeNull();
    expect(replies[4]?.error).toEqual({ code: -32000, message: 'header not found' });
    expect(replies[5]?.result).toBe(hex(node.chainId));
    expect(replies[6]?.error).toBeDefined();
    expect(proxy.calls).toEqual([
      'eth_blockNumber',
      'eth_getTransactionReceipt',
      'eth_getTransactionReceipt',
      'eth_getTransactionByHash',
      'eth_getTransactionCount',
      'eth_chainId',
      '?',
    ]);

    // a single call (not an array) is answered as a single reply
    const single = await post(proxy.url, call('eth_blockNumber'));
    expect(Array.isArray(single.json)).toBe(false);
    expect((single.json as RpcReply).result).toBe(hex(head - 1n));

    // faults still apply to the whole batch: a dropped reply after the node acted on every element
    const [from] = (await anvilRpc(node.url, 'eth_accounts')) as string[];
    const nonce = BigInt((await anvilRpc(node.url, 'eth_getTransactionCount', [from, 'latest'])) as string);
    proxy.dropReplyTo('eth_sendTransaction');
    await expect(post(proxy.url, [call('eth_sendTransaction', [{ from, to: from, value: '0x1' }]), call('eth_chainId')])).rejects.toThrow();
    expect(BigInt((await anvilRpc(node.url, 'eth_getTransactionCount', [from, 'latest'])) as string)).toBe(nonce + 1n);
    proxy.failNext('eth_chainId');
    expect((await post(proxy.url, [call('eth_blockNumber'), call('eth_chainId')])).status).toBe(502);

    // bounded: more than 1000 elements are refused (413), not answered one by one
    const big = await post(
      proxy.url,
      Array.from({ length: 1_001 }, () => call('eth_chainId')),
    );
    expect(big.status).toBe(413);
    expect(big.text).toMatch(/at most 1000/);
  });

  it('a batch with no mode on is forwarded whole, as before; a node that is gone is a 502', async () => {
    const proxy = await proxyTo(node.url);
    const r = await post(proxy.url, [call('eth_chainId'), call('eth_blockNumber')]);
    expect((r.json as RpcReply[]).map((x) => x.result)).toEqual([hex(node.chainId), hex(await blockNumber(node.url))]);
    const gone = await startAnvil({ chainId: 31340 });
    const url = gone.url;
    await gone.stop();
    proxy.retarget(url);
    const down = await post(proxy.url, call('eth_chainId'));
    expect(down.status).toBe(502);
    expect(down.text).toMatch(/bad gateway/);
    proxy.lag(1); // element by element: the head lookup fails the same way
    expect((await post(proxy.url, call('eth_blockNumber'))).status).toBe(502);
  });
});
