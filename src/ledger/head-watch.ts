import type { AccountState } from './account.js';
import { add, formatAmount } from '../money/amount.js';
import { problem, userKey, type Problem } from './problem.js';
import type { Credit, Withdrawal } from './records.js';
import { isFinal } from './status.js';

// What a host remembers of an account it verified itself (the intake's miners' API): where the account
// ended, like a checkpoint, and each open withdrawal's highest signed status. The ledger only grows and
// statuses only advance, so rows fed from the start of history must reach every remembered point again:
// a tail cut by SQL (the newest withdrawal deleted with its signatures) or a status rolled back to an
// older signed one verifies row by row and is seen only here. Free of I/O.

/** The most open withdrawals remembered per account; more are remembered by their count alone (openStatusCount). */
export const REMEMBERED_OPEN_MAX = 256;

export interface RememberedHead {
  state: AccountState;
  /** Open withdrawals (after the final prefix) and their highest signed status seq, in id order. */
  open: ReadonlyArray<readonly [id: number, statusSeq: number]>;
  /** The version of the payserv-signed database checkpoint seen with it (0: none): a lower one later is a rollback. */
  checkpointVersion: number;
}

/** The head to remember after a verification that found no problem. */
export function headOf(state: AccountState, open: readonly Withdrawal[], checkpointVersion: number): RememberedHead {
  return { state, open: open.slice(0, REMEMBERED_OPEN_MAX).map((w) => [w.id, w.statusSeq] as const), checkpointVersion };
}

const CREDITS = 'finances_user_balance_transaction';
const WITHDRAWALS = 'finances_withdrawal_transaction';

/** Fed the same rows as the AccountVerifier, from the start of history; finish() names every point the rows no longer reach. */
export class HeadWatch {
  readonly #key: string;
  readonly #problems: Problem[] = [];
  #creditSeen: boolean;
  #finalSeen: boolean;
  #headSeen: boolean;
  /** Signed statuses of the withdrawals up to the remembered final prefix's end, and after it up to the head. */
  #finalStatuses = 0;
  #openStatuses = 0;
  readonly #open: Map<number, number>;

  constructor(
    userId: number,
    coinId: number,
    readonly head: RememberedHead,
  ) {
    this.#key = userKey(userId, coinId);
    const s = head.state;
    this.#creditSeen = s.lastCreditId === 0;
    this.#finalSeen = s.lastWithdrawalId === 0;
    this.#headSeen = s.headWithdrawalId === 0;
    this.#open = new Map(head.open);
  }

  #add(table: string, row: number | string, code: Problem['code'], detail: string): void {
    this.#problems.push(problem(table, row, code, detail));
  }

  credit(c: Credit): void {
    const s = this.head.state;
    if (c.id !== s.lastCreditId) return;
    this.#creditSeen = true;
    const end = add(c.balanceBefore, c.amount);
    if (end !== s.creditTotal || c.blockHash !== s.lastBlockHash)
      this.#add(
        CREDITS,
        c.id,
        'checkpoint_mismatch',
        `credit ${c.id} ends at ${formatAmount(end)}; it ended at ${formatAmount(s.creditTotal)}`,
      );
  }

  withdrawal(w: Withdrawal): void {
    const s = this.head.state;
    const end = add(w.debitBefore, w.amount);
    if (w.id <= s.lastWithdrawalId) {
      this.#finalStatuses += w.statusSeq + 1;
      if (!isFinal(w.status)) this.#add(WITHDRAWALS, w.id, 'status_rolled_back', `it was final, now ${w.status}`);
      if (w.id === s.lastWithdrawalId) {
        this.#finalSeen = true;
        if (end !== s.debitTotal)
          this.#add(
            WITHDRAWALS,
            w.id,
            'checkpoint_mismatch',
            `it ends at debit ${formatAmount(end)}; it ended at ${formatAmount(s.debitTotal)}`,
          );
      }
    } else if (w.id <= s.headWithdrawalId) {
      this.#openStatuses += w.statusSeq + 1;
    }
    if (w.id === s.headWithdrawalId) {
      this.#headSeen = true;
      if (end !== s.headDebit)
        this.#add(
          WITHDRAWALS,
          w.id,
          'checkpoint_mismatch',
          `it ends at debit ${formatAmount(end)}; it ended at ${formatAmount(s.headDebit)}`,
        );
    }
    const seq = this.#open.get(w.id);
    if (seq !== undefined) {
      this.#open.delete(w.id);
      if (w.statusSeq < seq)
        this.#add(WITHDRAWALS, w.id, 'status_rolled_back', `its signed status ${w.statusSeq} is older than status ${seq}, already seen`);
    }
  }

  finish(): Problem[] {
    const s = this.head.state;
    const gone = (what: string) =>
      this.#add('finances_user_balance_checkpoints', this.#key, 'checkpoint_row_missing', `${what} is gone (history cut?)`);
    if (!this.#creditSeen) gone(`credit ${s.lastCreditId}, the last one already seen,`);
    if (!this.#finalSeen) gone(`withdrawal ${s.lastWithdrawalId}, final when already seen,`);
    if (!this.#headSeen) gone(`withdrawal ${s.headWithdrawalId}, the last one already seen,`);
    for (const id of this.#open.keys()) gone(`withdrawal ${id}, already seen,`);
    if (this.#finalStatuses < s.statusCount || this.#openStatuses < s.openStatusCount)
      this.#add(
        'finances_withdrawal_signatures',
        this.#key,
        'status_rolled_back',
        `withdrawals up to ${s.headWithdrawalId} have ${this.#finalStatuses}+${this.#openStatuses} signed statuses, fewer than the ${s.statusCount}+${s.openStatusCount} already seen`,
      );
    return this.#problems;
  }
}
