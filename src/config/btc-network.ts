// Network parameters of a Bitcoin-family coin: what its addresses look like, whether it has segwit,
// how it signs (Bitcoin Cash's SIGHASH_FORKID), what its nodes call dust, when a coinbase output may be
// spent. Presets carry each chain's own chainparams; an operator picks one and may override a field (a
// fork of Litecoin with other address versions) in the coin's configuration. Free of I/O; here, beside
// the configuration schema that imports its shape (src/chains/btc/network.ts re-exports it).

import { z } from 'zod';

/** How a node decides an output is dust (refused by its relay policy). */
export type DustRule =
  /**
   * Bitcoin Core's GetDustThreshold: (output size + the size of the input that would spend it) × the
   * dust relay fee, with a witness input counted at a quarter of its witness bytes.
   */
  | { kind: 'relay'; feePerKvB: bigint }
  /** A flat threshold in base units (Dogecoin 1.14's -dustlimit). */
  | { kind: 'fixed'; min: bigint };

export interface BtcNetwork {
  /** The preset it came from, or the operator's own name. */
  readonly name: string;
  readonly coin: 'LTC' | 'BTC' | 'DOGE' | 'BCH' | string;
  readonly chain: 'mainnet' | 'testnet' | 'regtest';
  /** Base58check version byte of a P2PKH address. */
  readonly p2pkh: number;
  /** Base58check version bytes of a P2SH address: the first is the one shown, the rest still accepted (Litecoin's old 5 and 196). */
  readonly p2sh: readonly number[];
  /** WIF version byte (a hot-wallet key imported from a node's dumpprivkey). */
  readonly wif: number;
  /** Whether segwit outputs (P2WPKH, P2WSH, P2TR) exist on this chain; a segwit address on a coin without is declined. */
  readonly segwit: boolean;
  /** Bech32 human-readable part of segwit addresses; null without segwit. */
  readonly bech32Hrp: string | null;
  /** Litecoin's MWEB address prefix (never payable by a transparent transaction); null elsewhere. */
  readonly mwebHrp: string | null;
  /** Bitcoin Cash: CashAddr prefix (bitcoincash, bchtest, bchreg); null elsewhere. */
  readonly cashAddrPrefix: string | null;
  /** Bitcoin Cash: the fork id signed into every hash type (SIGHASH_FORKID, BIP143-style digest); null elsewhere. */
  readonly forkId: number | null;
  readonly dust: DustRule;
  /** Blocks a coinbase output must be buried under before it may be spent. */
  readonly coinbaseMaturity: number;
  /**
   * The lowest fee rate (base units per vbyte) nodes relay and miners take: a lower configured or
   * estimated rate is raised to it, since a payment below it would never leave the mempool.
   */
  readonly minFeeRate: bigint;
  /** Transaction version payserv writes (2 where BIP68 exists; Dogecoin stays at 1). */
  readonly txVersion: 1 | 2;
}

// Bitcoin Core's DUST_RELAY_TX_FEE is 3,000 sat/kvB (546 sat for P2PKH, 294 for P2WPKH); Litecoin Core
// raised it tenfold (5,460 and 2,940 litoshi: shared/facts/litecoind.md); Bitcoin Cash Node keeps 546
// for P2PKH by its 3 sat/B dust rate; Dogecoin 1.14.6 refuses outputs below its -dustlimit of 0.01 DOGE.
const BTC_DUST: DustRule = { kind: 'relay', feePerKvB: 3_000n };
const LTC_DUST: DustRule = { kind: 'relay', feePerKvB: 30_000n };
const DOGE_DUST: DustRule = { kind: 'fixed', min: 1_000_000n };

type Preset = Omit<BtcNetwork, 'name'>;

