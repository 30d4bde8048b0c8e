// Address validity per coin family: a mistyped or wrong-network address must be refused, never paid.
import { sha256 } from '@noble/hashes/sha2.js';
import { createBase58check } from '@scure/base';
import fc from 'fast-check';
import { getAddress, isAddress } from 'viem';
import { privateKeyToAddress } from 'viem/accounts';
import { describe, expect, it } from 'vitest';
import { familyOf, validateAddress, zcashP2pkhAddress } from '../../src/chains/address.js';
import { hotWalletAddress } from '../../src/keys/hot-wallet.js';

const b58 = createBase58check(sha256);
const ETH = { tag: 'ETH', network: 'mainnet' } as const;
const ETC = { tag: 'ETC', network: 'mainnet' } as const;
const ZEC = { tag: 'ZEC', network: 'mainnet' } as const;
const ZEC_TEST = { tag: 'ZEC', network: 'testnet' } as const;

/** A transparent Zcash address with an arbitrary two-byte prefix. */
const zaddr = (prefix: [number, number], hash: Uint8Array) => b58.encode(Uint8Array.from([...prefix, ...hash]));
const PREFIX = { t1: [0x1c, 0xb8], t3: [0x1c, 0xbd], tm: [0x1d, 0x25], t2: [0x1c, 0xba] } as const satisfies Record<
  string,
  [number, number]
>;

const hash20 = fc.uint8Array({ minLength: 20, maxLength: 20 });
const key32 = fc.uint8Array({ minLength: 32, maxLength: 32 }).filter((k) => k.some((b) => b !== 0));

/** The EIP-55 test vectors. */
const EIP55 = [
  '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed',
  '0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359',
  '0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB',
  '0xD1220A0cf47c7B9Be7A2E6BA89F429762e7b9aDb',
];

