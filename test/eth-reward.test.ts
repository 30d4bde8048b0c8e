// The block-reward check of an Ethereum-family block before the intake credits it (issue 16 item 2),
// against a real anvil: the pool's block credited only on the canonical chain, matured, mined to the
// pool, paying at least the income; a forged, immature, foreign or over-claimed block refused.
import { createServer, type Server } from 'node:http';
import { createWalletClient, http, parseEther, type Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, expect, it } from 'vitest';
import { EthRewardChecker, type EthRewardSettings } from '../src/chains/eth/reward.js';
import { anvilRpc, mine, setBalance } from '../src/devnet/anvil.js';
import { describeOncePerSuite } from './support/backend.js';
import { anvilForFile, balanceOf } from './support/chains.js';

const anvil = anvilForFile();
const POOL = privateKeyToAccount(generatePrivateKey()).address;
const OTHER = privateKeyToAccount(generatePrivateKey()).address;

function checker(url: string, over: Partial<EthRewardSettings> = {}): EthRewardChecker {
  return new EthRewardChecker({ tag: 'ETH', url, chainId: 31337, poolAddress: POOL, issuance: () => 0n, timeoutMs: 5_000, ...over });
}

async function mineTo(url: string, miner: string): Promise<{ hash: Hex; number: bigint }> {
  await anvilRpc(url, 'anvil_setCoinbase', [miner]);
  await mine(url, 1);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; number: Hex };
  return { hash: b.hash, number: BigInt(b.number) };
}

/** A block mined to the pool holding a transaction that tips it; its hash and what the pool's balance gained. */
async function tippedBlock(url: string): Promise<{ hash: Hex; gained: bigint }> {
  const payer = privateKeyToAccount(generatePrivateKey());
  await setBalance(url, payer.address, parseEther('10'));
  await anvilRpc(url, 'anvil_setCoinbase', [POOL]);
  await anvilRpc(url, 'evm_setAutomine', [false]);
  const before = await balanceOf(url, POOL);
  const wallet = createWalletClient({ account: payer, transport: http(url) });
  await wallet.sendTransaction({
    chain: null,
    to: OTHER,
    value: 1n,
    maxPriorityFeePerGas: 3_000_000_000n,
    maxFeePerGas: 100_000_000_000n,
  });
  await mine(url, 1);
  await anvilRpc(url, 'evm_setAutomine', [true]);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; transactions: unknown[] };
  expect(b.transactions).toHaveLength(1);
  return { hash: b.hash, gained: (await balanceOf(url, POOL)) - before };
}

/** A node that answers eth_getBlockByNumber with another block's hash: the chain moved on past `hash`. */
async function nodeWithOtherCanonical(url: string, hash: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const call = JSON.parse(body) as { method: string; id: number };
      const reply = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body }).then((r) => r.json());
      if (call.method === 'eth_getBlockByNumber' && (reply as { result?: { hash?: string } }).result?.hash === hash)
        (reply as { result: { hash: string } }).result.hash = `0x${'ab'.repeat(32)}`;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(reply));
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describeOncePerSuite('the Ethereum block-reward check on anvil', () => {
  const servers: Server[] = [];
  afterAll(() => servers.forEach((s) => s.close()));

  it('credits a matured block of the pool, its reward the issuance per block plus the tips the pool was paid', async () => {
    const { url } = await anvil();
    const { hash, gained } = await tippedBlock(url);
    expect(gained).toBeGreaterThan(0n);
    await mine(url, 4);
    // anvil issues nothing per block: what the pool gained is exactly the tips.
    const v = await checker(url).check({ hash, income: gained }, 5);
    expect(v).toMatchObject({ ok: true, reward: gained, confirmations: 5n });
    const issued = await checker(url, { issuance: () => parseEther('2') }).check({ hash, income: parseEther('2') + gained }, 5);
    expect(v.ok && issued.ok && issued.reward - v.reward).toBe(parseEther('2'));
  });

  it('refuses an income above the reward, by one wei', async () => {
    const { url } = await anvil();
    const { hash, gained } = await tippedBlock(url);
    const v = await checker(url).check({ hash, income: gained + 1n }, 1);
    expect(v).toMatchObject({ ok: false, code: 'reward_short' });
  });

  it('refuses a block short of its confirmations, then credits it once it has them', async () => {
    const { url } = await anvil();
    const b = await mineTo(url, POOL);
    const c = checker(url, { issuance: () => 10n });
    expect(await c.check({ hash: b.hash, income: 10n }, 3)).toMatchObject({ ok: false, code: 'block_immature' });
    await mine(url, 2);
    expect(await c.check({ hash: b.hash, income: 10n }, 3)).toMatchObject({ ok: true, height: b.number, confirmations: 3n });
  });

  it('refuses a block mined to another address, a hash the node does not know, and an orphaned block', async () => {
    const { url } = await anvil();
    const c = checker(url, { issuance: () => 10n });
    const foreign = await mineTo(url, OTHER);
    expect(await c.check({ hash: foreign.hash, income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_wrong_miner' });
    expect(await c.check({ hash: `0x${'cd'.repeat(32)}`, income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_unknown' });
    const ours = await mineTo(url, POOL);
    await anvilRpc(url, 'anvil_reorg', [1, []]);
    // anvil forgets a block reorganised away: unknown, as a forged one.
    expect(await c.check({ hash: ours.hash, income: 1n }, 1)).toMatchObject({ ok: false, code: 'block_unknown' });
  });

  it('refuses a block the node knows that is no longer at its height on the canonical chain', async () => {
    const { url } = await anvil();
    const b = await mineTo(url, POOL);
    const lying = await nodeWithOtherCanonical(url, b.hash);
    servers.push(lying.server);
    const v = await checker(lying.url, { issuance: () => 10n }).check({ hash: b.hash, income: 1n }, 1);
    expect(v).toMatchObject({ ok: false, code: 'block_not_canonical' });
  });

  it('knows nothing from a node of another chain or a node that is down', async () => {
    const { url } = await anvil();
    const b = await mineTo(url, POOL);
    expect(await checker(url, { chainId: 1 }).check({ hash: b.hash, income: 1n }, 1)).toMatchObject({
      ok: false,
      code: 'node_unavailable',
      reason: expect.stringContaining('chain id 31337') as unknown,
    });
    expect(await checker('http://127.0.0.1:9', { timeoutMs: 1_000 }).check({ hash: b.hash, income: 1n }, 1)).toMatchObject({
      ok: false,
      code: 'node_unavailable',
    });
  });
});
