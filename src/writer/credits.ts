import type { Queryable } from '../db/db.js';
import { encodeCredit, encodePoolIncome } from '../ledger/encoding.js';
import type { Credit, CreditType, IncomeKind, PoolIncome } from '../ledger/records.js';
import { creditSigner, incomeSigner } from '../ledger/roles.js';
import { add, formatAmount, parseAmount, sum, ZERO, type Amount } from '../money/amount.js';
import type { Signer } from '../pki/signer.js';
import { allocateIds, lockCoinChains, stampAfter } from './locks.js';
import { assertRole } from './signing.js';

// Appends one pool-income row and the user credits that make it up, in one transaction, each row
// chained to its predecessor and signed. The only way money enters the ledger.

/** Bound on credits per income row (one block's miners); past it the caller splits the block. */
export const CREDITS_PER_BLOCK_MAX = 20_000;

export interface CreditShare {
  userId: number;
  amount: Amount;
  type: CreditType;
}

export interface IncomeEntry {
  coinId: number;
  blockHash: string;
  kind: IncomeKind;
  shares: readonly CreditShare[];
  /** Only for tests that need a given time; normally stamped under the lock (see stampAfter). */
  at?: Date;
}

export interface AppendedIncome {
  income: PoolIncome;
  credits: Credit[];
}

export async function appendIncome(tx: Queryable, signer: Signer, e: IncomeEntry): Promise<AppendedIncome> {
  if (e.shares.length === 0 || e.shares.length > CREDITS_PER_BLOCK_MAX) {
    throw new Error(`a block needs 1 to ${CREDITS_PER_BLOCK_MAX} credits, got ${e.shares.length}`);
  }
  const users = e.shares.map((s) => s.userId);
  if (new Set(users).size !== users.length) throw new Error('a block credits each user at most once');
  for (const s of e.shares) {
    if (s.type === 'correction' ? e.kind !== 'correction' : e.kind !== 'block') throw new Error(`a ${s.type} credit cannot belong to ${e.kind} income`);
    if (s.type !== 'correction' && s.amount <= 0n) throw new Error(`credit to user ${s.userId} must be positive`);
  }
  await lockCoinChains(tx, e.coinId);

  const [last] = await tx.query<{ id: number; amount: string; balance_before: string; created_at: Date }>(
    'SELECT id, amount, balance_before, created_at FROM finances_proxypool_transactions WHERE coin_id = $1 ORDER BY id DESC LIMIT 1', [e.coinId]);
  // Each user's chain head, in one query.
  const heads = await tx.query<{ user_id: number; id: number | null; amount: string | null; balance_before: string | null; created_at: Date | null }>(
    `SELECT u.user_id, c.id, c.amount::text AS amount, c.balance_before::text AS balance_before, c.created_at FROM unnest($2::bigint[]) AS u(user_id)
     LEFT JOIN LATERAL (SELECT id, amount, balance_before, created_at FROM finances_user_balance_transaction t
                        WHERE t.user_id = u.user_id AND t.coin_id = $1 ORDER BY id DESC LIMIT 1) c ON true`,
    [e.coinId, users],
  );
  const at = e.at ?? stampAfter(last?.created_at, ...heads.map((h) => h.created_at));
  const [incomeId] = await allocateIds(tx, 'finances_proxypool_transactions_id_seq', 1);
  const income: PoolIncome = {
    id: incomeId as number, coinId: e.coinId, prevId: last?.id ?? 0, blockHash: e.blockHash, kind: e.kind,
    amount: sum(e.shares.map((s) => s.amount)),
    balanceBefore: last ? add(parseAmount(last.balance_before), parseAmount(last.amount)) : ZERO,
    creditCount: e.shares.length, createdAt: at,
  };
  assertRole(signer, incomeSigner(income), 'this income');
  await tx.query(
    `INSERT INTO finances_proxypool_transactions (id, coin_id, prev_id, block_hash, kind, amount, balance_before, credit_count, created_at, sig_key_id, signature)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
    [income.id, income.coinId, income.prevId, income.blockHash, income.kind, formatAmount(income.amount), formatAmount(income.balanceBefore),
      income.creditCount, income.createdAt, signer.keyId, signer.sign(encodePoolIncome(income))],
  );

  const headOf = new Map(heads.map((h) => [h.user_id, h]));
  const ids = await allocateIds(tx, 'finances_user_balance_transaction_id_seq', e.shares.length);
  const credits: Credit[] = e.shares.map((s, i) => {
    const h = headOf.get(s.userId);
    return {
      id: ids[i] as number, userId: s.userId, coinId: e.coinId, prevId: h?.id ?? 0, blockHash: e.blockHash, type: s.type, amount: s.amount,
      balanceBefore: h?.id ? add(parseAmount(h.balance_before as string), parseAmount(h.amount as string)) : ZERO, createdAt: at,
    };
  });
  for (const c of credits) assertRole(signer, creditSigner(c), `a ${c.type} credit`);
  await tx.query(
    `INSERT INTO finances_user_balance_transaction (id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature)
     SELECT id, user_id, $1, prev_id, $2, type, amount, balance_before, $3, $4, signature
     FROM unnest($5::bigint[], $6::bigint[], $7::bigint[], $8::text[], $9::numeric[], $10::numeric[], $11::bytea[])
       AS t(id, user_id, prev_id, type, amount, balance_before, signature)`,
    [e.coinId, e.blockHash, at, signer.keyId, credits.map((c) => c.id), credits.map((c) => c.userId), credits.map((c) => c.prevId),
      credits.map((c) => c.type), credits.map((c) => formatAmount(c.amount)), credits.map((c) => formatAmount(c.balanceBefore)),
      credits.map((c) => Buffer.from(signer.sign(encodeCredit(c))))],
  );
  return { income, credits };
}
