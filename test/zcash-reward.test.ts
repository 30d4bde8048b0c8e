// The block-reward check of a Zcash block before the intake credits it (issue 16 item 2), against the
// node stand-in in zebrad's dialect (and zcashd's for a side-chain block, which only it serves): the
// pool's block credited only on the best chain, past coinbase maturity and the coin's confirmations,
// its coinbase paying the pool at least the income; a forged, orphaned, immature, foreign or
// over-claimed block refused; another chain or a lying node knows nothing.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, expect, it } from 'vitest';
import { zcashP2pkhAddress } from '../src/chains/address.js';
import { ZcashRewardChecker, type ZcashRewardSettings } from '../src/chains/zcash/reward.js';
import { ZcashRpc } from '../src/chains/zcash/rpc.js';
import { startZcashStandin, type ZcashStandin } from '../src/devnet/zcash-standin.js';
import { describeOncePerSuite } from './support/backend.js';
import { zcashAddress, zcashStandinForFile } from './support/chains.js';

const POOL = zcashAddress();
const OTHER = zcashAddress();
const FUNDING_STREAM = zcashAddress();
const TESTNET_POOL = zcashP2pkhAddress('testnet', randomBytes(20));
const node = zcashStandinForFile({ miner: [{ address: OTHER, zatoshi: 156_250_000n }] });

function checker(url: string, over: Partial<ZcashRewardSettings> = {}): ZcashRewardChecker {
  return new ZcashRewardChecker({
    tag: 'ZEC',
    rpc: new ZcashRpc({ url, timeoutMs: 5_000 }),
    network: 'mainnet',
    poolAddress: POOL,
    ...over,
  });
}

/** A block whose coinbase pays the pool twice (a pool may split its reward) and a funding stream. */
async function poolBlock(n: ZcashStandin): Promise<{ hash: string; height: number }> {
  return n.mineTo([
    { address: POOL, zatoshi: 100_000_000n },
    { address: FUNDING_STREAM, zatoshi: 31_250_000n },
    { address: POOL, zatoshi: 25_000_000n },
  ]);
}

