// Chains for payment tests: an anvil per test file (Ethereum) or the Zcash node stand-in, a hot wallet
// whose key the test generates into the ledger's state directory, and the driver payserv pays with.
import { randomBytes } from 'node:crypto';
import { afterAll } from 'vitest';
import { zcashP2pkhAddress } from '../../src/chains/address.js';
import { ZcashDriver, type ZcashSettings } from '../../src/chains/zcash/driver.js';
import { startZcashStandin, type ZcashStandin, type ZcashStandinOptions } from '../../src/devnet/zcash-standin.js';
import { createPublicClient, http, type Hex } from 'viem';
import { EvmDriver, type EvmSettings } from '../../src/chains/eth/driver.js';
import { privateKeyToAccount } from 'viem/accounts';
import { anvilRpc, setBalance, startAnvil, type Anvil } from '../../src/devnet/anvil.js';
import type { ChainDriver } from '../../src/chains/driver.js';
import { driverDeps, ETH_SETTINGS, ZEC_SETTINGS, type DriverWiring } from './chain-settings.js';
import { createHotKey, loadHotKey } from '../../src/keys/hot-wallet.js';

export { driverDeps, ETH_SETTINGS, ZEC_SETTINGS };

/** One anvil for the calling test file, stopped after it. */
export function anvilForFile(opts: Parameters<typeof startAnvil>[0] = {}): () => Promise<Anvil> {
  let started: Promise<Anvil> | null = null;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => (started ??= startAnvil(opts));
}

/** A fresh hot wallet on the node (its own key: tests never share nonces), funded with `wei`. */
export async function ethDriver(
  url: string,
  deps: DriverWiring,
  o: { settings?: Partial<EvmSettings>; fund?: bigint } = {},
): Promise<EvmDriver> {
  await createHotKey(deps.stateDir, 'ETH');
  const d = new EvmDriver(ETH_SETTINGS(url, o.settings), await loadHotKey(deps.stateDir, 'ETH'), driverDeps(deps));
  if (o.fund !== 0n) await setBalance(url, d.address, o.fund ?? 10n ** 21n);
  await d.start();
  return d;
}

export function ethClient(url: string) {
  return createPublicClient({ transport: http(url, { retryCount: 0 }) });
}

export async function balanceOf(url: string, address: string): Promise<bigint> {
  return ethClient(url).getBalance({ address: address as Hex });
}

/** The hot key used outside payserv: a 1-wei transfer to a fresh address at `nonce`, signed with `key` and sent to the node at `url`. */
export async function sendOutside(url: string, key: Hex, nonce: number): Promise<{ raw: Hex; hash: string }> {
  const raw = await privateKeyToAccount(key).signTransaction({
    chainId: 31337,
    nonce,
    to: `0x${randomBytes(20).toString('hex')}`,
    value: 1n,
    gas: 21_000n,
    maxFeePerGas: 10n ** 11n,
    maxPriorityFeePerGas: 10n ** 9n,
    type: 'eip1559',
  });
  return { raw, hash: (await anvilRpc(url, 'eth_sendRawTransaction', [raw])) as string };
}

/** How many transactions an address has had mined. */
export async function minedCount(url: string, address: string): Promise<number> {
  return ethClient(url).getTransactionCount({ address: address as Hex, blockTag: 'latest' });
}

/** One Zcash node stand-in for the calling test file (mainnet, NU6.3), stopped after it. */
export function zcashStandinForFile(opts: Partial<ZcashStandinOptions> = {}): () => Promise<ZcashStandin> {
  let started: Promise<ZcashStandin> | null = null;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => (started ??= startZcashStandin({ network: 'mainnet', ...opts }));
}

/** A fresh Zcash hot wallet on the stand-in, funded with one output per entry of `fund` (zatoshi). */
export async function zcashDriver(
  node: ZcashStandin,
  deps: DriverWiring,
  o: { settings?: Partial<ZcashSettings>; fund?: bigint[] } = {},
): Promise<ZcashDriver> {
  await createHotKey(deps.stateDir, 'ZEC');
  const d = new ZcashDriver(ZEC_SETTINGS(node.url, o.settings), await loadHotKey(deps.stateDir, 'ZEC'), driverDeps(deps));
  for (const z of o.fund ?? [100_000_000_000n]) await node.fund(d.address, z);
  await d.start();
  return d;
}

export const zcashAddress = () => zcashP2pkhAddress('mainnet', randomBytes(20));

/** What a test may have a real driver answer otherwise: the chain's word stood in for. */
export type DriverAnswers = Partial<Pick<ChainDriver, 'verdict' | 'health' | 'watch' | 'replace'>>;

/** The real driver with some answers given by the test; every other call goes to it (bound, so its private state works). */
export function driverWith(d: ChainDriver, answers: DriverAnswers): ChainDriver {
  return new Proxy(d, {
    get(target, p) {
      const given = (answers as Record<string | symbol, unknown>)[p];
      if (given !== undefined) return given;
      const v = Reflect.get(target, p, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
