import type { DataTx } from '../data/data.js';
import { WRITES } from '../data/ops/writes.js';
import type { Queryable } from '../db/db.js';
import { encodeWallet } from '../ledger/encoding.js';
import type { Signed, Wallet } from '../ledger/records.js';
import type { Signer } from '../pki/signer.js';
import { getWallet } from '../store/reads.js';
import { WALLET_COLUMNS, toWallet } from '../store/rows.js';
import { WALLET_SIGNER } from '../ledger/roles.js';
import { assertRole } from './signing.js';

/** The pool site adds a wallet; it is unusable until an admin has reviewed and signed it. */
export async function addWallet(db: Queryable, w: { userId: number; coinId: number; address: string }, at = new Date()): Promise<Signed<Wallet>> {
  const [row] = await db.query(
    `INSERT INTO users_userwallets (user_id, coin_id, address, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING ${WALLET_COLUMNS}`,
    [w.userId, w.coinId, w.address, at],
  );
  return toWallet(row as Record<string, unknown>);
}

/** Signs a wallet as it is now (address, owner, coin, flags), after an operator's review. */
export async function signWallet(db: DataTx, admin: Signer, walletId: number, at = new Date()): Promise<Signed<Wallet>> {
  assertRole(admin, WALLET_SIGNER, 'wallets');
  const w = await getWallet(db, walletId);
  if (!w) throw new Error(`unknown wallet id ${walletId}`);
  const reviewed: Wallet = { ...w, signedAt: at };
  const signature = admin.sign(encodeWallet(reviewed));
  const rows = await db.query(WRITES.signWallet,
    [w.id, at, admin.keyId, signature, w.address, w.userId, w.coinId, w.active, w.deleted],
  );
  if (rows.length !== 1) throw new Error(`wallet ${walletId} changed while it was being signed; review it again`);
  return toWallet(rows[0] as Record<string, unknown>);
}
