import { op } from '../../db/op.js';

// The chain drivers' own operations (src/chains); what they store with a payment is in ./payments.ts.

export const CHAINS = {
  /** At start, for the operator's eye: payments of a coin still in flight. */
  sendingCount: op<{ n: number }>(
    'chains.sendingCount',
    `SELECT count(*)::bigint AS n FROM finances_withdrawal_transaction w JOIN coins_coin c ON c.id = w.coin_id WHERE c.tag = $1 AND w.status = 'sending'`,
  ),
  coinId: op<{ id: number }>('chains.coinId', 'SELECT id FROM coins_coin WHERE tag = $1'),
  /** A stored attempt's bytes and the withdrawals its row names (whose signed histories must name it). */
  attempt: op<{ raw: string; withdrawal_ids: string[] }>(
    'chains.attempt',
    'SELECT raw, withdrawal_ids::text[] AS withdrawal_ids FROM payserv_chain_txs WHERE hash = $1',
  ),
} as const;
