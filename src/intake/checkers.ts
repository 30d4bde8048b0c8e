import { EthRewardChecker } from '../chains/eth/reward.js';
import { coinChain, type BtcNetworkTable } from '../chains/coin-chain.js';
import type { RewardChecker } from '../chains/reward.js';
import { ZcashRewardChecker } from '../chains/zcash/reward.js';
import { ZcashRpc } from '../chains/zcash/rpc.js';
import { ConfigError, type Config } from '../config/load.js';
import { withCredentials } from '../esman/items.js';
import { parseAmount, toBaseUnits } from '../money/amount.js';
import type { CoinCheck } from './context.js';

// Each [coins.TAG] of intake.toml as the block-reward check of that coin, with the base unit its chain
// counts in: Ethereum-family chains in wei (18 decimals), Zcash in zatoshi (8), whatever a coin record says.
// A Bitcoin-family coin's table (chain = "btc") is no reward check: only the network its addresses are in.

type Coins = Config<'intake'>['coins'];
type RewardCoin = Exclude<Coins[string], { chain: 'btc' }>;
export type NodeAuth = ReadonlyMap<string, { user: string; password: string }>;

const WEI_DECIMALS = 18;
const ZATOSHI_DECIMALS = 8;

/** The ledger stores a block hash as 0x and lower case; Zcash nodes spell it without 0x. */
function withoutPrefix(checker: RewardChecker): RewardChecker {
  return { check: (claim, confirmations) => checker.check({ ...claim, hash: claim.hash.replace(/^0x/, '') }, confirmations) };
}

function checkOf(tag: string, c: RewardCoin, auth: NodeAuth): CoinCheck {
  if (c.chain === 'eth') {
    const wei = toBaseUnits(parseAmount(c.issuance, `coins.${tag}.issuance`), WEI_DECIMALS);
    const settings = {
      tag,
      url: c.node_url,
      chainId: c.chain_id,
      poolAddress: c.pool_address,
      issuance: () => wei,
      timeoutMs: c.timeout_ms,
    };
    return { decimals: WEI_DECIMALS, firstHeight: BigInt(c.first_height), checker: new EthRewardChecker(settings) };
  }
  const creds = auth.get(tag);
  const rpc = new ZcashRpc({ url: creds ? withCredentials(c.node_url, creds) : c.node_url, timeoutMs: c.timeout_ms });
  const checker = new ZcashRewardChecker({
    tag,
    rpc,
    network: c.network,
    poolAddress: c.pool_address,
    ...(c.genesis_hash ? { genesisHash: c.genesis_hash.toLowerCase() } : {}),
  });
  return { decimals: ZATOSHI_DECIMALS, firstHeight: BigInt(c.first_height), checker: withoutPrefix(checker) };
}

/** `auth`: each coin's node credentials from the store (node_auth_item); a setting no checker accepts is a configuration error. */
export function rewardCheckers(config: Pick<Config<'intake'>, 'coins' | 'file'>, auth: NodeAuth = new Map()): Map<string, CoinCheck> {
  const out = new Map<string, CoinCheck>();
  for (const [tag, c] of Object.entries(config.coins)) {
    if (c.chain === 'btc') continue;
    try {
      out.set(tag, checkOf(tag, c, auth));
    } catch (e) {
      throw new ConfigError(`config ${config.file ?? '(defaults)'}: coins.${tag}: ${(e as Error).message}`);
    }
  }
  return out;
}

/**
 * Each Bitcoin-family coin's network ([coins.TAG] chain = "btc"): its wallets' addresses are checked in it,
 * by the code payserv's driver declines them with. A tag that names another chain (ETH as "btc") is a configuration error.
 */
export function addressChains(config: Pick<Config<'intake'>, 'coins' | 'file'>): Record<string, BtcNetworkTable> {
  const out: Record<string, BtcNetworkTable> = {};
  for (const [tag, c] of Object.entries(config.coins)) if (c.chain === 'btc') out[tag] = c;
  for (const tag of Object.keys(out)) {
    try {
      coinChain(tag, out);
    } catch (e) {
      throw new ConfigError(`config ${config.file ?? '(defaults)'}: ${(e as Error).message}`);
    }
  }
  return out;
}
