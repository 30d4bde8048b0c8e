import { op } from '../../db/op.js';
import { inFlightIds } from './in-flight.js';

// The on-chain payments' operations (src/payserv/payments): signed attempts, Ethereum nonces, Zcash input
// reservations (migration 0003). Amounts and nonces are bound as decimal strings.

export const PAYMENTS = {
  insertAttempt: op(
    'payments.insertAttempt',
    `INSERT INTO payserv_chain_txs (hash, coin_id, payment, withdrawal_ids, raw, max_fee, nonce) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
  ),
  attemptsByHash: op<{ hash: string; raw: string }>(
    'payments.attemptsByHash',
    'SELECT hash, raw FROM payserv_chain_txs WHERE hash = ANY($1::text[])',
  ),
  paymentOf: op<{ payment: string }>('payments.paymentOf', 'SELECT payment FROM payserv_chain_txs WHERE hash = $1'),
  /** How many withdrawals the attempt pays. */
  /** How many withdrawals a payment pays, and where withdrawal $2 stands among them (its fee share's index; null: not there). */
  paymentSize: op<{ n: number; i: number | null }>(
    'payments.paymentSize',
    'SELECT cardinality(withdrawal_ids) AS n, array_position(withdrawal_ids, $2::bigint) - 1 AS i FROM payserv_chain_txs WHERE hash = $1',
  ),
  /** $2: the broadcast's error, null when it went through. */
  noteBroadcast: op(
    'payments.noteBroadcast',
    `UPDATE payserv_chain_txs SET broadcast_at = CASE WHEN $2::text IS NULL THEN now() ELSE broadcast_at END, last_error = $2 WHERE hash = $1`,
  ),

  /** Withdrawals in sending by their column or their last signed entry, by id (the checks against the payment journal). */
  sendingPage: op<{ id: number }>('payments.sendingPage', `SELECT id FROM (${inFlightIds('$1', "('sending')")}) x ORDER BY id LIMIT $2`),

  // ---- Ethereum nonces ----
  ensureNonce: op(
    'payments.ensureNonce',
    'INSERT INTO payserv_nonces (chain, address, next_nonce) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING',
  ),
  lockNonce: op<{ next_nonce: string }>(
    'payments.lockNonce',
    'SELECT next_nonce::text FROM payserv_nonces WHERE chain = $1 AND address = $2 FOR UPDATE',
  ),
  storeNonce: op('payments.storeNonce', 'UPDATE payserv_nonces SET next_nonce = $3, updated_at = now() WHERE chain = $1 AND address = $2'),
  readNonce: op<{ next_nonce: string }>(
    'payments.readNonce',
    'SELECT next_nonce::text FROM payserv_nonces WHERE chain = $1 AND address = $2',
  ),
  attemptsFromNonce: op<{ hash: string; raw: string; nonce: string }>(
    'payments.attemptsFromNonce',
    'SELECT hash, raw, nonce::text FROM payserv_chain_txs WHERE coin_id = $1 AND nonce >= $2 ORDER BY nonce, hash',
  ),

  // ---- Zcash input reservations ----
  reservedOutpoints: op<{ txid: string; vout: number; spent_by: string }>(
    'payments.reservedOutpoints',
    'SELECT txid, vout, spent_by FROM payserv_utxo_reservations WHERE coin_id = $1 AND released_at IS NULL',
  ),
  /** No row back: the input is held by another payment (a released reservation is taken over). */
  reserveInput: op<{ txid: string }>(
    'payments.reserveInput',
    `INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (coin_id, txid, vout) DO UPDATE SET spent_by = EXCLUDED.spent_by, value = EXCLUDED.value, reserved_at = now(), released_at = NULL, release_why = NULL
       WHERE payserv_utxo_reservations.released_at IS NOT NULL
       RETURNING txid`,
  ),
  releaseInputs: op<{ txid: string }>(
    'payments.releaseInputs',
    `UPDATE payserv_utxo_reservations SET released_at = now(), release_why = $3 WHERE coin_id = $1 AND spent_by = $2 AND released_at IS NULL RETURNING txid`,
  ),
} as const;
