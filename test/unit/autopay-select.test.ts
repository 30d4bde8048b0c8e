// Autopay's selection rules: pure, so it runs once per suite.
import { describe, expect, it } from 'vitest';
import { effectiveThreshold, selectPayees, type AutopayRules, type Candidate, type Selection } from '../../src/autopay/select.js';
import { add, formatAmount, fromUnits, parseAmount as a, sub, sum, ZERO } from '../../src/money/amount.js';

const ONE_UNIT = fromUnits(1n);
const ETH = { tag: 'ETH', minWithdrawal: a('0.05'), withdrawalFee: a('0.01') };
const RULES: AutopayRules = { coin: ETH, threshold: a('0.1'), maxPerRun: 100 };

/** A candidate with a signed wallet (id 1000 + userId) and no threshold of its own, unless told. */
function cand(userId: number, available: string, more: Partial<Candidate> = {}): Candidate {
  return { userId, available: a(available), ownThreshold: null, walletId: 1000 + userId, walletProblem: null, ...more };
}

const paidIds = (s: Selection) => s.payees.map((p) => p.userId);

describe('autopay selection', () => {
  it('effectiveThreshold: the own threshold raises the coin threshold, never lowers it', () => {
    expect(effectiveThreshold(a('0.1'), null)).toBe(a('0.1'));
    expect(effectiveThreshold(a('0.1'), a('0.5'))).toBe(a('0.5'));
    expect(effectiveThreshold(a('0.1'), a('0.01'))).toBe(a('0.1'));
    expect(effectiveThreshold(a('0.1'), ZERO)).toBe(a('0.1'));
    expect(effectiveThreshold(a('0.1'), a('-1'))).toBe(a('0.1'));
    expect(effectiveThreshold(a('0.1'), add(a('0.1'), ONE_UNIT))).toBe(add(a('0.1'), ONE_UNIT));
  });

  it('pays the whole available balance, with the coin fee, to the signed wallet', () => {
    const s = selectPayees(RULES, [cand(1, '0.123456789012345678')]);
    expect(s.payees).toEqual([{ userId: 1, walletId: 1001, amount: a('0.123456789012345678'), fee: a('0.01') }]);
    expect(s.skipped).toEqual([]);
    expect(s.belowThreshold).toBe(0);
    expect(s.total).toBe(a('0.123456789012345678'));
  });

  it('pays exactly at the threshold; one unit below is counted below threshold, not listed', () => {
    const s = selectPayees(RULES, [cand(1, '0.1'), { ...cand(2, '0'), available: sub(a('0.1'), ONE_UNIT) }]);
    expect(paidIds(s)).toEqual([1]);
    expect(s.skipped).toEqual([]);
    expect(s.belowThreshold).toBe(1);
  });

  it('an own threshold above the coin threshold holds the user back until it is reached', () => {
    const own = { ownThreshold: a('0.5') };
    const s = selectPayees(RULES, [cand(1, '0.3', own), cand(2, '0.5', own), { ...cand(3, '0', own), available: sub(a('0.5'), ONE_UNIT) }]);
    expect(paidIds(s)).toEqual([2]);
    expect(s.skipped).toEqual([]);
    expect(s.belowThreshold).toBe(2);
  });

  it('an own threshold below the coin threshold does not lower it', () => {
    const own = { ownThreshold: a('0.06') };
    const s = selectPayees(RULES, [cand(1, '0.07', own), cand(2, '0.09', own), cand(3, '0.1', own)]);
    expect(paidIds(s)).toEqual([3]);
    expect(s.belowThreshold).toBe(2);
  });

  it('without a signed wallet: skipped with the reason when above the threshold, only counted below it', () => {
    const s = selectPayees(RULES, [
      cand(5, '2', { walletId: null, walletProblem: 'wallet 17 not reviewed yet' }),
      cand(6, '0.05', { walletId: null, walletProblem: 'no wallet for ETH' }),
      cand(7, '1', { walletId: null, walletProblem: null }),
    ]);
    expect(s.payees).toEqual([]);
    expect(s.skipped).toEqual([
      { userId: 5, reason: 'no signed wallet: wallet 17 not reviewed yet' },
      { userId: 7, reason: 'no signed wallet: none given' },
    ]);
    expect(s.belowThreshold).toBe(1);
    expect(s.total).toBe(ZERO);
  });

  it("the coin's minimum withdrawal: below it skipped with the amounts, exactly at it paid", () => {
    const rules = { ...RULES, coin: { ...ETH, minWithdrawal: a('0.2') } };
    const s = selectPayees(rules, [cand(1, '0.15'), cand(2, '0.2'), { ...cand(3, '0'), available: sub(a('0.2'), ONE_UNIT) }]);
    expect(paidIds(s)).toEqual([2]);
    expect(s.skipped).toEqual([
      { userId: 1, reason: "below the coin's minimum withdrawal 0.2 ETH: 0.15 available" },
      { userId: 3, reason: "below the coin's minimum withdrawal 0.2 ETH: 0.19999999999999999999 available" },
    ]);
    expect(s.belowThreshold).toBe(0);
  });

  it('the fee: a balance equal to it is skipped (nothing on-chain), one unit more is paid', () => {
    const rules = { ...RULES, threshold: a('0.05'), coin: { ...ETH, minWithdrawal: ZERO, withdrawalFee: a('0.1') } };
    const s = selectPayees(rules, [cand(1, '0.1'), { ...cand(2, '0'), available: add(a('0.1'), ONE_UNIT) }, cand(3, '0.07')]);
    expect(s.payees).toEqual([{ userId: 2, walletId: 1002, amount: add(a('0.1'), ONE_UNIT), fee: a('0.1') }]);
    expect(s.skipped).toEqual([
      { userId: 1, reason: 'not above the withdrawal fee 0.1 ETH: 0.1 available, nothing would reach the chain' },
      { userId: 3, reason: 'not above the withdrawal fee 0.1 ETH: 0.07 available, nothing would reach the chain' },
    ]);
  });

  it('max_per_run: the largest balances first, ties by lower userId, the rest skipped for the next run', () => {
    const s = selectPayees({ ...RULES, maxPerRun: 3 }, [
      cand(9, '1'),
      cand(8, '3'),
      cand(7, '2'),
      cand(4, '2'),
      cand(3, '3'),
      cand(1, '0.5'),
      cand(2, '0.01'),
    ]);
    // 8 and 3 tie at 3 (3 first); 7 and 4 tie at 2 across the cut: 4 is paid, 7 waits.
    expect(paidIds(s)).toEqual([3, 8, 4]);
    const next = 'over max_per_run (3): next run';
    expect(s.skipped).toEqual([
      { userId: 1, reason: next },
      { userId: 7, reason: next },
      { userId: 9, reason: next },
    ]);
    expect(s.belowThreshold).toBe(1);
    expect(s.total).toBe(a('8'));
  });

  it('the order of the candidates changes nothing', () => {
    const cs = [cand(9, '1'), cand(8, '3'), cand(7, '2'), cand(4, '2'), cand(3, '3'), cand(6, '5', { walletId: null, walletProblem: 'x' })];
    const rules = { ...RULES, maxPerRun: 2 };
    expect(selectPayees(rules, [...cs].reverse())).toEqual(selectPayees(rules, cs));
  });

  it('the total is the exact sum of the amounts (0.1 + 0.2 is 0.3 here)', () => {
    const s = selectPayees(RULES, [
      cand(1, '0.1'),
      cand(2, '0.2'),
      cand(3, '0.00000000000000000001', { walletId: null, walletProblem: 'x' }),
    ]);
    expect(s.total).toBe(a('0.3'));
    expect(formatAmount(s.total)).toBe('0.3');
  });

  it('accepts any iterable, read once', () => {
    function* gen(): Generator<Candidate> {
      yield cand(1, '0.5');
      yield cand(2, '0.01');
    }
    const s = selectPayees(RULES, gen());
    expect(paidIds(s)).toEqual([1]);
    expect(s.belowThreshold).toBe(1);
  });

  it('refuses a user listed twice, a threshold ≤ 0, a negative fee and a max_per_run that is not a positive integer', () => {
    expect(() => selectPayees(RULES, [cand(1, '1'), cand(1, '1')])).toThrow(/user 1 is a candidate twice/);
    expect(() => selectPayees({ ...RULES, threshold: ZERO }, [])).toThrow(/threshold must be > 0/);
    expect(() => selectPayees({ ...RULES, coin: { ...ETH, withdrawalFee: a('-0.01') } }, [])).toThrow(/negative/);
    expect(() => selectPayees({ ...RULES, maxPerRun: 0 }, [])).toThrow(/max_per_run/);
    expect(() => selectPayees({ ...RULES, maxPerRun: 1.5 }, [])).toThrow(/max_per_run/);
    expect(selectPayees(RULES, [])).toEqual({ payees: [], skipped: [], belowThreshold: 0, total: ZERO });
  });

  it('random candidates: every rule holds for a few thousand users per run', () => {
    const reasons = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      const rnd = mulberry32(seed);
      const int = (n: number) => Math.floor(rnd() * n);
      // Amounts on a 0.001 grid, so ties and exact edges (threshold, minimum, fee) happen often.
      const milli = (n: number) => fromUnits(BigInt(n) * 10n ** 17n);
      const coin = { tag: 'ZEC', minWithdrawal: milli(int(150)), withdrawalFee: milli(int(60)) };
      const rules: AutopayRules = { coin, threshold: milli(1 + int(100)), maxPerRun: 1 + int(400) };
      const n = 2000 + int(2000);
      const cs: Candidate[] = [];
      for (let i = 0; i < n; i++) {
        const hasWallet = rnd() < 0.85;
        cs.push({
          userId: 1 + i * 3 + int(3), // unique, not in a simple order once shuffled
          available: milli(int(400) - 20),
          ownThreshold: rnd() < 0.3 ? milli(int(300)) : null,
          walletId: hasWallet ? 50_000 + i : null,
          walletProblem: hasWallet ? null : 'not signed',
        });
      }
      shuffle(cs, rnd);
      const s = selectPayees(rules, cs);
      const byId = new Map(cs.map((c) => [c.userId, c]));
      const eff = (c: Candidate) => (c.ownThreshold !== null && c.ownThreshold > rules.threshold ? c.ownThreshold : rules.threshold);
      const qualifies = (c: Candidate) =>
        c.available >= eff(c) && c.walletId !== null && c.available >= coin.minWithdrawal && c.available > coin.withdrawalFee;

      const paid = new Set(paidIds(s));
      expect(paid.size).toBe(s.payees.length); // no payee twice
      expect(s.payees.length).toBeLessThanOrEqual(rules.maxPerRun);
      for (const p of s.payees) {
        const c = byId.get(p.userId) as Candidate;
        expect(p.amount).toBe(c.available);
        expect(p.amount >= eff(c)).toBe(true);
        expect(p.amount >= effectiveThreshold(rules.threshold, c.ownThreshold)).toBe(true);
        expect(qualifies(c)).toBe(true);
        expect(p.walletId).toBe(c.walletId);
        expect(p.fee).toBe(coin.withdrawalFee);
      }
      const overMax = s.skipped.filter((k) => k.reason === `over max_per_run (${rules.maxPerRun}): next run`);
      const overIds = new Set(overMax.map((k) => k.userId));
      const qualifying = cs.filter(qualifies);
      for (const c of qualifying) expect(paid.has(c.userId) !== overIds.has(c.userId)).toBe(true);
      expect(s.payees.length).toBe(Math.min(rules.maxPerRun, qualifying.length));
      expect(paid.size + overIds.size).toBe(qualifying.length);
      // Largest first, and no one waiting is owed more than anyone paid (or as much with a lower id).
      for (let i = 1; i < s.payees.length; i++) {
        const [prev, cur] = [s.payees[i - 1], s.payees[i]] as [(typeof s.payees)[0], (typeof s.payees)[0]];
        expect(prev.amount > cur.amount || (prev.amount === cur.amount && prev.userId < cur.userId)).toBe(true);
      }
      const last = s.payees.at(-1);
      for (const id of overIds) {
        const w = byId.get(id) as Candidate;
        if (last) expect(w.available < last.amount || (w.available === last.amount && w.userId > last.userId)).toBe(true);
      }
      // Every candidate accounted for once: paid, skipped with a reason, or counted below threshold.
      const skippedIds = s.skipped.map((k) => k.userId);
      expect(new Set(skippedIds).size).toBe(skippedIds.length);
      for (const id of skippedIds) expect(paid.has(id)).toBe(false);
      expect(s.belowThreshold).toBe(cs.filter((c) => c.available < eff(c)).length);
      expect(paid.size + skippedIds.length + s.belowThreshold).toBe(n);
      for (const k of s.skipped) {
        const c = byId.get(k.userId) as Candidate;
        expect(c.available >= eff(c)).toBe(true);
        expect(qualifies(c)).toBe(overIds.has(c.userId));
        reasons.add(
          /^(no signed wallet|below the coin's minimum withdrawal|not above the withdrawal fee|over max_per_run)/.exec(k.reason)?.[1] ??
            k.reason,
        );
      }
      expect(skippedIds).toEqual([...skippedIds].sort((x, y) => x - y));
      expect(s.total).toBe(sum(s.payees.map((p) => p.amount)));
      // The cases that matter were exercised, not just generated.
      expect(qualifying.length).toBeGreaterThan(0);
      expect(s.belowThreshold).toBeGreaterThan(0);
    }
    // Across the seeds, every kind of skip happened.
    expect([...reasons].sort()).toEqual([
      "below the coin's minimum withdrawal",
      'no signed wallet',
      'not above the withdrawal fee',
      'over max_per_run',
    ]);
  });
});

/** A small seeded PRNG (mulberry32): the same candidates on every run. */
function mulberry32(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffle<T>(xs: T[], rnd: () => number): void {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
}