const btcLike = (chain: BtcNetwork['chain'], hrp: string): Preset => ({
  coin: 'BTC',
  chain,
  p2pkh: chain === 'mainnet' ? 0x00 : 0x6f,
  p2sh: [chain === 'mainnet' ? 0x05 : 0xc4],
  wif: chain === 'mainnet' ? 0x80 : 0xef,
  segwit: true,
  bech32Hrp: hrp,
  mwebHrp: null,
  cashAddrPrefix: null,
  forkId: null,
  dust: BTC_DUST,
  coinbaseMaturity: 100,
  minFeeRate: 1n,
  txVersion: 2,
});

const ltcLike = (chain: BtcNetwork['chain'], hrp: string, mweb: string): Preset => ({
  coin: 'LTC',
  chain,
  p2pkh: chain === 'mainnet' ? 48 : 111,
  // Litecoin moved P2SH from Bitcoin's versions to its own (M…, Q…); nodes still accept the old ones.
  p2sh: chain === 'mainnet' ? [50, 5] : [58, 196],
  wif: chain === 'mainnet' ? 176 : 239,
  segwit: true,
  bech32Hrp: hrp,
  mwebHrp: mweb,
  cashAddrPrefix: null,
  forkId: null,
  dust: LTC_DUST,
  coinbaseMaturity: 100,
  minFeeRate: 1n,
  txVersion: 2,
});

const dogeLike = (chain: BtcNetwork['chain']): Preset => ({
  coin: 'DOGE',
  chain,
  p2pkh: chain === 'mainnet' ? 30 : chain === 'testnet' ? 113 : 111,
  p2sh: [chain === 'mainnet' ? 22 : 196],
  wif: chain === 'mainnet' ? 158 : chain === 'testnet' ? 241 : 239,
  // Dogecoin Core carries the segwit code but never activated it: no bech32 addresses.
  segwit: false,
  bech32Hrp: null,
  mwebHrp: null,
  cashAddrPrefix: null,
  forkId: null,
  dust: DOGE_DUST,
  // After Digishield (block 145,000 on mainnet) 240 blocks; regtest keeps 60.
  coinbaseMaturity: chain === 'regtest' ? 60 : 240,
  // Dogecoin Core 1.14.6's wallet minimum, 0.01 DOGE/kB (its relay minimum is a tenth of it).
  minFeeRate: 1_000n,
  txVersion: 1,
});

const bchLike = (chain: BtcNetwork['chain'], prefix: string): Preset => ({
  coin: 'BCH',
  chain,
  p2pkh: chain === 'mainnet' ? 0x00 : 0x6f,
  p2sh: [chain === 'mainnet' ? 0x05 : 0xc4],
  wif: chain === 'mainnet' ? 0x80 : 0xef,
  segwit: false,
  bech32Hrp: null,
  mwebHrp: null,
  cashAddrPrefix: prefix,
  forkId: 0,
  dust: BTC_DUST,
  coinbaseMaturity: 100,
  minFeeRate: 1n,
  txVersion: 2,
});

export const PRESETS = {
  'BTC-mainnet': btcLike('mainnet', 'bc'),
  'BTC-testnet': btcLike('testnet', 'tb'),
  'BTC-regtest': btcLike('regtest', 'bcrt'),
  'LTC-mainnet': ltcLike('mainnet', 'ltc', 'ltcmweb'),
  'LTC-testnet': ltcLike('testnet', 'tltc', 'tmweb'),
  'LTC-regtest': ltcLike('regtest', 'rltc', 'tmweb'),
  'DOGE-mainnet': dogeLike('mainnet'),
  'DOGE-testnet': dogeLike('testnet'),
  'DOGE-regtest': dogeLike('regtest'),
  'BCH-mainnet': bchLike('mainnet', 'bitcoincash'),
  'BCH-testnet': bchLike('testnet', 'bchtest'),
  'BCH-regtest': bchLike('regtest', 'bchreg'),
} as const satisfies Record<string, Preset>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as [PresetName, ...PresetName[]];

export function preset(name: PresetName): BtcNetwork {
  return { name, ...PRESETS[name] };
}

// ---- Configuration: a preset, and the fields an operator may override --------------------------

