// Bitcoin-family addresses per network: every script type round-trips on every preset, public vectors
// decode to their published scripts, and every declined reason is given for what causes it.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import fc from 'fast-check';
import { bech32, bech32m, createBase58check } from '@scure/base';
import { sha256 } from '@noble/hashes/sha2.js';
import { describe, expect, it } from 'vitest';
import { decodeAddress, p2pkhAddress, p2wpkhAddress, scriptAddress, type DeclineCode } from '../../src/chains/btc/address.js';
import { decodeCashAddr, encodeCashAddr } from '../../src/chains/btc/cashaddr.js';
import { BtcNetworkError, PRESET_NAMES, btcNetworkConfig, preset, resolveNetwork } from '../../src/chains/btc/network.js';
import { fromHex, toHex } from '../../src/chains/zcash/bytes.js';
import { hash160, p2pkhScript, p2shScript } from '../../src/chains/zcash/script.js';
import { BCH_FORKID, CASHADDR, DOGE_MAINNET_ADDRESSES } from '../fixtures/btc/vectors.js';

const b58 = createBase58check(sha256);
const KEY = secp256k1.getPublicKey(
  Uint8Array.from({ length: 32 }, (_, i) => i + 1),
  true,
);
const H20 = hash160(KEY);
const H32 = sha256(KEY);

function declined(net: string, address: string): { code: DeclineCode; reason: string } {
  const d = decodeAddress(preset(net as never), address);
  if (d.ok) throw new Error(`${address} was accepted on ${net}`);
  return { code: d.code, reason: d.reason };
}

describe('round trips on every preset', () => {
  for (const name of PRESET_NAMES) {
    it(name, () => {
      const net = preset(name);
      const scripts: [string, Uint8Array][] = [
        ['p2pkh', p2pkhScript(H20)],
        ['p2sh', p2shScript(H20)],
      ];
      if (net.segwit)
        scripts.push(
          ['p2wpkh', Uint8Array.from([0x00, 0x14, ...H20])],
          ['p2wsh', Uint8Array.from([0x00, 0x20, ...H32])],
          ['p2tr', Uint8Array.from([0x51, 0x20, ...H32])],
        );
      for (const [kind, script] of scripts) {
        const address = scriptAddress(net, script);
        expect(address, kind).not.toBeNull();
        const d = decodeAddress(net, address!);
        expect(d, `${kind} ${address}`).toMatchObject({ ok: true, kind });
        expect(toHex((d as { script: Uint8Array }).script)).toBe(toHex(script));
      }
      expect(decodeAddress(net, p2pkhAddress(net, KEY))).toMatchObject({ ok: true, kind: 'p2pkh' });
      if (net.segwit) expect(decodeAddress(net, p2wpkhAddress(net, KEY))).toMatchObject({ ok: true, kind: 'p2wpkh' });
      else expect(() => p2wpkhAddress(net, KEY)).toThrow(/no segwit/);
    });
  }
});

describe('properties', () => {
  const hash = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });
  const presetName = fc.constantFrom(...PRESET_NAMES);

  it('any hash, any preset: the address of a script decodes to that script', () => {
    fc.assert(
      fc.property(presetName, hash(20), hash(32), fc.nat(4), (name, h20, h32, pick) => {
        const net = preset(name);
        const all = [
          p2pkhScript(h20),
          p2shScript(h20),
          Uint8Array.from([0x00, 0x14, ...h20]),
          Uint8Array.from([0x00, 0x20, ...h32]),
          Uint8Array.from([0x51, 0x20, ...h32]),
        ];
        const script = all[net.segwit ? pick : pick % 2]!;
        const d = decodeAddress(net, scriptAddress(net, script)!);
        return d.ok && toHex(d.script) === toHex(script);
      }),
      { numRuns: 300 },
    );
  });

  it('one changed character of a CashAddr or bech32 address is never accepted', () => {
    const CHARS = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
    fc.assert(
      fc.property(hash(20), fc.boolean(), fc.nat(), fc.nat(31), (h, cash, at, c) => {
        const net = preset(cash ? 'BCH-mainnet' : 'LTC-mainnet');
        const address = cash ? encodeCashAddr('bitcoincash', 'p2pkh', h) : scriptAddress(net, Uint8Array.from([0x00, 0x14, ...h]))!;
        const start = address.indexOf(cash ? ':' : '1') + 1;
        const i = start + (at % (address.length - start));
        const changed = address.slice(0, i) + CHARS[c] + address.slice(i + 1);
        return changed === address || !decodeAddress(net, changed).ok;
      }),
      { numRuns: 500 },
    );
  });

  it('Bitcoin Cash P2SH32 (a 32-byte script hash) round-trips', () => {
    const script = Uint8Array.from([0xaa, 0x20, ...H32, 0x87]);
    const address = scriptAddress(preset('BCH-mainnet'), script)!;
    expect(address.startsWith('bitcoincash:p')).toBe(true);
    expect(decodeAddress(preset('BCH-mainnet'), address)).toMatchObject({ ok: true, kind: 'p2sh', script });
  });
});

