// A matured block's credits as the unlocker leaves them: HGETALL <coin>:credits:<height>:<hash> (login -> Shannon,
// written by WriteMaturedBlock in the same MULTI as each login's HINCRBY balance) together with the block's member
// of <coin>:blocks:matured (its reward in wei). This is what the adapter imports, one block at a time.

import { PoolFormatError } from '../errors.js';
import { checkLogin, parseBlockMember } from './keys.js';
import { parseShannon, shannonToWei } from './shannon.js';

/** A bound on the logins of one block: a hash larger than this is refused rather than imported. */
export const CREDITS_PER_BLOCK_MAX = 10_000;

export interface Credit {
  login: string;
  shannon: bigint;
}

export interface MaturedBlockCredits {
  /** The credits key's height: the including block's height for an uncle. */
  height: bigint;
  /** The block's hash, or the uncle's own hash for an uncle. */
  hash: string;
  uncleHeight: bigint;
  /** The reward the unlocker computed (wei), which includes the pool fee and the donation. */
  rewardWei: bigint;
  /** Sorted by login, so two reads of the same hash give the same list. Includes the pool fee address and the
   * donation account when the unlocker credited them. Zero credits are dropped (a no-op credit). */
  credits: Credit[];
  totalShannon: bigint;
  totalWei: bigint;
}

/**
 * Pairs a blocks:matured member (score = height) with its credits hash. Refuses an orphan and malformed logins or
 * amounts. It does not compare the total with the reward: each cut is rounded to the nearest Shannon (the total
 * can pass the reward by half a Shannon per login), and with keepTxFees the pool fee address is also credited the
 * transaction fees, which the member's reward leaves out. The chain, not this reward, decides what may be credited.
 */
export function maturedBlockCredits(height: bigint, blockMemberText: string, hashFields: Record<string, string>): MaturedBlockCredits {
  const block = parseBlockMember(blockMemberText);
  if (block.orphan) throw new PoolFormatError('matured block', blockMemberText, 'is an orphan, which has no credits');
  if (height < 0n || height > BigInt(Number.MAX_SAFE_INTEGER)) throw new PoolFormatError('block height', height.toString(), 'out of range');
  const credits = parseCredits(hashFields);
  const totalShannon = credits.reduce((s, c) => s + c.shannon, 0n);
  const totalWei = shannonToWei(totalShannon);
  return { height, hash: block.hash, uncleHeight: block.uncleHeight, rewardWei: block.rewardWei, credits, totalShannon, totalWei };
}

function parseCredits(hashFields: Record<string, string>): Credit[] {
  const entries = Object.entries(hashFields);
  if (entries.length > CREDITS_PER_BLOCK_MAX) {
    throw new PoolFormatError('block credits', String(entries.length), `more than ${CREDITS_PER_BLOCK_MAX} logins`);
  }
  return entries
    .map(([login, text]) => ({ login: checkLogin(login, 'credit login'), shannon: parseShannon(text, `credit of ${login}`) }))
    .filter((c) => c.shannon > 0n)
    .sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
}
