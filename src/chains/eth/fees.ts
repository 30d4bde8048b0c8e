// Fee choice for an Ethereum payment, and fee bumps for its replacements. Pure: the node's numbers in,
// a decision out; all amounts are wei per gas, as bigint.
//
// Two limits shape every decision:
// - The cap (configured per coin): the most the pool agreed to pay per gas. The original system capped the
//   gas price too; a payout that would cost more waits (send_retry) rather than paying whatever the
//   network asks at a spike.
// - geth's replacement rule: a transaction replaces a pending one with the same nonce only if BOTH its
//   max fee and its priority fee are at least 110% of the old ones (legacypool's list.Add with the default
//   txpool.pricebump of 10), and strictly higher. Anything less is refused as "replacement transaction
//   underpriced", and the old transaction stays. Nethermind, Erigon and Besu use 10% too. (anvil is laxer:
//   it compares the max fee only, so tests against anvil cannot prove this rule; the unit tests do.)

/** What `eth_feeHistory` tells: the base fees of the window's blocks plus the next block's (one more than the rows of rewards), and per block the rewards at the percentiles asked for (the first is used). */
export interface FeeHistory {
  baseFeePerGas: readonly bigint[];
  reward: readonly (readonly bigint[])[];
}

/** The configured ceiling. `maxFeePerGas` bounds what a transaction may cost per gas, `priorityFeePerGas` the tip. */
export interface FeeCap {
  maxFeePerGas: bigint;
  priorityFeePerGas: bigint;
}

/** The two fee fields of an EIP-1559 (type 2) transaction. */
export interface Fees1559 {
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
}

export type FeeChoice = ({ kind: 'ok' } & Fees1559) | { kind: 'wait'; reason: string };

/** Legacy (type 0) transactions, for chains without EIP-1559 such as ETC. */
export interface LegacyFeeCap {
  gasPrice: bigint;
}

export type GasPriceChoice = { kind: 'ok'; gasPrice: bigint } | { kind: 'wait'; reason: string };

/** What to ask eth_feeHistory for: ten blocks, the median tip of each. chooseFees reads the first percentile. */
export const FEE_HISTORY_BLOCKS = 10;
export const FEE_HISTORY_PERCENTILES: readonly number[] = [50];

/** geth's default txpool.pricebump: the minimum raise, in percent, of each fee field for a replacement. */
export const REPLACEMENT_BUMP_PERCENT = 10n;

/** eth_feeHistory serves at most 1024 blocks (geth, Nethermind, Erigon); a longer window is a caller's bug. */
const WINDOW_BLOCKS_MAX = 1024;

/**
 * The fees for a new transaction: the tip is the median, over the window, of the chosen percentile's
 * reward, bounded by the cap's priority fee; the max fee is twice the next block's base fee plus the tip
 * (room for six full blocks of base-fee rises, each at most +12.5%, before the transaction stalls),
 * clamped to the cap. If even the next block's base fee plus the tip is above the cap, the payment waits:
 * a transaction that cannot be included would only hold the nonce.
 */
export function chooseFees(history: FeeHistory, cap: FeeCap): FeeChoice {
  checkCap(cap);
  const baseFeeNext = nextBaseFee(history);
  const priority = min(medianTip(history, cap), cap.priorityFeePerGas);
  if (baseFeeNext + priority > cap.maxFeePerGas) {
    return {
      kind: 'wait',
      reason: `next base fee ${baseFeeNext} + priority fee ${priority} wei/gas is above the cap's max fee ${cap.maxFeePerGas} wei/gas`,
    };
  }
  const maxFee = min(2n * baseFeeNext + priority, cap.maxFeePerGas);
  assertFees({ maxFeePerGas: maxFee, maxPriorityFeePerGas: priority }, 'chooseFees');
  return { kind: 'ok', maxFeePerGas: maxFee, maxPriorityFeePerGas: priority };
}

/**
 * The fees for a replacement of a pending transaction that sent `prev`: each field at least geth's
 * replacement floor of the old one and at least today's market choice. If that is above the cap (either
 * field), or the market itself is above the cap, the replacement waits and the old transaction stays.
 */
export function bumpFees(prev: Fees1559, cap: FeeCap, history: FeeHistory): FeeChoice {
  checkCap(cap);
  assertFees(prev, 'bumpFees: the previous fees');
  const market = chooseFees(history, cap);
  if (market.kind === 'wait') return market;
  const maxFee = max(replacementFloor(prev.maxFeePerGas), market.maxFeePerGas);
  const priority = max(replacementFloor(prev.maxPriorityFeePerGas), market.maxPriorityFeePerGas);
  if (maxFee > cap.maxFeePerGas) {
    return {
      kind: 'wait',
      reason: `a replacement needs a max fee of ${maxFee} wei/gas (previous ${prev.maxFeePerGas} + ${REPLACEMENT_BUMP_PERCENT}%), above the cap's ${cap.maxFeePerGas}`,
    };
  }
  if (priority > cap.priorityFeePerGas) {
    return {
      kind: 'wait',
      reason: `a replacement needs a priority fee of ${priority} wei/gas (previous ${prev.maxPriorityFeePerGas} + ${REPLACEMENT_BUMP_PERCENT}%), above the cap's ${cap.priorityFeePerGas}`,
    };
  }
  const next = { maxFeePerGas: maxFee, maxPriorityFeePerGas: priority };
  assertFees(next, 'bumpFees');
  if (!isReplacement(prev, next))
    throw new Error(`bumpFees: ${JSON.stringify(show(next))} does not replace ${JSON.stringify(show(prev))} under geth's rule`);
  return { kind: 'ok', ...next };
}

