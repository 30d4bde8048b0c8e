// The Bitcoin-family node client against a real litecoind 0.21 regtest node (test/support/litecoind.ts):
// every reply parsed by its schema, amounts exact, and each node error staged for real and mapped to
// what it proves (nothing, mostly). Lives in test/unit: it needs no database (see vitest.config.ts).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { p2wpkh, Transaction } from '@scure/btc-signer';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseJsonLossless, satoshisOf } from '../../src/chains/btc/json.js';
import {
  broadcastOf,
  BTC_NODE_TEXT,
  BtcNode,
  minedIn,
  BtcRpcBadReply,
  BtcRpcError,
  BtcRpcUnavailable,
  type BtcRawTransaction,
} from '../../src/chains/btc/node.js';
import { serializeRawTx } from '../../src/chains/btc/rawtx.js';
import { CoinbaseCache, findSpender, hotWalletUtxos } from '../../src/chains/btc/utxos.js';
import { fromHex } from '../../src/chains/zcash/bytes.js';
import { fromSat, litecoindForFile, LitecoindError, type Litecoind } from '../support/litecoind.js';

// Litecoin regtest (chainparams.cpp): bech32 rltc, P2PKH 111, P2SH 58, WIF 239.
const RLTC = { bech32: 'rltc', pubKeyHash: 111, scriptHash: 58, wif: 239 };
const key = sha256(new TextEncoder().encode('btc-node test hot wallet'));
const hot = p2wpkh(secp256k1.getPublicKey(key, true), RLTC);
const other = p2wpkh(secp256k1.getPublicKey(sha256(new TextEncoder().encode('elsewhere')), true), RLTC);
const HOT = `addr(${hot.address})`;

type Utxo = { txid: string; vout: number; value: bigint };

/** A signed P2WPKH spend of `u` paying `outputs` (address, satoshis), BIP125-signalling. */
function spend(u: Utxo, outputs: Array<[string, bigint]>): { hex: string; id: string } {
  const tx = new Transaction({ allowUnknownOutputs: true });
  tx.addInput({ txid: u.txid, index: u.vout, witnessUtxo: { script: hot.script, amount: u.value }, sequence: 0xfffffffd });
  for (const [a, v] of outputs) tx.addOutputAddress(a, v, RLTC);
  tx.sign(key);
  tx.finalize();
  return { hex: tx.hex, id: tx.id };
}

const node = litecoindForFile();
let ltc: Litecoind;
let rpc: BtcNode;

beforeAll(async () => {
  ltc = await node();
  rpc = new BtcNode({ url: ltc.url, timeoutMs: 30_000 });
  await ltc.mine(101);
});

async function funded(sat: bigint): Promise<Utxo> {
  // One confirmation: the RPCs are the point here, not the driver's input depth.
  const f = await ltc.fund(hot.address!, sat, { depth: 1 });
  return { txid: f.txid, vout: f.vout, value: sat };
}

