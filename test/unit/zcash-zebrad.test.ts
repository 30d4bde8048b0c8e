// The stand-in as zebrad (its default) against the stand-in as zcashd, one test per difference payserv
// depends on, each reply as zebra-rpc gives it (zebra-rpc/src/methods.rs, its snapshots, server/error.rs,
// zebrad/src/components/mempool/error.rs and downloads.rs); and the client reading both.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { afterEach, describe, expect, it } from 'vitest';
import { zcashP2pkhAddress } from '../../src/chains/address.js';
import { syncing, SYNC_LAG_BLOCKS_MAX } from '../../src/chains/zcash/driver.js';
import { buildTransparentTx } from '../../src/chains/zcash/build.js';
import { fromHex, toHex } from '../../src/chains/zcash/bytes.js';
import { estimateTransparentFeeZat } from '../../src/chains/zcash/fee.js';
import { alreadyKnown, ZcashRpc, ZcashRpcError, ZEBRAD_ALREADY, type BlockchainInfo } from '../../src/chains/zcash/rpc.js';
import { hash160, p2pkhScript } from '../../src/chains/zcash/script.js';
import { signTransparentTx } from '../../src/chains/zcash/sign.js';
import { parseTx } from '../../src/chains/zcash/tx.js';
import { txidOf } from '../../src/chains/zcash/txid.js';
import { NU6_3_BRANCH_ID, startZcashStandin, type StandinDialect, type ZcashStandin } from '../../src/devnet/zcash-standin.js';

const key = sha256(new TextEncoder().encode('zcash-zebrad-test hot'));
const hot = {
  key,
  address: zcashP2pkhAddress('testnet', hash160(secp256k1.getPublicKey(key, true))),
  script: p2pkhScript(hash160(secp256k1.getPublicKey(key, true))),
};
const miner = p2pkhScript(sha256(new TextEncoder().encode('miner')).slice(0, 20));

const started: Array<{ node: ZcashStandin; rpc: ZcashRpc }> = [];
async function start(mode: StandinDialect) {
  const node = await startZcashStandin({ network: 'testnet', mode });
  const rpc = new ZcashRpc({ url: node.url, timeoutMs: 5_000 });
  started.push({ node, rpc });
  return { node, rpc };
}

/** A raw JSON-RPC call: the HTTP status and the body as the node sent them. */
async function raw(
  node: ZcashStandin,
  method: string,
  params: unknown[] = [],
): Promise<{ status: number; body: { result?: unknown; error?: { code: number; message: string } | null } }> {
  const res = await fetch(node.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '1.0', id: 1, method, params }),
  });
  return { status: res.status, body: (await res.json()) as { result?: unknown; error?: { code: number; message: string } | null } };
}

async function payout(node: ZcashStandin, rpc: ZcashRpc, version: 4 | 5 = 5) {
  const { txid } = await node.fund(hot.address, 100_000_000n);
  const u = (await rpc.getAddressUtxos(hot.address)).find((x) => x.txid === txid);
  if (!u) throw new Error('not funded');
  const fee = estimateTransparentFeeZat(1, [miner, hot.script]);
  const unsigned = buildTransparentTx({
    version,
    branchId: NU6_3_BRANCH_ID,
    expiryHeight: node.height() + 40,
    inputs: [{ txid: u.txid, vout: u.outputIndex, value: u.satoshis, scriptPubKey: fromHex(u.script) }],
    outputs: [
      { scriptPubKey: miner, value: 50_000_000n },
      { scriptPubKey: hot.script, value: u.satoshis - 50_000_000n - fee },
    ],
  });
  return signTransparentTx(unsigned, unsigned.prevouts, [hot.key]);
}

afterEach(async () => {
  for (const s of started.splice(0)) {
    s.rpc.close();
    await s.node.stop();
  }
});