describe('public vectors', () => {
  it('BIP173 / BIP350 Bitcoin addresses (upper case too)', () => {
    const btc = preset('BTC-mainnet');
    const cases = [
      ['BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4', '0014751e76e8199196d454941c45d1b3a323f1433bd6'],
      [
        'bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3',
        '00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262',
      ],
      [
        'bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0',
        '512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798',
      ],
    ];
    for (const [a, s] of cases) expect(toHex((decodeAddress(btc, a!) as { script: Uint8Array }).script)).toBe(s);
    expect(decodeAddress(preset('BTC-testnet'), 'tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7')).toMatchObject({
      kind: 'p2wsh',
    });
  });

  it('Bitcoin Cash CashAddr (Trust Wallet Core vectors), bare or prefixed, lower or upper case', () => {
    const bch = preset('BCH-mainnet');
    for (const { address, script } of CASHADDR) {
      expect(toHex((decodeAddress(bch, address) as { script: Uint8Array }).script)).toBe(script);
      expect(toHex((decodeAddress(bch, address.toUpperCase()) as { script: Uint8Array }).script)).toBe(script);
    }
    expect(toHex((decodeAddress(bch, BCH_FORKID.from) as { script: Uint8Array }).script)).toBe(BCH_FORKID.prevout.script);
    // encode ∘ decode is the identity, and the canonical spelling of a script is the prefixed one.
    const d = decodeCashAddr(CASHADDR[0]!.address, 'bitcoincash');
    expect(encodeCashAddr('bitcoincash', d.type, d.hash)).toBe(CASHADDR[0]!.address);
    expect(scriptAddress(bch, fromHex(CASHADDR[1]!.script))).toBe(`bitcoincash:${CASHADDR[1]!.address}`);
    // Legacy base58 addresses still pay the same scripts on Bitcoin Cash.
    expect(decodeAddress(bch, BCH_FORKID.outputs[0]!.address)).toMatchObject({ ok: true, kind: 'p2pkh' });
  });

  it('Dogecoin mainnet addresses (Trust Wallet Core vectors)', () => {
    for (const { address, script } of DOGE_MAINNET_ADDRESSES)
      expect(toHex((decodeAddress(preset('DOGE-mainnet'), address) as { script: Uint8Array }).script)).toBe(script);
  });

  it('Litecoin regtest: the old P2SH version (196) is accepted and shown in the new form (Q…), same script', () => {
    const ltc = preset('LTC-regtest');
    const old = b58.encode(Uint8Array.from([196, ...H20]));
    expect(decodeAddress(ltc, old)).toMatchObject({ ok: true, kind: 'p2sh' });
    const shown = scriptAddress(ltc, p2shScript(H20))!;
    expect(shown.startsWith('Q')).toBe(true);
    expect(p2wpkhAddress(ltc, KEY).startsWith('rltc1q')).toBe(true);
  });
});