describe('amounts: exact from the JSON text', () => {
  it('8-decimal numbers become satoshis without a float; a float would be off', () => {
    const v = parseJsonLossless('{"a":0.00000001,"b":21000000.00000000,"c":84000000.00000000,"d":20999999.99999999,"n":5}') as Record<
      string,
      unknown
    >;
    expect([v.a, v.b, v.c, v.d].map(satoshisOf)).toEqual([1n, 2_100_000_000_000_000n, 8_400_000_000_000_000n, 2_099_999_999_999_999n]);
    expect(v.n).toBe(5);
    // Dogecoin has no cap: 10^11 DOGE and 1 satoshi is past 2^53 satoshis, where a float (JSON.parse's) loses the satoshi.
    expect(satoshisOf(parseJsonLossless('100000000000.00000001'))).toBe(10_000_000_000_000_000_001n);
    expect(BigInt(Math.round((JSON.parse('100000000000.00000001') as number) * 1e8))).not.toBe(10_000_000_000_000_000_001n);
    expect(satoshisOf(parseJsonLossless('0.000000001'))).toBeNull();
    expect(satoshisOf(parseJsonLossless('1e-8'))).toBeNull();
    expect(satoshisOf(parseJsonLossless('-1.0'))).toBeNull();
    expect(() => parseJsonLossless('{"a":1,}')).toThrow(/not JSON/);
    expect(() => parseJsonLossless('['.repeat(100) + ']'.repeat(100))).toThrow(/deeper/);
    expect((parseJsonLossless('{"__proto__":{"x":1}}') as { x?: number }).x).toBeUndefined();
  });

  it('scantxoutset, gettxout and getrawtransaction give the exact satoshis funded, a 1-satoshi output included', async () => {
    const u = await funded(123_456_789n);
    const scan = await rpc.scanTxOutSet([HOT]);
    expect(scan.unspents.find((x) => x.txid === u.txid)?.amount).toBe(123_456_789n);
    expect((await rpc.getTxOut(u.txid, u.vout, true))?.value).toBe(123_456_789n);
    const t = (await rpc.getRawTransaction(u.txid)) as BtcRawTransaction;
    expect(t.vout[u.vout]?.value).toBe(123_456_789n);
    // 1 satoshi is dust to the mempool; generateblock mines it all the same (consensus allows it).
    const dust = spend(u, [
      [hot.address!, 1n],
      [other.address!, 123_456_789n - 1n - 1_000n],
    ]);
    await ltc.generateBlock([dust.hex]);
    expect((await rpc.getRawTransaction(dust.id))?.vout[0]?.value).toBe(1n);
    const after = await rpc.scanTxOutSet([HOT]);
    expect(after.unspents.find((x) => x.txid === dust.id)?.amount).toBe(1n);
    expect(after.total_amount).toBe(after.unspents.reduce((s, x) => s + x.amount, 0n));
  });
});

describe('reads', () => {
  it('getblockchaininfo, getnetworkinfo, getblockcount, getblockhash, getblockheader, estimatesmartfee', async () => {
    const info = await rpc.getBlockchainInfo();
    expect(info).toMatchObject({ chain: 'regtest', pruned: false });
    expect(info.blocks).toBe(await rpc.getBlockCount());
    const net = await rpc.getNetworkInfo();
    expect(net.connections).toBe(0);
    expect(net.relayfee).toBe(1_000n); // 0.00001 LTC/kvB: 1 sat/vB
    expect(net.incrementalfee).toBe(1_000n);
    const genesis = await rpc.getBlockHash(0);
    const h = await rpc.getBlockHeader(genesis);
    expect(h).toMatchObject({ hash: genesis, height: 0, confirmations: info.blocks + 1 });
    expect(await rpc.getBlockHeader('00'.repeat(32))).toBeNull();
    await expect(rpc.getBlockHash(info.blocks + 1)).rejects.toMatchObject({ code: -8, nodeMessage: 'Block height out of range' });
    // A fresh regtest chain has no fee data: no estimate, never a made-up rate.
    expect(await rpc.estimateSmartFee(2)).toBeNull();
  });

  it('-5 from each lookup is "unknown" (null), with Bitcoin Core 0.21\'s words', async () => {
    const none = 'ab'.repeat(32);
    expect(await rpc.getRawTransaction(none)).toBeNull();
    expect(await rpc.getMempoolEntry(none)).toBeNull();
    const words = async (method: string, params: unknown[]) =>
      ltc.rpc(method, params).catch((e: LitecoindError) => [e.code, e.nodeMessage]);
    expect(await words('getrawtransaction', [none, true])).toEqual([
      -5,
      `${BTC_NODE_TEXT.noSuchTx}. Use gettransaction for wallet transactions.`,
    ]);
    expect(await words('getmempoolentry', [none])).toEqual([-5, BTC_NODE_TEXT.notInMempool]);
    expect(await words('getblockheader', [none])).toEqual([-5, BTC_NODE_TEXT.blockNotFound]);
    expect(await rpc.getTxOut(none, 0, true)).toBeNull();
  });

  it('a wrong password or a closed port is unavailable, and no message carries the password', async () => {
    const bad = new BtcNode({ url: ltc.url.replace(/:([0-9a-f]{48})@/, ':wrongpassword0000@'), timeoutMs: 5_000 });
    const e = await bad.getBlockCount().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(BtcRpcUnavailable);
    expect((e as BtcRpcUnavailable).message).toMatch(/HTTP 401: the node refused the RPC credentials/);
    expect((e as BtcRpcUnavailable).mayHaveRun).toBe(false);
    const password = /:([0-9a-f]{48})@/.exec(ltc.url)?.[1] as string;
    expect(password).toHaveLength(48);
    const closed = new BtcNode({ url: ltc.url.replace(`:${ltc.rpcPort}/`, ':1/'), timeoutMs: 5_000 });
    const c = (await closed.getBlockCount().catch((x: unknown) => x)) as BtcRpcUnavailable;
    expect(c).toBeInstanceOf(BtcRpcUnavailable);
    expect(c.mayHaveRun).toBe(false);
    for (const m of [(e as Error).message, c.message, rpc.endpoint, String(e), String(c)]) expect(m).not.toContain(password);
    expect(() => new BtcNode({ url: `nope://u:${password}@x`, timeoutMs: 1 })).toThrow(/^(?!.*[0-9a-f]{48})/);
  });
});

