import type { DataTx } from '../data/data.js';
import type { LocalCheckpointStore } from '../checkpoints/local-store.js';
import { CertBook } from '../ledger/certbook.js';
import { problem, type Problem } from '../ledger/problem.js';
import type { Coin, Signed } from '../ledger/records.js';
import type { Trust } from '../pki/trust.js';
import { loadCoins, streamCertRows } from '../store/reads.js';

/** What verification reads from: the database, the local checkpoint store, and the certificates admitted under the pinned root. */
export interface LedgerView {
  db: DataTx;
  local: LocalCheckpointStore;
  book: CertBook;
  coins: Map<number, Signed<Coin>>;
  /** Certificates in crypto_certs that the pinned root does not vouch for. */
  certProblems: Problem[];
}

/** The certificates of crypto_certs admitted under the pinned root, and the problems of those it does not vouch for. */
export async function openCertBook(db: DataTx, trust: Trust): Promise<{ book: CertBook; certProblems: Problem[] }> {
  const book = new CertBook(trust);
  const certProblems: Problem[] = [];
  for await (const row of streamCertRows(db)) {
    const why = book.admit(row);
    if (why) certProblems.push(problem('crypto_certs', row.id, 'certificate', why));
  }
  return { book, certProblems };
}

export async function openView(db: DataTx, trust: Trust, local: LocalCheckpointStore): Promise<LedgerView> {
  const { book, certProblems } = await openCertBook(db, trust);
  const coins = new Map((await loadCoins(db)).map((c) => [c.id, c]));
  return { db, local, book, coins, certProblems };
}

export function coinOf(view: LedgerView, coinId: number): Signed<Coin> {
  const c = view.coins.get(coinId);
  if (!c) throw new Error(`unknown coin id ${coinId}`);
  return c;
}