describe('Zcash stand-in: zebrad and zcashd', () => {
  it('getconnectioncount: zebrad does not serve it (-32601, HTTP 200), zcashd does; getpeerinfo and getnetworkinfo both', async () => {
    const z = await start('zebrad');
    expect(await raw(z.node, 'getconnectioncount')).toMatchObject({
      status: 200,
      body: { error: { code: -32601, message: 'Method not found' } },
    });
    await expect(z.rpc.getConnectionCount()).rejects.toMatchObject({ code: -32601 });
    expect(await z.rpc.getPeerCount()).toBe(8);
    expect((await raw(z.node, 'getpeerinfo')).body.result).toEqual(
      expect.arrayContaining([expect.objectContaining({ subver: '/Zebra:2.1.0/', connection_state: 'connected' })]),
    );
    expect((await raw(z.node, 'getnetworkinfo')).body.result).toMatchObject({ connections: 8 });
    const d = await start('zcashd');
    expect(await d.rpc.getConnectionCount()).toBe(8);
    expect(await raw(d.node, 'nosuchmethod')).toMatchObject({
      status: 404,
      body: { error: { code: -32601, message: 'Method not found' } },
    });
    d.node.setPeers(3);
    expect(await d.rpc.getPeerCount()).toBe(3);
  });

  it('getblockchaininfo: zebrad has estimatedheight, headers = blocks, no initial_block_download_complete; zcashd has both', async () => {
    const z = await start('zebrad');
    z.node.setSyncing(300);
    const zi = (await raw(z.node, 'getblockchaininfo')).body.result as Record<string, unknown>;
    expect(zi).not.toHaveProperty('initial_block_download_complete');
    expect(zi.headers).toBe(zi.blocks);
    expect(zi.estimatedheight).toBe((zi.blocks as number) + 300);
    expect(zi).toHaveProperty('chainSupply');
    // headers = blocks: only the estimate tells that zebrad is syncing.
    expect(syncing(await z.rpc.getBlockchainInfo())).toMatch(/estimated/);
    const d = await start('zcashd');
    d.node.setSyncing(300);
    const di = await d.rpc.getBlockchainInfo();
    expect(di.initial_block_download_complete).toBe(false);
    expect(syncing(di)).toMatch(/initial block download/);
  });

  it('syncing(): from what each node serves', () => {
    const base: BlockchainInfo = {
      chain: 'main',
      blocks: 3_000_000,
      bestblockhash: '00'.repeat(32),
      consensus: { chaintip: '37a5165b', nextblock: '37a5165b' },
    };
    expect(syncing(base)).toBeNull();
    expect(syncing({ ...base, headers: 3_000_000, estimatedheight: 3_000_000 + SYNC_LAG_BLOCKS_MAX })).toBeNull();
    expect(syncing({ ...base, headers: 3_000_000, estimatedheight: 3_000_000 + SYNC_LAG_BLOCKS_MAX + 1 })).toMatch(/syncing/);
    expect(syncing({ ...base, verificationprogress: 0.5 })).toMatch(/progress/);
    expect(syncing({ ...base, headers: 3_000_003 })).toMatch(/headers/);
    expect(syncing({ ...base, initial_block_download_complete: false })).toMatch(/initial/);
    // Regtest has no schedule: its estimate is ignored.
    expect(syncing({ ...base, chain: 'regtest', estimatedheight: 3_100_000 })).toBeNull();
  });

  it("getrawtransaction and getblockhash: each node's errors and verbose shapes", async () => {
    const z = await start('zebrad');
    const d = await start('zcashd');
    expect((await raw(z.node, 'getrawtransaction', ['cd'.repeat(32), 1])).body.error).toEqual({
      code: -5,
      message: 'Transaction not found in mempool or best chain',
    });
    expect((await raw(d.node, 'getrawtransaction', ['cd'.repeat(32), 1])).body.error).toEqual({
      code: -5,
      message: 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.',
    });
    expect(await z.rpc.getRawTransaction('cd'.repeat(32))).toBeNull();
    expect(await d.rpc.getRawTransaction('cd'.repeat(32))).toBeNull();
    // zebrad's verbose flag is a number.
    expect((await raw(z.node, 'getrawtransaction', ['cd'.repeat(32), true])).body.error?.code).toBe(-1);
    expect((await raw(z.node, 'getblockhash', [z.node.height() + 1])).body.error).toEqual({
      code: -1,
      message: 'Provided index is greater than the current tip',
    });
    expect((await raw(d.node, 'getblockhash', [d.node.height() + 1])).body.error).toEqual({
      code: -8,
      message: 'Block height out of range',
    });
    expect(await z.rpc.getBlockHash(0)).toBe(z.node.genesisHash());
    // A mempool transaction: zebrad says in_active_chain false and gives no height; zcashd leaves it out.
    const tx = await payout(z.node, z.rpc);
    await z.rpc.sendRawTransaction(tx.rawHex);
    const pending = await z.rpc.getRawTransaction(tx.txid);
    expect(pending).toMatchObject({ in_active_chain: false });
    expect(pending).not.toHaveProperty('height');
    await z.node.mine(3);
    expect(await z.rpc.getRawTransaction(tx.txid)).toMatchObject({
      in_active_chain: true,
      confirmations: 3,
      height: z.node.height() - 2,
      blockhash: await z.rpc.getBlockHash(z.node.height() - 2),
    });
  });

  it("getrawtransaction of a payment's input: its transaction as zebrad serves it (the value in valueZat and in bytes that hash to the txid); one in no block and no mempool: -5", async () => {
    const z = await start('zebrad');
    const { txid, vout } = await z.node.fund(hot.address, 123_456_789n);
    const height = z.node.height();
    await z.node.mine(2);
    const r = (await raw(z.node, 'getrawtransaction', [txid, 1])).body.result as Record<string, unknown> & {
      hex: string;
      vin: Array<{ txid: string }>;
      vout: unknown[];
    };
    const blockTime = (await z.rpc.getBlock(await z.rpc.getBlockHash(height)))?.time;
    expect(blockTime).toBeGreaterThan(0);
    expect(r).toMatchObject({
      in_active_chain: true,
      txid,
      height,
      confirmations: 3,
      blockhash: await z.rpc.getBlockHash(height),
      time: blockTime,
      blocktime: blockTime,
      size: r.hex.length / 2,
      vShieldedSpend: [],
      vShieldedOutput: [],
      vjoinsplit: [],
      valueBalance: 0,
      valueBalanceZat: 0,
      orchard: { actions: [], valueBalance: 0, valueBalanceZat: 0 },
    });
    expect(r.vout[vout]).toMatchObject({ value: 1.23456789, valueZat: 123_456_789, n: vout, scriptPubKey: { hex: toHex(hot.script) } });
    // What payserv's fee reads: the output in bytes that hash to the txid asked for.
    const bytes = parseTx(fromHex(r.hex));
    expect(txidOf(bytes)).toBe(txid);
    expect(bytes.outputs[vout]?.value).toBe(123_456_789n);
    expect((await z.rpc.getRawTransaction(txid))?.vout?.[vout]?.valueZat).toBe(123_456_789n);
    // Its own input spends an outpoint no block and no mempool holds: zebrad does not serve it.
    const faucet = r.vin[0]?.txid as string;
    expect((await raw(z.node, 'getrawtransaction', [faucet, 1])).body.error).toEqual({
      code: -5,
      message: 'Transaction not found in mempool or best chain',
    });
    expect(await z.rpc.getRawTransaction(faucet)).toBeNull();
  });

  it("sendrawtransaction: zebrad's already-known replies, each reported as known by the client", async () => {
    const { node, rpc } = await start('zebrad');
    const tx = await payout(node, rpc, 5);
    expect(await rpc.sendRawTransaction(tx.rawHex)).toEqual({ kind: 'accepted', txid: tx.txid });
    expect(await rpc.sendRawTransaction(tx.rawHex)).toEqual({
      kind: 'already-known',
      where: 'mempool',
      code: -1,
      message: ZEBRAD_ALREADY.inMempool,
    });
    await node.mine();
    expect(await rpc.sendRawTransaction(tx.rawHex)).toEqual({
      kind: 'already-known',
      where: 'chain',
      code: -25,
      message: `failed to validate tx: WtxId("private"), error: ${ZEBRAD_ALREADY.inState}`,
    });
    const v4 = await payout(node, rpc, 4);
    node.queueForDownload(v4.txid);
    expect(await rpc.sendRawTransaction(v4.rawHex)).toEqual({
      kind: 'already-known',
      where: 'mempool',
      code: -1,
      message: ZEBRAD_ALREADY.queued,
    });
    expect(node.received()).toHaveLength(1);
  });

  it("alreadyKnown(): zebrad's exact texts, and a refusal that is not one", () => {
    const e = (code: number, m: string) => new ZcashRpcError('sendrawtransaction', code, m);
    expect(alreadyKnown(e(-1, 'transaction already exists in mempool'))).toBe('mempool');
    expect(alreadyKnown(e(-1, 'transaction dropped because it is already queued for download'))).toBe('mempool');
    expect(alreadyKnown(e(-25, 'failed to validate tx: transaction::Hash("private"), error: transaction is already in state'))).toBe(
      'chain',
    );
    expect(alreadyKnown(e(-27, 'transaction already in block chain'))).toBe('chain');
    expect(alreadyKnown(e(-1, 'transaction dropped because the queue is full'))).toBeNull();
    expect(
      alreadyKnown(
        e(-25, 'failed to validate tx: WtxId("private"), error: transaction did not pass consensus validation: 16: bad-txns-inputs-spent'),
      ),
    ).toBeNull();
  });

  it("getaddresstxids as zebrad serves it: {addresses, start?, end?}, the best chain's funding and spending transactions in order", async () => {
    const { node, rpc } = await start('zebrad');
    const signed = await payout(node, rpc);
    const funding = (await rpc.getAddressUtxos(hot.address))[0]?.txid;
    await rpc.sendRawTransaction(signed.rawHex);
    // The mempool is not indexed: the spend is listed once mined.
    expect(await rpc.getAddressTxids(hot.address, 1, node.height())).toEqual([funding]);
    await node.mine(1);
    const tip = node.height();
    expect(await rpc.getAddressTxids(hot.address, 1, tip)).toEqual([funding, signed.txid]);
    expect(await rpc.getAddressTxids(hot.address, tip, tip)).toEqual([signed.txid]);
    // build_height_range: start and end optional, an end of 0 or above the tip is the tip, start clamped to it.
    expect((await raw(node, 'getaddresstxids', [{ addresses: [hot.address] }])).body.result).toEqual([funding, signed.txid]);
    expect((await raw(node, 'getaddresstxids', [{ addresses: [hot.address], start: tip, end: 0 }])).body.result).toEqual([signed.txid]);
    expect((await raw(node, 'getaddresstxids', [{ addresses: [hot.address], start: tip + 5, end: tip + 9 }])).body.result).toEqual([
      signed.txid,
    ]);
    const backwards = await raw(node, 'getaddresstxids', [{ addresses: [hot.address], start: tip, end: tip - 1 }]);
    expect(backwards.body.error).toEqual({
      code: -1,
      message: `start Height(${tip}) must be less than or equal to end Height(${tip - 1})`,
    });
  });

  it('peers from getnetworkinfo where getpeerinfo is not served', async () => {
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const r = JSON.parse(body) as { id: number; method: string };
        const reply =
          r.method === 'getnetworkinfo'
            ? { result: { connections: 5 }, error: null, id: r.id }
            : { result: null, error: { code: -32601, message: 'Method not found' }, id: r.id };
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(reply));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const rpc = new ZcashRpc({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, timeoutMs: 5_000 });
    try {
      expect(await rpc.getPeerCount()).toBe(5);
    } finally {
      rpc.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