describe('addresses', () => {
  it('families: ETH and ETC are EVM, ZEC is Zcash, the rest are paid by hand', () => {
    expect(familyOf('ETH')).toBe('evm');
    expect(familyOf('ETC')).toBe('evm');
    expect(familyOf('ZEC')).toBe('zcash');
    expect(familyOf('BTC')).toBe('manual');
    expect(familyOf('eth')).toBe('manual');
  });

  it('ETH: accepts checksummed and all-lowercase addresses', () => {
    for (const a of EIP55) {
      expect(validateAddress(ETH, a), a).toBeNull();
      expect(validateAddress(ETC, a), a).toBeNull();
      expect(validateAddress(ETH, a.toLowerCase()), a).toBeNull();
    }
    expect(validateAddress(ETH, '0x0000000000000000000000000000000000000000')).toBeNull();
  });

  it('ETH: refuses a broken checksum, a wrong length, a missing 0x, non-hex and garbage', () => {
    const good = EIP55[0] as string;
    const flipped = good.slice(0, 3) + (good[3] === 'A' ? 'a' : 'A') + good.slice(4); // 0x5a → 0x5A: checksum broken
    expect(flipped).not.toBe(good);
    const bad = [
      flipped,
      good.toUpperCase(),
      `0X${good.slice(2)}`,
      good.slice(2),
      good.slice(0, 41),
      `${good}0`,
      `${good.slice(0, 41)}g`,
      '0x',
      '',
      ' ',
      ` ${good}`,
      `${good} `,
      'not an address',
      't1Vz5nXr6Y4GbEEmL5N2ZVGQcT3kq4e9T5P',
      '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed\n',
    ];
    for (const a of bad) expect(validateAddress(ETH, a), JSON.stringify(a)).toMatch(/not a valid ETH address/);
    expect(validateAddress(ETC, flipped)).toMatch(/not a valid ETC address/);
  });

  it("ETH: every address from a key is valid (the hot wallet's derivation gives viem's address), and changing the case of any one letter breaks it", () => {
    fc.assert(
      fc.property(key32, fc.nat(), (key, pick) => {
        const a = privateKeyToAddress(`0x${Buffer.from(key).toString('hex')}`);
        expect(getAddress(a)).toBe(a);
        expect(hotWalletAddress('ETH', key)).toBe(a);
        expect(validateAddress(ETH, a)).toBeNull();
        const letters = [...a.slice(2)].flatMap((ch, i) => (/[a-fA-F]/.test(ch) ? [i + 2] : []));
        fc.pre(letters.length > 0);
        const i = letters[pick % letters.length] as number;
        const ch = a[i] as string;
        const other = a.slice(0, i) + (ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()) + a.slice(i + 1);
        // Lowercase everywhere is the one unchecksummed spelling that is allowed.
        if (other !== other.toLowerCase()) expect(validateAddress(ETH, other)).toMatch(/not a valid ETH address/);
      }),
      { numRuns: 200 },
    );
  });

  it("ETH: the same verdict as viem's isAddress (strict) on any spelling of any 20 bytes", () => {
    fc.assert(
      fc.property(hash20, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (bytes, upper) => {
        const hex = [...Buffer.from(bytes).toString('hex')].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
        for (const a of [`0x${hex}`, getAddress(`0x${hex.toLowerCase()}`)])
          expect(validateAddress(ETH, a) === null, a).toBe(isAddress(a, { strict: true }));
      }),
      { numRuns: 500 },
    );
  });

  it('ZEC: the prefixes spell t1/t3 on mainnet and tm/t2 on testnet', () => {
    fc.assert(
      fc.property(hash20, (h) => {
        expect(zaddr(PREFIX.t1, h).slice(0, 2)).toBe('t1');
        expect(zaddr(PREFIX.t3, h).slice(0, 2)).toBe('t3');
        expect(zaddr(PREFIX.tm, h).slice(0, 2)).toBe('tm');
        expect(zaddr(PREFIX.t2, h).slice(0, 2)).toBe('t2');
      }),
      { numRuns: 100 },
    );
  });

  it('ZEC: accepts t1 and t3 on mainnet, tm and t2 on testnet', () => {
    fc.assert(
      fc.property(hash20, (h) => {
        expect(validateAddress(ZEC, zaddr(PREFIX.t1, h))).toBeNull();
        expect(validateAddress(ZEC, zaddr(PREFIX.t3, h))).toBeNull();
        expect(validateAddress(ZEC_TEST, zaddr(PREFIX.tm, h))).toBeNull();
        expect(validateAddress(ZEC_TEST, zaddr(PREFIX.t2, h))).toBeNull();
      }),
      { numRuns: 100 },
    );
  });

  it('ZEC: detects the wrong network, both ways', () => {
    fc.assert(
      fc.property(hash20, (h) => {
        expect(validateAddress(ZEC, zaddr(PREFIX.tm, h))).toBe('a testnet address for a mainnet coin');
        expect(validateAddress(ZEC, zaddr(PREFIX.t2, h))).toBe('a testnet address for a mainnet coin');
        expect(validateAddress(ZEC_TEST, zaddr(PREFIX.t1, h))).toBe('a mainnet address for a testnet coin');
        expect(validateAddress(ZEC_TEST, zaddr(PREFIX.t3, h))).toBe('a mainnet address for a testnet coin');
      }),
      { numRuns: 100 },
    );
  });

  it("ZEC: refuses garbage, a broken checksum, a wrong length, an unknown prefix, and other chains' addresses", () => {
    const h = Uint8Array.from({ length: 20 }, (_, i) => i * 7);
    const good = zaddr(PREFIX.t1, h);
    expect(validateAddress(ZEC, good)).toBeNull();
    // One character changed: the checksum catches it.
    const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    for (let i = 2; i < good.length; i++) {
      const ch = good[i] as string;
      const repl = alphabet[(alphabet.indexOf(ch) + 1) % alphabet.length] as string;
      const typo = good.slice(0, i) + repl + good.slice(i + 1);
      expect(validateAddress(ZEC, typo), typo).not.toBeNull();
    }
    expect(validateAddress(ZEC, zaddr(PREFIX.t1, h.subarray(0, 19)))).toMatch(/wrong length/);
    expect(validateAddress(ZEC, b58.encode(Uint8Array.from([0x1c, 0xb8, ...h, 0])))).toMatch(/wrong length/);
    expect(validateAddress(ZEC, zaddr([0x1c, 0xb9], h))).toMatch(/unknown prefix/);
    expect(validateAddress(ZEC, zaddr([0x00, 0x00], h))).toMatch(/unknown prefix/);
    // A Bitcoin P2PKH address (one-byte prefix) is 21 bytes, not 22.
    expect(validateAddress(ZEC, b58.encode(Uint8Array.from([0x00, ...h])))).toMatch(/wrong length/);
    for (const a of [
      '',
      'garbage',
      '0OIl',
      `${good} `,
      ` ${good}`,
      good.slice(0, -1),
      `${good}1`,
      EIP55[0] as string,
      'zs1somesaplingaddress',
    ]) {
      expect(validateAddress(ZEC, a), JSON.stringify(a)).toMatch(/not a (valid )?ZEC transparent address/);
    }
  });

  it('zcashP2pkhAddress round-trips through validateAddress on its own network only', () => {
    fc.assert(
      fc.property(hash20, fc.constantFrom('mainnet' as const, 'testnet' as const), (h, network) => {
        const a = zcashP2pkhAddress(network, h);
        expect(a.slice(0, 2)).toBe(network === 'mainnet' ? 't1' : 'tm');
        expect(validateAddress({ tag: 'ZEC', network }, a)).toBeNull();
        expect(validateAddress({ tag: 'ZEC', network: network === 'mainnet' ? 'testnet' : 'mainnet' }, a)).toMatch(
          /address for a \w+ coin/,
        );
        // The address carries exactly the hash it was made from.
        const raw = b58.decode(a);
        expect(Buffer.from(raw.subarray(2)).equals(Buffer.from(h))).toBe(true);
        expect(zaddr(network === 'mainnet' ? PREFIX.t1 : PREFIX.tm, h)).toBe(a);
      }),
      { numRuns: 200 },
    );
    expect(() => zcashP2pkhAddress('mainnet', new Uint8Array(19))).toThrow(/20 bytes/);
    expect(() => zcashP2pkhAddress('mainnet', new Uint8Array(21))).toThrow(/20 bytes/);
  });

  it('manual coins: any printable address up to 128 characters, nothing else', () => {
    const BTC = { tag: 'BTC', network: 'mainnet' } as const;
    for (const a of ['bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq', 'x', '~'.repeat(128), 'memo:12345'])
      expect(validateAddress(BTC, a)).toBeNull();
    for (const a of ['', 'a b', 'a\tb', 'a\nb', 'é', 'x'.repeat(129), '\u0000']) {
      expect(validateAddress(BTC, a), JSON.stringify(a)).toBe('address is empty, too long or not printable');
    }
  });
});
