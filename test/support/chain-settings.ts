// The chain drivers' settings for development nodes (anvil, the Zcash stand-in): apart from chains.ts
// because the simulation, which the bench also runs, must not import vitest.
import type { EvmSettings } from '../../src/chains/eth/driver.js';
import type { ZcashSettings } from '../../src/chains/zcash/driver.js';

export const ETH_SETTINGS = (url: string, over: Partial<EvmSettings> = {}): EvmSettings => ({
  tag: 'ETH',
  url,
  chainId: 31337,
  minPeers: 0,
  eip1559: true,
  maxFeePerGas: 500_000_000_000n,
  maxPriorityFeePerGas: 3_000_000_000n,
  gasLimitMax: 100_000n,
  gasLimitMarginPercent: 25,
  replaceAfterMs: 3_600_000,
  timeoutMs: 5_000,
  ...over,
});

export const ZEC_SETTINGS = (url: string, over: Partial<ZcashSettings> = {}): ZcashSettings => ({
  tag: 'ZEC',
  url,
  network: 'mainnet',
  minPeers: 0,
  txVersion: 4,
  batchMax: 500,
  expiryDelta: 40,
  feeMax: 5_000_000n,
  timeoutMs: 5_000,
  ...over,
});
