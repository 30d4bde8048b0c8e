import { formatAmount, fromBaseUnits, type Amount } from '../money/amount.js';
import { loadCoins } from '../store/reads.js';
import type { Payserv } from './context.js';

// The hot wallets against the operator's levels ([alerts.hot_wallet_low], per coin in its unit): a wallet
// below its level is alerted (hot_wallet_low) once until it is funded again, before payments of the
// coin start waiting in send_retry. Run by the monitor each tick.

export const HOT_WALLET_LOW = 'hot_wallet_low';

/** Each watched coin whose hot wallet is below its level this tick: its spendable balance. */
export async function watchHotWallets(ps: Payserv, levels: ReadonlyMap<string, Amount>): Promise<Record<string, string>> {
  const low: Record<string, string> = {};
  if (!levels.size) return low;
  // The coin row's decimals only scale this comparison: a forged row can at worst raise or silence this
  // alert; every payment verifies the signed coin record before it pays.
  const coins = new Map((await loadCoins(ps.db)).map((c) => [c.tag, c]));
  for (const [tag, level] of levels) {
    const driver = ps.drivers.get(tag);
    const coin = coins.get(tag);
    if (!driver || !coin) continue;
    let balance: Amount;
    try {
      balance = fromBaseUnits(await driver.spendable(ps.db), coin.decimals);
    } catch (e) {
      // An unreachable node is node_unhealthy's to tell; this coin is looked at again next tick.
      ps.log.warn({ component: 'monitor', coin: tag, err: (e as Error).message }, 'hot wallet balance unknown');
      continue;
    }
    if (balance >= level) {
      if (ps.state.endEpisode(HOT_WALLET_LOW, tag))
        ps.log.info(
          { component: 'monitor', coin: tag, balance: formatAmount(balance), level: formatAmount(level) },
          'hot wallet funded again',
        );
      continue;
    }
    low[tag] = formatAmount(balance);
    await ps.state.alertOnce(
      HOT_WALLET_LOW,
      tag,
      'below',
      `coin ${tag}: the hot wallet ${driver.address} holds ${low[tag]} ${tag}, below [alerts.hot_wallet_low] ${tag} = "${formatAmount(level)}": fund it, or payments of ${tag} will wait (send_retry)`,
      { coin: tag, address: driver.address, balance: low[tag], level: formatAmount(level) },
    );
  }
  return low;
}
