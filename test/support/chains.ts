// Real chains for payment tests: an anvil per test file (Ethereum), a hot wallet whose key the test
// generates into the ledger's state directory, and the driver payserv pays with.
import { afterAll } from 'vitest';
import { createPublicClient, http, type Hex } from 'viem';
import { EvmDriver, type EvmSettings } from '../../src/chains/eth/driver.js';
import { anvilRpc, setBalance, startAnvil, type Anvil } from '../../src/chains/eth/anvil.js';
import type { Db } from '../../src/db/db.js';
import type { Logger } from '../../src/log/index.js';
import { createHotKey, loadHotKey } from '../../src/keys/hot-wallet.js';

/** One anvil for the calling test file, stopped after it. */
export function anvilForFile(opts: Parameters<typeof startAnvil>[0] = {}): () => Promise<Anvil> {
  let started: Promise<Anvil> | null = null;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => (started ??= startAnvil(opts));
}

export const ETH_SETTINGS = (url: string, over: Partial<EvmSettings> = {}): EvmSettings => ({
  tag: 'ETH', url, chainId: 31337, minPeers: 0, eip1559: true, maxFeePerGas: 500_000_000_000n, maxPriorityFeePerGas: 3_000_000_000n,
  gasLimitMax: 100_000n, replaceAfterMs: 3_600_000, timeoutMs: 5_000, ...over,
});

/** A fresh hot wallet on the node (its own key: tests never share nonces), funded with `wei`. */
export async function ethDriver(url: string, deps: { db: Db; stateDir: string; log: Logger }, o: { settings?: Partial<EvmSettings>; fund?: bigint } = {}): Promise<EvmDriver> {
  await createHotKey(deps.stateDir, 'ETH');
  const d = new EvmDriver(ETH_SETTINGS(url, o.settings), await loadHotKey(deps.stateDir, 'ETH'), deps);
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

/** How many transactions an address has had mined. */
export async function minedCount(url: string, address: string): Promise<number> {
  return ethClient(url).getTransactionCount({ address: address as Hex, blockTag: 'latest' });
}
