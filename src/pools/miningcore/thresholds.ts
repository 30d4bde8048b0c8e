import { formatAmount, parseAmount } from '../../money/amount.js';
import type { Coin, Signed } from '../../ledger/records.js';
import { derivedUserId } from '../user-id.js';
import { mcTransaction, type McAdapter } from './context.js';
import { formatDecimal28, parseDecimal28 } from './decimal.js';

// MiningCore's per-miner thresholds handed to payserv's autopay: each miner_settings row below MiningCore's
// (huge) minimumPayment is copied into users_autopay_thresholds, then raised to that minimum, in one MiningCore
// transaction, so MiningCore's payer (balance >= COALESCE(paymentthreshold, minimumPayment)) never pays anyone.
// The copy is written before the raise commits: a failure leaves the row low and it is copied again next time.

export async function adoptThresholds(a: McAdapter, coin: Signed<Coin>): Promise<number> {
  const minimum = formatDecimal28(a.minimumPayment);
  return mcTransaction(a.mc, async (c) => {
    const { rows } = await c.query<{ address: string; threshold: string }>(
      'SELECT address, paymentthreshold::text AS threshold FROM miner_settings WHERE poolid = $1 AND paymentthreshold < $2 FOR UPDATE',
      [a.poolId, minimum],
    );
    for (const r of rows) {
      parseDecimal28(r.threshold, 'miner_settings.paymentthreshold');
      const threshold = parseAmount(r.threshold);
      // 0 pays any balance in MiningCore; payserv's coin threshold covers it (its table holds positive ones only).
      if (threshold <= 0n) continue;
      await a.it.db.query(
        `INSERT INTO users_autopay_thresholds (user_id, coin_id, threshold) VALUES ($1, $2, $3)
         ON CONFLICT (user_id, coin_id) DO UPDATE SET threshold = EXCLUDED.threshold`,
        [derivedUserId(`miningcore:${a.poolId}`, coin.tag, r.address), coin.id, formatAmount(threshold)],
      );
      a.log.info({ pool: a.poolId, coin: coin.tag, address: r.address, threshold: formatAmount(threshold) }, 'miner threshold adopted');
    }
    await c.query(
      "UPDATE miner_settings SET paymentthreshold = $2, updated = now() at time zone 'utc' WHERE poolid = $1 AND address = ANY($3)",
      // Only the rows copied: one a miner set meanwhile waits for the next time.
      [a.poolId, minimum, rows.map((r) => r.address)],
    );
    return rows.length;
  });
}