const byte = () => z.int({ error: 'expected a version byte (0..255)' }).min(0).max(255);
const hrp = () => z.string().regex(/^[a-z0-9]{1,83}$/, { error: 'expected a lowercase prefix of letters and digits' });
const units = () => z.string().regex(/^(0|[1-9][0-9]{0,17})$/, { error: 'expected a whole number of base units as a string' });

/** [coins.X.network] in TOML: preset = "LTC-regtest", and optional overrides. */
export const btcNetworkConfig = z.strictObject({
  preset: z.enum(PRESET_NAMES, { error: `expected one of ${PRESET_NAMES.join(', ')}` }),
  /** A name for the coin defined from the preset (logs and errors); default the preset's. */
  name: z.string().min(1).max(40).optional(),
  p2pkh_version: byte().optional(),
  p2sh_versions: z.array(byte()).min(1).max(4).optional(),
  wif_version: byte().optional(),
  segwit: z.boolean().optional(),
  bech32_hrp: hrp().optional(),
  cashaddr_prefix: hrp().optional(),
  /** Dust by relay fee (sat per 1,000 vbytes), or a flat minimum: one of the two. */
  dust_relay_fee_per_kvb: units().optional(),
  dust_min: units().optional(),
  coinbase_maturity: z.int().min(1).max(10_000).optional(),
  /** Base units per vbyte. */
  min_fee_rate: units().optional(),
});

export type BtcNetworkConfig = z.infer<typeof btcNetworkConfig>;

export class BtcNetworkError extends Error {
  override name = 'BtcNetworkError';
}

/** The preset with the operator's overrides, checked for combinations no chain has. */
export function resolveNetwork(cfg: BtcNetworkConfig): BtcNetwork {
  const base = preset(cfg.preset);
  if (cfg.dust_relay_fee_per_kvb !== undefined && cfg.dust_min !== undefined)
    throw new BtcNetworkError('network: set dust_relay_fee_per_kvb or dust_min, not both');
  const dust: DustRule =
    cfg.dust_relay_fee_per_kvb !== undefined
      ? { kind: 'relay', feePerKvB: BigInt(cfg.dust_relay_fee_per_kvb) }
      : cfg.dust_min !== undefined
        ? { kind: 'fixed', min: BigInt(cfg.dust_min) }
        : base.dust;
  const segwit = cfg.segwit ?? base.segwit;
  const net: BtcNetwork = {
    ...base,
    name: cfg.name ?? base.name,
    p2pkh: cfg.p2pkh_version ?? base.p2pkh,
    p2sh: cfg.p2sh_versions ?? base.p2sh,
    wif: cfg.wif_version ?? base.wif,
    segwit,
    bech32Hrp: segwit ? (cfg.bech32_hrp ?? base.bech32Hrp) : null,
    cashAddrPrefix: cfg.cashaddr_prefix ?? base.cashAddrPrefix,
    dust,
    coinbaseMaturity: cfg.coinbase_maturity ?? base.coinbaseMaturity,
    minFeeRate: cfg.min_fee_rate !== undefined ? BigInt(cfg.min_fee_rate) : base.minFeeRate,
  };
  checkNetwork(net);
  return net;
}

/** Combinations that would make two address kinds collide or a coin unpayable. */
export function checkNetwork(net: BtcNetwork): void {
  if (net.segwit && !net.bech32Hrp) throw new BtcNetworkError(`${net.name}: segwit needs bech32_hrp`);
  if (net.segwit && net.forkId !== null) throw new BtcNetworkError(`${net.name}: a FORKID chain (Bitcoin Cash) has no segwit`);
  if (net.p2sh.includes(net.p2pkh)) throw new BtcNetworkError(`${net.name}: the P2PKH version ${net.p2pkh} is also a P2SH version`);
  if (net.minFeeRate < 1n) throw new BtcNetworkError(`${net.name}: min_fee_rate must be at least 1`);
  if (net.forkId !== null && !net.cashAddrPrefix) throw new BtcNetworkError(`${net.name}: a FORKID chain needs cashaddr_prefix`);
}
