// payserv's state machine in process, on a test ledger: no RPC, chain drivers only if asked (else every
// coin is paid by an operator), alerts recorded in memory, payouts enabled unless asked otherwise.
import type { DriverWiring } from './chain-settings.js';
import { afterEach, beforeEach } from 'vitest';
import type { CoinChains } from '../../src/chains/coin-chain.js';
import type { Payserv } from '../../src/payserv/context.js';
import { LockKeys } from '../../src/data/lock-keys.js';
import { LockWatch } from '../../src/payserv/lock-watch.js';
import { Locks } from '../../src/payserv/locks.js';
import { journalDir, PaymentJournal } from '../../src/journal/journal.js';
import type { CoinPolicy } from '../../src/payserv/policy.js';
import { ServiceState, type AlertSink } from '../../src/payserv/state.js';
import type { Drivers } from '../../src/chains/driver.js';
import { payservData } from './dbgw.js';
import { createLogger } from '../../src/log/index.js';
import { testLedger, type TestLedger } from './ledger.js';
import type { SeedOptions } from '../../src/writer/seed.js';
import { setAutomine } from '../../src/devnet/anvil.js';
import { anvilForFile, ethDriver } from './chains.js';
import { rotationSeed } from './rotation.js';
import type { EvmDriver } from '../../src/chains/eth/driver.js';
import { startObservation, type Observation } from '../../src/metrics/start.js';

export interface RaisedAlert {
  kind: string;
  reason: string;
  details: Record<string, unknown>;
}

export interface TestPayserv {
  ledger: TestLedger;
  ps: Payserv;
  alerts: RaisedAlert[];
  /** JSON log lines payserv wrote. */
  logs: string[];
}

export interface TestPayservOptions {
  seed?: SeedOptions | null;
  enabled?: boolean;
  policies?: Record<string, CoinPolicy>;
  /** Chain drivers, built on the test ledger (see test/support/chains.ts); default none. */
  drivers?: (deps: DriverWiring) => Promise<Drivers>;
  /** [locks] held_max_ms; default the configuration's. */
  lockHeldMaxMs?: number;
  /** payserv's [coins.TAG] tables (a Bitcoin-family coin's network); default none. */
  coins?: CoinChains;
}

export async function testPayserv(opts: TestPayservOptions = {}): Promise<TestPayserv> {
  const ledger = await testLedger(opts.seed);
  await ledger.checkpointAll();
  const alerts: RaisedAlert[] = [];
  const logs: string[] = [];
  const log = createLogger('payserv', 'info', { write: (s: string) => void logs.push(s) });
  const sink: AlertSink = { raise: async (kind, reason, details) => void alerts.push({ kind, reason, details }) };
  const state = new ServiceState(log, sink);
  if (opts.enabled !== false) state.enable('test');
  // The dbgw project: payserv's data access goes through a dbgw; the ledger's own db stays the pool's and the attacker's.
  const db = await payservData(ledger.db, ledger.stateDir);
  const journal = await PaymentJournal.open(journalDir(ledger.stateDir));
  // Lock keys from the test ledger's payserv signer, as payserv derives them from its own.
  const locks = new Locks(db, LockKeys.of(ledger.signers.payserv), { log });
  const ps: Payserv = {
    db,
    trust: ledger.trust,
    local: ledger.local,
    journal,
    signers: { payserv: ledger.signers.payserv, admin: ledger.signers.admin },
    drivers: opts.drivers ? await opts.drivers({ db, trust: ledger.trust, stateDir: ledger.stateDir, log, journal }) : new Map(),
    coins: opts.coins,
    policies: new Map(Object.entries(opts.policies ?? {})),
    autopay: new Map(),
    state,
    locks,
    lockWatch: new LockWatch({ locks, alerts: sink, log, heldMaxMs: opts.lockHeldMaxMs ?? 300_000 }),
    log,
    now: () => new Date(),
  };
  return { ledger, ps, alerts, logs };
}

/** testPayserv paying ETH through the ETH driver on anvil at `url`, automine on (each broadcast mined at once). */
export async function ethPayserv(url: string, opts: TestPayservOptions = {}): Promise<TestPayserv> {
  await setAutomine(url, true);
  return testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]), ...opts });
}

/** ethPayserv and its ETH driver, for the tests that watch or steer the driver. */
export async function ethPayservAndDriver(url: string, opts: TestPayservOptions = {}): Promise<{ t: TestPayserv; driver: EvmDriver }> {
  let driver: EvmDriver | undefined;
  const t = await ethPayserv(url, {
    ...opts,
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
  if (!driver) throw new Error('testPayserv built no ETH driver');
  return { t, driver };
}

/** A fresh ETH test payserv for each test of a file, on the file's anvil: filled in by the hooks ethBench registers. */
export interface EthBench {
  t: TestPayserv;
  driver: EvmDriver;
  url: string;
}

/**
 * Call at a file's top level: one anvil for the file (automine), a new ethPayservAndDriver for each test, on one ETH
 * block crediting three miners: a small background, so that a test's own miner is the one that matters.
 */
export function ethBench(seed: number): EthBench {
  const anvil = anvilForFile();
  const b = {} as EthBench;
  beforeEach(async () => {
    b.url = (await anvil()).url;
    ({ t: b.t, driver: b.driver } = await ethPayservAndDriver(b.url, { seed: rotationSeed(3, seed) }));
  });
  afterEach(async () => {
    await b.t.ledger.db.close();
  });
  return b;
}

/** ethBench with the metrics and health server (testObservation) of each test's payserv, closed after it. */
export function ethObservedBench(seed: number): EthBench & { obs: Observation } {
  const b = ethBench(seed) as EthBench & { obs: Observation };
  beforeEach(async () => {
    b.obs = await testObservation(b.t);
  });
  afterEach(async () => {
    await b.obs.server.close();
  });
  return b;
}

/** The metrics and health server (src/metrics) on a free local port, on `t`'s log and state directory. */
export async function testObservation(t: TestPayserv): Promise<Observation> {
  const obs = await startObservation({ listen: { host: '127.0.0.1', port: 0 }, scrape_timeout_ms: 10_000 }, t.ps.log, t.ledger.stateDir);
  return obs as Observation;
}