describe('declined, with the reason', () => {
  it('wrong network: a testnet address on mainnet, another coin, another CashAddr prefix', () => {
    const tb = p2wpkhAddress(preset('BTC-testnet'), KEY);
    expect(declined('BTC-mainnet', tb)).toEqual({ code: 'wrong_network', reason: 'an address of BTC-testnet, not of BTC-mainnet' });
    expect(declined('BTC-mainnet', p2pkhAddress(preset('BTC-testnet'), KEY)).code).toBe('wrong_network');
    expect(declined('LTC-mainnet', p2wpkhAddress(preset('BTC-mainnet'), KEY)).reason).toMatch(/BTC-mainnet/);
    expect(declined('LTC-mainnet', p2wpkhAddress(preset('LTC-regtest'), KEY)).reason).toMatch(/LTC-regtest/);
    expect(declined('LTC-mainnet', p2pkhAddress(preset('DOGE-mainnet'), KEY)).reason).toMatch(/DOGE-mainnet/);
    expect(declined('BCH-mainnet', p2pkhAddress(preset('BCH-testnet'), KEY)).reason).toMatch(/BCH-testnet/);
    expect(declined('BTC-mainnet', CASHADDR[0]!.address).code).toBe('wrong_network');
    expect(declined('LTC-mainnet', b58.encode(Uint8Array.from([0x99, ...H20]))).reason).toBe('unknown address version 153 for LTC-mainnet');
  });

  it('bad checksum: base58, bech32, CashAddr, and bech32 where BIP350 wants bech32m (and back)', () => {
    const swap = (a: string, at: number) => a.slice(0, at) + (a[at] === 'q' ? 'p' : 'q') + a.slice(at + 1);
    const legacy = p2pkhAddress(preset('BTC-mainnet'), KEY);
    expect(declined('BTC-mainnet', legacy.slice(0, 10) + (legacy[10] === 'z' ? 'y' : 'z') + legacy.slice(11)).code).toBe('checksum');
    expect(declined('BTC-mainnet', swap(p2wpkhAddress(preset('BTC-mainnet'), KEY), 12)).code).toBe('checksum');
    expect(declined('BCH-mainnet', swap(CASHADDR[0]!.address, 20)).code).toBe('checksum');
    const v1bech32 = bech32.encode('bc', [1, ...bech32.toWords(H32)]);
    expect(declined('BTC-mainnet', v1bech32)).toEqual({ code: 'checksum', reason: 'witness version 1 with the wrong checksum variant' });
    const v0bech32m = bech32m.encode('bc', [0, ...bech32m.toWords(H20)]);
    expect(declined('BTC-mainnet', v0bech32m).code).toBe('checksum');
  });

  it('unsupported script types: future witness versions, a 40-byte v1 program', () => {
    expect(declined('BTC-mainnet', bech32m.encode('bc', [2, ...bech32m.toWords(H32)])).code).toBe('unsupported');
    expect(declined('BTC-mainnet', bech32m.encode('bc', [1, ...bech32m.toWords(new Uint8Array(40))])).code).toBe('unsupported');
  });

  it('segwit addresses on coins without segwit (Dogecoin, Bitcoin Cash)', () => {
    expect(declined('DOGE-mainnet', p2wpkhAddress(preset('BTC-mainnet'), KEY))).toEqual({
      code: 'no_segwit',
      reason: 'a segwit address: DOGE-mainnet has no segwit outputs',
    });
    expect(declined('BCH-mainnet', p2wpkhAddress(preset('LTC-mainnet'), KEY)).code).toBe('no_segwit');
  });

  it('Litecoin MWEB addresses are not payable', () => {
    const mweb = bech32.encode('ltcmweb', bech32.toWords(new Uint8Array(66)), 200);
    expect(declined('LTC-mainnet', mweb).code).toBe('mweb');
    expect(declined('LTC-regtest', bech32.encode('tmweb', bech32.toWords(new Uint8Array(66)), 200)).code).toBe('mweb');
  });

  it('malformed: empty, unprintable, not any encoding, a hash of the wrong length, CashAddr in mixed case', () => {
    for (const a of ['', ' ', 'é', 'x'.repeat(129)]) expect(declined('BTC-mainnet', a).code).toBe('malformed');
    expect(declined('BTC-mainnet', '0OIl').code).toBe('malformed');
    expect(declined('BTC-mainnet', b58.encode(Uint8Array.from([0, ...new Uint8Array(24)]))).code).toBe('malformed');
    const mixed = CASHADDR[0]!.address.slice(0, 20) + CASHADDR[0]!.address.slice(20).toUpperCase();
    expect(declined('BCH-mainnet', mixed).code).toBe('malformed');
    expect(declined('BTC-mainnet', '').reason).toBe('address is empty, too long or not printable');
  });
});

describe('network configuration', () => {
  it('a preset with overrides; combinations no chain has are refused', () => {
    const fork = resolveNetwork(btcNetworkConfig.parse({ preset: 'LTC-mainnet', name: 'FORK', p2pkh_version: 55, bech32_hrp: 'fork' }));
    expect(fork).toMatchObject({ name: 'FORK', p2pkh: 55, bech32Hrp: 'fork', p2sh: [50, 5], coinbaseMaturity: 100 });
    expect(decodeAddress(fork, p2wpkhAddress(fork, KEY))).toMatchObject({ ok: true });
    expect(resolveNetwork(btcNetworkConfig.parse({ preset: 'DOGE-regtest', dust_min: '100' })).dust).toEqual({ kind: 'fixed', min: 100n });
    expect(() => resolveNetwork(btcNetworkConfig.parse({ preset: 'BTC-mainnet', p2pkh_version: 5 }))).toThrow(BtcNetworkError);
    expect(() => resolveNetwork(btcNetworkConfig.parse({ preset: 'BCH-mainnet', segwit: true, bech32_hrp: 'x' }))).toThrow(/FORKID/);
    expect(() => resolveNetwork(btcNetworkConfig.parse({ preset: 'BTC-mainnet', dust_min: '1', dust_relay_fee_per_kvb: '1' }))).toThrow(
      /not both/,
    );
    expect(btcNetworkConfig.safeParse({ preset: 'XMR-mainnet' }).success).toBe(false);
    expect(btcNetworkConfig.safeParse({ preset: 'BTC-mainnet', typo: 1 }).success).toBe(false);
  });

  it('presets carry the chains’ parameters (litecoind facts, chainparams)', () => {
    expect(preset('LTC-regtest')).toMatchObject({ p2pkh: 111, p2sh: [58, 196], wif: 239, bech32Hrp: 'rltc', mwebHrp: 'tmweb' });
    expect(preset('LTC-mainnet')).toMatchObject({ p2pkh: 48, p2sh: [50, 5], wif: 176, bech32Hrp: 'ltc' });
    expect(preset('DOGE-mainnet')).toMatchObject({ p2pkh: 30, p2sh: [22], wif: 158, segwit: false, coinbaseMaturity: 240 });
    expect(preset('BCH-mainnet')).toMatchObject({ forkId: 0, cashAddrPrefix: 'bitcoincash', segwit: false });
    expect(preset('BTC-regtest')).toMatchObject({ bech32Hrp: 'bcrt', p2pkh: 111, p2sh: [196] });
  });
});