/** A node that rewrites one method's result: a node that says something the chain does not. */
async function lyingNode(url: string, method: string, rewrite: (result: unknown) => unknown): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const reply = (await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.json())) as {
        result: unknown;
      };
      if ((JSON.parse(body) as { method: string }).method === method && reply.result !== null) reply.result = rewrite(reply.result);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(reply));
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describeOncePerSuite('the Zcash block-reward check on the node stand-in', () => {
  const servers: Server[] = [];
  const nodes: ZcashStandin[] = [];
  afterAll(async () => {
    servers.forEach((s) => s.close());
    for (const n of nodes) await n.stop();
  });

  it('credits a matured block of the pool, its reward the sum of the coinbase outputs paying the pool', async () => {
    const n = await node();
    const b = await poolBlock(n);
    await n.mine(99);
    const v = await checker(n.url).check({ hash: b.hash, income: 125_000_000n }, 10);
    expect(v).toEqual({ ok: true, height: BigInt(b.height), confirmations: 100n, reward: 125_000_000n });
    // The hash is matched however the pool spells it.
    expect(await checker(n.url).check({ hash: b.hash.toUpperCase(), income: 1n }, 1)).toMatchObject({ ok: true });
  });

  it('refuses an income above the reward, by one zatoshi', async () => {
    const n = await node();
    const b = await poolBlock(n);
    await n.mine(99);
    expect(await checker(n.url).check({ hash: b.hash, income: 125_000_001n }, 1)).toMatchObject({ ok: false, code: 'reward_short' });
  });

  it('refuses a block short of coinbase maturity or the coin confirmations, then credits it once it has them', async () => {
    const n = await node();
    const b = await poolBlock(n);
    await n.mine(98);
    const c = checker(n.url);
    // 99 deep: the coin asks for 1, coinbase maturity for 100.
    expect(await c.check({ hash: b.hash, income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_immature' });
    await n.mine(1);
    expect(await c.check({ hash: b.hash, income: 1n }, 1)).toMatchObject({ ok: true, confirmations: 100n });
    expect(await c.check({ hash: b.hash, income: 1n }, 120)).toMatchObject({ ok: false, code: 'block_immature' });
    await n.mine(20);
    expect(await c.check({ hash: b.hash, income: 1n }, 120)).toMatchObject({ ok: true, confirmations: 120n });
  });

  it('refuses a block mined to another address and a hash the node does not know', async () => {
    const n = await node();
    const foreign = await n.mineTo([{ address: OTHER, zatoshi: 156_250_000n }]);
    await n.mine(100);
    const c = checker(n.url);
    expect(await c.check({ hash: foreign.hash, income: 1n }, 1)).toMatchObject({
      ok: false,
      code: 'block_wrong_miner',
      reason: expect.stringContaining(`pays none of its 1 outputs to the pool's ${POOL}`) as unknown,
    });
    expect(await c.check({ hash: 'cd'.repeat(32), income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_unknown' });
    expect(await c.check({ hash: 'not a hash', income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_unknown' });
  });

  it('refuses an orphaned block: unknown to zebrad, off the best chain for zcashd', async () => {
    const n = await node();
    const b = await poolBlock(n);
    await n.reorg(1);
    await n.mine(100);
    // zebrad serves only its best chain: a block a reorg left behind is as unknown as a forged one.
    expect(await checker(n.url).check({ hash: b.hash, income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_unknown' });
    const zcashd = await startZcashStandin({ network: 'mainnet', mode: 'zcashd' });
    nodes.push(zcashd);
    const z = await poolBlock(zcashd);
    await zcashd.reorg(1);
    await zcashd.mine(100);
    expect(await checker(zcashd.url).check({ hash: z.hash, income: 1n }, 1)).toMatchObject({
      ok: false,
      code: 'block_not_canonical',
      reason: expect.stringContaining('confirmations -1') as unknown,
    });
  });

  it('refuses a block the node knows whose height the best chain fills with another', async () => {
    const n = await node();
    const b = await poolBlock(n);
    await n.mine(100);
    const lying = await lyingNode(n.url, 'getblockhash', () => 'ab'.repeat(32));
    servers.push(lying.server);
    expect(await checker(lying.url).check({ hash: b.hash, income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_not_canonical' });
  });

  it('knows nothing from a node of another network or chain, a node whose words and bytes differ, or a node that is down', async () => {
    const n = await node();
    const b = await poolBlock(n);
    await n.mine(100);
    const testnet = new ZcashRewardChecker({
      tag: 'ZEC',
      rpc: new ZcashRpc({ url: n.url, timeoutMs: 5_000 }),
      network: 'testnet',
      poolAddress: TESTNET_POOL,
    });
    expect(await testnet.check({ hash: b.hash, income: 1n }, 1)).toMatchObject({
      ok: false,
      code: 'node_unavailable',
      reason: expect.stringContaining('"main"') as unknown,
    });
    const otherGenesis = checker(n.url, { genesisHash: 'ef'.repeat(32) });
    expect(await otherGenesis.check({ hash: b.hash, income: 1n }, 1)).toMatchObject({
      ok: false,
      code: 'node_unavailable',
      reason: expect.stringContaining('genesis') as unknown,
    });
    expect(await checker(n.url, { genesisHash: n.genesisHash() }).check({ hash: b.hash, income: 1n }, 1)).toMatchObject({ ok: true });
    // A node that says its coinbase pays the pool more than the transaction's bytes do.
    const inflating = await lyingNode(n.url, 'getrawtransaction', (r) => {
      const t = r as { vout: Array<{ valueZat: number }> };
      t.vout.forEach((o) => (o.valueZat *= 10));
      return t;
    });
    servers.push(inflating.server);
    expect(await checker(inflating.url).check({ hash: b.hash, income: 1n }, 1)).toMatchObject({
      ok: false,
      code: 'node_unavailable',
      reason: expect.stringContaining('are not those of its bytes') as unknown,
    });
    const down = new ZcashRewardChecker({
      tag: 'ZEC',
      rpc: new ZcashRpc({ url: 'http://127.0.0.1:9', timeoutMs: 1_000 }),
      network: 'mainnet',
      poolAddress: POOL,
    });
    expect(await down.check({ hash: b.hash, income: 1n }, 1)).toMatchObject({ ok: false, code: 'node_unavailable' });
  });

  it('refuses a pool address that is not a transparent address of the network', () => {
    expect(() => checker('http://127.0.0.1:9', { poolAddress: TESTNET_POOL })).toThrow(/pool_address/);
  });
});
