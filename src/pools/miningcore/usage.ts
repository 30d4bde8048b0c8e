// balance_changes.usage, the only link MiningCore keeps between a balance change and its block: the strings are
// built in PayoutHandlerBase.cs and PaymentSchemes/*.cs (oliverw/miningcore), and a change is tagged with nothing
// (AddAmountAsync is called without tags). The share count is FormatUtil.FormatQuantity's text, culture-formatted
// ("12.5K", or "12,5K"), so it is kept as text.

import { PoolFormatError } from '../errors.js';

/** PayoutHandlerBase.PersistPaymentsAsync: the negative change that resets a paid balance. */
export const BALANCE_RESET_USAGE = 'Balance reset after payment';

export type Usage =
  | { kind: 'payment' }
  /** SOLO scheme and reward recipients (pool fee): "Reward for block <height>". */
  | { kind: 'block'; height: bigint }
  /** PPLNS, PROP: "Reward for <quantity> shares for block <height>". */
  | { kind: 'shares'; height: bigint; shares: string };

const BLOCK = /^Reward for block (0|[1-9]\d{0,15})$/;
const SHARES = /^Reward for ([0-9.,]{1,24}[KMGTPE]) shares for block (0|[1-9]\d{0,15})$/;

export function blockRewardUsage(height: bigint): string {
  return `Reward for block ${height}`;
}

export function parseUsage(text: string | null): Usage {
  if (text === BALANCE_RESET_USAGE) return { kind: 'payment' };
  const block = BLOCK.exec(text ?? '');
  if (block) return { kind: 'block', height: BigInt(block[1] ?? '') };
  const shares = SHARES.exec(text ?? '');
  if (shares) return { kind: 'shares', height: BigInt(shares[2] ?? ''), shares: shares[1] ?? '' };
  throw new PoolFormatError('balance_changes.usage', text ?? 'NULL', 'not a usage MiningCore writes');
}
