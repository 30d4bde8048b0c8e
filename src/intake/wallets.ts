import { intakeRefusal, type IntakeParams } from '../api/intake.js';
import { addressDecline, sameAddress } from '../chains/address.js';
import type { Queryable } from '../db/db.js';
import type { LedgerView } from '../verify/view.js';
import type { Coin, Signed, Wallet } from '../ledger/records.js';
import { isRetired, isReviewed, retiredWord } from '../ledger/wallets.js';
import { toWallet, WALLET_COLUMNS } from '../data/rows.js';
import { addWallet, lockedWallet, retiredAs, retireWalletIn, signWallet, WalletRefused } from '../writer/wallets.js';
import type { Intake } from './context.js';
import { decoded, integrityRefusal, walletFaults } from './integrity.js';
import { walletJson } from './json.js';
import { coinById, intakeView, verifiedCoin } from './ledger.js';

// Wallets as the pool's site adds them: validated per coin, signed at once (review = "auto") or by a
// later Wallets.Sign (review = "manual"); retired (deleted or deactivated) under the admin's signature,
// one-way. Every call retried as sent answers what the first wrote (`already`) and writes nothing; a
// signed wallet it finds is verified first, and one whose signature no longer covers it is refused
// `integrity`: re-signing it "as it is" would make an attacker's address (or flag) the pool's.

/** The user's active wallet of the coin with this address (an EVM address in any case, a Bitcoin-family one by its script), if any: the newest. */
async function activeWallet(it: Intake, q: Queryable, coin: Signed<Coin>, userId: number, address: string): Promise<Signed<Wallet> | null> {
  const rows = await q.query(
    `SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE user_id = $1 AND coin_id = $2 AND active AND NOT deleted ORDER BY id DESC`,
    [userId, coin.id],
  );
  return rows.map(toWallet).find((w) => sameAddress(coin.tag, w.address, address, it.chains)) ?? null;
}

/** A signed wallet found must verify: a planted or edited one never stands in for the pool's. */
function refuseUnverified(view: LedgerView, w: Signed<Wallet>): void {
  const faults = walletFaults(view.book, w);
  if (faults.length) throw integrityRefusal(`wallet ${w.id} of user ${w.userId}`, faults, { wallet: w.id });
}

/** The wallet under its row lock, to the end of the call's transaction; refused when there is none. */
async function walletToChange(q: Queryable, id: number): Promise<Signed<Wallet>> {
  const w = await decoded(`wallet ${id}`, () => lockedWallet(q, id));
  if (!w) throw intakeRefusal('unknown_wallet', `unknown wallet id ${id}`);
  return w;
}

/**
 * An address the coin cannot pay is refused invalid_address with payserv's reason (a Bitcoin-family coin's
 * in its configured network, the driver's code in `data.addressCode`): the miner learns it now, not at withdrawal.
 */
function refuseAddress(it: Intake, coin: Signed<Coin>, address: string, what: string): void {
  const no = addressDecline(coin, address, it.chains);
  if (no) throw intakeRefusal('invalid_address', `${what}: ${no.reason}`, { coin: coin.tag, ...(no.code ? { addressCode: no.code } : {}) });
}

function refusedWallet(e: unknown): never {
  if (!(e instanceof WalletRefused)) throw e;
  if (e.code === 'unverified') throw intakeRefusal('integrity', e.message);
  const code = e.code === 'unknown_wallet' ? 'unknown_wallet' : e.code === 'retired' ? 'wallet_deleted' : 'wallet_changed';
  throw intakeRefusal(code, e.message);
}

