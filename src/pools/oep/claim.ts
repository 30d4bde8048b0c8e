// From a matured block's credits to the Blocks.Credit the intake is asked for: the pool fee address's
// credit is the block's pool fee, every other login a miner's credit. The unlocker rounds each credit to the
// nearest Shannon, so the credits can pass the block's reward (in its blocks:matured member) by up to half a
// Shannon per login: that excess is taken from the pool fee, never from a miner. A block whose excess the pool
// fee cannot cover is not imported at all (never partially).

import { formatAmount, fromBaseUnits } from '../../money/amount.js';
import type { Credit, MaturedBlockCredits } from './credits.js';
import { shannonToWei, WEI_PER_SHANNON } from './shannon.js';

/** Wei: the ledger amounts of an Ethereum-family coin. */
const WEI_DECIMALS = 18;

export class BlockNotImportable extends Error {
  override name = 'BlockNotImportable';
}

export interface BlockClaim {
  miners: Credit[];
  poolFeeShannon: bigint;
  /** Shannon taken off the pool fee so the credits stay within the block's reward. */
  trimmedShannon: bigint;
  incomeShannon: bigint;
}

/** The pool fee credit (less the rounding excess) and the miners' credits; refused with the reason when it cannot be imported whole. */
export function blockClaim(b: MaturedBlockCredits, poolFeeAddress: string): BlockClaim {
  const feeLogin = poolFeeAddress.toLowerCase();
  const miners = b.credits.filter((c) => c.login !== feeLogin);
  const fee = b.credits.find((c) => c.login === feeLogin)?.shannon ?? 0n;
  if (miners.length === 0) throw new BlockNotImportable('the block credits no miner, only the pool fee address');
  const excessWei = b.totalWei - b.rewardWei;
  // Whole Shannon, rounded up: what remains is within the reward.
  const trimmed = excessWei > 0n ? (excessWei + WEI_PER_SHANNON - 1n) / WEI_PER_SHANNON : 0n;
  if (trimmed > fee)
    throw new BlockNotImportable(
      `the credits (${b.totalWei} wei) exceed the block's reward (${b.rewardWei} wei) by more than the pool fee credit (${fee} Shannon) can cover`,
    );
  return { miners, poolFeeShannon: fee - trimmed, trimmedShannon: trimmed, incomeShannon: b.totalShannon - trimmed };
}

/** Shannon as the ledger's decimal string of coin units. */
export function shannonAmount(shannon: bigint): string {
  return formatAmount(fromBaseUnits(shannonToWei(shannon), WEI_DECIMALS));
}
