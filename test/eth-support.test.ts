// The Ethereum building blocks of the payserv chain driver (fees, send-error classes) and the harness the
// driver's tests stand on (anvil, the JSON-RPC proxy, the hand-assembled contracts), against a real anvil.
import { createServer, type Socket } from 'node:net';
import fc from 'fast-check';
import {
  BaseError,
  createPublicClient,
  createWalletClient,
  http,
  keccak256,
  parseEther,
  TransactionNotFoundError,
  type Address,
  type Hex,
  type PublicClient,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterAll, beforeAll, expect, it, onTestFinished } from 'vitest';
import {
  AnvilRpcError,
  anvilRpc,
  dropTransaction,
  mine,
  setAutomine,
  setBalance,
  setIntervalMining,
  startAnvil,
  type Anvil,
} from '../src/devnet/anvil.js';
import { classifySendError, sendErrorText, type SendErrorClass } from '../src/chains/eth/errors.js';
import {
  bumpFees,
  bumpGasPrice,
  chooseFees,
  chooseGasPrice,
  FEE_HISTORY_BLOCKS,
  FEE_HISTORY_PERCENTILES,
  isReplacement,
  replacementFloor,
  type FeeCap,
  type FeeHistory,
  type Fees1559,
} from '../src/chains/eth/fees.js';
import { describeOncePerSuite } from './support/backend.js';
import { ACCEPTER_RUNTIME_CODE, deployAccepter, deployRejecter, REJECTER_RUNTIME_CODE } from './support/contracts.js';
import { startRpcProxy } from './support/rpc-proxy.js';
import { until } from './support/spawn.js';

const GWEI = 10n ** 9n;

// ---- fees ------------------------------------------------------------------------------------------

const wei = (maxExp: number) => fc.bigInt({ min: 0n, max: 10n ** BigInt(maxExp) });
/** A fee history as eth_feeHistory returns it: n blocks of rewards, n + 1 base fees (the last is the next block's). */
const history = fc.integer({ min: 1, max: 12 }).chain((n) =>
  fc.record({
    baseFeePerGas: fc.array(wei(12), { minLength: n + 1, maxLength: n + 1 }),
    reward: fc.array(fc.array(wei(11), { minLength: 1, maxLength: 3 }), { minLength: n, maxLength: n }),
  }),
);
const cap = fc
  .tuple(fc.bigInt({ min: 1n, max: 10n ** 13n }), wei(13))
  .map(([m, p]): FeeCap => ({ maxFeePerGas: m, priorityFeePerGas: p > m ? m : p }));
const fees = fc
  .tuple(wei(13), wei(13))
  .map(([a, b]): Fees1559 => (a >= b ? { maxFeePerGas: a, maxPriorityFeePerGas: b } : { maxFeePerGas: b, maxPriorityFeePerGas: a }));
const upperMedian = (xs: bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))[xs.length >> 1] as bigint;
const last = (xs: readonly bigint[]) => xs[xs.length - 1] as bigint;
/** x × 110 / 100, rounded up. */
const plus10 = (x: bigint) => (x * 110n + 99n) / 100n;

