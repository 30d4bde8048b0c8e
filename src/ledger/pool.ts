import { add, formatAmount, ZERO, type Amount } from '../money/amount.js';
import type { CertBook } from './certbook.js';
import { followChain, type ChainHead } from './chain.js';
import { encodePoolIncome } from './encoding.js';
import { problem, type Problem, type ProblemCode } from './problem.js';
import type { Coin, CoinCheckpoint, Credit, PoolIncome, PoolSummary, Signed } from './records.js';
import { incomeSigner } from './roles.js';

// Verification of one coin's pool income, free of I/O: the running pool balance, each block's income
// equal to the credits of that block, and the pool's fee credits.

const INCOME = 'finances_proxypool_transactions';
const CHECKPOINTS = 'finances_coin_checkpoints';

export type PoolState = PoolSummary;

export const EMPTY_POOL: PoolState = { lastIncomeId: 0, poolBalance: ZERO, lastBlockHash: '', lastFeeCreditId: 0, feeTotal: ZERO };

export function poolStateOf(cp: CoinCheckpoint): PoolState {
  const { lastIncomeId, poolBalance, lastBlockHash, lastFeeCreditId, feeTotal } = cp;
  return { lastIncomeId, poolBalance, lastBlockHash, lastFeeCreditId, feeTotal };
}

/** The credits of one block as the database holds them. */
export interface BlockCredits {
  /** null: the credits' sum is beyond NUMERIC(50,20), which no honest block reaches. */
  sum: Amount | null;
  count: number;
}

export class PoolVerifier {
  readonly #coin: Coin;
  readonly #book: CertBook;
  readonly #problems: Problem[] = [];
  #head: ChainHead;
  #lastBlockHash: string;
  #fee: { lastId: number; total: Amount };
  readonly #compareWith: CoinCheckpoint | null;
  #incomeBoundarySeen: boolean;
  #feeBoundarySeen: boolean;

  constructor(coin: Coin, book: CertBook, start: PoolState, compareWith: CoinCheckpoint | null = null) {
    this.#coin = coin;
    this.#book = book;
    this.#head = { lastId: start.lastIncomeId, total: start.poolBalance, lastAt: 0 };
    this.#lastBlockHash = start.lastBlockHash;
    this.#fee = { lastId: start.lastFeeCreditId, total: start.feeTotal };
    this.#compareWith = compareWith;
    this.#incomeBoundarySeen = !compareWith || compareWith.lastIncomeId === 0;
    this.#feeBoundarySeen = !compareWith || compareWith.lastFeeCreditId === 0;
  }

  #add(table: string, row: number | string, code: ProblemCode, detail: string): void {
    this.#problems.push(problem(table, row, code, detail));
  }

  income(p: Signed<PoolIncome>, block: BlockCredits): void {
    if (p.coinId !== this.#coin.id) throw new Error('income fed to the wrong coin');
    const { head, faults } = followChain(
      this.#head,
      { id: p.id, prevId: p.prevId, amount: p.amount, before: p.balanceBefore, at: p.createdAt },
      'balance_before',
    );
    for (const f of faults) this.#add(INCOME, p.id, 'chain', f);
    this.#head = head;
    this.#lastBlockHash = p.blockHash;
    const why = this.#book.check(encodePoolIncome(p), p.sigKeyId, p.signature, incomeSigner(p), p.createdAt);
    if (why) this.#add(INCOME, p.id, 'signature', why);
    if (block.sum !== p.amount || block.count !== p.creditCount) {
      const got = block.sum === null ? 'more than NUMERIC(50,20) holds' : formatAmount(block.sum);
      this.#add(
        INCOME,
        p.id,
        'reconciliation',
        `block ${p.blockHash}: income ${formatAmount(p.amount)} in ${p.creditCount} credits, but its credits sum to ${got} in ${block.count}`,
      );
    }
    const cp = this.#compareWith;
    if (cp && p.id === cp.lastIncomeId) {
      this.#incomeBoundarySeen = true;
      if (head.total !== cp.poolBalance || p.blockHash !== cp.lastBlockHash) {
        this.#add(
          CHECKPOINTS,
          `coin=${cp.coinId}`,
          'checkpoint_mismatch',
          `pool balance at income ${p.id} is ${formatAmount(head.total)}, the checkpoint says ${formatAmount(cp.poolBalance)}`,
        );
      }
    }
  }

  /** Fee credits are the credits of type 'fee'; they must go to the coin's own fee user. */
  feeCredit(c: Credit): void {
    if (c.type !== 'fee') return;
    if (c.userId !== this.#coin.feeUserId) {
      this.#add(
        'finances_user_balance_transaction',
        c.id,
        'fee_user',
        `fee credit to user ${c.userId}, but the coin's fee user is ${this.#coin.feeUserId}`,
      );
    }
    this.#fee = { lastId: c.id, total: add(this.#fee.total, c.amount) };
    const cp = this.#compareWith;
    if (cp && c.id === cp.lastFeeCreditId) {
      this.#feeBoundarySeen = true;
      if (this.#fee.total !== cp.feeTotal) {
        this.#add(
          CHECKPOINTS,
          `coin=${cp.coinId}`,
          'checkpoint_mismatch',
          `fee total at credit ${c.id} is ${formatAmount(this.#fee.total)}, the checkpoint says ${formatAmount(cp.feeTotal)}`,
        );
      }
    }
  }

  finish(): { problems: Problem[]; state: PoolState } {
    const cp = this.#compareWith;
    if (cp && !this.#incomeBoundarySeen)
      this.#add(CHECKPOINTS, `coin=${cp.coinId}`, 'checkpoint_row_missing', `income ${cp.lastIncomeId} covered by the checkpoint is gone`);
    if (cp && !this.#feeBoundarySeen)
      this.#add(
        CHECKPOINTS,
        `coin=${cp.coinId}`,
        'checkpoint_row_missing',
        `fee credit ${cp.lastFeeCreditId} covered by the checkpoint is gone`,
      );
    return {
      problems: this.#problems,
      state: {
        lastIncomeId: this.#head.lastId,
        poolBalance: this.#head.total,
        lastBlockHash: this.#lastBlockHash,
        lastFeeCreditId: this.#fee.lastId,
        feeTotal: this.#fee.total,
      },
    };
  }
}
