import type { DataTx } from '../data/data.js';
import { WRITES } from '../data/ops/writes.js';
import type { Queryable } from '../db/db.js';
import { encodeCoin } from '../ledger/encoding.js';
import type { Coin, Signed } from '../ledger/records.js';
import { formatAmount, type Amount } from '../money/amount.js';
import type { Signer } from '../pki/signer.js';
import { COIN_COLUMNS, toCoin } from '../data/rows.js';
import { COIN_SIGNER } from '../ledger/roles.js';
import { assertRole } from './signing.js';

export interface CoinSpec {
  tag: string;
  name: string;
  network: Coin['network'];
  decimals: number;
  confirmations: number;
  withdrawalFee: Amount;
  minWithdrawal: Amount;
  feeUserId: number;
  active?: boolean;
}

/** Registers a coin, or updates the one with that tag, signed by the admin who reviewed it. */
export async function registerCoin(db: Queryable, admin: Signer, spec: CoinSpec, at = new Date()): Promise<Signed<Coin>> {
  assertRole(admin, COIN_SIGNER, 'coins');
  const [row] = await db.query(
    `INSERT INTO coins_coin (tag, name, active, network, decimals, confirmations, withdrawal_fee, min_withdrawal, fee_user_id, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (tag) DO UPDATE SET name = EXCLUDED.name, active = EXCLUDED.active, network = EXCLUDED.network, decimals = EXCLUDED.decimals,
       confirmations = EXCLUDED.confirmations, withdrawal_fee = EXCLUDED.withdrawal_fee, min_withdrawal = EXCLUDED.min_withdrawal,
       fee_user_id = EXCLUDED.fee_user_id, updated_at = EXCLUDED.updated_at, sig_key_id = NULL, signature = NULL
     RETURNING ${COIN_COLUMNS}`,
    [
      spec.tag,
      spec.name,
      spec.active ?? true,
      spec.network,
      spec.decimals,
      spec.confirmations,
      formatAmount(spec.withdrawalFee),
      formatAmount(spec.minWithdrawal),
      spec.feeUserId,
      at,
    ],
  );
  return signCoin(db, admin, toCoin(row as Record<string, unknown>));
}

/** Signs a coin exactly as it is now; the caller has shown it to an operator for review. */
export async function signCoin(db: DataTx, admin: Signer, coin: Coin): Promise<Signed<Coin>> {
  assertRole(admin, COIN_SIGNER, 'coins');
  const signature = admin.sign(encodeCoin(coin));
  const rows = await db.query(WRITES.signCoin, [coin.id, admin.keyId, signature, coin.updatedAt]);
  if (rows.length !== 1) throw new Error(`coin ${coin.id} changed while it was being signed; review it again`);
  return toCoin(rows[0] as Record<string, unknown>);
}