/** A legacy transaction's gas price: the node's suggestion (eth_gasPrice), or wait if it is above the cap. */
export function chooseGasPrice(gasPrice: bigint, cap: LegacyFeeCap): GasPriceChoice {
  checkLegacyCap(cap);
  if (gasPrice < 0n) throw new Error(`chooseGasPrice: negative gas price ${gasPrice}`);
  if (gasPrice > cap.gasPrice) return { kind: 'wait', reason: `gas price ${gasPrice} wei/gas is above the cap ${cap.gasPrice} wei/gas` };
  return { kind: 'ok', gasPrice };
}

/** A legacy replacement's gas price: at least geth's replacement floor of `prev` and today's `gasPriceNow`; wait above the cap. */
export function bumpGasPrice(prev: bigint, cap: LegacyFeeCap, gasPriceNow: bigint): GasPriceChoice {
  checkLegacyCap(cap);
  if (prev < 0n || gasPriceNow < 0n) throw new Error(`bumpGasPrice: negative gas price (previous ${prev}, now ${gasPriceNow})`);
  const gasPrice = max(replacementFloor(prev), gasPriceNow);
  if (gasPrice > cap.gasPrice) {
    return {
      kind: 'wait',
      reason: `a replacement needs a gas price of ${gasPrice} wei/gas (previous ${prev} + ${REPLACEMENT_BUMP_PERCENT}%), above the cap ${cap.gasPrice}`,
    };
  }
  return { kind: 'ok', gasPrice };
}

/**
 * The least value a replacement may carry in a fee field that held `old`: old × 110 / 100 rounded up,
 * and strictly more than old (geth refuses an equal fee, which matters for a tip of 0 or a few wei).
 * geth's own threshold divides rounding down, so it sometimes takes one wei less; rounding up satisfies
 * the 10% in exact arithmetic, whatever rounding a client uses.
 */
export function replacementFloor(old: bigint): bigint {
  if (old < 0n) throw new Error(`replacementFloor: negative fee ${old}`);
  const bumped = (old * (100n + REPLACEMENT_BUMP_PERCENT) + 99n) / 100n;
  return max(bumped, old + 1n);
}

/** geth's test (legacypool list.Add): would `next` replace a pending transaction that sent `prev`? */
export function isReplacement(prev: Fees1559, next: Fees1559): boolean {
  const threshold = (x: bigint) => (x * (100n + REPLACEMENT_BUMP_PERCENT)) / 100n;
  if (next.maxFeePerGas <= prev.maxFeePerGas || next.maxPriorityFeePerGas <= prev.maxPriorityFeePerGas) return false;
  return next.maxFeePerGas >= threshold(prev.maxFeePerGas) && next.maxPriorityFeePerGas >= threshold(prev.maxPriorityFeePerGas);
}

// ---- helpers ---------------------------------------------------------------------------------------

function nextBaseFee(h: FeeHistory): bigint {
  const n = h.baseFeePerGas.length;
  if (n === 0) throw new Error('fee history: no base fees (a chain without EIP-1559? use chooseGasPrice)');
  if (n > WINDOW_BLOCKS_MAX + 1 || h.reward.length > WINDOW_BLOCKS_MAX)
    throw new Error(`fee history: a window of more than ${WINDOW_BLOCKS_MAX} blocks`);
  for (const b of h.baseFeePerGas) if (b < 0n) throw new Error(`fee history: negative base fee ${b}`);
  return h.baseFeePerGas[n - 1] as bigint;
}

/**
 * The median of the first percentile's reward over the blocks that report one (the upper median for an
 * even count: this errs towards inclusion). No sample at all (a node that reports no rewards): the cap's
 * priority fee, the most the operator agreed to tip, since nothing says the market is lower.
 */
function medianTip(h: FeeHistory, cap: FeeCap): bigint {
  const samples: bigint[] = [];
  for (const row of h.reward) {
    const r = row[0];
    if (r === undefined) continue;
    if (r < 0n) throw new Error(`fee history: negative reward ${r}`);
    samples.push(r);
  }
  if (samples.length === 0) return cap.priorityFeePerGas;
  samples.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return samples[samples.length >> 1] as bigint;
}

function checkCap(cap: FeeCap): void {
  if (cap.maxFeePerGas <= 0n || cap.priorityFeePerGas < 0n || cap.priorityFeePerGas > cap.maxFeePerGas) {
    throw new Error(
      `fee cap: need 0 <= priority fee <= max fee and max fee > 0 (got ${JSON.stringify({ maxFeePerGas: String(cap.maxFeePerGas), priorityFeePerGas: String(cap.priorityFeePerGas) })})`,
    );
  }
}

function checkLegacyCap(cap: LegacyFeeCap): void {
  if (cap.gasPrice <= 0n) throw new Error(`fee cap: the gas price cap must be positive (got ${cap.gasPrice})`);
}

/** EIP-1559 validity: a tip above the max fee is refused by every node. */
function assertFees(f: Fees1559, where: string): void {
  if (f.maxPriorityFeePerGas < 0n || f.maxFeePerGas < f.maxPriorityFeePerGas)
    throw new Error(`${where}: invalid fees ${JSON.stringify(show(f))}`);
}

const show = (f: Fees1559) => ({ maxFeePerGas: String(f.maxFeePerGas), maxPriorityFeePerGas: String(f.maxPriorityFeePerGas) });
const min = (a: bigint, b: bigint) => (a < b ? a : b);
const max = (a: bigint, b: bigint) => (a > b ? a : b);
