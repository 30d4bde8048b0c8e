// The database attacker of the tamper suites: full write access (triggers and constraints included),
// no private keys. Shared by test/tamper.test.ts (the checks) and test/payserv-tamper.test.ts (payserv).
import { randomBytes, X509Certificate } from 'node:crypto';
import type { Db } from '../../src/db/db.js';
import { encodeCredit } from '../../src/ledger/encoding.js';
import type { Credit } from '../../src/ledger/records.js';
import { formatAmount } from '../../src/money/amount.js';
import { keyIdOf } from '../../src/pki/keyid.js';
import type { Signer } from '../../src/pki/signer.js';

export const CERTS = 'crypto_certs';
export const COINS = 'coins_coin';
export const WALLETS = 'users_userwallets';
export const INCOME = 'finances_proxypool_transactions';
export const CREDITS = 'finances_user_balance_transaction';
export const WITHDRAWALS = 'finances_withdrawal_transaction';
export const STATUS_SIGNATURES = 'finances_withdrawal_signatures';
export const USER_CHECKPOINTS = 'finances_user_balance_checkpoints';
export const COIN_CHECKPOINTS = 'finances_coin_checkpoints';
export const TABLES = [CERTS, COINS, WALLETS, INCOME, CREDITS, WITHDRAWALS, STATUS_SIGNATURES, USER_CHECKPOINTS, COIN_CHECKPOINTS];

export type Edit = string | readonly [sql: string, params: readonly unknown[]];

/**
 * Applies edits as the attacker, in one transaction: the triggers of every ledger table are disabled
 * for the edits (the attacker may do that) and enabled again after, so nothing the checks find
 * depends on the triggers. With `triggers: 'on'`, the edits run against the database's own guards.
 * Returns the rows of the last edit.
 */
export async function asAttacker(
  db: Db,
  edits: readonly Edit[],
  opts: { triggers?: 'off' | 'on' } = {},
): Promise<Record<string, unknown>[]> {
  const off = opts.triggers !== 'on';
  return db.transaction(async (tx) => {
    if (off) for (const t of TABLES) await tx.query(`ALTER TABLE ${t} DISABLE TRIGGER USER`);
    let rows: Record<string, unknown>[] = [];
    for (const e of edits) rows = typeof e === 'string' ? await tx.query(e) : await tx.query(e[0], e[1]);
    if (off) for (const t of TABLES) await tx.query(`ALTER TABLE ${t} ENABLE TRIGGER USER`);
    return rows;
  });
}

/** Drops every unique constraint of a table (what stops a second row at the same place in a chain). */
export const dropUniqueConstraints = (table: string): Edit =>
  `DO $$ DECLARE c text; BEGIN
     FOR c IN SELECT conname FROM pg_constraint WHERE conrelid = '${table}'::regclass AND contype = 'u' LOOP
       EXECUTE format('ALTER TABLE ${table} DROP CONSTRAINT %I', c);
     END LOOP;
   END $$`;

/** Writes a captured row back over the current one with the same key (a rollback to a validly signed older copy). */
export function restoreRow(table: string, row: Record<string, unknown>, key: readonly string[]): Edit {
  const cols = Object.keys(row).filter((c) => !key.includes(c));
  const value = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v) : v);
  return [
    `UPDATE ${table} SET ${cols.map((c, i) => `${c} = $${i + 1}`).join(', ')} WHERE ${key.map((k, i) => `${k} = $${cols.length + i + 1}`).join(' AND ')}`,
    [...cols.map((c) => value(row[c])), ...key.map((k) => row[k])],
  ];
}

export interface Sig {
  keyId: string | null;
  signature: Uint8Array | null;
}

export const signedBy = (signer: Signer, c: Credit): Sig => ({ keyId: signer.keyId, signature: signer.sign(encodeCredit(c)) });

export function insertCredit(c: Credit, sig: Sig): Edit {
  return [
    `INSERT INTO ${CREDITS} (id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [
      c.id,
      c.userId,
      c.coinId,
      c.prevId,
      c.blockHash,
      c.type,
      formatAmount(c.amount),
      formatAmount(c.balanceBefore),
      c.createdAt,
      sig.keyId,
      sig.signature === null ? null : Buffer.from(sig.signature),
    ],
  ];
}

/** Registers a certificate the way an attacker would: straight into crypto_certs, with its true key id. */
export function insertCert(pem: string, role: string): Edit {
  return [
    `INSERT INTO ${CERTS} (key_id, role, cert_pem) VALUES ($1, $2, $3) RETURNING id`,
    [keyIdOf(new X509Certificate(pem).publicKey), role, pem],
  ];
}

export const newBlockHash = () => `0x${randomBytes(32).toString('hex')}`;

/**
 * Cuts a withdrawal's signed history back to entry `seq` and makes the row say what that entry says:
 * every row left is validly signed, as an attacker who restores an earlier state would leave it.
 */
export function cutHistory(id: number, seq: number): Edit[] {
  return [
    [
      `UPDATE ${WITHDRAWALS} w SET status = s.status, status_seq = s.seq, tx_hash = s.tx_hash, tx_fee = s.tx_fee, comment = s.comment, updated_at = s.created_at
       FROM ${STATUS_SIGNATURES} s WHERE w.id = $1 AND s.withdrawal_id = w.id AND s.seq = $2`,
      [id, seq],
    ],
    [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, seq]],
  ];
}

/**
 * The payserv_chain_txs row a database attacker writes: transaction bytes (copied from the chain, or signed with a
 * key of their own) stored as coin `tag`'s payment `hash` of withdrawal `withdrawalId`, at `nonce` (Ethereum) or none.
 */
export const storedAttemptRow = (
  tag: string,
  hash: string,
  withdrawalId: number,
  raw: string,
  nonce: bigint | null = null,
): [sql: string, params: unknown[]] => [
  `INSERT INTO payserv_chain_txs (hash, coin_id, payment, withdrawal_ids, raw, max_fee, nonce)
     SELECT $1, id, $1, ARRAY[$2::bigint], $3, 0, $5::numeric FROM coins_coin WHERE tag = $4`,
  [hash, withdrawalId, raw, tag, nonce === null ? null : nonce.toString()],
];