export async function registerWalletCall(it: Intake, p: IntakeParams<'Wallets.Register'>) {
  return it.db.transaction(async (tx) => {
    const view = await intakeView(it, tx);
    const coin = verifiedCoin(view, p.coin);
    refuseAddress(it, coin, p.address, `address ${JSON.stringify(p.address)}`);
    // One registration of an account's address at a time: a retried call must find the first, not add a second.
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('intake:wallet:' || $1::text || ':' || $2::text, 0))", [p.user, coin.id]);
    const there = await decoded(`wallet of user ${p.user}`, () => activeWallet(it, tx, coin, p.user, p.address));
    if (there) refuseUnverified(view, there);
    if (there && (isReviewed(there) || it.review === 'manual')) return { ...walletJson(there, coin.tag), already: true };
    if (there) return { ...walletJson(await signFound(it, tx, view, there, p.address), coin.tag), already: true };
    const added = await addWallet(tx, { userId: p.user, coinId: coin.id, address: p.address });
    const w = it.review === 'auto' ? await signWallet(tx, it.signers.admin, added.id) : added;
    it.log.info({ wallet: w.id, user: w.userId, coin: coin.tag, address: w.address, reviewed: it.review === 'auto' }, 'wallet registered');
    return { ...walletJson(w, coin.tag), already: false };
  });
}

/**
 * review = "auto" and an unsigned active wallet of the account holds the address: one registered under
 * "manual", or planted. Signing it is what registering would do (the address is the one the pool asks
 * for, validated above, and its review time is now), but only for exactly that address: a row holding
 * it in another form (an EVM address in other case) is refused, nothing written, for Wallets.Sign.
 */
async function signFound(it: Intake, tx: Queryable, view: LedgerView, w: Signed<Wallet>, address: string): Promise<Signed<Wallet>> {
  if (w.address !== address) {
    throw intakeRefusal(
      'wallet_not_reviewed',
      `wallet ${w.id} of user ${w.userId} holds this address as ${JSON.stringify(w.address)}, unsigned: review = "auto" signs only the address exactly as registered; review it and call Wallets.Sign`,
      { wallet: w.id },
    );
  }
  const signed = await signWallet(tx, it.signers.admin, w.id, new Date(), undefined, view.book).catch(refusedWallet);
  it.log.warn(
    { wallet: w.id, user: w.userId, coin: w.coinId, address: w.address },
    'unsigned wallet found at registration: signed (review auto)',
  );
  return signed;
}

export async function signWalletCall(it: Intake, p: IntakeParams<'Wallets.Sign'>) {
  return it.db.transaction(async (tx) => {
    const w = await walletToChange(tx, p.wallet);
    const view = await intakeView(it, tx);
    const coin = coinById(view, w.coinId);
    refuseUnverified(view, w);
    // Signing a retired wallet would only sign its retirement again; signing one active again is refused by the writer.
    if (isRetired(w)) throw intakeRefusal('wallet_deleted', `wallet ${w.id} is ${retiredWord(w)}: a deletion is one-way`);
    if (isReviewed(w)) return { ...walletJson(w, coin.tag), already: true };
    refuseAddress(it, coin, w.address, `wallet ${w.id}`);
    const signed = await signWallet(tx, it.signers.admin, w.id, new Date(), undefined, view.book).catch(refusedWallet);
    it.log.info({ wallet: signed.id, user: signed.userId, coin: coin.tag }, 'wallet reviewed and signed');
    return { ...walletJson(signed, coin.tag), already: false };
  });
}

/**
 * Retired as asked and signed so already: answered as it is. Retired the other way: the second flag is
 * a further one-way step (deleted and inactive both), signed, not a conflict: neither brings it back.
 */
export async function retireWalletCall(it: Intake, p: IntakeParams<'Wallets.Retire'>) {
  return it.db.transaction(async (tx) => {
    const w = await walletToChange(tx, p.wallet);
    const view = await intakeView(it, tx);
    const coin = coinById(view, w.coinId);
    refuseUnverified(view, w);
    if (isReviewed(w) && retiredAs(w, p.how)) return { ...walletJson(w, coin.tag), already: true };
    const done = await retireWalletIn(tx, it.signers.admin, w.id, p.how, new Date(), view.book).catch(refusedWallet);
    it.log.warn({ wallet: done.id, user: done.userId, coin: coin.tag, address: done.address, how: p.how }, 'wallet retired and signed');
    return { ...walletJson(done, coin.tag), already: false };
  });
}
