import type { LocalCheckpointStore } from '../checkpoints/local-store.js';
import type { Data } from '../data/data.js';
import type { Logger } from '../log/index.js';
import type { Signer } from '../pki/signer.js';
import type { Trust } from '../pki/trust.js';
import type { Drivers } from '../chains/driver.js';
import type { CoinChains } from '../chains/coin-chain.js';
import type { PaymentJournal } from '../journal/journal.js';
import type { PaymentEvents } from './events.js';
import type { Faults } from './faults.js';
import type { LockWatch } from './lock-watch.js';
import type { Locks } from './locks.js';
import type { AutopaySettings, CoinPolicy } from './policy.js';
import type { ServiceState } from './state.js';
import type { Hold } from './hold.js';
import type { BackupOutcome, BackupSettings } from './backup.js';
import type { Rebaseline } from './rebaseline.js';

/** Everything payserv's methods work with, assembled once at start (src/app/service.ts). */
export interface Payserv {
  db: Data;
  trust: Trust;
  local: LocalCheckpointStore;
  /** The host's payment journal: every transaction recorded here before its broadcast (src/journal). */
  journal: PaymentJournal;
  /** The payserv role signs status changes, checkpoints and corrections; admin (optional) signs reviewed coins and wallets. */
  signers: { payserv: Signer; admin?: Signer | undefined; autopay?: Signer | undefined };
  drivers: Drivers;
  /** [coins.TAG] of the configuration: a Bitcoin-family coin's network (src/chains/coin-chain.ts); absent: none configured. */
  coins?: CoinChains | undefined;
  /** Automatic approval rules by coin tag. */
  policies: ReadonlyMap<string, CoinPolicy>;
  /** Automatic threshold payouts by coin tag ([autopay.coins.*]); empty: autopay pays nothing. */
  autopay: ReadonlyMap<string, AutopaySettings>;
  state: ServiceState;
  locks: Locks;
  /** Reports (and alerts) locks held by other sessions, or held too long: Utils.ListLocks, pscli status. */
  lockWatch: LockWatch;
  log: Logger;
  now(): Date;
  /** The rebaseline gate (src/payserv/rebaseline.ts): set by the service at start; absent: the local state is taken as whole. */
  rebaseline?: Rebaseline | undefined;
  /** The metrics' ears at each payment event (src/metrics); absent: nobody counts. */
  events?: PaymentEvents | undefined;
  /** The backup's quiet point: calls, autopay runs and monitor ticks run as its work (src/payserv/hold.ts). */
  hold?: Hold | undefined;
  /** Where and how Backup.Take writes ([backup]); absent: backups are refused. */
  backup?: BackupSettings | undefined;
  /** The last Backup.Take's outcome since start (Utils.Status): a backup failing is news an operator must see. */
  lastBackup?: BackupOutcome | undefined;
  /** The adversarial harness's hooks at the payment path's boundaries (tests only). */
  faults?: Faults | undefined;
}
