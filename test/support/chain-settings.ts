// The chain drivers' settings for development nodes (anvil, the Zcash stand-in): apart from chains.ts
// because the simulation, which the bench also runs, must not import vitest.
import type { BtcSettings } from '../../src/chains/btc/driver.js';
import { preset } from '../../src/chains/btc/network.js';
import type { EvmSettings } from '../../src/chains/eth/driver.js';
import type { ZcashSettings } from '../../src/chains/zcash/driver.js';
import { driverStorage } from '../../src/app/drivers.js';
import type { Data } from '../../src/data/data.js';
import type { PaymentJournal } from '../../src/journal/journal.js';
import type { Logger } from '../../src/log/index.js';
import type { Trust } from '../../src/pki/trust.js';

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

/** A P2WPKH Litecoin hot wallet on a litecoind regtest node (test/support/litecoind.ts). */
export const LTC_SETTINGS = (url: string, over: Partial<BtcSettings> = {}): BtcSettings => ({
  tag: 'LTC',
  url,
  net: preset('LTC-regtest'),
  wallet: 'p2wpkh',
  minPeers: 0,
  batchMax: 50,
  feeRateMin: 1n,
  feeRateMax: 100n,
  feeTargetBlocks: 6,
  spenderScanBlocks: 500,
  timeoutMs: 10_000,
  ...over,
});

/** What a test hands the drivers it builds (test/support/payserv.ts): payserv's database, pinned root, state directory, log, journal. */
export interface DriverWiring {
  db: Data;
  trust: Trust;
  stateDir: string;
  log: Logger;
  journal: PaymentJournal;
}

/** A driver's dependencies as payserv wires them: its storage in `db` under the pinned root (src/app/drivers.ts). */
export function driverDeps(deps: DriverWiring) {
  return { storage: driverStorage(deps.db, deps.trust), stateDir: deps.stateDir, log: deps.log, journal: deps.journal };
}

/** payserv.toml's `[coins.LTC]` for a litecoind regtest node (a P2WPKH hot wallet); `lines`: more keys of the coin. */
export const ltcCoinsToml = (url: string, lines: readonly string[] = []): string =>
  [
    '[coins.LTC]',
    'chain = "btc"',
    `node_url = "${url}"`,
    'min_peers = 0',
    'wallet_type = "p2wpkh"',
    'fee_rate_min = "1"',
    'fee_rate_max = "100"',
    ...lines,
    '',
    '[coins.LTC.network]',
    'preset = "LTC-regtest"',
    '',
  ].join('\n');
