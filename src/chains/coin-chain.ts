// Which chain family, and which network, a coin is paid on: the one question every hot-wallet tool,
// address check and driver asks. Ethereum, Ethereum Classic and Zcash are known by their tags; a
// Bitcoin-family coin only by configuration (payserv's [coins.TAG] chain = "btc" with its
// [coins.TAG.network], or the intake's same two keys): a tag such as LTC says nothing of the fork, and
// the network (address versions, bech32 prefix, CashAddr) is the preset and overrides the operator chose.
// Free of I/O.
import type { BtcNetworkConfig } from '../config/btc-network.js';
import type { Config } from '../config/load.js';
import type { Coin } from '../ledger/records.js';
import { resolveNetwork, type BtcNetwork } from './btc/network.js';

export type Family = 'evm' | 'zcash' | 'btc' | 'manual';

/** payserv's [coins.TAG] tables as parsed: what a process knows of its coins beyond their tags ({} when it has none). */
export type CoinChains = Readonly<Config<'payserv'>['coins']>;

export type CoinChain =
  | { family: 'evm' | 'manual' }
  /** `network`: the configured one; absent, the caller's (the ledger's coin record). */
  | { family: 'zcash'; network?: Coin['network'] }
  | { family: 'btc'; net: BtcNetwork; wallet: 'p2wpkh' | 'p2pkh' };

/** The intake's [coins.TAG] chain = "btc": the network its wallets' addresses are checked in; it holds no hot wallet. */
export interface BtcNetworkTable {
  chain: 'btc';
  network: BtcNetworkConfig;
  wallet_type?: undefined;
}

/** What an address check reads: payserv's [coins.TAG] tables, or the intake's Bitcoin-family ones. */
export type AddressChains = CoinChains | Readonly<Record<string, BtcNetworkTable>>;

/** A coin's chain as an address check sees it: a Bitcoin-family coin of the intake's tables has no hot wallet. */
export type AddressChain = CoinChain | { family: 'btc'; net: BtcNetwork; wallet: null };

const BY_TAG: Readonly<Record<string, 'evm' | 'zcash'>> = { ETH: 'evm', ETC: 'evm', ZEC: 'zcash' };

export class CoinChainError extends Error {
  override name = 'CoinChainError';
}

/** Coin `tag`'s chain: its configuration's, else its tag's, else paid by an operator; a configuration contradicting the tag throws. */
export function coinChain(tag: string, coins?: CoinChains): CoinChain;
export function coinChain(tag: string, coins: AddressChains): AddressChain;
export function coinChain(tag: string, coins: AddressChains = {}): AddressChain {
  const byTag = Object.hasOwn(BY_TAG, tag) ? BY_TAG[tag] : undefined;
  const s = Object.hasOwn(coins, tag) ? coins[tag] : undefined;
  if (!s) return { family: byTag ?? 'manual' };
  if (byTag !== undefined && byTag !== s.chain) throw new CoinChainError(`coins.${tag}: chain = "${s.chain}" is not ${tag}'s chain`);
  switch (s.chain) {
    case 'evm':
      return { family: 'evm' };
    case 'zcash':
      return { family: 'zcash', network: s.network };
    case 'btc':
      return { family: 'btc', net: resolveNetwork(s.network), wallet: s.wallet_type ?? null };
  }
}

export function familyOf(tag: string, coins: AddressChains = {}): Family {
  return coinChain(tag, coins).family;
}
