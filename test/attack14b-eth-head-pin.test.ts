// Attack (issue 14, second round): one bad head from the node poisons the host's chain pin for ever.
// STATE/chains/<TAG>-<chain>.json keeps "the highest head seen", raised by every identity check with
// whatever head the node named, however far ahead. A single eth_blockNumber answer far in the future (a
// glitching back end, a proxy, a node briefly on a devnet with the same chain id and genesis: bad node
// input) is pinned; from then on the honest node is "gone back" past the confirmations: every Check,
// health check and watch is node_identity, nothing is ever decided again, and the only way out the README
// gives is to delete the pin file (losing the genesis pin). A head above 2^53 goes further: the pin is
// written with an unsafe integer, and the next start of payserv refuses the file as "corrupt" (a plain
// error out of start, not node_identity): the service does not start.
// What should happen: one answer decides nothing; an implausible head (far above the one seen before) is
// not pinned, and the honest node is trusted again.
import { afterEach, describe, expect, it } from 'vitest';
import { mine } from '../src/devnet/anvil.js';
import { anvilForFile, driverDeps, ETH_SETTINGS, ethDriver } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { EvmDriver } from '../src/chains/eth/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { startMitm, type Mitm } from './attack14-helpers.js';

const anvil = anvilForFile();
let mitm: Mitm | null = null;
afterEach(async () => {
  await mitm?.stop();
  mitm = null;
});

describe('attack14b: one far-ahead head from the node', () => {
  it('decides nothing: the honest node is healthy again, and payserv still starts', async () => {
    const a = await anvil();
    await mine(a.url, 20);
    mitm = await startMitm(a.url);
    const m = mitm;
    const held: { deps?: Parameters<typeof ethDriver>[1] } = {};
    const tp = await testPayserv({ drivers: async (d) => ((held.deps = d), new Map([['ETH', await ethDriver(m.url, d)]])) });
    const driver = tp.ps.drivers.get('ETH') as EvmDriver;
    expect((await driver.health()).ok).toBe(true);

    // One glitching answer: the head far ahead (above 2^53).
    let once = 1;
    m.rule((method) => (method === 'eth_blockNumber' && once-- > 0 ? { result: '0x' + (2n ** 60n).toString(16) } : null));
    await driver.health().catch(() => undefined);
    m.rule(null);

    // The honest node again.
    let healthy: string;
    try {
      const h = await driver.health();
      healthy = h.ok ? 'ok' : `not ok: ${h.reason}`;
    } catch (e) {
      healthy = `${(e as Error).name}: ${(e as Error).message.slice(0, 160)}`;
    }
    // payserv restarted on the same state directory.
    let started: string;
    try {
      const d = held.deps as Parameters<typeof ethDriver>[1];
      const again = new EvmDriver(ETH_SETTINGS(m.url), await loadHotKey(d.stateDir, 'ETH'), driverDeps(d));
      await again.start();
      started = 'started';
    } catch (e) {
      started = `${(e as Error).name}: ${(e as Error).message.slice(0, 160)}`;
    }
    expect({ healthy, started }).toEqual({ healthy: 'ok', started: 'started' });
  });
});