describe('broadcast and the node errors', () => {
  it('testmempoolaccept then sendrawtransaction: exact fee and vsize, a resend is idempotent, -27 once mined', async () => {
    const u = await funded(50_000_000n);
    const tx = spend(u, [
      [other.address!, 30_000_000n],
      [hot.address!, 20_000_000n - 141n],
    ]);
    const t = await rpc.testMempoolAccept(tx.hex);
    expect(t).toEqual({ txid: tx.id, allowed: true, vsize: 141, fee: 141n });
    expect(await rpc.sendRawTransaction(tx.hex)).toEqual({ kind: 'accepted', txid: tx.id });
    expect(await rpc.sendRawTransaction(tx.hex)).toEqual({ kind: 'accepted', txid: tx.id });
    const m = await rpc.getMempoolEntry(tx.id);
    expect(m).toMatchObject({ vsize: 141, 'bip125-replaceable': true, fees: { base: 141n, modified: 141n } });
    const inPool = (await rpc.getRawTransaction(tx.id)) as BtcRawTransaction;
    expect(inPool.blockhash).toBeUndefined();
    expect(inPool.confirmations).toBeUndefined();
    expect(minedIn(inPool)).toBeNull();
    const [block] = await ltc.mine(1);
    const again = await rpc.sendRawTransaction(tx.hex);
    expect(again).toEqual({ kind: 'in-chain', code: -27, message: BTC_NODE_TEXT.alreadyInChain });
    expect(broadcastOf(again)).toEqual({ ok: true, known: true });
    expect(minedIn(await rpc.getRawTransaction(tx.id))).toEqual({ blockHash: block, confirmations: 1 });
    expect(await rpc.getMempoolEntry(tx.id)).toBeNull();
    expect((await rpc.getRawTransaction(tx.id))?.confirmations).toBe(1);
  });

  it('-26 txn-mempool-conflict, then a conflict mined by generateblock: -25 inputs missing or spent, -5 for ours, the spender found', async () => {
    const u = await funded(40_000_000n);
    const ours = spend(u, [[other.address!, 40_000_000n - 200n]]);
    const theirs = spend(u, [[hot.address!, 40_000_000n - 300n]]);
    expect(await rpc.sendRawTransaction(ours.hex)).toEqual({ kind: 'accepted', txid: ours.id });
    expect(await rpc.testMempoolAccept(theirs.hex)).toEqual({ txid: theirs.id, allowed: false, rejectReason: 'txn-mempool-conflict' });
    expect(await rpc.sendRawTransaction(theirs.hex)).toEqual({
      kind: 'refused',
      why: 'mempool-conflict',
      code: -26,
      message: 'txn-mempool-conflict',
    });
    expect(await findSpender(rpc, u, { fromHeight: 0, blocksMax: 1 })).toEqual({ kind: 'mempool' });

    const startHeight = await ltc.height();
    const block = await ltc.generateBlock([theirs.hex]);
    // Ours was evicted by the mined conflict: the node knows nothing of it (unknown, not failed)...
    expect(await rpc.getRawTransaction(ours.id)).toBeNull();
    const resent = await rpc.sendRawTransaction(ours.hex);
    expect(resent).toEqual({ kind: 'refused', why: 'inputs-missing-or-spent', code: -25, message: BTC_NODE_TEXT.inputsMissingOrSpent });
    expect(broadcastOf(resent)).toEqual({ ok: false, reason: 'inputs-missing-or-spent (-25: bad-txns-inputs-missingorspent)' });
    // ...the proof is the spender, found in the blocks since the input's height, buried under its confirmations.
    // Read from its bytes (hash-checked): the input that spends the outpoint, for the caller to check who signed it.
    const mined = await findSpender(rpc, u, { fromHeight: startHeight - 1, blocksMax: 10 });
    expect(mined).toMatchObject({
      kind: 'mined',
      txid: theirs.id,
      input: 0,
      block: { hash: block, height: startHeight + 1 },
      confirmations: 1,
    });
    expect(mined.kind === 'mined' && serializeRawTx(mined.tx)).toEqual(fromHex(theirs.hex));
    await ltc.mine(2);
    expect(await findSpender(rpc, u, { fromHeight: startHeight - 1, blocksMax: 10 })).toMatchObject({ kind: 'mined', confirmations: 3 });
    // Bounded: a window that ends before the spender finds nothing and says so.
    expect(await findSpender(rpc, u, { fromHeight: startHeight - 1, blocksMax: 2 })).toEqual({
      kind: 'not-found',
      scanned: { from: startHeight - 1, to: startHeight },
    });
    const out = { txid: theirs.id, vout: 0 };
    expect(await findSpender(rpc, out, { fromHeight: startHeight, blocksMax: 10 })).toEqual({ kind: 'unspent', confirmations: 3 });
  });

  it('-25 inputs missing or spent for our own mined transaction once all its outputs are spent: not a failure', async () => {
    const u = await funded(20_000_000n);
    const tx = spend(u, [[hot.address!, 20_000_000n - 200n]]);
    await rpc.sendRawTransaction(tx.hex);
    await ltc.mine(1);
    const child = spend({ txid: tx.id, vout: 0, value: 20_000_000n - 200n }, [[other.address!, 20_000_000n - 400n]]);
    await rpc.sendRawTransaction(child.hex);
    await ltc.mine(1);
    // 0.21 answers -27 only while one of its outputs is unspent: this one is mined, 2 deep, and refused as spent.
    expect(await rpc.sendRawTransaction(tx.hex)).toMatchObject({ kind: 'refused', why: 'inputs-missing-or-spent', code: -25 });
    expect(minedIn(await rpc.getRawTransaction(tx.id))).toMatchObject({ confirmations: 2 });
  });

  it('-25 fee above maxfeerate, -26 dust, -22 undecodable: refusals, each named', async () => {
    const u = await funded(60_000_000n);
    const greedy = spend(u, [[other.address!, 10_000_000n]]); // 0.5 LTC fee on ~110 vB
    expect(await rpc.testMempoolAccept(greedy.hex)).toMatchObject({ allowed: false, rejectReason: 'max-fee-exceeded' });
    expect(await rpc.sendRawTransaction(greedy.hex)).toEqual({
      kind: 'refused',
      why: 'max-fee-exceeded',
      code: -25,
      message: BTC_NODE_TEXT.maxFeeExceeded,
    });
    const dust = spend(u, [
      [other.address!, 500n],
      [hot.address!, 60_000_000n - 500n - 200n],
    ]);
    expect(await rpc.sendRawTransaction(dust.hex)).toEqual({ kind: 'refused', why: 'rejected', code: -26, message: 'dust' });
    expect(await rpc.sendRawTransaction('00')).toMatchObject({ kind: 'refused', why: 'decode-failed', code: -22 });
    // maxfeerate 0 lifts the ceiling: the same bytes are taken.
    expect(await rpc.sendRawTransaction(greedy.hex, '0')).toEqual({ kind: 'accepted', txid: greedy.id });
    await ltc.mine(1);
  });

  it('a reorg: back to the mempool; a conflict mined on the new branch; ours still returned from the stale block with 0 confirmations; and back', async () => {
    const u = await funded(30_000_000n);
    const tx = spend(u, [[other.address!, 30_000_000n - 200n]]);
    await rpc.sendRawTransaction(tx.hex);
    const [block] = (await ltc.mine(1)) as [string];
    expect(await rpc.getRawTransaction(tx.id)).toMatchObject({ blockhash: block, confirmations: 1 });
    await ltc.invalidateBlock(block);
    expect((await rpc.getBlockHeader(block))?.confirmations).toBe(-1);
    // Back in the mempool: the node answers with the mempool's copy, no block.
    expect(await rpc.getMempoolEntry(tx.id)).not.toBeNull();
    expect((await rpc.getRawTransaction(tx.id))?.blockhash).toBeUndefined();
    // The new branch mines a conflict: ours leaves the mempool, and txindex still returns it from
    // the stale block. Found is not mined: confirmations 0, the block's header -1.
    const conflict = spend(u, [[hot.address!, 30_000_000n - 300n]]);
    const fork = await ltc.generateBlock([conflict.hex]);
    expect(await rpc.getMempoolEntry(tx.id)).toBeNull();
    const t = (await rpc.getRawTransaction(tx.id)) as BtcRawTransaction;
    expect(t.blockhash).toBe(block);
    expect(t.confirmations).toBe(0);
    expect(minedIn(t)).toBeNull();
    const height = (await rpc.getBlockHeader(fork))!.height;
    expect(await findSpender(rpc, u, { fromHeight: height - 1, blocksMax: 5 })).toMatchObject({ kind: 'mined', txid: conflict.id });
    // Reconsidered, the old block has the fork's work and was received first: the node goes back to it
    // (a reorg the other way), ours mined again and the conflict now the stale one.
    await ltc.reconsiderBlock(block);
    expect((await rpc.getBlockHeader(fork))?.confirmations).toBe(-1);
    expect(await rpc.getRawTransaction(tx.id)).toMatchObject({ blockhash: block, confirmations: 1 });
    expect(await rpc.getRawTransaction(conflict.id)).toMatchObject({ blockhash: fork, confirmations: 0 });
    expect(await findSpender(rpc, u, { fromHeight: height - 1, blocksMax: 5 })).toMatchObject({ kind: 'mined', txid: tx.id });
  });
});

