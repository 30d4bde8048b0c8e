import { describe, expect, it } from 'vitest';
import { DERIVED_ID_MIN, derivedUserId } from '../../src/pools/user-id.js';

describe('derived user ids of a pool keyed by address', () => {
  it('are safe integers at or above 2^52, the same for the same address, distinct across pools, coins and addresses', () => {
    const ids = new Set<number>();
    for (let i = 0; i < 5_000; i++) {
      const id = derivedUserId('oep:eth', 'ETH', `0x${i.toString(16).padStart(40, '0')}`);
      expect(Number.isSafeInteger(id)).toBe(true);
      expect(id).toBeGreaterThanOrEqual(DERIVED_ID_MIN);
      ids.add(id);
    }
    expect(ids.size).toBe(5_000);
    const a = '0x00000000000000000000000000000000000000aa';
    expect(derivedUserId('oep:eth', 'ETH', a)).toBe(derivedUserId('oep:eth', 'ETH', a));
    expect(derivedUserId('oep:eth', 'ETC', a)).not.toBe(derivedUserId('oep:eth', 'ETH', a));
    expect(derivedUserId('miningcore:pool1', 'ETH', a)).not.toBe(derivedUserId('oep:eth', 'ETH', a));
  });

  it('spread over the whole range (no bits lost in the arithmetic)', () => {
    let max = 0;
    for (let i = 0; i < 2_000; i++) max = Math.max(max, derivedUserId('p', 'C', String(i)) - DERIVED_ID_MIN);
    expect(max).toBeGreaterThan(2 ** 51);
    expect(max).toBeLessThan(2 ** 52);
  });
});
