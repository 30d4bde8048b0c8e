// open-ethereum-pool keeps every balance in Shannon (10^9 wei) as a Redis int64 (HINCRBY). payserv keeps wei.
// Crediting is exact (Shannon to wei multiplies); paying back is exact only for whole Shannon, so the adapter
// requests withdrawals in whole Shannon and weiToShannonExact refuses anything else.

import { PoolFormatError } from '../errors.js';

export const WEI_PER_SHANNON = 10n ** 9n;
/** HINCRBY and the pool's strconv.ParseInt work on signed 64-bit integers. */
export const SHANNON_MAX = 2n ** 63n - 1n;
const CANONICAL = /^(0|[1-9]\d*)$/;

export function shannonToWei(shannon: bigint): bigint {
  checkRange(shannon, 'Shannon amount');
  return shannon * WEI_PER_SHANNON;
}

/** Whole Shannon; a remainder of wei is an error (a payment the pool's integer ledger cannot show). */
export function weiToShannonExact(wei: bigint): bigint {
  if (wei < 0n) throw new PoolFormatError('wei amount', wei.toString(), 'negative');
  if (wei % WEI_PER_SHANNON !== 0n) throw new PoolFormatError('wei amount', wei.toString(), 'not a whole number of Shannon');
  return checkRange(wei / WEI_PER_SHANNON, 'Shannon amount');
}

/** Floor to Shannon and the wei left over, as the pool's RewardInShannon (big.Int Div) does for totalMined. */
export function weiToShannonFloor(wei: bigint): { shannon: bigint; remainderWei: bigint } {
  if (wei < 0n) throw new PoolFormatError('wei amount', wei.toString(), 'negative');
  return { shannon: checkRange(wei / WEI_PER_SHANNON, 'Shannon amount'), remainderWei: wei % WEI_PER_SHANNON };
}

/**
 * The unlocker's weiToShannonInt64: a rational number of wei (num/den) to Shannon, rounded to nearest with
 * halves away from zero (Go's big.Rat FloatString(0)). This is how each miner's share of a block is cut, so the
 * credits of a block need not sum to its reward: they can differ by up to half a Shannon per login.
 */
export function weiRatioToShannonRounded(numWei: bigint, denominator: bigint): bigint {
  if (denominator <= 0n) throw new PoolFormatError('denominator', denominator.toString(), 'not positive');
  const den = denominator * WEI_PER_SHANNON;
  const abs = numWei < 0n ? -numWei : numWei;
  const rounded = (2n * abs + den) / (2n * den);
  return checkRange(numWei < 0n ? -rounded : rounded, 'Shannon amount');
}

/** A Shannon amount as the pool writes it (strconv.FormatInt): canonical decimal, int64. */
export function parseShannon(text: string, what: string): bigint {
  if (!CANONICAL.test(text)) throw new PoolFormatError(what, text, 'not a canonical non-negative integer of Shannon');
  const value = BigInt(text);
  if (value > SHANNON_MAX) throw new PoolFormatError(what, text, 'exceeds int64');
  return value;
}

function checkRange(shannon: bigint, what: string): bigint {
  if (shannon > SHANNON_MAX || shannon < -SHANNON_MAX - 1n) throw new PoolFormatError(what, shannon.toString(), 'exceeds int64');
  return shannon;
}
