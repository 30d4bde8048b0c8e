// Assertions on the money path. A broken invariant means payserv's picture of the money is wrong in a
// way no rule foresaw: it stops payouts (fail-stop, src/payserv/invariant.ts) with the reason, never an
// "internal error" that leaves payouts enabled for the next call to walk into.

export class InvariantError extends Error {
  override name = 'InvariantError';
}

export function invariant(cond: unknown, what: string): asserts cond {
  if (!cond) throw new InvariantError(`invariant broken: ${what}`);
}
