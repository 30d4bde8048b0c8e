import type { DataTx } from '../data/data.js';
import { WRITES } from '../data/ops/writes.js';
import type { Queryable } from '../db/db.js';
import { encodeCoin } from '../ledger/encoding.js';
import type { Coin, Signed } from '../ledger/records.js';
import { formatAmount, type Amount } from '../money/amount.js';
import { assertPrecision } from '../money/precision.js';
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

/** A coin registered again with other values: refused, nothing written (the live coin is changed only by updateCoin). */
export class CoinConflict extends Error {
  override name = 'CoinConflict';
  readonly code = 'conflict';
  constructor(
    readonly tag: string,
    /** The fields that differ, each as `field: registered, not given`. */
    readonly differences: string[],
  ) {
    super(`coin ${tag} is already registered with other values (${differences.join('; ')}): nothing changed`);
  }
}

const COIN_VALUES = `VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`;
const COIN_FIELDS = 'tag, name, active, network, decimals, confirmations, withdrawal_fee, min_withdrawal, fee_user_id, updated_at';

/** A coin's fee and minimum are amounts of the coin itself: whole base units, or no request of it could be paid. */
function assertCoinAmounts(c: Pick<Coin, 'tag' | 'decimals' | 'withdrawalFee' | 'minWithdrawal'>): void {
  assertPrecision(c.withdrawalFee, c, 'withdrawal fee');
  assertPrecision(c.minWithdrawal, c, 'minimum withdrawal');
}

function coinParams(spec: CoinSpec, at: Date): unknown[] {
  assertCoinAmounts(spec);
  const { tag, name, network, decimals, confirmations, feeUserId } = spec;
  const fees = [formatAmount(spec.withdrawalFee), formatAmount(spec.minWithdrawal)];
  return [tag, name, spec.active ?? true, network, decimals, confirmations, ...fees, feeUserId, at];
}

/** The fields in which `spec` differs from the registered coin, as `field: registered, not given`. */
export function coinDifferences(coin: Coin, spec: CoinSpec): string[] {
  const pairs: Array<[string, unknown, unknown]> = [
    ['name', coin.name, spec.name],
    ['active', coin.active, spec.active ?? true],
    ['network', coin.network, spec.network],
    ['decimals', coin.decimals, spec.decimals],
    ['confirmations', coin.confirmations, spec.confirmations],
    ['withdrawal fee', formatAmount(coin.withdrawalFee), formatAmount(spec.withdrawalFee)],
    ['minimum withdrawal', formatAmount(coin.minWithdrawal), formatAmount(spec.minWithdrawal)],
    ['fee user', coin.feeUserId, spec.feeUserId],
  ];
  return pairs
    .filter(([, had, given]) => had !== given)
    .map(([f, had, given]) => `${f}: ${JSON.stringify(had)}, not ${JSON.stringify(given)}`);
}

/**
 * Registers a new coin, signed by the admin who reviewed it. A tag that exists is never rewritten here:
 * the same values are "already registered" (`added: false`, nothing written), other values a CoinConflict.
 */
export async function addCoin(
  db: Queryable,
  admin: Signer,
  spec: CoinSpec,
  at = new Date(),
): Promise<{ coin: Signed<Coin>; added: boolean }> {
  assertRole(admin, COIN_SIGNER, 'coins');
  const [row] = await db.query(
    `INSERT INTO coins_coin (${COIN_FIELDS}) ${COIN_VALUES} ON CONFLICT (tag) DO NOTHING RETURNING ${COIN_COLUMNS}`,
    coinParams(spec, at),
  );
  if (row) return { coin: await signCoin(db, admin, toCoin(row as Record<string, unknown>)), added: true };
  const [found] = await db.query(`SELECT ${COIN_COLUMNS} FROM coins_coin WHERE tag = $1`, [spec.tag]);
  if (!found) throw new Error(`coin ${spec.tag} was deleted while it was being registered; try again`);
  const coin = toCoin(found as Record<string, unknown>);
  const differences = coinDifferences(coin, spec);
  if (differences.length) throw new CoinConflict(spec.tag, differences);
  return { coin, added: false };
}

/** Registers a coin (addCoin), the coin as it is registered. */
export async function registerCoin(db: Queryable, admin: Signer, spec: CoinSpec, at = new Date()): Promise<Signed<Coin>> {
  return (await addCoin(db, admin, spec, at)).coin;
}

/** Changes a registered coin (e.g. deactivates it) and signs it again: a deliberate edit, never a side effect of registering. */
export async function updateCoin(db: Queryable, admin: Signer, spec: CoinSpec, at = new Date()): Promise<Signed<Coin>> {
  assertRole(admin, COIN_SIGNER, 'coins');
  const [row] = await db.query(
    `UPDATE coins_coin SET name = $2, active = $3, network = $4, decimals = $5, confirmations = $6, withdrawal_fee = $7,
       min_withdrawal = $8, fee_user_id = $9, updated_at = $10, sig_key_id = NULL, signature = NULL
     WHERE tag = $1 RETURNING ${COIN_COLUMNS}`,
    coinParams(spec, at),
  );
  if (!row) throw new Error(`unknown coin ${spec.tag}: nothing to update`);
  return signCoin(db, admin, toCoin(row as Record<string, unknown>));
}

/** Signs a coin exactly as it is now; the caller has shown it to an operator for review. */
export async function signCoin(db: DataTx, admin: Signer, coin: Coin): Promise<Signed<Coin>> {
  assertRole(admin, COIN_SIGNER, 'coins');
  assertCoinAmounts(coin);
  const signature = admin.sign(encodeCoin(coin));
  const rows = await db.query(WRITES.signCoin, [coin.id, admin.keyId, signature, coin.updatedAt]);
  if (rows.length !== 1) throw new Error(`coin ${coin.id} changed while it was being signed; review it again`);
  return toCoin(rows[0] as Record<string, unknown>);
}
