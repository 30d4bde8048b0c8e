// The schedule's only source of choices: a small deterministic generator (mulberry32) from a seed, so a
// failing seed replays the same operations and faults (the chains' replies aside, which the harness
// does not randomise). Addresses and keys are drawn from node:crypto instead: they must be fresh on a
// node shared across worlds, and no decision depends on them.

export class Rng {
  #s: number;

  constructor(seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`a seed is a non-negative safe integer, not ${seed}`);
    this.#s = ((seed >>> 0) ^ Math.imul(Math.floor(seed / 2 ** 32), 0x9e3779b9)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }

  /** Uniform in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new Error(`Rng.int(${n})`);
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new Error('Rng.pick of nothing');
    return xs[this.int(xs.length)] as T;
  }

  /** One of the entries, in proportion to its weight (entries of weight 0 never). */
  weighted<T>(entries: ReadonlyArray<readonly [T, number]>): T {
    const total = entries.reduce((a, [, w]) => a + Math.max(0, w), 0);
    if (!(total > 0)) throw new Error('Rng.weighted: no entry has a weight');
    let r = this.next() * total;
    for (const [x, w] of entries) {
      if (w <= 0) continue;
      r -= w;
      if (r < 0) return x;
    }
    return entries.filter(([, w]) => w > 0).at(-1)![0];
  }
}
