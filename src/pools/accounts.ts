import type { DataTx } from '../data/data.js';
import { streamWallets } from '../store/reads.js';

// The ledger accounts a pool adapter writes back: users of the coin with a wallet whose address derives the
// user's id (user-id.ts), i.e. a login or address the adapter itself registered. Each user once.

export async function* adapterAccounts(
  db: DataTx,
  coinId: number,
  userOf: (address: string) => number,
): AsyncGenerator<{ userId: number; address: string }> {
  const seen = new Set<number>();
  for await (const w of streamWallets(db)) {
    if (w.coinId !== coinId || seen.has(w.userId) || userOf(w.address) !== w.userId) continue;
    seen.add(w.userId);
    yield { userId: w.userId, address: w.address };
  }
}
