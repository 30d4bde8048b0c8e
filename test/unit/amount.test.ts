// Exact amounts: NUMERIC(50,20) as a bigint of 10^-20 units. Pure, so it runs once per suite.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  add,
  AmountError,
  formatAmount,
  fromBaseUnits,
  fromUnits,
  neg,
  parseAmount,
  SCALE,
  sub,
  sum,
  toBaseUnits,
  ZERO,
  type Amount,
} from '../../src/money/amount.js';

/** NUMERIC(50,20): |units| < 10^50, i.e. at most 30 integer digits. */
const LIMIT = 10n ** 50n;
const MAX = LIMIT - 1n;
const inRange = fc.bigInt({ min: -MAX, max: MAX });
/** Mostly small values, where the fractional part and its zeros are interesting; sometimes the full range. */
const units = fc.oneof(inRange, fc.bigInt({ min: -(10n ** 22n), max: 10n ** 22n }), fc.bigInt({ min: -1000n, max: 1000n }));
const decimals = fc.integer({ min: 0, max: SCALE });

const amt = (n: bigint) => n as Amount;

describe('amounts', () => {
  it('SCALE is 20 decimal places, like NUMERIC(50,20)', () => {
    expect(SCALE).toBe(20);
    expect(parseAmount('1')).toBe(10n ** 20n);
    expect(parseAmount('0.00000000000000000001')).toBe(1n);
  });

  it('formatAmount then parseAmount is the identity over the whole NUMERIC(50,20) range', () => {
    fc.assert(
      fc.property(units, (u) => {
        const text = formatAmount(amt(u));
        expect(parseAmount(text)).toBe(u);
      }),
      { numRuns: 2000 },
    );
  });

  it('formats canonically: no trailing fractional zeros, no "-0", no leading zeros, no "+"', () => {
    fc.assert(
      fc.property(units, (u) => {
        const text = formatAmount(amt(u));
        expect(text).toMatch(/^-?(0|[1-9]\d*)(\.\d*[1-9])?$/);
        expect(text).not.toBe('-0');
        if (u === 0n) expect(text).toBe('0');
      }),
      { numRuns: 1000 },
    );
  });

  it('parses any decimal spelling of a value to the same amount, and formats it back canonically', () => {
    // A value written with leading zeros, trailing fractional zeros, or as -0: one amount, one canonical text.
    const spelling = fc.record({
      neg: fc.boolean(),
      whole: fc.bigInt({ min: 0n, max: 10n ** 30n - 1n }),
      frac: fc.bigInt({ min: 0n, max: 10n ** 20n - 1n }),
      leadingZeros: fc.integer({ min: 0, max: 3 }),
      trailingZeros: fc.integer({ min: 0, max: 5 }),
      dot: fc.boolean(),
    });
    fc.assert(
      fc.property(spelling, (s) => {
        const fracText = s.frac.toString().padStart(20, '0').replace(/0+$/, '');
        const fracPart = fracText || s.dot ? `.${fracText || '0'}${'0'.repeat(s.trailingZeros)}` : '';
        const text = `${s.neg ? '-' : ''}${'0'.repeat(s.leadingZeros)}${s.whole}${fracPart}`;
        const units = s.whole * 10n ** 20n + s.frac;
        const expected = s.neg ? -units : units;
        const a = parseAmount(text);
        expect(a).toBe(expected);
        expect(formatAmount(a)).toBe(formatAmount(amt(expected)));
        expect(parseAmount(formatAmount(a))).toBe(a);
      }),
      { numRuns: 1000 },
    );
  });

  it('canonical examples', () => {
    const cases: Array<[string, string]> = [
      ['1.50', '1.5'],
      ['-0', '0'],
      ['-0.000', '0'],
      ['0.0', '0'],
      ['007', '7'],
      ['-007.10', '-7.1'],
      ['1.50000000000000000000', '1.5'],
      ['0.00000000000000000001', '0.00000000000000000001'],
      ['-0.00000000000000000001', '-0.00000000000000000001'],
      ['123456789012345678901234567890', '123456789012345678901234567890'],
      ['999999999999999999999999999999.99999999999999999999', '999999999999999999999999999999.99999999999999999999'],
      ['-999999999999999999999999999999.99999999999999999999', '-999999999999999999999999999999.99999999999999999999'],
    ];
    for (const [input, canonical] of cases) expect(formatAmount(parseAmount(input)), input).toBe(canonical);
    expect(formatAmount(ZERO)).toBe('0');
    expect(formatAmount(neg(ZERO))).toBe('0');
  });

  it('refuses anything that is not a plain decimal: exponents, two dots, signs, blanks, words', () => {
    const bad = [
      '1e5',
      '1E5',
      '1e-5',
      '1.5e3',
      '0.1.2',
      '1..2',
      '.5',
      '5.',
      '-',
      '',
      ' ',
      ' 1',
      '1 ',
      '+1',
      '--1',
      '- 1',
      '1,5',
      '1_000',
      '0x10',
      '0b1',
      'NaN',
      'Infinity',
      '-Infinity',
      'one',
      '١',
      '1\n',
      '\t1',
      '½',
      '1/2',
      '١٢',
    ];
    for (const text of bad) expect(() => parseAmount(text), JSON.stringify(text)).toThrow(AmountError);
    expect(() => parseAmount('1e5')).toThrow(/not a decimal number/);
    expect(() => parseAmount('0.1.2', 'fee')).toThrow(/^fee: not a decimal number/);
  });

  it('refuses random strings that are not decimals, and accepts exactly the ones that are', () => {
    const chars = fc.string({ unit: fc.constantFrom('0', '1', '9', '.', '-', 'e', '+', ' '), maxLength: 8 });
    fc.assert(
      fc.property(chars, (text) => {
        const plain = /^-?\d+(\.\d+)?$/.test(text);
        if (plain) expect(() => parseAmount(text)).not.toThrow();
        else expect(() => parseAmount(text)).toThrow(AmountError);
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses more than 20 decimal places, but not trailing zeros beyond them (the value is exact)', () => {
    expect(() => parseAmount('0.000000000000000000001')).toThrow(/more than 20 decimal places/);
    expect(() => parseAmount('1.123456789012345678901')).toThrow(AmountError);
    expect(() => parseAmount('-0.000000000000000000009')).toThrow(AmountError);
    fc.assert(
      fc.property(fc.integer({ min: 21, max: 40 }), fc.integer({ min: 1, max: 9 }), (places, digit) => {
        const text = `0.${'0'.repeat(places - 1)}${digit}`;
        expect(() => parseAmount(text)).toThrow(/more than 20 decimal places/);
      }),
    );
    expect(parseAmount('1.5000000000000000000000000')).toBe(parseAmount('1.5'));
  });

  it('refuses values outside NUMERIC(50,20), at the exact boundary', () => {
    const big = `1${'0'.repeat(30)}`; // 10^30: 31 integer digits
    expect(() => parseAmount(big)).toThrow(/exceeds NUMERIC\(50,20\)/);
    expect(() => parseAmount(`-${big}`)).toThrow(AmountError);
    expect(() => parseAmount(`${big}.0`)).toThrow(AmountError);
    expect(() => parseAmount('9'.repeat(60))).toThrow(AmountError);
    expect(parseAmount(`${'9'.repeat(30)}.${'9'.repeat(20)}`)).toBe(MAX);
    expect(parseAmount(`-${'9'.repeat(30)}.${'9'.repeat(20)}`)).toBe(-MAX);
    // Leading zeros do not count as digits.
    expect(parseAmount(`${'0'.repeat(40)}1`)).toBe(10n ** 20n);
    expect(() => fromUnits(LIMIT)).toThrow(AmountError);
    expect(() => fromUnits(-LIMIT)).toThrow(AmountError);
    expect(fromUnits(MAX)).toBe(MAX);
  });

  it('arithmetic is exact and refuses to leave the range', () => {
    fc.assert(
      fc.property(units, units, (a, b) => {
        const s = a + b;
        if (s > -LIMIT && s < LIMIT) expect(add(amt(a), amt(b))).toBe(s);
        else expect(() => add(amt(a), amt(b))).toThrow(AmountError);
        const d = a - b;
        if (d > -LIMIT && d < LIMIT) expect(sub(amt(a), amt(b))).toBe(d);
        else expect(() => sub(amt(a), amt(b))).toThrow(AmountError);
      }),
      { numRuns: 1000 },
    );
    expect(formatAmount(add(parseAmount('0.1'), parseAmount('0.2')))).toBe('0.3');
    expect(sum([])).toBe(0n);
    expect(sum([parseAmount('0.1'), parseAmount('0.2'), parseAmount('-0.3')])).toBe(0n);
    expect(() => sum([MAX as Amount, 1n as Amount])).toThrow(AmountError);
  });
});

describe('base units', () => {
  it('fromBaseUnits then toBaseUnits is the identity, for every number of decimals', () => {
    fc.assert(
      // Every count of base units that fits NUMERIC(50,20): |u| < 10^(30 + decimals).
      fc.property(
        decimals.chain((d) => fc.tuple(fc.constant(d), fc.bigInt({ min: -(10n ** BigInt(30 + d)) + 1n, max: 10n ** BigInt(30 + d) - 1n }))),
        ([d, u]) => {
          const a = fromBaseUnits(u, d);
          expect(a).toBe(u * 10n ** BigInt(SCALE - d));
          expect(toBaseUnits(a, d)).toBe(u);
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('toBaseUnits accepts exactly the amounts with at most `decimals` places, and is exact on them', () => {
    fc.assert(
      fc.property(units, decimals, (u, d) => {
        const step = 10n ** BigInt(SCALE - d);
        if (u % step === 0n) {
          expect(toBaseUnits(amt(u), d)).toBe(u / step);
          expect(fromBaseUnits(toBaseUnits(amt(u), d), d)).toBe(u);
        } else {
          expect(() => toBaseUnits(amt(u), d)).toThrow(/more than \d+ decimal places/);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('known conversions: wei and zatoshi', () => {
    expect(toBaseUnits(parseAmount('1'), 18)).toBe(10n ** 18n);
    expect(toBaseUnits(parseAmount('0.000000000000000001'), 18)).toBe(1n);
    expect(toBaseUnits(parseAmount('1.25'), 8)).toBe(125_000_000n);
    expect(toBaseUnits(parseAmount('-0.5'), 8)).toBe(-50_000_000n);
    expect(formatAmount(fromBaseUnits(1n, 8))).toBe('0.00000001');
    expect(formatAmount(fromBaseUnits(1n, 18))).toBe('0.000000000000000001');
    expect(formatAmount(fromBaseUnits(123n, 0))).toBe('123');
    expect(formatAmount(fromBaseUnits(1n, 20))).toBe('0.00000000000000000001');
  });

  it('refuses sub-unit amounts instead of rounding them', () => {
    expect(() => toBaseUnits(parseAmount('0.0000000000000000001'), 18)).toThrow(/more than 18 decimal places/);
    expect(() => toBaseUnits(parseAmount('0.000000001'), 8)).toThrow(/more than 8 decimal places/);
    expect(() => toBaseUnits(parseAmount('1.123456789'), 8)).toThrow(AmountError);
    expect(() => toBaseUnits(parseAmount('-0.000000001'), 8)).toThrow(AmountError);
    expect(() => toBaseUnits(parseAmount('0.5'), 0)).toThrow(AmountError);
  });

  it('refuses a decimals value that is not an integer in 0..20', () => {
    for (const d of [-1, 21, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => toBaseUnits(parseAmount('1'), d), String(d)).toThrow(/decimals out of range/);
      expect(() => fromBaseUnits(1n, d), String(d)).toThrow(/decimals out of range/);
    }
  });

  it('fromBaseUnits refuses a count of base units beyond NUMERIC(50,20)', () => {
    expect(() => fromBaseUnits(10n ** 30n, 0)).toThrow(AmountError);
    expect(fromBaseUnits(10n ** 30n - 1n, 0)).toBe((10n ** 30n - 1n) * 10n ** 20n);
    expect(() => fromBaseUnits(10n ** 48n, 18)).toThrow(AmountError);
    expect(() => fromBaseUnits(-(10n ** 48n), 18)).toThrow(AmountError);
  });
});
