import type { DataTx } from '../data/data.js';
import { WRITES } from '../data/ops/writes.js';
import { encodeCredit, encodePoolIncome } from '../ledger/encoding.js';
import type { Credit, CreditType, IncomeKind, PoolIncome } from '../ledger/records.js';
import { creditSigner, incomeSigner } from '../ledger/roles.js';
import { add, formatAmount, parseAmount, sum, ZERO, type Amount } from '../money/amount.js';
import { assertPrecision } from '../money/precision.js';
import type { Signer } from '../pki/signer.js';
import { allocateIds, lockCoinChains, stampAfter } from './locks.js';
import { assertRole } from './signing.js';

// Appends pool-income rows and the user credits that make each up, in one transaction, each row
// chained to its predecessor and signed. The only way money enters the ledger. Many blocks of a coin
// go in one call as cheaply as one (a pool catching up after downtime): one statement per table.

/** Bound on credits per income row (one block's miners); past it the caller splits the block. */
export const CREDITS_PER_BLOCK_MAX = 20_000;
/** Bound on blocks per call, and on credits per call: one transaction must stay a reasonable size. */
export const BLOCKS_PER_CALL_MAX = 10_000;
export const CREDITS_PER_CALL_MAX = 100_000;
/** Rows per INSERT: keeps each statement's parameters bounded. */
const INSERT_CHUNK = 20_000;

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

function validate(e: IncomeEntry): void {
  if (e.shares.length === 0 || e.shares.length > CREDITS_PER_BLOCK_MAX) {
    throw new Error(`a block needs 1 to ${CREDITS_PER_BLOCK_MAX} credits, got ${e.shares.length}`);
  }
  const users = e.shares.map((s) => s.userId);
  if (new Set(users).size !== users.length) throw new Error('a block credits each user at most once');
  for (const s of e.shares) {
    if (s.type === 'correction' ? e.kind !== 'correction' : e.kind !== 'block')
      throw new Error(`a ${s.type} credit cannot belong to ${e.kind} income`);
    if (s.type !== 'correction' && s.amount <= 0n) throw new Error(`credit to user ${s.userId} must be positive`);
  }
}

export async function appendIncome(tx: DataTx, signer: Signer, e: IncomeEntry): Promise<AppendedIncome> {
  return (await appendIncomes(tx, signer, [e]))[0] as AppendedIncome;
}

/** Appends blocks (or corrections) of one coin, in order, under the coin's lock. */
export async function appendIncomes(tx: DataTx, signer: Signer, entries: readonly IncomeEntry[]): Promise<AppendedIncome[]> {
  const first = entries[0];
  if (!first) return [];
  if (entries.length > BLOCKS_PER_CALL_MAX) throw new Error(`at most ${BLOCKS_PER_CALL_MAX} blocks per call, got ${entries.length}`);
  if (entries.some((e) => e.coinId !== first.coinId)) throw new Error('one call appends blocks of one coin');
  entries.forEach(validate);
  const creditCount = entries.reduce((n, e) => n + e.shares.length, 0);
  if (creditCount > CREDITS_PER_CALL_MAX) throw new Error(`at most ${CREDITS_PER_CALL_MAX} credits per call, got ${creditCount}`);
  const coinId = first.coinId;
  const coin = await lockCoinChains(tx, coinId);
  for (const e of entries) for (const s of e.shares) assertPrecision(s.amount, coin, `${s.type} credit to user ${s.userId}`);

  const [last] = await tx.query(WRITES.poolHead, [coinId]);
  // Each user's chain head, in one query.
  const users = [...new Set(entries.flatMap((e) => e.shares.map((s) => s.userId)))];
  const heads = await tx.query(WRITES.creditHeads, [coinId, users]);
  const stamp = stampAfter(last?.created_at, ...heads.map((h) => h.created_at));
  const userHead = new Map(
    heads.map((h) => [
      h.user_id,
      h.id ? { id: h.id, total: add(parseAmount(h.balance_before as string), parseAmount(h.amount as string)) } : { id: 0, total: ZERO },
    ]),
  );
  const incomeIds = await allocateIds(tx, WRITES.incomeIds, entries.length);
  const creditIds = await allocateIds(tx, WRITES.creditIds, creditCount);

  let pool = { id: last?.id ?? 0, total: last ? add(parseAmount(last.balance_before), parseAmount(last.amount)) : ZERO };
  let next = 0;
  const out: AppendedIncome[] = entries.map((e, i) => {
    const at = e.at ?? stamp;
    const income: PoolIncome = {
      id: incomeIds[i] as number,
      coinId,
      prevId: pool.id,
      blockHash: e.blockHash,
      kind: e.kind,
      amount: sum(e.shares.map((s) => s.amount)),
      balanceBefore: pool.total,
      creditCount: e.shares.length,
      createdAt: at,
    };
    assertRole(signer, incomeSigner(income), 'this income');
    pool = { id: income.id, total: add(income.balanceBefore, income.amount) };
    const credits = e.shares.map((s): Credit => {
      const h = userHead.get(s.userId) as { id: number; total: Amount };
      const c: Credit = {
        id: creditIds[next++] as number,
        userId: s.userId,
        coinId,
        prevId: h.id,
        blockHash: e.blockHash,
        type: s.type,
        amount: s.amount,
        balanceBefore: h.total,
        createdAt: at,
      };
      assertRole(signer, creditSigner(c), `a ${c.type} credit`);
      userHead.set(s.userId, { id: c.id, total: add(c.balanceBefore, c.amount) });
      return c;
    });
    return { income, credits };
  });

  const incomes = out.map((o) => o.income);
  await tx.query(WRITES.insertIncomes, [
    coinId,
    signer.keyId,
    incomes.map((p) => p.id),
    incomes.map((p) => p.prevId),
    incomes.map((p) => p.blockHash),
    incomes.map((p) => p.kind),
    incomes.map((p) => formatAmount(p.amount)),
    incomes.map((p) => formatAmount(p.balanceBefore)),
    incomes.map((p) => p.creditCount),
    incomes.map((p) => p.createdAt),
    incomes.map((p) => Buffer.from(signer.sign(encodePoolIncome(p)))),
  ]);
  const credits = out.flatMap((o) => o.credits);
  for (let i = 0; i < credits.length; i += INSERT_CHUNK) {
    const chunk = credits.slice(i, i + INSERT_CHUNK);
    await tx.query(WRITES.insertCredits, [
      coinId,
      signer.keyId,
      chunk.map((c) => c.id),
      chunk.map((c) => c.userId),
      chunk.map((c) => c.prevId),
      chunk.map((c) => c.blockHash),
      chunk.map((c) => c.type),
      chunk.map((c) => formatAmount(c.amount)),
      chunk.map((c) => formatAmount(c.balanceBefore)),
      chunk.map((c) => c.createdAt),
      chunk.map((c) => Buffer.from(signer.sign(encodeCredit(c)))),
    ]);
  }
  return out;
}
