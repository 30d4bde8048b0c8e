import type { DataTx } from '../data/data.js';
import type { Credit, Signed } from '../ledger/records.js';
import { blocksWithIncome } from '../store/reads.js';

/** Groups a stream into arrays of at most n items, so per-row look-ups become per-batch queries. */
export async function* chunks<T>(items: AsyncIterable<T>, n: number): AsyncGenerator<T[]> {
  let buf: T[] = [];
  for await (const x of items) {
    buf.push(x);
    if (buf.length >= n) {
      yield buf;
      buf = [];
    }
  }
  if (buf.length) yield buf;
}

/** Pairs each credit with whether its block has pool income (a ghost has none). */
export async function* withIncomeFlags(db: DataTx, credits: AsyncIterable<Signed<Credit>>): AsyncGenerator<[Signed<Credit>, boolean]> {
  for await (const batch of chunks(credits, 1000)) {
    const known = new Map<number, Set<string>>();
    for (const coinId of new Set(batch.map((c) => c.coinId))) {
      known.set(
        coinId,
        await blocksWithIncome(
          db,
          coinId,
          batch.filter((c) => c.coinId === coinId).map((c) => c.blockHash),
        ),
      );
    }
    for (const c of batch) yield [c, known.get(c.coinId)?.has(c.blockHash) ?? false];
  }
}
