import type { DataTx } from '../data/data.js';
import { WRITES } from '../data/ops/writes.js';
import type { Db, Queryable } from '../db/db.js';
import type { CertBook } from '../ledger/certbook.js';
import { encodeWallet } from '../ledger/encoding.js';
import type { Signed, Wallet } from '../ledger/records.js';
import { isRetired, isReviewed, walletSignatureProblem } from '../ledger/wallets.js';
import type { Signer } from '../pki/signer.js';
import { WALLET_COLUMNS, toWallet } from '../data/rows.js';
import { WALLET_SIGNER } from '../ledger/roles.js';
import { assertRole } from './signing.js';

// A wallet is added by the pool site, then reviewed and signed by an admin; only then can it be paid
// to. Once reviewed it is a signed record: the site never changes it again by itself. Deleting or
// deactivating it is the pool's signed act (retireWallet, the admin role, like the review), and it is
// one-way: nothing here signs a retired wallet active again. A user who wants the address back adds it
// as a new wallet, which is reviewed anew. A wallet already signed is never signed again over a
// signature that does not verify: re-signing "as it is" would launder an attacker's edit (a new
// address) into a review. A site that lets a user edit a reviewed wallet clears its signature with
// the edit, and the edited wallet is reviewed anew.

/** `unverified`: the wallet carries a signature that does not cover its current state (tampering). */
export type WalletRefusal = 'unknown_wallet' | 'changed' | 'retired' | 'unverified';

/** A wallet the writer will not sign as asked; `code` says why, for callers to branch on. */
export class WalletRefused extends Error {
  override name = 'WalletRefused';
  constructor(
    readonly code: WalletRefusal,
    message: string,
  ) {
    super(message);
  }
}

export type Retirement = 'deleted' | 'inactive';

/**
 * A reason not to sign the wallet as it now is, or null: payserv passes its memory of the wallets it
 * has seen retired, which the database cannot roll back.
 */
export type SignGuard = (w: Signed<Wallet>) => Promise<string | null>;

/** The pool site adds a wallet; it is unusable until an admin has reviewed and signed it. */
export async function addWallet(
  db: Queryable,
  w: { userId: number; coinId: number; address: string },
  at = new Date(),
): Promise<Signed<Wallet>> {
  const [row] = await db.query(
    `INSERT INTO users_userwallets (user_id, coin_id, address, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING ${WALLET_COLUMNS}`,
    [w.userId, w.coinId, w.address, at],
  );
  return toWallet(row as Record<string, unknown>);
}

/**
 * Whether an active wallet carries this admin's signature of one of its retired states: it was
 * retired under signature and someone set it active again. What the writer can see by itself; a
 * rollback to the copy signed before the deletion looks honest here, and is payserv's memory's to catch.
 */
function revivedUnder(admin: Signer, w: Signed<Wallet>): boolean {
  if (isRetired(w) || !w.signature || w.sigKeyId !== admin.keyId) return false;
  const states = [
    { active: true, deleted: true },
    { active: false, deleted: false },
    { active: false, deleted: true },
  ];
  return states.some((s) => admin.madeSignature(encodeWallet({ ...w, ...s }), w.signature as Uint8Array));
}

/**
 * The wallet, its row locked to the end of the caller's transaction: two retries of one call decide
 * one after the other, so the second finds what the first wrote (outside a transaction: a plain read).
 */
export async function lockedWallet(db: DataTx, walletId: number): Promise<Signed<Wallet> | null> {
  const [row] = await db.query(WRITES.lockWallet, [walletId]);
  return row ? toWallet(row) : null;
}

/**
 * Refuses a signed wallet whose signature does not cover its current state. With the caller's
 * certificate book any admin key under the pinned root counts; without one, only this admin's own.
 */
function assertVerifies(admin: Signer, w: Signed<Wallet>, book?: CertBook): void {
  const why = book ? (walletSignatureProblem(book, w)?.detail ?? null) : ownSignatureFault(admin, w);
  if (why)
    throw new WalletRefused(
      'unverified',
      `wallet ${w.id} carries a signature that does not verify for its current state (${why}): it is not signed again; run the checks`,
    );
}

