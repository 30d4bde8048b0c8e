// open-ethereum-pool's Redis formats: keys, members (round trips, malformed members), Shannon and wei, block credits.
import { describe, expect, it } from 'vitest';
import { PoolFormatError } from '../../src/pools/errors.js';
import { maturedBlockCredits } from '../../src/pools/oep/credits.js';
import {
  blockMember,
  creditsAllMember,
  creditsImmatureKey,
  creditsKey,
  financesKey,
  minerKey,
  parseBlockMember,
  parseCreditsAllMember,
  parseCreditsKey,
  parsePaymentAllMember,
  parsePaymentLoginMember,
  parsePendingMember,
  paymentAllMember,
  paymentEntries,
  paymentLoginMember,
  paymentsLockKey,
  pendingMember,
  type BlockMember,
} from '../../src/pools/oep/keys.js';
import { shannonToWei, weiRatioToShannonRounded, weiToShannonExact, weiToShannonFloor } from '../../src/pools/oep/shannon.js';

const LOGIN = '0xb85150eb365e7df0941f0cf08235f987ba91506a';
const TX = '0xe670ec64341771606e55d6b4ca35a1a6b75ee3d5145a99d05921026d1527331'.padEnd(66, '0');
const HASH = `0x${'ab'.repeat(32)}`;

describe('open-ethereum-pool keys', () => {
  it('names the keys as formatKey joins them', () => {
    expect(minerKey('eth', LOGIN)).toBe(`eth:miners:${LOGIN}`);
    expect(financesKey('eth')).toBe('eth:finances');
    expect(paymentsLockKey('eth')).toBe('eth:payments:lock');
    expect(creditsKey('eth', 123n, HASH)).toBe(`eth:credits:123:${HASH}`);
    expect(creditsImmatureKey('eth', 123n, HASH)).toBe(`eth:credits:immature:123:${HASH}`);
    expect(parseCreditsKey('eth', creditsKey('eth', 123n, HASH))).toEqual({ height: 123n, hash: HASH });
  });

  it('refuses a prefix, login or credits key the pool would not write', () => {
    expect(() => minerKey('e:th', LOGIN)).toThrow(/coin prefix/);
    expect(() => minerKey('eth', LOGIN.toUpperCase().replace('0X', '0x'))).toThrow(/login/);
    expect(() => minerKey('eth', `0x${'0'.repeat(40)}`)).toThrow(/login/);
    expect(() => parseCreditsKey('eth', `eth:credits:immature:1:${HASH}`)).toThrow(PoolFormatError);
    expect(() => parseCreditsKey('eth', `etc:credits:1:${HASH}`)).toThrow(/credits key/);
    expect(() => parseCreditsKey('eth', `eth:credits:01:${HASH}`)).toThrow(/height/);
  });
});

describe('open-ethereum-pool members', () => {
  it('round-trips the payment members as docs/PAYOUTS.md shows them', () => {
    const p = { txHash: TX, login: LOGIN, shannon: 25_000_000n };
    expect(paymentAllMember(p)).toBe(`${TX}:${LOGIN}:25000000`);
    expect(paymentLoginMember(p)).toBe(`${TX}:25000000`);
    expect(pendingMember(p)).toBe(`${LOGIN}:25000000`);
    expect(parsePaymentAllMember(paymentAllMember(p))).toEqual(p);
    expect(parsePaymentLoginMember(paymentLoginMember(p))).toEqual({ txHash: TX, shannon: 25_000_000n });
    expect(parsePendingMember(pendingMember(p))).toEqual({ login: LOGIN, shannon: 25_000_000n });
    expect(paymentEntries('eth', p, 1462920526)).toEqual([
      { key: 'eth:payments:all', score: 1462920526, member: `${TX}:${LOGIN}:25000000` },
      { key: `eth:payments:${LOGIN}`, score: 1462920526, member: `${TX}:25000000` },
    ]);
  });

  it('refuses malformed payment members, naming the member', () => {
    const bad = [
      `${TX}:${LOGIN}:25000000:21000`, // the open-etc-pool-friends form, with txCharges
      `${TX}:${LOGIN}`,
      `${TX}:${LOGIN}:0`,
      `${TX}:${LOGIN}:-5`,
      `${TX}:${LOGIN}:025`,
      `${TX}:${LOGIN}:9223372036854775808`,
      `0x12:${LOGIN}:5`,
    ];
    for (const m of bad) expect(() => parsePaymentAllMember(m)).toThrow(/payments:all member|transaction hash/);
    expect(() => parsePaymentLoginMember(`${TX}:1.5`)).toThrow(/payments:<login> member amount/);
    expect(() => parsePendingMember(`${LOGIN}`)).toThrow(/payments:pending member/);
    expect(() => paymentAllMember({ txHash: TX, login: LOGIN, shannon: 0n })).toThrow(/zero/);
  });

  const block: BlockMember = {
    uncleHeight: 0n,
    orphan: false,
    nonce: '0x5ac6b1c4e0b3d3a1',
    hash: HASH,
    timestamp: 1462920526n,
    difficulty: 3_000_000_000_000n,
    totalShares: 2_800_000_000_000n,
    rewardWei: 3_021_000_000_000_000_000n,
  };

  it('round-trips a block member (BlockData.key) and a credits:all member', () => {
    const text = blockMember(block);
    expect(text).toBe(`0:0:0x5ac6b1c4e0b3d3a1:${HASH}:1462920526:3000000000000:2800000000000:3021000000000000000`);
    expect(parseBlockMember(text)).toEqual(block);
    expect(parseBlockMember(blockMember({ ...block, uncleHeight: 99n, orphan: true, hash: '0x0' }))).toMatchObject({
      uncleHeight: 99n,
      orphan: true,
      hash: '0x0',
    });
    const c = { hash: HASH, unixTime: 1462920526n, rewardWei: block.rewardWei };
    expect(parseCreditsAllMember(creditsAllMember(c))).toEqual(c);
  });

  it('refuses malformed block members', () => {
    const good = blockMember(block).split(':');
    const variant = (i: number, v: string) => good.map((f, j) => (j === i ? v : f)).join(':');
    for (const m of [
      variant(1, 'true'),
      variant(3, '0xzz'),
      variant(4, '-1'),
      variant(7, '1.5'),
      good.slice(0, 7).join(':'),
      `${blockMember(block)}:x`,
    ]) {
      expect(() => parseBlockMember(m)).toThrow(PoolFormatError);
    }
  });
});

