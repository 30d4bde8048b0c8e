import { op } from '../../db/op.js';
import {
  COIN_CHECKPOINT_COLUMNS,
  COIN_COLUMNS,
  CREDIT_COLUMNS,
  INCOME_COLUMNS,
  USER_CHECKPOINT_COLUMNS,
  WALLET_COLUMNS,
  WITHDRAWAL_COLUMNS,
} from '../rows.js';

// Every read of the ledger (src/store/reads.ts). `…Page` operations are keyset pages: rows after the
// given key, in key order, the page size as the last parameter.

/**
 * A withdrawal row and its signed status entries in ONE statement, so both come from one snapshot: read
 * in two, a status change committed in between would show a row one entry behind its history, which
 * verification must (and would) take for tampering.
 */
const WITH_HISTORY = `${WITHDRAWAL_COLUMNS}, (SELECT coalesce(json_agg(json_build_object(
    'seq', s.seq, 'status', s.status, 'tx_hash', s.tx_hash, 'tx_fee', s.tx_fee::text, 'comment', s.comment,
    'created_at_ms', (extract(epoch FROM s.created_at) * 1000)::bigint, 'sig_key_id', s.sig_key_id, 'signature', encode(s.signature, 'hex'))
    ORDER BY s.seq), '[]'::json) FROM finances_withdrawal_signatures s WHERE s.withdrawal_id = w.id) AS history`;

