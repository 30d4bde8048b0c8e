import type { Queryable } from '../db/db.js';
import type { Attempt, SignedTx } from '../chains/driver.js';

// The write-ahead records of on-chain payments (migration 0003): every signed attempt with its bytes,
// the Ethereum nonce counters, the Zcash input reservations. Plain storage: what matters is re-derived
// from the bytes and checked against the hashes in the withdrawals' signed histories.

/** Stores a signed attempt before it is broadcast; `payment` is the first attempt's hash. */
export async function insertAttempt(tx: Queryable, coinId: number, payment: string, withdrawalIds: readonly number[], s: SignedTx): Promise<void> {
  await tx.query(
    `INSERT INTO payserv_chain_txs (hash, coin_id, payment, withdrawal_ids, raw, max_fee, nonce) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [s.hash, coinId, payment, withdrawalIds, s.raw, s.maxFee.toString(), s.nonce === null ? null : s.nonce.toString()]);
}

/** The stored attempts with these hashes, in the order given; a hash with no stored bytes is missing. */
export async function attemptsByHash(db: Queryable, hashes: readonly string[]): Promise<{ found: Attempt[]; missing: string[] }> {
  const rows = await db.query<{ hash: string; raw: string; created_at: Date }>(
    'SELECT hash, raw, created_at FROM payserv_chain_txs WHERE hash = ANY($1::text[])', [hashes]);
  const byHash = new Map(rows.map((r) => [r.hash, r]));
  const found: Attempt[] = [];
  const missing: string[] = [];
  for (const h of hashes) {
    const r = byHash.get(h);
    if (r) found.push({ hash: r.hash, raw: r.raw, createdAt: r.created_at });
    else missing.push(h);
  }
  return { found, missing };
}

export async function paymentOf(db: Queryable, hash: string): Promise<string | null> {
  const [r] = await db.query<{ payment: string }>('SELECT payment FROM payserv_chain_txs WHERE hash = $1', [hash]);
  return r?.payment ?? null;
}

/** Best effort, for the operator's eye: the decision never reads it. */
export async function noteBroadcast(db: Queryable, hash: string, error: string | null): Promise<void> {
  await db.query(
    `UPDATE payserv_chain_txs SET broadcast_at = CASE WHEN $2::text IS NULL THEN now() ELSE broadcast_at END, last_error = $2 WHERE hash = $1`,
    [hash, error === null ? null : error.slice(0, 500)]);
}

// ---- Ethereum nonces ---------------------------------------------------------------------------------

/** The stored next nonce of (chain, address), locked until the transaction ends; null when never used. */
export async function lockNonce(tx: Queryable, chain: string, address: string): Promise<bigint | null> {
  await tx.query('INSERT INTO payserv_nonces (chain, address, next_nonce) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING', [chain, address]);
  const [r] = await tx.query<{ next_nonce: string }>('SELECT next_nonce::text FROM payserv_nonces WHERE chain = $1 AND address = $2 FOR UPDATE', [chain, address]);
  return r ? BigInt(r.next_nonce) : null;
}

export async function storeNonce(tx: Queryable, chain: string, address: string, next: bigint): Promise<void> {
  await tx.query('UPDATE payserv_nonces SET next_nonce = $3, updated_at = now() WHERE chain = $1 AND address = $2', [chain, address, next.toString()]);
}

export async function readNonce(db: Queryable, chain: string, address: string): Promise<bigint | null> {
  const [r] = await db.query<{ next_nonce: string }>('SELECT next_nonce::text FROM payserv_nonces WHERE chain = $1 AND address = $2', [chain, address]);
  return r ? BigInt(r.next_nonce) : null;
}

/** Stored attempts of a sender's nonces from `from` on: what the node should know of ours. */
export async function attemptsFromNonce(db: Queryable, coinId: number, from: bigint): Promise<Array<Attempt & { nonce: bigint }>> {
  const rows = await db.query<{ hash: string; raw: string; created_at: Date; nonce: string }>(
    'SELECT hash, raw, created_at, nonce::text FROM payserv_chain_txs WHERE coin_id = $1 AND nonce >= $2 ORDER BY nonce, created_at', [coinId, from.toString()]);
  return rows.map((r) => ({ hash: r.hash, raw: r.raw, createdAt: r.created_at, nonce: BigInt(r.nonce) }));
}

// ---- Zcash input reservations ------------------------------------------------------------------------

export interface Outpoint {
  txid: string;
  vout: number;
}

const key = (o: Outpoint) => `${o.txid}:${o.vout}`;

/** The outpoints of a coin reserved by payments that are not settled. */
export async function reservedOutpoints(db: Queryable, coinId: number): Promise<Set<string>> {
  const rows = await db.query<{ txid: string; vout: number }>(
    'SELECT txid, vout FROM payserv_utxo_reservations WHERE coin_id = $1 AND released_at IS NULL', [coinId]);
  return new Set(rows.map(key));
}

export const outpointKey = key;

/** Reserves inputs for a payment; a reservation already held by another payment refuses the whole set. */
export async function reserveInputs(tx: Queryable, coinId: number, spentBy: string, inputs: ReadonlyArray<Outpoint & { value: bigint }>): Promise<void> {
  for (const i of inputs) {
    const rows = await tx.query(
      `INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (coin_id, txid, vout) DO UPDATE SET spent_by = EXCLUDED.spent_by, value = EXCLUDED.value, reserved_at = now(), released_at = NULL, release_why = NULL
       WHERE payserv_utxo_reservations.released_at IS NOT NULL
       RETURNING txid`, [coinId, i.txid, i.vout, i.value.toString(), spentBy]);
    if (rows.length === 0) throw new Error(`input ${key(i)} is already reserved by another payment`);
  }
}

/** Gives back the inputs a never-mined payment held. */
export async function releaseInputs(tx: Queryable, coinId: number, spentBy: string, why: string): Promise<number> {
  const rows = await tx.query(
    `UPDATE payserv_utxo_reservations SET released_at = now(), release_why = $3 WHERE coin_id = $1 AND spent_by = $2 AND released_at IS NULL RETURNING txid`,
    [coinId, spentBy, why.slice(0, 500)]);
  return rows.length;
}
