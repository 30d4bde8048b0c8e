// MiningCore's formats: decimal(28,12) amounts against base units, the usage strings, who its payer would pay.
import { describe, expect, it } from 'vitest';
import { PoolFormatError } from '../../src/pools/errors.js';
import { baseUnitsToDecimal28, decimal28UnitsToBaseUnits, formatDecimal28, parseDecimal28 } from '../../src/pools/miningcore/decimal.js';
import { BLOCK_STATUSES, COLUMNS, MININGCORE_TABLES_SQL, TABLES } from '../../src/pools/miningcore/schema.js';
import { clampMinerThreshold, minerPayoutDue } from '../../src/pools/miningcore/threshold.js';
import { BALANCE_RESET_USAGE, blockRewardUsage, parseUsage } from '../../src/pools/miningcore/usage.js';

const WEI = 10n ** 18n;

describe('MiningCore decimal(28,12)', () => {
  it('reads what PostgreSQL prints and prints it back the same way', () => {
    expect(parseDecimal28('1.500000000000', 'x')).toBe(1_500_000_000_000n);
    expect(parseDecimal28('-0.000000000001', 'x')).toBe(-1n);
    expect(parseDecimal28('7', 'x')).toBe(7_000_000_000_000n);
    expect(formatDecimal28(1_500_000_000_000n)).toBe('1.500000000000');
    expect(formatDecimal28(-1n)).toBe('-0.000000000001');
    for (const t of ['0.000000000000', '9999999999999999.999999999999', '-42.000000000123'])
      expect(formatDecimal28(parseDecimal28(t, 'x'))).toBe(t);
  });

  it('refuses text that is not decimal(28,12), naming it', () => {
    for (const bad of ['', '1.0000000000001', '10000000000000000', '1e5', ' 1', '+1', '1.', 'NaN']) {
      expect(() => parseDecimal28(bad, 'balances.amount')).toThrow(PoolFormatError);
    }
    expect(() => parseDecimal28('1.0000000000001', 'balances.amount')).toThrow(/balances\.amount/);
    expect(() => formatDecimal28(10n ** 28n)).toThrow(/16 integer digits/);
  });

  it('writes a wei payment rounded down to 12 places and returns the wei it leaves out', () => {
    expect(baseUnitsToDecimal28(WEI, 18)).toEqual({ text: '1.000000000000', remainderBaseUnits: 0n });
    expect(baseUnitsToDecimal28(WEI + 999_999n, 18)).toEqual({ text: '1.000000000000', remainderBaseUnits: 999_999n });
    expect(baseUnitsToDecimal28(WEI + 1_000_000n, 18)).toEqual({ text: '1.000000000001', remainderBaseUnits: 0n });
    expect(baseUnitsToDecimal28(999_999n, 18)).toEqual({ text: '0.000000000000', remainderBaseUnits: 999_999n });
    expect(() => baseUnitsToDecimal28(-1n, 18)).toThrow(/negative/);
  });

  it('is exact both ways for a coin with 8 decimals, and for wei read back', () => {
    expect(baseUnitsToDecimal28(123_456_789n, 8)).toEqual({ text: '1.234567890000', remainderBaseUnits: 0n });
    expect(decimal28UnitsToBaseUnits(parseDecimal28('1.234567890000', 'x'), 8)).toEqual({ baseUnits: 123_456_789n, dust: 0n });
    expect(decimal28UnitsToBaseUnits(parseDecimal28('1.000000000001', 'x'), 18)).toEqual({ baseUnits: WEI + 1_000_000n, dust: 0n });
  });

  it('rounds a credit finer than the coin unit toward zero and reports the dust', () => {
    expect(decimal28UnitsToBaseUnits(parseDecimal28('0.123456789999', 'x'), 8)).toEqual({ baseUnits: 12_345_678n, dust: 9999n });
    expect(decimal28UnitsToBaseUnits(parseDecimal28('-0.123456789999', 'x'), 8)).toEqual({ baseUnits: -12_345_678n, dust: -9999n });
  });
});

describe('MiningCore usage strings', () => {
  it('builds and reads the block reward usage', () => {
    expect(blockRewardUsage(812_345n)).toBe('Reward for block 812345');
    expect(parseUsage('Reward for block 812345')).toEqual({ kind: 'block', height: 812_345n });
  });

  it('reads the PPLNS/PROP usage with its formatted share count, and the payment reset', () => {
    expect(parseUsage('Reward for 12.5K shares for block 100')).toEqual({ kind: 'shares', height: 100n, shares: '12.5K' });
    expect(parseUsage('Reward for 0,37M shares for block 7')).toEqual({ kind: 'shares', height: 7n, shares: '0,37M' });
    expect(parseUsage(BALANCE_RESET_USAGE)).toEqual({ kind: 'payment' });
    expect(BALANCE_RESET_USAGE).toBe('Balance reset after payment');
  });

  it('refuses any other usage, NULL included', () => {
    for (const bad of [
      null,
      '',
      'Reward for block',
      'Reward for block 01',
      'reward for block 1',
      'Reward for block 1 ',
      'Balance reset',
      'Reward for 12 shares for block 1',
    ]) {
      expect(() => parseUsage(bad)).toThrow(/balance_changes\.usage/);
    }
  });
});

describe("MiningCore's own payer", () => {
  const min = 1000n;
  it("pays a miner's own threshold instead of minimumPayment, even a lower one (COALESCE), at >=", () => {
    expect(minerPayoutDue(999n, null, min)).toBe(false);
    expect(minerPayoutDue(1000n, null, min)).toBe(true);
    expect(minerPayoutDue(10n, 10n, min)).toBe(true);
    expect(minerPayoutDue(9n, 10n, min)).toBe(false);
  });

  it('clamps a requested threshold up to minimumPayment, never down', () => {
    expect(clampMinerThreshold(5n, min)).toBe(min);
    expect(clampMinerThreshold(5000n, min)).toBe(5000n);
  });
});

describe('MiningCore tables', () => {
  it('creates each table the adapter needs, with its columns and decimal(28,12) amounts', () => {
    for (const [name, table] of Object.entries(TABLES)) {
      const body = new RegExp(`CREATE TABLE ${table}\\s*\\(([^;]*)\\);`).exec(MININGCORE_TABLES_SQL)?.[1] ?? '';
      const columns = body
        .split('\n')
        .map((l) => l.trim().split(/\s+/)[0])
        .filter((c) => c && /^[a-z]+$/.test(c) && c !== 'primary');
      expect(columns).toEqual(COLUMNS[name as keyof typeof COLUMNS]);
    }
    expect(MININGCORE_TABLES_SQL.match(/amount decimal\(28,12\) NOT NULL/g)).toHaveLength(3);
    expect(MININGCORE_TABLES_SQL).not.toMatch(/SET ROLE|CREATE TABLE shares/);
    expect(BLOCK_STATUSES).toEqual(['pending', 'orphaned', 'confirmed']);
  });
});
