import type { CertBook } from './certbook.js';
import { encodeWallet } from './encoding.js';
import { problem, userKey, type Problem } from './problem.js';
import type { Signature, Signed, Wallet } from './records.js';
import { WALLET_SIGNER } from './roles.js';

// Wallet deletion is one-way (pure rules, no I/O). A reviewed wallet is a signed record like any
// other: the pool deletes or deactivates it by flipping the flag AND having the admin role sign the
// new state (src/writer/wallets.ts retireWallet). Any other change of a reviewed wallet breaks its
// signature and is tampering. What a signature alone cannot stop is a rollback to an older, validly
// signed copy of the row (the wallet as it was before its deletion): for that the payserv host
// remembers, per account, the wallets it has seen retired and the newest reviewed wallet it has seen
// (WalletMemory, kept in its state directory), and a retired wallet coming back is tampering.

export const WALLETS_TABLE = 'users_userwallets';

/**
 * The most reviewed wallets one account may have. An admin reviews each one, so honest accounts stay
 * far below; past it the account is not paid until an operator has looked (the host's memory of the
 * account and every payment's read of its wallets stay small).
 */
export const REVIEWED_WALLETS_MAX = 1000;

/** What the payserv host remembers of one (user, coin)'s wallets. Both parts only ever grow. */
export interface WalletMemory {
  /** The highest id of a reviewed wallet of the account the host has seen; 0: none yet. */
  newestReviewedId: number;
  /** Reviewed wallets the host has seen deleted or inactive under a valid signature, ascending. */
  retiredIds: readonly number[];
  /**
   * The newest review (signed_at, ms) the host has seen of each reviewed wallet: a wallet re-reviewed
   * after an edit (its address changed) and then put back to its older signed copy is a rollback.
   */
  reviewedAt: Readonly<Record<number, number>>;
}

export const EMPTY_MEMORY: WalletMemory = { newestReviewedId: 0, retiredIds: [], reviewedAt: {} };

/**
 * An admin has signed it (or someone wants it to look so): any trace of a signature counts, so a row
 * with half a signature is judged, and fails, instead of passing as "awaiting review".
 */
export const isReviewed = (w: Signature & Pick<Wallet, 'signedAt'>): boolean =>
  w.signature !== null || w.sigKeyId !== null || w.signedAt !== null;

export const isRetired = (w: Pick<Wallet, 'active' | 'deleted'>): boolean => w.deleted || !w.active;

export const retiredWord = (w: Pick<Wallet, 'active' | 'deleted'>): string => (w.deleted ? 'deleted' : 'inactive');

/** A reviewed wallet must carry a good signature of exactly its current state, retired or not; null when it does. */
export function walletSignatureProblem(book: CertBook, w: Signed<Wallet>): Problem | null {
  const why = book.check(encodeWallet(w), w.sigKeyId, w.signature, WALLET_SIGNER, w.signedAt ?? w.createdAt);
  if (!why) return null;
  // The likeliest story for a retired wallet: its flag was flipped without the pool's signed deletion.
  const hint = isRetired(w) ? ` (marked ${retiredWord(w)} without the pool's signed ${w.deleted ? 'deletion' : 'deactivation'}?)` : '';
  return problem(WALLETS_TABLE, w.id, 'signature', `${why}${hint}`);
}

/**
 * The account's reviewed wallets (all of them, any order) against what the host remembers: a wallet
 * it saw retired that is active again, or a remembered wallet that is no longer a reviewed wallet of
 * this account (its row deleted, moved to another account, or its signature removed). The second also
 * catches the newest reviewed wallet being lowered by hiding the newest one.
 */