export const LEDGER = {
  // $1: the bound plus one, so the caller can tell "exactly the bound" from "past it".
  // Whether anything was ever written to the ledger or by a payserv (src/payserv/rebaseline.ts): a database with history.
  anyHistory: op<{ any: boolean }>(
    'ledger.anyHistory',
    `SELECT (EXISTS (SELECT 1 FROM finances_user_balance_transaction) OR EXISTS (SELECT 1 FROM finances_withdrawal_transaction)
          OR EXISTS (SELECT 1 FROM finances_withdrawal_signatures) OR EXISTS (SELECT 1 FROM finances_proxypool_transactions)
          OR EXISTS (SELECT 1 FROM finances_user_balance_checkpoints) OR EXISTS (SELECT 1 FROM finances_coin_checkpoints)
          OR EXISTS (SELECT 1 FROM payserv_chain_txs) OR EXISTS (SELECT 1 FROM payserv_audit)) AS any`,
  ),
  coins: op('ledger.coins', `SELECT ${COIN_COLUMNS} FROM coins_coin ORDER BY id LIMIT $1`),
  certsPage: op('ledger.certsPage', `SELECT id, key_id, role, cert_pem FROM crypto_certs WHERE id > $1 ORDER BY id LIMIT $2`),

  walletsPage: op('ledger.walletsPage', `SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE id > $1 ORDER BY id LIMIT $2`),
  wallet: op('ledger.wallet', `SELECT ${WALLET_COLUMNS} FROM users_userwallets WHERE id = $1`),
  // One account's reviewed wallets (any trace of a signature), newest first; $3: the bound plus one.
  reviewedWallets: op(
    'ledger.reviewedWallets',
    `SELECT ${WALLET_COLUMNS} FROM users_userwallets
          WHERE user_id = $1 AND coin_id = $2 AND (signature IS NOT NULL OR sig_key_id IS NOT NULL OR signed_at IS NOT NULL) ORDER BY id DESC LIMIT $3`,
  ),

  accountCreditsPage: op(
    'ledger.accountCreditsPage',
    `SELECT ${CREDIT_COLUMNS} FROM finances_user_balance_transaction WHERE user_id = $1 AND coin_id = $2 AND id > $3 ORDER BY id LIMIT $4`,
  ),
  // Ordered by account then id, so each account's history arrives whole and in order.
  creditsPage: op(
    'ledger.creditsPage',
    `SELECT ${CREDIT_COLUMNS} FROM finances_user_balance_transaction
          WHERE (user_id, coin_id, id) > ($1, $2, $3) ORDER BY user_id, coin_id, id LIMIT $4`,
  ),
  credit: op('ledger.credit', `SELECT ${CREDIT_COLUMNS} FROM finances_user_balance_transaction WHERE id = $1`),
  lastCredit: op<{ id: number; amount: string; balance_before: string }>(
    'ledger.lastCredit',
    'SELECT id, amount, balance_before FROM finances_user_balance_transaction WHERE user_id = $1 AND coin_id = $2 ORDER BY id DESC LIMIT 1',
  ),
  // $2: a text[] of block hashes, one statement per batch instead of one per credit.
  blockCredits: op<{ block_hash: string; total: string; n: number }>(
    'ledger.blockCredits',
    `SELECT block_hash, sum(amount)::text AS total, count(*)::bigint AS n FROM finances_user_balance_transaction
     WHERE coin_id = $1 AND block_hash = ANY($2::text[]) GROUP BY block_hash`,
  ),
  ghostCreditsPage: op(
    'ledger.ghostCreditsPage',
    `SELECT ${CREDIT_COLUMNS.split(', ')
      .map((c) => `c.${c}`)
      .join(', ')} FROM finances_user_balance_transaction c
          WHERE c.coin_id = $1 AND c.id > $2
            AND NOT EXISTS (SELECT 1 FROM finances_proxypool_transactions p WHERE p.coin_id = c.coin_id AND p.block_hash = c.block_hash)
          ORDER BY c.id LIMIT $3`,
  ),

  accountWithdrawalsPage: op(
    'ledger.accountWithdrawalsPage',
    `SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w WHERE user_id = $1 AND coin_id = $2 AND id > $3 ORDER BY id LIMIT $4`,
  ),
  withdrawalsPage: op(
    'ledger.withdrawalsPage',
    `SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w
          WHERE (user_id, coin_id, id) > ($1, $2, $3) ORDER BY user_id, coin_id, id LIMIT $4`,
  ),
  // The miners' API: one account's payments (broadcast or sent), newest first; $3 rows after skipping $4.
  accountPaymentsPage: op(
    'ledger.accountPaymentsPage',
    `SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w
          WHERE user_id = $1 AND coin_id = $2 AND status IN ('sending', 'sent') ORDER BY id DESC LIMIT $3 OFFSET $4`,
  ),
  withdrawal: op('ledger.withdrawal', `SELECT ${WITHDRAWAL_COLUMNS} FROM finances_withdrawal_transaction WHERE id = $1`),
  // pscli withdrawals: a keyset page after id $1, each filter (status $2, coin $3, user $4) applied only when not null.
  withdrawalsListPage: op(
    'ledger.withdrawalsListPage',
    `SELECT ${WITHDRAWAL_COLUMNS} FROM finances_withdrawal_transaction
          WHERE id > $1 AND ($2::text IS NULL OR status = $2) AND ($3::bigint IS NULL OR coin_id = $3) AND ($4::bigint IS NULL OR user_id = $4)
          ORDER BY id LIMIT $5`,
  ),
  withdrawalWithHistory: op('ledger.withdrawalWithHistory', `SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w WHERE id = $1`),
  // The metrics' typical payout: a coin's newest sent payouts ($2 at most), each with its history to verify.
  newestSentWithHistory: op(
    'ledger.newestSentWithHistory',
    `SELECT ${WITH_HISTORY} FROM finances_withdrawal_transaction w
          WHERE coin_id = $1 AND parent_id IS NULL AND status = 'sent' ORDER BY id DESC LIMIT $2`,
  ),

  blocksWithIncome: op<{ block_hash: string }>(
    'ledger.blocksWithIncome',
    'SELECT block_hash FROM finances_proxypool_transactions WHERE coin_id = $1 AND block_hash = ANY($2::text[])',
  ),
  incomePage: op(
    'ledger.incomePage',
    `SELECT ${INCOME_COLUMNS} FROM finances_proxypool_transactions WHERE coin_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
  ),
  income: op('ledger.income', `SELECT ${INCOME_COLUMNS} FROM finances_proxypool_transactions WHERE id = $1`),

  userCheckpoint: op(
    'ledger.userCheckpoint',
    `SELECT ${USER_CHECKPOINT_COLUMNS} FROM finances_user_balance_checkpoints WHERE user_id = $1 AND coin_id = $2`,
  ),
  userCheckpointsPage: op(
    'ledger.userCheckpointsPage',
    `SELECT ${USER_CHECKPOINT_COLUMNS} FROM finances_user_balance_checkpoints
          WHERE (user_id, coin_id) > ($1, $2) ORDER BY user_id, coin_id LIMIT $3`,
  ),
  coinCheckpoint: op('ledger.coinCheckpoint', `SELECT ${COIN_CHECKPOINT_COLUMNS} FROM finances_coin_checkpoints WHERE coin_id = $1`),
} as const;
