import { AUTOPAY } from '../data/ops/autopay.js';
import { formatAmount } from '../money/amount.js';
import type { Payserv } from '../payserv/context.js';
import { loadCoins } from '../store/reads.js';
import { describeLock } from './lock.js';
import type { RunReport } from './run.js';

/** Each coin's autopay: its lock (idle, running, halted and why), its settings, and its last run in this process. */
export async function autopayStatus(ps: Payserv, last: ReadonlyMap<string, RunReport>) {
  const coins = new Map((await loadCoins(ps.db)).map((c) => [c.id, c.tag]));
  const rows = new Map((await ps.db.query(AUTOPAY.all, [1000])).map((r) => [coins.get(r.coin_id) ?? `#${r.coin_id}`, r]));
  const tags = [...new Set([...ps.autopay.keys(), ...rows.keys()])].sort();
  return {
    coins: tags.map((tag) => {
      const row = rows.get(tag);
      const s = ps.autopay.get(tag);
      return {
        coin: tag,
        state: row?.state ?? 'idle',
        since: row?.since.toISOString() ?? null,
        reason: row && row.state !== 'idle' ? describeLock(tag, row) : null,
        withdrawal: row?.withdrawal_id ?? null,
        threshold: s ? formatAmount(s.threshold) : null,
        last_run: last.get(tag) ?? null,
      };
    }),
  };
}