export function memoryProblems(userId: number, coinId: number, reviewed: readonly Signed<Wallet>[], memory: WalletMemory): Problem[] {
  const byId = new Map(reviewed.map((w) => [w.id, w]));
  const account = userKey(userId, coinId);
  const out: Problem[] = [];
  const newest = newestOf(reviewed);
  if (memory.newestReviewedId > 0 && !byId.has(memory.newestReviewedId)) {
    out.push(
      problem(
        WALLETS_TABLE,
        memory.newestReviewedId,
        'wallet_missing',
        `payserv saw this wallet as the newest reviewed wallet of ${account}; it is no longer one (the newest now: ${newest ? `id=${newest.id}` : 'none'}): its row was deleted, moved or unsigned`,
      ),
    );
  }
  const retired = new Set(memory.retiredIds);
  for (const w of reviewed) {
    const seen = memory.reviewedAt[w.id];
    // A retired wallet back to an older copy is told below, as the revival it is.
    if (seen !== undefined && (w.signedAt?.getTime() ?? 0) < seen && !(retired.has(w.id) && !isRetired(w))) {
      out.push(
        problem(
          WALLETS_TABLE,
          w.id,
          'wallet_rolled_back',
          `payserv saw this wallet reviewed at ${new Date(seen).toISOString()}; it now carries an older review (${w.signedAt?.toISOString() ?? 'none'}): an older signed copy was put back`,
        ),
      );
    }
  }
  for (const id of memory.retiredIds) {
    const w = byId.get(id);
    if (!w) {
      if (id !== memory.newestReviewedId) {
        out.push(
          problem(
            WALLETS_TABLE,
            id,
            'wallet_missing',
            `payserv saw this wallet retired under the pool's signature; it is no longer a reviewed wallet of ${account}: its row was deleted, moved or unsigned`,
          ),
        );
      }
    } else if (!isRetired(w)) {
      out.push(
        problem(
          WALLETS_TABLE,
          id,
          'wallet_revived',
          `payserv saw this wallet retired (deleted or inactive) under the pool's signature; it is active again: a deletion is one-way`,
        ),
      );
    }
  }
  return out;
}

export function newestOf<W extends Pick<Wallet, 'id'>>(wallets: readonly W[]): W | null {
  let newest: W | null = null;
  for (const w of wallets) if (!newest || w.id > newest.id) newest = w;
  return newest;
}

/**
 * What the host remembers after seeing the account's reviewed wallets, every one of them verified:
 * the newest id and the retired ones added to `memory`, nothing ever removed.
 */
export function remember(memory: WalletMemory, verified: readonly Signed<Wallet>[]): WalletMemory {
  const newest = newestOf(verified);
  const retired = new Set(memory.retiredIds);
  for (const w of verified) if (isRetired(w)) retired.add(w.id);
  const reviewedAt: Record<number, number> = { ...memory.reviewedAt };
  for (const w of verified) if (w.signedAt && (reviewedAt[w.id] ?? 0) < w.signedAt.getTime()) reviewedAt[w.id] = w.signedAt.getTime();
  return {
    newestReviewedId: Math.max(memory.newestReviewedId, newest?.id ?? 0),
    retiredIds: [...retired].sort((a, b) => a - b),
    reviewedAt,
  };
}

function laterReviews(a: WalletMemory['reviewedAt'], b: WalletMemory['reviewedAt']): Record<number, number> {
  const out: Record<number, number> = { ...a };
  for (const [id, t] of Object.entries(b)) if ((out[Number(id)] ?? 0) < t) out[Number(id)] = t;
  return out;
}

/** The union of two memories of one account: what two writers saw, neither lost. */
export function mergeMemory(a: WalletMemory, b: WalletMemory): WalletMemory {
  return {
    newestReviewedId: Math.max(a.newestReviewedId, b.newestReviewedId),
    retiredIds: [...new Set([...a.retiredIds, ...b.retiredIds])].sort((x, y) => x - y),
    reviewedAt: laterReviews(a.reviewedAt, b.reviewedAt),
  };
}

export function sameMemory(a: WalletMemory, b: WalletMemory): boolean {
  const ka = Object.keys(a.reviewedAt);
  return (
    a.newestReviewedId === b.newestReviewedId &&
    a.retiredIds.length === b.retiredIds.length &&
    a.retiredIds.every((id, i) => id === b.retiredIds[i]) &&
    ka.length === Object.keys(b.reviewedAt).length &&
    ka.every((id) => a.reviewedAt[Number(id)] === b.reviewedAt[Number(id)])
  );
}
