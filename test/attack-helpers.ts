// Attack helpers (outside tester): a payserv "restarted" on the same database and state directory,
// as a fresh process would be: new journal handle, new driver from the hot key on disk, payouts disabled.
import type { Payserv } from '../src/payserv/context.js';
import { LockKeys } from '../src/data/lock-keys.js';
import { LockWatch } from '../src/payserv/lock-watch.js';
import { Locks } from '../src/payserv/locks.js';
import { journalDir, PaymentJournal } from '../src/journal/journal.js';
import { ServiceState, type AlertSink } from '../src/payserv/state.js';
import type { Drivers } from '../src/chains/driver.js';
import type { Data } from '../src/data/data.js';
import { createLogger, type Logger } from '../src/log/index.js';
import { EvmDriver } from '../src/chains/eth/driver.js';
import { ZcashDriver } from '../src/chains/zcash/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { driverDeps, ETH_SETTINGS, ZEC_SETTINGS } from './support/chains.js';
import type { TestPayserv } from './support/payserv.js';

export async function restartPayserv(
  t: TestPayserv,
  drivers: (deps: { db: Data; stateDir: string; log: Logger; journal: PaymentJournal }) => Promise<Drivers>,
): Promise<Payserv> {
  const log = createLogger('payserv', 'info', { write: (s: string) => void t.logs.push(s) });
  const sink: AlertSink = { raise: async (kind, reason, details) => void t.alerts.push({ kind, reason, details }) };
  const state = new ServiceState(log, sink);
  const db = t.ps.db;
  const journal = await PaymentJournal.open(journalDir(t.ledger.stateDir));
  const locks = new Locks(db, LockKeys.of(t.ledger.signers.payserv), { log });
  const ps: Payserv = {
    db,
    trust: t.ledger.trust,
    local: t.ledger.local,
    journal,
    signers: { payserv: t.ledger.signers.payserv, admin: t.ledger.signers.admin },
    drivers: await drivers({ db, stateDir: t.ledger.stateDir, log, journal }),
    policies: t.ps.policies,
    autopay: t.ps.autopay,
    state,
    locks,
    lockWatch: new LockWatch({ locks, alerts: sink, log, heldMaxMs: 300_000 }),
    log,
    now: () => new Date(),
  };
  return ps;
}

export async function restartedEth(
  url: string,
  deps: { db: Data; stateDir: string; log: Logger; journal: PaymentJournal },
): Promise<EvmDriver> {
  const d = new EvmDriver(ETH_SETTINGS(url), await loadHotKey(deps.stateDir, 'ETH'), driverDeps(deps));
  await d.start();
  return d;
}

export async function restartedZec(
  url: string,
  deps: { db: Data; stateDir: string; log: Logger; journal: PaymentJournal },
): Promise<ZcashDriver> {
  const d = new ZcashDriver(ZEC_SETTINGS(url), await loadHotKey(deps.stateDir, 'ZEC'), driverDeps(deps));
  await d.start();
  return d;
}