describe('a reply that does not fit', () => {
  it('an amount with 9 decimals, a float where an integer belongs, another id: a bad reply naming the field, never a number', async () => {
    const replies: string[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const id = (JSON.parse(body) as { id: number }).id;
        res.end((replies.shift() as string).replace('$ID', String(id)));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const c = new BtcNode({ url: `http://u:secret@127.0.0.1:${(server.address() as AddressInfo).port}/`, timeoutMs: 5_000 });
    const out = (value: string) =>
      `{"result":{"bestblock":"${'0'.repeat(64)}","confirmations":1,"value":${value},"scriptPubKey":{"hex":"00","type":"x"},"coinbase":false},"error":null,"id":$ID}`;
    try {
      replies.push(
        out('0.000000001'),
        out('1e-8'),
        out('0.00000001'),
        '{"result":7.5,"error":null,"id":$ID}',
        '{"result":7,"error":null,"id":999}',
      );
      for (let i = 0; i < 2; i++) {
        const e = (await c.getTxOut('ab'.repeat(32), 0, true).catch((x: unknown) => x)) as BtcRpcBadReply;
        expect(e).toBeInstanceOf(BtcRpcBadReply);
        expect(e.message).toMatch(/result\.value: not an amount of at most 8 decimals/);
      }
      expect((await c.getTxOut('ab'.repeat(32), 0, true))?.value).toBe(1n);
      await expect(c.getBlockCount()).rejects.toBeInstanceOf(BtcRpcBadReply);
      await expect(c.getBlockCount()).rejects.toThrow(/reply for id 999/);
    } finally {
      c.close();
      await new Promise((r) => server.close(r));
    }
  });
});

describe("-mempoolreplacement=1 (Litecoin's default is 0)", () => {
  const rbfNode = litecoindForFile({ mempoolReplacement: true });

  it('a BIP125 replacement paying more is taken where the default node refused it as txn-mempool-conflict', async () => {
    const n = await rbfNode();
    const c = new BtcNode({ url: n.url, timeoutMs: 30_000 });
    const f = await n.fund(hot.address!, 40_000_000n);
    const u = { txid: f.txid, vout: f.vout, value: 40_000_000n };
    const first = spend(u, [[other.address!, 40_000_000n - 200n]]);
    const bump = spend(u, [[other.address!, 40_000_000n - 400n]]);
    expect(await c.sendRawTransaction(first.hex)).toEqual({ kind: 'accepted', txid: first.id });
    expect(await c.sendRawTransaction(bump.hex)).toEqual({ kind: 'accepted', txid: bump.id });
    expect(await c.getMempoolEntry(first.id)).toBeNull();
    expect((await c.getMempoolEntry(bump.id))?.fees.base).toBe(400n);
    c.close();
  });
});

describe("the hot wallet's UTXOs", () => {
  it('coinbase outputs are reported apart and spendable only once mature (100 confirmations)', async () => {
    const cache = new CoinbaseCache();
    const funding = await funded(10_000_000n);
    const [cbBlock] = await ltc.mine(1, hot.address!);
    const cbTxid = ((await ltc.rpc('getblock', [cbBlock, 1])) as { tx: string[] }).tx[0] as string;
    const view = async () => hotWalletUtxos(rpc, [HOT], { minConfirmations: 1, cache });

    const v1 = await view();
    expect(v1.coinbase.map((u) => [u.txid, u.confirmations])).toEqual([[cbTxid, 1]]);
    expect(v1.spendable.some((u) => u.txid === cbTxid)).toBe(false);
    expect(v1.spendable.find((u) => u.txid === funding.txid)).toMatchObject({ value: 10_000_000n, coinbase: false, confirmations: 2 });
    expect(v1.tip.height).toBe(await rpc.getBlockCount());
    expect(cache.get(cbTxid)).toBe(true);

    const cb = v1.coinbase[0]!;
    const early = spend(cb, [[other.address!, cb.value - 200n]]);
    await ltc.mine(98);
    expect((await view()).spendable.some((u) => u.txid === cbTxid)).toBe(false);
    // The node agrees: at 99 confirmations the spend is premature.
    expect(await rpc.testMempoolAccept(early.hex)).toMatchObject({ allowed: false, rejectReason: 'bad-txns-premature-spend-of-coinbase' });
    await ltc.mine(1);
    const v3 = await view();
    expect(v3.spendable.find((u) => u.txid === cbTxid)).toMatchObject({ coinbase: true, confirmations: 100 });
    expect(await rpc.testMempoolAccept(early.hex)).toMatchObject({ allowed: true });
    // minConfirmations holds back the young ones.
    const fresh = await funded(7_000_000n);
    const v4 = await hotWalletUtxos(rpc, [HOT], { minConfirmations: 2, cache });
    expect(v4.spendable.some((u) => u.txid === fresh.txid)).toBe(false);
    expect(v4.young.map((u) => [u.txid, u.confirmations, u.coinbase])).toEqual([[fresh.txid, 1, false]]);
    expect(v4.spendable.some((u) => u.txid === funding.txid)).toBe(true);
    expect(fromSat(v4.spendable.reduce((s, u) => s + u.value, 0n))).toMatch(/^\d+\.\d{8}$/);
  });

  it('a node error that is not -5 stays an error (never a null)', async () => {
    await expect(rpc.scanTxOutSet(['addr(notanaddress)'])).rejects.toBeInstanceOf(BtcRpcError);
  });
});