describe('Shannon and wei', () => {
  it('converts exactly both ways for whole Shannon', () => {
    expect(shannonToWei(25_000_000n)).toBe(25_000_000_000_000_000n);
    expect(weiToShannonExact(25_000_000_000_000_000n)).toBe(25_000_000n);
  });

  it('refuses a payment with a remainder of wei, and floors with the remainder when asked', () => {
    expect(() => weiToShannonExact(10n ** 9n + 1n)).toThrow(/whole number of Shannon/);
    expect(weiToShannonFloor(3n * 10n ** 9n + 7n)).toEqual({ shannon: 3n, remainderWei: 7n });
    expect(() => shannonToWei(2n ** 63n)).toThrow(/int64/);
  });

  it("rounds a miner's cut to the nearest Shannon, halves away from zero, like big.Rat FloatString(0)", () => {
    const S = 10n ** 9n;
    expect(weiRatioToShannonRounded(S / 2n, 1n)).toBe(1n);
    expect(weiRatioToShannonRounded(S / 2n - 1n, 1n)).toBe(0n);
    expect(weiRatioToShannonRounded(-S / 2n, 1n)).toBe(-1n);
    // 1 ether shared by 3 equal miners: 333333333.33 Shannon each, so the three credits sum to 1 Shannon short.
    expect(weiRatioToShannonRounded(10n ** 18n, 3n)).toBe(333_333_333n);
    expect(weiRatioToShannonRounded(2n * 10n ** 18n, 3n)).toBe(666_666_667n);
  });
});

describe('matured block credits', () => {
  const member = blockMember({
    uncleHeight: 0n,
    orphan: false,
    nonce: '0x1',
    hash: HASH,
    timestamp: 1n,
    difficulty: 1n,
    totalShares: 1n,
    rewardWei: 3n * 10n ** 18n,
  });
  const other = '0x' + '1'.repeat(40);

  it('reads the credits hash sorted by login, without zero credits, with its totals', () => {
    const c = maturedBlockCredits(500n, member, { [other]: '2000000000', [LOGIN]: '970000000', ['0x' + '2'.repeat(40)]: '0' });
    expect(c.credits).toEqual([
      { login: other, shannon: 2_000_000_000n },
      { login: LOGIN, shannon: 970_000_000n },
    ]);
    expect(c.totalShannon).toBe(2_970_000_000n);
    expect(c.totalWei).toBe(2_970_000_000n * 10n ** 9n);
    expect(c).toMatchObject({ height: 500n, hash: HASH, rewardWei: 3n * 10n ** 18n, uncleHeight: 0n });
  });

  it('refuses an orphan, a bad login or a bad amount, naming it', () => {
    const orphan = member.replace(/^0:0:/, '0:1:');
    expect(() => maturedBlockCredits(500n, orphan, {})).toThrow(/orphan/);
    expect(() => maturedBlockCredits(500n, member, { [LOGIN.toUpperCase()]: '1' })).toThrow(/credit login/);
    expect(() => maturedBlockCredits(500n, member, { [LOGIN]: '-1' })).toThrow(new RegExp(`credit of ${LOGIN}`));
    expect(() => maturedBlockCredits(-1n, member, {})).toThrow(/block height/);
  });
});
