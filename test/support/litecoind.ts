// One real litecoind regtest node per test file (the node itself: ./litecoind-node.ts, free of vitest so
// that the bench can start one too).
import { afterAll } from 'vitest';
import { BtcDriver, type BtcSettings } from '../../src/chains/btc/driver.js';
import type { BtcNode } from '../../src/chains/btc/node.js';
import { createHotKey, loadHotKey } from '../../src/keys/hot-wallet.js';
import { driverDeps, LTC_SETTINGS, type DriverWiring } from './chain-settings.js';
import { startLitecoind, type Litecoind, type LitecoindOptions } from './litecoind-node.js';

export * from './litecoind-node.js';

/** One litecoind for the calling test file, stopped (and its data removed) after it. */
export function litecoindForFile(opts: LitecoindOptions = {}): () => Promise<Litecoind> {
  let started: Promise<Litecoind> | null = null;
  afterAll(async () => {
    if (started) await (await started).stop();
  });
  return () => (started ??= startLitecoind(opts));
}

/**
 * An LTC driver with a fresh hot wallet on `node`, funded with one confirmed output per entry of `fund`
 * (satoshis) and started: for testPayserv's `drivers`.
 */
export async function ltcDriver(
  node: Litecoind,
  deps: DriverWiring,
  fund: readonly bigint[],
  over: Partial<BtcSettings> = {},
): Promise<BtcDriver> {
  await createHotKey(deps.stateDir, 'LTC');
  const driver = new BtcDriver(LTC_SETTINGS(node.url, over), await loadHotKey(deps.stateDir, 'LTC'), driverDeps(deps));
  for (const sat of fund) await node.fund(driver.address, sat);
  await driver.start();
  return driver;
}

/** A transaction's fee from the node's transaction index: its inputs' values less its outputs'; null when the node does not know it. */
export async function txFee(client: BtcNode, hash: string): Promise<bigint | null> {
  const tx = await client.getRawTransaction(hash);
  if (!tx) return null;
  let sum = 0n;
  for (const i of tx.vin) if (i.txid) sum += (await client.getRawTransaction(i.txid))?.vout.find((o) => o.n === i.vout)?.value ?? 0n;
  return tx.vout.reduce((a, o) => a - o.value, sum);
}
