import type { Config } from '../config/load.js';
import { EthRewardChecker } from '../chains/eth/reward.js';
import { parseAmount, toBaseUnits } from '../money/amount.js';
import type { CoinCheck } from './context.js';

// Each [coins.TAG] of intake.toml as the block-reward check of that coin. Ethereum-family chains count
// in wei (18 decimals) whatever the coin record says, so the configured issuance is converted so.

const WEI_DECIMALS = 18;

export function rewardCheckers(coins: Config<'intake'>['coins']): Map<string, CoinCheck> {
  const out = new Map<string, CoinCheck>();
  for (const [tag, c] of Object.entries(coins)) {
    if (c.chain !== 'eth') throw new Error(`[coins.${tag}] chain: no reward check for ${String(c.chain)} coins yet`);
    const wei = toBaseUnits(parseAmount(c.issuance, `coins.${tag}.issuance`), WEI_DECIMALS);
    out.set(tag, {
      decimals: WEI_DECIMALS,
      checker: new EthRewardChecker({
        tag,
        url: c.node_url,
        chainId: c.chain_id,
        poolAddress: c.pool_address,
        issuance: () => wei,
        timeoutMs: c.timeout_ms,
      }),
    });
  }
  return out;
}
