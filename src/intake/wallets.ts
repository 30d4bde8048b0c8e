import { intakeRefusal, type IntakeParams } from '../api/intake.js';
import { sameAddress, validateAddress } from '../chains/address.js';
import type { Queryable } from '../db/db.js';
import type { Coin, Signed, Wallet } from '../ledger/records.js';
import { formatProblem } from '../ledger/problem.js';
import { isRetired, isReviewed, retiredWord, walletSignatureProblem } from '../ledger/wallets.js';
import { toWallet, WALLET_COLUMNS } from '../data/rows.js';
import { getWallet } from '../store/reads.js';
import { addWallet, retireWallet, signWallet, WalletRefused } from '../writer/wallets.js';
import type { Intake } from './context.js';
import { decoded, integrityRefusal } from './integrity.js';
import { walletJson } from './json.js';
import { coinById, intakeView, verifiedCoin } from './ledger.js';

// Wallets as the pool's site adds them: validated per coin, signed at once (review = "auto") or by a
// later Wallets.Sign (review = "manual"); retired (deleted or deactivated) under the admin's signature,
// one-way. Registering the same address again answers the wallet there is.

/** The user's active wallet of the coin with this address (an EVM address in any case), if any: the newest. */
async function activeWallet(q: Queryable, coin: Signed<Coin>, userId: number, address: string): Promise<Signed<Wallet> | null> {
  const rows = await q.query(
    `SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE user_id = $1 AND coin_id = $2 AND active AND NOT deleted ORDER BY id DESC`,
    [userId, coin.id],
  );
  return rows.map(toWallet).find((w) => sameAddress(coin.tag, w.address, address)) ?? null;
}

function refusedWallet(e: unknown): never {
  if (!(e instanceof WalletRefused)) throw e;
  const code = e.code === 'unknown_wallet' ? 'unknown_wallet' : e.code === 'retired' ? 'wallet_deleted' : 'wallet_changed';
  throw intakeRefusal(code, e.message);
}

export async function registerWalletCall(it: Intake, p: IntakeParams<'Wallets.Register'>) {
  return it.db.transaction(async (tx) => {
    const view = await intakeView(it, tx);
    const coin = verifiedCoin(view, p.coin);
    const bad = validateAddress(coin, p.address);
    if (bad) throw intakeRefusal('invalid_address', `address ${JSON.stringify(p.address)}: ${bad}`, { coin: coin.tag });
    // One registration of an account's address at a time: a retried call must find the first, not add a second.
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('intake:wallet:' || $1::text || ':' || $2::text, 0))", [p.user, coin.id]);
    const there = await decoded(`wallet of user ${p.user}`, () => activeWallet(tx, coin, p.user, p.address));
    // A planted "reviewed" row must not stand in for the pool's wallet; an unreviewed one is what manual review leaves.
    const forged = there && isReviewed(there) ? walletSignatureProblem(view.book, there) : null;
    if (forged) throw integrityRefusal(`wallet ${there?.id} of user ${p.user}`, [formatProblem(forged)], { wallet: there?.id });
    if (there) return { ...walletJson(there, coin.tag), already: true };
    const added = await addWallet(tx, { userId: p.user, coinId: coin.id, address: p.address });
    const w = it.review === 'auto' ? await signWallet(tx, it.signers.admin, added.id) : added;
    it.log.info({ wallet: w.id, user: w.userId, coin: coin.tag, address: w.address, reviewed: it.review === 'auto' }, 'wallet registered');
    return { ...walletJson(w, coin.tag), already: false };
  });
}

export async function signWalletCall(it: Intake, p: IntakeParams<'Wallets.Sign'>) {
  return it.db.transaction(async (tx) => {
    const w = await getWallet(tx, p.wallet);
    if (!w) throw intakeRefusal('unknown_wallet', `unknown wallet id ${p.wallet}`);
    const coin = coinById(await intakeView(it, tx), w.coinId);
    // Signing a retired wallet would only sign its retirement again; signing one active again is refused by the writer.
    if (isRetired(w)) throw intakeRefusal('wallet_deleted', `wallet ${w.id} is ${retiredWord(w)}: a deletion is one-way`);
    const bad = validateAddress(coin, w.address);
    if (bad) throw intakeRefusal('invalid_address', `wallet ${w.id}: ${bad}`);
    const signed = await signWallet(tx, it.signers.admin, w.id).catch(refusedWallet);
    it.log.info({ wallet: signed.id, user: signed.userId, coin: coin.tag }, 'wallet reviewed and signed');
    return walletJson(signed, coin.tag);
  });
}

export async function retireWalletCall(it: Intake, p: IntakeParams<'Wallets.Retire'>) {
  const w = await getWallet(it.db, p.wallet);
  if (!w) throw intakeRefusal('unknown_wallet', `unknown wallet id ${p.wallet}`);
  const coin = coinById(await intakeView(it, it.db), w.coinId);
  const done = await retireWallet(it.db, it.signers.admin, w.id, p.how).catch(refusedWallet);
  it.log.warn({ wallet: done.id, user: done.userId, coin: coin.tag, address: done.address, how: p.how }, 'wallet retired and signed');
  return walletJson(done, coin.tag);
}