function ownSignatureFault(admin: Signer, w: Signed<Wallet>): string | null {
  if (!w.signature || w.sigKeyId !== admin.keyId) return `not signed by this admin key ${admin.keyId.slice(0, 16)}…`;
  return admin.madeSignature(encodeWallet(w), w.signature) ? null : 'signature does not match the record';
}

/**
 * Signs a wallet as it is now (address, owner, coin, flags), after an operator's review. Refuses to
 * sign active a wallet it can tell was retired (`guard` may know more). A wallet already signed is
 * answered as it is, nothing written, when its signature verifies (`book`: see assertVerifies), and
 * refused `unverified` when it does not.
 */
export async function signWallet(
  db: DataTx,
  admin: Signer,
  walletId: number,
  at = new Date(),
  guard?: SignGuard,
  book?: CertBook,
): Promise<Signed<Wallet>> {
  assertRole(admin, WALLET_SIGNER, 'wallets');
  const w = await lockedWallet(db, walletId);
  if (!w) throw new WalletRefused('unknown_wallet', `unknown wallet id ${walletId}`);
  if (revivedUnder(admin, w)) {
    throw new WalletRefused(
      'retired',
      `wallet ${walletId} was deleted or deactivated under the admin's signature and is active again: a deletion is one-way; the user adds the address again as a new wallet`,
    );
  }
  const why = isRetired(w) || !guard ? null : await guard(w);
  if (why) throw new WalletRefused('retired', why);
  if (!isReviewed(w)) return writeSignature(db, admin, w, at);
  assertVerifies(admin, w, book);
  return w;
}

/** The admin's signature of the wallet as read, written only if the row still holds exactly that. */
async function writeSignature(db: DataTx, admin: Signer, w: Signed<Wallet>, at: Date): Promise<Signed<Wallet>> {
  const reviewed: Wallet = { ...w, signedAt: at };
  const signature = admin.sign(encodeWallet(reviewed));
  const rows = await db.query(WRITES.signWallet, [w.id, at, admin.keyId, signature, w.address, w.userId, w.coinId, w.active, w.deleted]);
  if (rows.length !== 1) throw new WalletRefused('changed', `wallet ${w.id} changed while it was being signed; review it again`);
  return toWallet(rows[0] as Record<string, unknown>);
}

/** Whether the wallet already carries the flag this retirement sets. */
export const retiredAs = (w: Pick<Wallet, 'active' | 'deleted'>, how: Retirement): boolean => (how === 'deleted' ? w.deleted : !w.active);

/**
 * The pool deletes (or deactivates) a wallet: the flag and the admin's signature of the new state, in
 * one transaction, so the database never holds the flag without the signature that makes it the
 * pool's. A retired wallet is never paid again; payserv treats one coming back as tampering. A signed
 * wallet's signature must verify first (else `unverified`, nothing written); one already retired this
 * way and signed so is answered as it is, nothing written. The other flag is a further step: both set.
 */
export async function retireWallet(
  db: Pick<Db, 'transaction'>,
  admin: Signer,
  walletId: number,
  how: Retirement,
  at = new Date(),
  book?: CertBook,
): Promise<Signed<Wallet>> {
  return db.transaction((tx) => retireWalletIn(tx, admin, walletId, how, at, book));
}

/** retireWallet inside the caller's transaction. */
export async function retireWalletIn(
  tx: Queryable,
  admin: Signer,
  walletId: number,
  how: Retirement,
  at = new Date(),
  book?: CertBook,
): Promise<Signed<Wallet>> {
  assertRole(admin, WALLET_SIGNER, 'wallets');
  const w = await lockedWallet(tx, walletId);
  if (!w) throw new WalletRefused('unknown_wallet', `unknown wallet id ${walletId}`);
  if (isReviewed(w)) assertVerifies(admin, w, book);
  if (isReviewed(w) && retiredAs(w, how)) return w;
  // Only ever towards retired: deleted stays deleted, inactive stays inactive.
  await tx.query(`UPDATE users_userwallets SET ${how === 'deleted' ? 'deleted = true' : 'active = false'}, updated_at = $2 WHERE id = $1`, [
    walletId,
    at,
  ]);
  return writeSignature(tx, admin, { ...w, ...(how === 'deleted' ? { deleted: true } : { active: false }) }, at);
}