describeOncePerSuite('eth fees', () => {
  it('chooseFees: tip = median of the first percentile, max fee = 2 × next base fee + tip, both within the cap', () => {
    const h: FeeHistory = {
      baseFeePerGas: [10n * GWEI, 11n * GWEI, 12n * GWEI, 13n * GWEI],
      reward: [
        [1n * GWEI, 9n],
        [3n * GWEI, 9n],
        [2n * GWEI, 9n],
      ],
    };
    expect(chooseFees(h, { maxFeePerGas: 100n * GWEI, priorityFeePerGas: 5n * GWEI })).toEqual({
      kind: 'ok',
      maxFeePerGas: 28n * GWEI,
      maxPriorityFeePerGas: 2n * GWEI,
    });
    // the tip bounded by the cap's priority fee, the max fee clamped to the cap's
    expect(chooseFees(h, { maxFeePerGas: 20n * GWEI, priorityFeePerGas: 1n * GWEI })).toEqual({
      kind: 'ok',
      maxFeePerGas: 20n * GWEI,
      maxPriorityFeePerGas: 1n * GWEI,
    });
    // next base fee 13 + tip 2 > 14: wait
    const w = chooseFees(h, { maxFeePerGas: 14n * GWEI, priorityFeePerGas: 5n * GWEI });
    expect(w.kind).toBe('wait');
    expect(w.kind === 'wait' && w.reason).toMatch(/above the cap/);
    // exactly at the cap still goes
    expect(chooseFees(h, { maxFeePerGas: 15n * GWEI, priorityFeePerGas: 5n * GWEI })).toEqual({
      kind: 'ok',
      maxFeePerGas: 15n * GWEI,
      maxPriorityFeePerGas: 2n * GWEI,
    });
    // a node that reports no rewards: the cap's tip
    expect(chooseFees({ baseFeePerGas: [7n], reward: [] }, { maxFeePerGas: 100n, priorityFeePerGas: 3n })).toEqual({
      kind: 'ok',
      maxFeePerGas: 17n,
      maxPriorityFeePerGas: 3n,
    });
    expect(() => chooseFees({ baseFeePerGas: [], reward: [] }, { maxFeePerGas: 100n, priorityFeePerGas: 3n })).toThrow(/no base fees/);
    expect(() => chooseFees(h, { maxFeePerGas: 1n, priorityFeePerGas: 2n })).toThrow(/fee cap/);
  });

  it('chooseFees (property): ok exactly when next base fee + tip fits the cap; the result is valid and within the cap', () => {
    fc.assert(
      fc.property(history, cap, (h, c) => {
        const r = chooseFees(h, c);
        const base = last(h.baseFeePerGas);
        const tipMarket = upperMedian(h.reward.map((row) => row[0] as bigint));
        const tip = tipMarket < c.priorityFeePerGas ? tipMarket : c.priorityFeePerGas;
        if (base + tip > c.maxFeePerGas) {
          expect(r.kind).toBe('wait');
          return;
        }
        expect(r.kind).toBe('ok');
        if (r.kind !== 'ok') return;
        expect(r.maxPriorityFeePerGas).toBe(tip);
        expect(r.maxFeePerGas).toBe(2n * base + tip < c.maxFeePerGas ? 2n * base + tip : c.maxFeePerGas);
        expect(r.maxFeePerGas).toBeLessThanOrEqual(c.maxFeePerGas);
        expect(r.maxPriorityFeePerGas).toBeLessThanOrEqual(c.priorityFeePerGas);
        expect(r.maxFeePerGas).toBeGreaterThanOrEqual(base + r.maxPriorityFeePerGas);
      }),
      { numRuns: 500 },
    );
  });

  it("replacementFloor is geth's rule, +10% rounded up and strictly more: 0 → 1, 15 → 17, 10 gwei → 11 gwei", () => {
    expect(replacementFloor(0n)).toBe(1n);
    expect(replacementFloor(1n)).toBe(2n);
    expect(replacementFloor(15n)).toBe(17n);
    expect(replacementFloor(100n)).toBe(110n);
    expect(replacementFloor(10n * GWEI)).toBe(11n * GWEI);
    fc.assert(
      fc.property(wei(20), (old) => {
        const f = replacementFloor(old);
        expect(f).toBeGreaterThan(old);
        expect(f * 100n).toBeGreaterThanOrEqual(old * 110n);
        // and the least such value in exact arithmetic (geth's integer division may let one wei less pass; rounding up satisfies any client's 10%)
        expect(f - 1n <= old || (f - 1n) * 100n < old * 110n).toBe(true);
        expect(isReplacement({ maxFeePerGas: old, maxPriorityFeePerGas: old }, { maxFeePerGas: f, maxPriorityFeePerGas: f })).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('bumpFees (property): ≥ +10% on BOTH fields, ≥ the market, within the cap, else wait', () => {
    fc.assert(
      fc.property(fees, history, cap, (prev, h, c) => {
        const r = bumpFees(prev, c, h);
        const market = chooseFees(h, c);
        if (r.kind === 'wait') {
          // only because the market is above the cap, or a field's floor is
          const needFee =
            market.kind === 'ok' && plus10(prev.maxFeePerGas) < market.maxFeePerGas
              ? market.maxFeePerGas
              : replacementFloor(prev.maxFeePerGas);
          const needTip =
            market.kind === 'ok' && replacementFloor(prev.maxPriorityFeePerGas) < market.maxPriorityFeePerGas
              ? market.maxPriorityFeePerGas
              : replacementFloor(prev.maxPriorityFeePerGas);
          expect(market.kind === 'wait' || needFee > c.maxFeePerGas || needTip > c.priorityFeePerGas).toBe(true);
          return;
        }
        expect(market.kind).toBe('ok');
        if (market.kind !== 'ok') return;
        expect(r.maxFeePerGas).toBeGreaterThanOrEqual(plus10(prev.maxFeePerGas));
        expect(r.maxPriorityFeePerGas).toBeGreaterThanOrEqual(plus10(prev.maxPriorityFeePerGas));
        expect(r.maxFeePerGas).toBeGreaterThan(prev.maxFeePerGas);
        expect(r.maxPriorityFeePerGas).toBeGreaterThan(prev.maxPriorityFeePerGas);
        expect(r.maxFeePerGas).toBeGreaterThanOrEqual(market.maxFeePerGas);
        expect(r.maxPriorityFeePerGas).toBeGreaterThanOrEqual(market.maxPriorityFeePerGas);
        expect(r.maxFeePerGas).toBeLessThanOrEqual(c.maxFeePerGas);
        expect(r.maxPriorityFeePerGas).toBeLessThanOrEqual(c.priorityFeePerGas);
        expect(r.maxPriorityFeePerGas).toBeLessThanOrEqual(r.maxFeePerGas);
        expect(isReplacement(prev, r)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('bumpFees: examples (a tip of 0 becomes 1; the market can lift the bump; the cap makes it wait)', () => {
    const flat: FeeHistory = { baseFeePerGas: [1n * GWEI, 1n * GWEI], reward: [[0n]] };
    const c: FeeCap = { maxFeePerGas: 100n * GWEI, priorityFeePerGas: 10n * GWEI };
    expect(bumpFees({ maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 0n }, c, flat)).toEqual({
      kind: 'ok',
      maxFeePerGas: 11n * GWEI,
      maxPriorityFeePerGas: 1n,
    });
    const spiked: FeeHistory = { baseFeePerGas: [1n * GWEI, 30n * GWEI], reward: [[2n * GWEI]] };
    expect(bumpFees({ maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 1n * GWEI }, c, spiked)).toEqual({
      kind: 'ok',
      maxFeePerGas: 62n * GWEI,
      maxPriorityFeePerGas: 2n * GWEI,
    });
    expect(bumpFees({ maxFeePerGas: 95n * GWEI, maxPriorityFeePerGas: 1n * GWEI }, c, flat)).toMatchObject({
      kind: 'wait',
      reason: expect.stringMatching(/max fee of 104500000000/),
    });
    expect(bumpFees({ maxFeePerGas: 50n * GWEI, maxPriorityFeePerGas: 10n * GWEI }, c, flat)).toMatchObject({
      kind: 'wait',
      reason: expect.stringMatching(/priority fee of 11000000000/),
    });
    expect(
      bumpFees({ maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 1n * GWEI }, c, { baseFeePerGas: [200n * GWEI], reward: [] }).kind,
    ).toBe('wait');
    expect(() => bumpFees({ maxFeePerGas: 1n, maxPriorityFeePerGas: 2n }, c, flat)).toThrow(/invalid fees/);
  });

  it('legacy (ETC): the node gas price within the cap, a bump of ≥ +10% and ≥ the market, else wait', () => {
    expect(chooseGasPrice(5n * GWEI, { gasPrice: 10n * GWEI })).toEqual({ kind: 'ok', gasPrice: 5n * GWEI });
    expect(chooseGasPrice(10n * GWEI, { gasPrice: 10n * GWEI })).toEqual({ kind: 'ok', gasPrice: 10n * GWEI });
    expect(chooseGasPrice(11n * GWEI, { gasPrice: 10n * GWEI }).kind).toBe('wait');
    expect(bumpGasPrice(5n * GWEI, { gasPrice: 10n * GWEI }, 1n * GWEI)).toEqual({ kind: 'ok', gasPrice: 5_500_000_000n });
    expect(bumpGasPrice(5n * GWEI, { gasPrice: 10n * GWEI }, 7n * GWEI)).toEqual({ kind: 'ok', gasPrice: 7n * GWEI });
    expect(bumpGasPrice(0n, { gasPrice: 10n }, 0n)).toEqual({ kind: 'ok', gasPrice: 1n });
    expect(bumpGasPrice(10n * GWEI, { gasPrice: 10n * GWEI }, 1n).kind).toBe('wait');
    fc.assert(
      fc.property(wei(13), wei(13), fc.bigInt({ min: 1n, max: 10n ** 13n }), (prev, now, c) => {
        const r = bumpGasPrice(prev, { gasPrice: c }, now);
        const need = replacementFloor(prev) > now ? replacementFloor(prev) : now;
        if (need > c) {
          expect(r.kind).toBe('wait');
          return;
        }
        expect(r).toEqual({ kind: 'ok', gasPrice: need });
        expect(need * 100n).toBeGreaterThanOrEqual(prev * 110n);
      }),
      { numRuns: 500 },
    );
  });
});

// ---- send errors -----------------------------------------------------------------------------------

describeOncePerSuite('eth send errors: the wordings of the clients', () => {
  const cases: Array<[string, SendErrorClass]> = [
    // geth (core/txpool/errors.go, legacypool)
    ['already known', 'known'],
    ['known transaction: 608f9e3b4bb0a4fd63a8162b5cbee34c723093797b462c2a2f953dc251713d54', 'known'],
    ['nonce too low: address 0x71C7656EC7ab88b098defB751B7401B5f6d8976F, tx: 5 state: 6', 'nonce_too_low'],
    ['replacement transaction underpriced', 'underpriced'],
    ['transaction underpriced: tip needed 1000000000, tip permitted 0', 'underpriced'],
    ['insufficient funds for gas * price + value: balance 0, tx cost 21000000000000, overshot 21000000000000', 'insufficient_funds'],
    // anvil 1.7.1 (observed below against the real node)
    ['transaction already imported', 'known'],
    ['Insufficient funds for gas * price + value', 'insufficient_funds'],
    ['max fee per gas less than block base fee', 'underpriced'],
    // Nethermind: enum names before PR 12157, geth's phrases after
    ['AlreadyKnown', 'known'],
    ['OldNonce', 'nonce_too_low'],
    ['FeeTooLow', 'underpriced'],
    ['FeeTooLowToCompete', 'underpriced'],
    ['ReplacementNotAllowed', 'underpriced'],
    ['InsufficientFunds, Account balance: 3020000000000000000, cumulative cost: 5809177184380485770', 'insufficient_funds'],
    // Erigon (txpoolcfg DiscardReason)
    ['existing txn with same hash', 'known'],
    ['INTERNAL_ERROR: existing tx with same hash', 'known'],
    ['fee too low', 'underpriced'],
    ['could not replace existing tx', 'underpriced'],
    ['insufficient funds', 'insufficient_funds'],
    // OpenEthereum, Besu
    ['Transaction with the same hash was already imported.', 'known'],
    ['Transaction nonce is too low. Try incrementing the nonce.', 'nonce_too_low'],
    ['Transaction gas price supplied is too low. There is another transaction with same nonce in the queue.', 'underpriced'],
    ['Known transaction', 'known'],
    ['Upfront cost exceeds account balance', 'insufficient_funds'],
    // not a verdict on the payment
    ['unknown transaction', 'other'],
    ['invalid chain id for signer', 'other'],
    ['intrinsic gas too low', 'other'],
    ['nonce too high', 'other'],
    ['fetch failed', 'other'],
  ];

  it.each(cases)('%s → %s', (message, cls) => {
    expect(classifySendError(message)).toBe(cls);
    expect(classifySendError(new Error(message))).toBe(cls);
    expect(classifySendError({ jsonrpc: '2.0', id: 1, error: { code: -32000, message } })).toBe(cls);
    expect(classifySendError(new Error('HTTP request failed', { cause: { code: -32010, message } }))).toBe(cls);
  });

  it('odd inputs are "other", never a throw', () => {
    for (const e of [undefined, null, 42, {}, [], new Error(''), { cause: { cause: { cause: 'x' } } }])
      expect(classifySendError(e)).toBe('other');
    const loop: { message: string; cause?: unknown } = { message: 'loop' };
    loop.cause = loop;
    expect(classifySendError(loop)).toBe('other');
  });
});

// ---- against anvil ---------------------------------------------------------------------------------

/** A fresh key holding `ether` on `node`. */
async function funded(node: Anvil, ether = '10'): Promise<Hex> {
  const key = generatePrivateKey();
  await setBalance(node.url, privateKeyToAccount(key).address, parseEther(ether));
  return key;
}

const someAddress = (): Address => privateKeyToAccount(generatePrivateKey()).address;

interface Transfer {
  nonce: number;
  to?: Address;
  value?: bigint;
  gas?: bigint;
  fees?: Fees1559;
}

function signTransfer(node: Anvil, key: Hex, t: Transfer): Promise<Hex> {
  const f = t.fees ?? { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 1n * GWEI };
  return privateKeyToAccount(key).signTransaction({
    type: 'eip1559',
    chainId: node.chainId,
    nonce: t.nonce,
    to: t.to ?? someAddress(),
    value: t.value ?? 1n,
    gas: t.gas ?? 21_000n,
    maxFeePerGas: f.maxFeePerGas,
    maxPriorityFeePerGas: f.maxPriorityFeePerGas,
  });
}

/** What the node says to eth_sendRawTransaction, both by plain fetch and through viem; both must classify alike. */
async function refusal(
  node: Anvil,
  client: PublicClient,
  raw: Hex,
): Promise<{ cls: SendErrorClass; nodeMessage: string; viemCls: SendErrorClass }> {
  const plain = await anvilRpc(node.url, 'eth_sendRawTransaction', [raw]).then(
    (h) => {
      throw new Error(`expected a refusal, the node accepted ${String(h)}`);
    },
    (e: unknown) => e,
  );
  expect(plain).toBeInstanceOf(AnvilRpcError);
  const viaViem = await client.sendRawTransaction({ serializedTransaction: raw }).then(
    (h) => {
      throw new Error(`expected a refusal, the node accepted ${h} through viem`);
    },
    (e: unknown) => e,
  );
  return { cls: classifySendError(plain), nodeMessage: (plain as AnvilRpcError).nodeMessage, viemCls: classifySendError(viaViem) };
}

const clientOf = (url: string): PublicClient =>
  createPublicClient({ transport: http(url, { retryCount: 0, timeout: 10_000 }), pollingInterval: 50 });

describeOncePerSuite('eth support against a real anvil', () => {
  /** automine: a block per transaction */
  let node: Anvil;
  /** no mining: transactions wait in the pool until mine() */
  let pool: Anvil;
  let nodeClient: PublicClient;
  let poolClient: PublicClient;

  beforeAll(async () => {
    [node, pool] = await Promise.all([startAnvil(), startAnvil({ noMining: true })]);
    nodeClient = clientOf(node.url);
    poolClient = clientOf(pool.url);
  });
  afterAll(async () => {
    await Promise.all([node?.stop(), pool?.stop()]);
  });

  it('startAnvil answers its chain id, and stop() leaves no process', async () => {
    const t0 = performance.now();
    const a = await startAnvil({ chainId: 4242, hardfork: 'london' });
    const startedMs = performance.now() - t0;
    onTestFinished(() => a.stop());
    expect(a.url).toBe(`http://127.0.0.1:${a.port}`);
    expect(await clientOf(a.url).getChainId()).toBe(4242);
    expect(startedMs).toBeLessThan(20_000);
    expect(() => process.kill(a.pid, 0)).not.toThrow();
    await a.stop();
    await a.stop(); // idempotent
    expect(() => process.kill(a.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    await expect(anvilRpc(a.url, 'eth_chainId', [], { timeoutMs: 2_000 })).rejects.toThrow();
  });

  it('startAnvil on a port that is taken fails with a clear error quoting anvil', async () => {
    // A listener that never answers (startAnvil's readiness probe may connect to it before anvil gives up).
    const conns = new Set<Socket>();
    const srv = createServer((s) => void conns.add(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    onTestFinished(
      () =>
        new Promise<void>((r) => {
          for (const s of conns) s.destroy();
          srv.close(() => r());
        }),
    );
    const port = (srv.address() as { port: number }).port;
    await expect(startAnvil({ port })).rejects.toThrow(/Address already in use/);
  });

  it('anvilRpc names the method and the node message', async () => {
    await expect(anvilRpc(node.url, 'anvil_noSuchMethod', [])).rejects.toThrow('anvil_noSuchMethod: Method not found (code -32601)');
  });

  it('chooseFees on the real eth_feeHistory gives fees the node mines', async () => {
    const key = await funded(node);
    const h = await nodeClient.getFeeHistory({ blockCount: FEE_HISTORY_BLOCKS, rewardPercentiles: [...FEE_HISTORY_PERCENTILES] });
    const choice = chooseFees(
      { baseFeePerGas: h.baseFeePerGas, reward: h.reward ?? [] },
      { maxFeePerGas: 100n * GWEI, priorityFeePerGas: 2n * GWEI },
    );
    expect(choice.kind).toBe('ok');
    if (choice.kind !== 'ok') return;
    const hash = await nodeClient.sendRawTransaction({ serializedTransaction: await signTransfer(node, key, { nonce: 0, fees: choice }) });
    expect((await nodeClient.waitForTransactionReceipt({ hash, timeout: 10_000 })).status).toBe('success');
  });

  it('\'known\': the same signed bytes sent twice while pending (anvil: "transaction already imported")', async () => {
    const key = await funded(pool);
    const raw = await signTransfer(pool, key, { nonce: 0 });
    await poolClient.sendRawTransaction({ serializedTransaction: raw });
    const r = await refusal(pool, poolClient, raw);
    expect(r.nodeMessage).toBe('transaction already imported');
    expect(r.cls).toBe('known');
    expect(r.viemCls).toBe('known');
    // viem's wallet action files this reply under NonceTooLowError; the node's words decide, and say 'known'
    const account = privateKeyToAccount(key);
    const wallet = createWalletClient({ account, transport: http(pool.url, { retryCount: 0 }) });
    const tx = {
      chain: null,
      to: account.address,
      nonce: 1,
      gas: 21_000n,
      maxFeePerGas: 10n * GWEI,
      maxPriorityFeePerGas: 1n * GWEI,
      value: 1n,
    } as const;
    await wallet.sendTransaction(tx);
    const viaWallet = await wallet.sendTransaction(tx).then(
      () => null,
      (e: Error) => e,
    );
    expect(viaWallet).toBeInstanceOf(BaseError);
    expect((viaWallet as BaseError).walk((e) => (e as Error).name === 'NonceTooLowError')).toBeTruthy();
    expect(classifySendError(viaWallet)).toBe('known');
  });

  it("'nonce_too_low': the nonce used on chain, by the same bytes or by others (anvil says so even for our own mined bytes)", async () => {
    const key = await funded(node);
    const raw = await signTransfer(node, key, { nonce: 0 });
    const hash = await nodeClient.sendRawTransaction({ serializedTransaction: raw });
    await nodeClient.waitForTransactionReceipt({ hash, timeout: 10_000 });
    const again = await refusal(node, nodeClient, raw);
    expect(again.nodeMessage).toBe('nonce too low');
    expect([again.cls, again.viemCls]).toEqual(['nonce_too_low', 'nonce_too_low']);
    const other = await refusal(node, nodeClient, await signTransfer(node, key, { nonce: 0, value: 2n }));
    expect(other.nodeMessage).toBe('nonce too low');
    expect([other.cls, other.viemCls]).toEqual(['nonce_too_low', 'nonce_too_low']);
  });

  it("'underpriced': a replacement without higher fees; bumpFees' replacement is taken and mined instead", async () => {
    const key = await funded(pool);
    const first: Fees1559 = { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 1n * GWEI };
    const to = someAddress();
    const h1 = await poolClient.sendRawTransaction({
      serializedTransaction: await signTransfer(pool, key, { nonce: 0, to, value: 1n, fees: first }),
    });
    const r = await refusal(pool, poolClient, await signTransfer(pool, key, { nonce: 0, to, value: 2n, fees: first }));
    expect(r.nodeMessage).toBe('replacement transaction underpriced');
    expect([r.cls, r.viemCls]).toEqual(['underpriced', 'underpriced']);

    const fh = await poolClient.getFeeHistory({ blockCount: FEE_HISTORY_BLOCKS, rewardPercentiles: [...FEE_HISTORY_PERCENTILES] });
    const bumped = bumpFees(
      first,
      { maxFeePerGas: 100n * GWEI, priorityFeePerGas: 5n * GWEI },
      { baseFeePerGas: fh.baseFeePerGas, reward: fh.reward ?? [] },
    );
    expect(bumped.kind).toBe('ok');
    if (bumped.kind !== 'ok') return;
    const h2 = await poolClient.sendRawTransaction({
      serializedTransaction: await signTransfer(pool, key, { nonce: 0, to, value: 3n, fees: bumped }),
    });
    await mine(pool.url);
    expect((await poolClient.getTransactionReceipt({ hash: h2 })).status).toBe('success');
    await expect(poolClient.getTransaction({ hash: h1 })).rejects.toBeInstanceOf(TransactionNotFoundError);
    expect(await poolClient.getBalance({ address: to })).toBe(3n);
  });

  it("anvil is laxer than geth: it takes a +5% replacement that geth's rule refuses (so only the unit tests prove the rule)", async () => {
    const key = await funded(pool);
    const first: Fees1559 = { maxFeePerGas: 10n * GWEI, maxPriorityFeePerGas: 1n * GWEI };
    const plus5: Fees1559 = { maxFeePerGas: 10_500_000_000n, maxPriorityFeePerGas: 1_050_000_000n };
    expect(isReplacement(first, plus5)).toBe(false);
    await poolClient.sendRawTransaction({ serializedTransaction: await signTransfer(pool, key, { nonce: 0, fees: first }) });
    await expect(
      poolClient.sendRawTransaction({ serializedTransaction: await signTransfer(pool, key, { nonce: 0, fees: plus5 }) }),
    ).resolves.toMatch(/^0x/);
  });

  it('\'insufficient_funds\': from an empty account (anvil: "Insufficient funds for gas * price + value")', async () => {
    const r = await refusal(node, nodeClient, await signTransfer(node, generatePrivateKey(), { nonce: 0 }));
    expect(r.nodeMessage).toBe('Insufficient funds for gas * price + value');
    expect([r.cls, r.viemCls]).toEqual(['insufficient_funds', 'insufficient_funds']);
  });

  it('the proxy: a reply dropped after the node accepted the transaction; re-sending the same bytes is "known"', async () => {
    const proxy = await startRpcProxy(pool.url);
    onTestFinished(() => proxy.stop());
    const viaProxy = clientOf(proxy.url);
    const key = await funded(pool);
    const raw = await signTransfer(pool, key, { nonce: 0 });
    proxy.dropReplyTo('eth_sendRawTransaction');
    const lost = await viaProxy.sendRawTransaction({ serializedTransaction: raw }).then(
      () => null,
      (e: Error) => e,
    );
    expect(lost?.name).toBe('HttpRequestError');
    expect(classifySendError(lost)).toBe('other');
    expect(proxy.calls).toEqual(['eth_sendRawTransaction']);
    // ... yet the node has it
    const tx = await poolClient.getTransaction({ hash: keccak256(raw) });
    expect(tx.from.toLowerCase()).toBe(privateKeyToAccount(key).address.toLowerCase());
    expect(tx.blockNumber).toBeNull();
    // the retry rebroadcasts the same bytes: "already known" is success
    const retry = await viaProxy.sendRawTransaction({ serializedTransaction: raw }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(classifySendError(retry)).toBe('known');
    expect(sendErrorText(retry)).toContain('transaction already imported');
  });

  it('the proxy: failNext answers 502 without forwarding; down refuses everything; batches are seen whole', async () => {
    const proxy = await startRpcProxy(node.url);
    onTestFinished(() => proxy.stop());
    const viaProxy = clientOf(proxy.url);
    const key = await funded(node);
    const raw = await signTransfer(node, key, { nonce: 0 });
    proxy.failNext('eth_sendRawTransaction');
    await expect(viaProxy.sendRawTransaction({ serializedTransaction: raw })).rejects.toMatchObject({
      name: 'HttpRequestError',
      status: 502,
    });
    expect(await nodeClient.getTransactionCount({ address: privateKeyToAccount(key).address })).toBe(0); // the node never saw it

    proxy.down(true);
    await expect(viaProxy.getChainId()).rejects.toMatchObject({ name: 'HttpRequestError' });
    proxy.down(false);
    expect(await viaProxy.getChainId()).toBe(node.chainId);

    const batch = (body: unknown) =>
      fetch(proxy.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const res = await batch([
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] },
      { jsonrpc: '2.0', id: 2, method: 'eth_blockNumber', params: [] },
    ]);
    const replies = (await res.json()) as Array<{ id: number; result: string }>;
    expect(replies.map((r) => r.id).sort()).toEqual([1, 2]);
    proxy.dropReplyTo('eth_sendRawTransaction', 1);
    await expect(
      batch([
        { jsonrpc: '2.0', id: 3, method: 'eth_sendRawTransaction', params: [raw] },
        { jsonrpc: '2.0', id: 4, method: 'eth_chainId', params: [] },
      ]),
    ).rejects.toThrow();
    // forwarded, mined, unanswered: anvil answers once the transaction is pooled and mines it just after (slower under load)
    const count = () => nodeClient.getTransactionCount({ address: privateKeyToAccount(key).address });
    await until('the dropped transaction mined', async () => (await count()) === 1, 10_000);
    expect(await count()).toBe(1);
    expect(proxy.calls).toEqual([
      'eth_sendRawTransaction',
      'eth_chainId',
      'eth_chainId',
      'eth_blockNumber',
      'eth_sendRawTransaction',
      'eth_chainId',
    ]);
  });

  it('a transfer to the rejecter is mined with status reverted, and the recipient still holds 0', async () => {
    const key = await funded(node);
    const rejecter = await deployRejecter(node.url, key);
    expect(await nodeClient.getCode({ address: rejecter })).toBe(REJECTER_RUNTIME_CODE);
    const sender = privateKeyToAccount(key).address;
    const before = await nodeClient.getBalance({ address: sender });
    const nonce = await nodeClient.getTransactionCount({ address: sender });
    // an explicit gas limit: estimation would refuse a transaction that reverts
    const hash = await nodeClient.sendRawTransaction({
      serializedTransaction: await signTransfer(node, key, { nonce, to: rejecter, value: parseEther('1'), gas: 50_000n }),
    });
    const receipt = await nodeClient.waitForTransactionReceipt({ hash, timeout: 10_000 });
    expect(receipt.status).toBe('reverted');
    expect(await nodeClient.getBalance({ address: rejecter })).toBe(0n);
    // the sender paid the gas, not the value
    expect(before - (await nodeClient.getBalance({ address: sender }))).toBe(receipt.gasUsed * receipt.effectiveGasPrice);

    const accepter = await deployAccepter(node.url, key);
    expect(await nodeClient.getCode({ address: accepter })).toBe(ACCEPTER_RUNTIME_CODE);
    const h2 = await nodeClient.sendRawTransaction({
      serializedTransaction: await signTransfer(node, key, { nonce: nonce + 2, to: accepter, value: 5n, gas: 50_000n }),
    });
    expect((await nodeClient.waitForTransactionReceipt({ hash: h2, timeout: 10_000 })).status).toBe('success');
    expect(await nodeClient.getBalance({ address: accepter })).toBe(5n);
  });

  it('dropTransaction removes a pending transaction: the network forgot it, the nonce is free again', async () => {
    const key = await funded(pool);
    const address = privateKeyToAccount(key).address;
    const hash = await poolClient.sendRawTransaction({ serializedTransaction: await signTransfer(pool, key, { nonce: 0 }) });
    expect((await poolClient.getTransaction({ hash })).blockNumber).toBeNull();
    await dropTransaction(pool.url, hash);
    await expect(poolClient.getTransaction({ hash })).rejects.toBeInstanceOf(TransactionNotFoundError);
    await mine(pool.url);
    expect(await poolClient.getTransactionCount({ address })).toBe(0);
    expect(await poolClient.getTransactionReceipt({ hash }).catch((e: Error) => e.name)).toBe('TransactionReceiptNotFoundError');
  });

  it('setAutomine and setIntervalMining switch how blocks come', async () => {
    const a = await startAnvil();
    onTestFinished(() => a.stop());
    const c = clientOf(a.url);
    const key = await funded(a);
    await setAutomine(a.url, false);
    const hash = await c.sendRawTransaction({ serializedTransaction: await signTransfer(a, key, { nonce: 0 }) });
    expect((await c.getTransaction({ hash })).blockNumber).toBeNull();
    await mine(a.url, 3);
    expect(await c.getBlockNumber()).toBe(3n);
    expect((await c.getTransaction({ hash })).blockNumber).toBe(1n);
    await setIntervalMining(a.url, 1);
    const until = Date.now() + 10_000;
    while ((await c.getBlockNumber()) < 4n && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    expect(await c.getBlockNumber()).toBeGreaterThanOrEqual(4n);
    await setIntervalMining(a.url, 0);
  });
});
