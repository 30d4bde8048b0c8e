// What the ledger intake asks a coin's node before it signs a block's credits (issue 16): is this block
// the pool's, on the canonical chain, matured, and did the chain pay it at least the income being
// credited? A compromised pool database can then never mint a balance the chain never paid.
// Free of I/O: the per-chain checkers (eth/reward.ts, zcash/reward.ts) implement it against a node.

/** A block the pool wants credited: its hash and the income (miners' credits plus the pool fee) in base units. */
export interface BlockClaim {
  hash: string;
  income: bigint;
}

/** Why a block is not credited (now, or ever). */
export type RewardRefusal =
  /** The node does not know the hash: forged, or from another chain (alerted). */
  | 'block_unknown'
  /** The node knows it but it is not on the canonical chain: orphaned or an uncle (alerted). */
  | 'block_not_canonical'
  /** Canonical but fewer confirmations than the coin's: retry later. */
  | 'block_immature'
  /** Mined to an address that is not the pool's (alerted). */
  | 'block_wrong_miner'
  /** The chain paid the pool less than the income being credited (alerted). */
  | 'reward_short'
  /** The node cannot answer, or answers for another chain: retry later; nothing is known. */
  | 'node_unavailable';

export type RewardVerdict =
  { ok: true; height: bigint; confirmations: bigint; reward: bigint } | { ok: false; code: RewardRefusal; reason: string };

/** Refusals that mean the claim is false, not merely early: they raise an alert. */
export const FORGED: ReadonlySet<RewardRefusal> = new Set(['block_unknown', 'block_not_canonical', 'block_wrong_miner', 'reward_short']);

export interface RewardChecker {
  /** `confirmations`: the coin's (signed coin record, or the intake's override), at least 1. */
  check(claim: BlockClaim, confirmations: number): Promise<RewardVerdict>;
}
