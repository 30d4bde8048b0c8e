import type { Db } from '../db/db.js';
import type { IntakeAlerts } from './alerts.js';
import type { AccountHeads } from './heads.js';
import type { BtcNetworkTable } from '../chains/coin-chain.js';
import type { RewardChecker } from '../chains/reward.js';
import type { Logger } from '../log/index.js';
import type { Signer } from '../pki/signer.js';
import type { Trust } from '../pki/trust.js';

// What every intake method works with: the database, the pinned root, the two signers the pool's side
// holds (admin: coins, wallets, blocks; autopay: withdrawal requests), each coin's block-reward check,
// each Bitcoin-family coin's network.

export interface CoinCheck {
  checker: RewardChecker;
  /** The chain's base unit (wei: 18): a coin record with other decimals cannot be compared with it. */
  decimals: number;
  /** [coins.TAG] first_height: a block below it is refused, whatever the chain says of it. */
  firstHeight: bigint;
}

export type WalletReview = 'auto' | 'manual';

export interface Intake {
  db: Db;
  /** Its own state directory: the pinned root; it holds no checkpoints (payserv's host does). */
  stateDir: string;
  trust: Trust;
  signers: { admin: Signer; autopay: Signer };
  /** By coin tag: the node asked about every block before its credits are signed, and the decimals its chain counts in. */
  checkers: ReadonlyMap<string, CoinCheck>;
  /** By coin tag: [coins.TAG] chain = "btc", the network its wallets' addresses are checked in (src/intake/checkers.ts addressChains). */
  chains: Readonly<Record<string, BtcNetworkTable>>;
  creditsPerBlockMax: number;
  review: WalletReview;
  log: Logger;
  /** [alerts]: forged blocks, rows that do not verify, what a pool adapter gives up on. */
  alerts: IntakeAlerts;
  /** How far each account had got when this host last verified it: an account cut back is refused (src/intake/heads.ts). */
  heads: AccountHeads;
}
