// A litecoind started without txindex (the Bitcoin-family driver looks its payments up by txid, mined or
// not): refused at the driver's start with a configuration error naming the coin, the node and txindex,
// in process and by the shipped payserv (exit 2, no payment possible). What the check asks and the
// Dogecoin Core 1.14 stand-in: test/unit/btc-fit.test.ts.
import { afterEach, expect, it } from 'vitest';
import { BtcNodeUnfit } from '../src/chains/btc/fit.js';
import { EXIT, exitCodeOf } from '../src/cli/exit.js';
import { createHotKey } from '../src/keys/hot-wallet.js';
import type { SeedOptions } from '../src/writer/seed.js';
import { ltcCoinsToml } from './support/chain-settings.js';
import { litecoindForFile, ltcDriver } from './support/litecoind.js';
import { testPayserv } from './support/payserv.js';
import { killAllChildren, processLedger, spawnNode } from './support/spawn.js';

afterEach(killAllChildren);

const litecoind = litecoindForFile({ txindex: false });
const SEED: SeedOptions = {
  users: 1,
  blocks: 1,
  withdrawals: 0,
  coins: ['LTC'],
  minersPerBlock: 1,
  declineShare: 0,
  corrections: 0,
  seed: 18,
};

it('the driver refuses to start on a node without txindex, naming the coin, the node and txindex', async () => {
  const node = await litecoind();
  const t = await testPayserv({ seed: SEED });
  try {
    const deps = { db: t.ps.db, trust: t.ps.trust, stateDir: t.ledger.stateDir, log: t.ps.log, journal: t.ps.journal };
    const e = (await ltcDriver(node, deps, []).catch((x: unknown) => x)) as BtcNodeUnfit;
    expect(e).toBeInstanceOf(BtcNodeUnfit);
    expect(exitCodeOf(e)).toBe(EXIT.USAGE);
    expect(e.missing).toEqual([]);
    expect(e.problems).toEqual(['it runs without a transaction index (getindexinfo names no txindex): start it with txindex=1']);
    expect(e.message).toMatch(new RegExp(`^coin LTC: the node at http://${new URL(node.url).host} cannot serve`));
    expect(e.message).not.toContain(new URL(node.url).password);
  } finally {
    await t.ledger.db.close();
  }
}, 120_000);

it('payserv itself stops at start (exit 2), the reason on stderr', async () => {
  const node = await litecoind();
  const l = await processLedger(SEED);
  await createHotKey(l.stateDir, 'LTC');
  const config = l.config('payserv.toml', { extra: ltcCoinsToml(node.url) });
  const p = spawnNode(['bin/payserv.mjs', '--config', config], { PAYSERV_STATE_DIR: l.stateDir, DATABASE_URL: l.databaseUrl });
  expect(await p.waitExit(90_000), p.stderr()).toBe(2);
  expect(p.stderr()).toContain(`coin LTC: the node at http://${new URL(node.url).host} cannot serve the Bitcoin-family driver`);
  expect(p.stderr()).toContain('start it with txindex=1');
  expect(p.stderr()).not.toContain(new URL(node.url).password);
}, 180_000);
