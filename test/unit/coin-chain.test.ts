// Which chain a coin is paid on: ETH, ETC and ZEC by their tags, a Bitcoin-family coin only by payserv's
// configuration ([coins.TAG] chain = "btc" and its network); and what follows from it: the hot wallet's
// address printed in the coin's network, addresses checked per network, one address in two spellings.
import { bech32m } from '@scure/base';
import { describe, expect, it } from 'vitest';
import { sameAddress, validateAddress } from '../../src/chains/address.js';
import { coinChain, CoinChainError, familyOf, type CoinChains } from '../../src/chains/coin-chain.js';
import { fileSchema } from '../../src/config/schema.js';
import { hotWalletAddress, HotKeyError } from '../../src/keys/hot-wallet.js';

/** payserv's [coins] as its configuration parses them. */
function coins(toml: Record<string, unknown>): CoinChains {
  return fileSchema('payserv').parse({ coins: toml }).coins;
}
const btc = (preset: string, wallet_type = 'p2wpkh', extra: Record<string, unknown> = {}) => ({
  chain: 'btc',
  node_url: 'http://127.0.0.1:9332',
  wallet_type,
  fee_rate_max: '100000', // above every preset's floor (Dogecoin's: 1,000 per vbyte)
  network: { preset, ...extra },
});

/** Private key 1: its compressed public key's hash160 is 751e76e8…3bd6, BIP173's own example. */
const KEY_ONE = Uint8Array.from({ length: 32 }, (_, i) => (i === 31 ? 1 : 0));

describe('coinChain', () => {
  it('ETH, ETC and ZEC by tag; any other tag is paid by an operator until configured', () => {
    expect(familyOf('ETH')).toBe('evm');
    expect(familyOf('ETC')).toBe('evm');
    expect(familyOf('ZEC')).toBe('zcash');
    for (const t of ['LTC', 'BTC', 'DOGE', 'BCH', 'eth']) expect(familyOf(t)).toBe('manual');
  });

  it("a Bitcoin-family coin by its configuration: the preset's network with the overrides, and the wallet type", () => {
    const c = coinChain('LTC', coins({ LTC: btc('LTC-mainnet') }));
    expect(c).toMatchObject({ family: 'btc', wallet: 'p2wpkh', net: { name: 'LTC-mainnet', p2pkh: 48, bech32Hrp: 'ltc' } });
    // Any tag: the operator's fork of Litecoin with its own versions.
    const fork = coinChain('XLT', coins({ XLT: btc('LTC-mainnet', 'p2pkh', { name: 'XLT', p2pkh_version: 75, segwit: false }) }));
    expect(fork).toMatchObject({ family: 'btc', wallet: 'p2pkh', net: { name: 'XLT', p2pkh: 75, segwit: false } });
    // Another coin's table says nothing of this one.
    expect(familyOf('BTC', coins({ LTC: btc('LTC-mainnet') }))).toBe('manual');
  });

  it('a configuration contradicting the tag is refused, naming the coin', () => {
    expect(() => coinChain('ETH', coins({ ETH: btc('BTC-mainnet') }))).toThrow(CoinChainError);
    expect(() => coinChain('ZEC', coins({ ZEC: btc('BTC-mainnet') }))).toThrow(/coins\.ZEC: chain = "btc" is not ZEC's chain/);
    expect(coinChain('ZEC', coins({ ZEC: { chain: 'zcash', node_url: 'http://h', network: 'testnet' } }))).toEqual({
      family: 'zcash',
      network: 'testnet',
    });
  });
});

describe("a Bitcoin-family hot wallet's address", () => {
  it('printed in the configured network: P2WPKH or P2PKH per wallet_type, CashAddr on Bitcoin Cash (known-good spellings of key 1)', () => {
    const at = (preset: string, type: string) => hotWalletAddress('CC', KEY_ONE, 'mainnet', coins({ CC: btc(preset, type) }));
    expect(at('BTC-mainnet', 'p2wpkh')).toBe('bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4'); // BIP173
    expect(at('BTC-mainnet', 'p2pkh')).toBe('1BgGZ9tcN4rm9KBzDn7KprQz87SZ26SAMH');
    expect(at('LTC-mainnet', 'p2wpkh')).toBe('ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9');
    expect(at('LTC-mainnet', 'p2pkh')).toBe('LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ');
    expect(at('BCH-mainnet', 'p2pkh')).toBe('bitcoincash:qp63uahgrxged4z5jswyt5dn5v3lzsem6cy4spdc2h');
    expect(at('DOGE-mainnet', 'p2pkh')).toBe('DFpN6QqFfUm3gKNaxN6tNcab1FArL9cZLE');
    expect(at('LTC-regtest', 'p2wpkh')).toMatch(/^rltc1q/);
  });

  it('an unconfigured coin has no hot wallet, and the error says where it is configured', () => {
    expect(() => hotWalletAddress('LTC', KEY_ONE)).toThrow(HotKeyError);
    expect(() => hotWalletAddress('LTC', KEY_ONE)).toThrow(/\[coins\.LTC\] chain = "btc" in payserv\.toml/);
  });
});

describe('addresses of a configured Bitcoin-family coin', () => {
  const LTC = coins({ LTC: btc('LTC-mainnet') });
  const main = { tag: 'LTC', network: 'mainnet' } as const;

  it('checked per network with the reason: a testnet address, a bad checksum, an unsupported script, MWEB', () => {
    expect(validateAddress(main, 'ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9', LTC)).toBeNull();
    expect(validateAddress(main, 'LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ', LTC)).toBeNull();
    const regtest = hotWalletAddress('RR', KEY_ONE, 'mainnet', coins({ RR: btc('LTC-regtest') }));
    expect(validateAddress(main, regtest, LTC)).toBe('an address of LTC-regtest, not of LTC-mainnet');
    expect(validateAddress(main, 'ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n8', LTC)).toMatch(/^bad bech32 checksum/);
    expect(validateAddress(main, 'LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnK', LTC)).toMatch(/^bad base58check checksum/);
    expect(validateAddress(main, 'bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4', LTC)).toMatch(/BTC-mainnet, not of LTC-mainnet/);
    const v2 = bech32m.encode('ltc', [2, ...bech32m.toWords(new Uint8Array(16).fill(7))]);
    expect(validateAddress(main, v2, LTC)).toBe('witness version 2 (16 bytes): not a script type payserv pays');
    // Unconfigured: only printable text (an operator pays it by hand).
    expect(validateAddress(main, 'ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n8')).toBeNull();
  });

  it('one address in two spellings is the same script: bech32 in upper case', () => {
    const a = 'ltc1qw508d6qejxtdg4y5r3zarvary0c5xw7kgmn4n9';
    expect(sameAddress('LTC', a, a.toUpperCase(), LTC)).toBe(true);
    expect(sameAddress('LTC', a, 'LVuDpNCSSj6pQ7t9Pv6d6sUkLKoqDEVUnJ', LTC)).toBe(false);
    expect(sameAddress('LTC', a, a.toUpperCase())).toBe(false);
  });
});
