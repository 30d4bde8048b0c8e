import { add, formatAmount, neg, sub, ZERO, type Amount } from '../money/amount.js';
import type { CertBook } from './certbook.js';
import { followChain, type ChainHead } from './chain.js';
import { encodeCredit } from './encoding.js';
import { checkHistory } from './history.js';
import { problem, userKey, type Problem, type ProblemCode } from './problem.js';
import type { AccountSummary, Credit, Signed, StatusSignature, UserCheckpoint, Withdrawal } from './records.js';
import { creditSigner } from './roles.js';
import { isFinal } from './status.js';

// Verification of one (user, coin) account, free of I/O: the caller feeds the rows in id order (from
// the start of history, or from a checkpoint) and gets back the problems and the verified state.

const CREDITS = 'finances_user_balance_transaction';
const WITHDRAWALS = 'finances_withdrawal_transaction';
const CHECKPOINTS = 'finances_user_balance_checkpoints';

/** What a checkpoint summarises: the credit chain, the prefix of withdrawals that are all final, and the chain's head. */
export type AccountState = AccountSummary;

export const EMPTY_ACCOUNT: AccountState = {
  lastCreditId: 0,
  lastBlockHash: '',
  creditTotal: ZERO,
  lastWithdrawalId: 0,
  debitTotal: ZERO,
  sentTotal: ZERO,
  statusCount: 0,
  headWithdrawalId: 0,
  headDebit: ZERO,
  openStatusCount: 0,
};

/** AccountState's fields: EMPTY_ACCOUNT's type makes it name every one and no other, so none can be left behind. */
const ACCOUNT_FIELDS = Object.keys(EMPTY_ACCOUNT) as ReadonlyArray<keyof AccountState>;

/** The state a checkpoint summarises, without its user, coin, version and time. */
export function stateOf(cp: UserCheckpoint): AccountState {
  return Object.fromEntries(ACCOUNT_FIELDS.map((k) => [k, cp[k]])) as unknown as AccountState;
}

export interface AccountResult {
  problems: Problem[];
  state: AccountState;
  creditTotal: Amount;
  debitTotal: Amount;
  /** Debits of withdrawals past the request stage (neither processing nor pending): money already committed. */
  committedDebit: Amount;
  /** Withdrawals not yet in a final status, in id order. */
  open: Withdrawal[];
}

interface Seen {
  status: Withdrawal['status'];
  amount: Amount;
}

export class AccountVerifier {
  readonly #key: string;
  readonly #book: CertBook;
  readonly #problems: Problem[] = [];
  #credit: ChainHead;
  #lastBlockHash: string;
  #debit: ChainHead;
  /** The final prefix, while every withdrawal so far is final. */
  #final: { lastId: number; debit: Amount; sent: Amount; statusCount: number };
  #prefixOpen = true;
  /** Signed status entries of the withdrawals after the final prefix. */
  #openStatus = 0;
  /** The trusted checkpoint, in both modes: its head must still be there and its open statuses not fewer. */
  readonly #reference: UserCheckpoint | null;
  #headSeen: boolean;
  /** Signed status entries of the withdrawals that were open at the reference checkpoint. */
  #referenceOpenStatus = 0;
  #pendingDebit: Amount = ZERO;
  readonly #open: Withdrawal[] = [];
  readonly #seen = new Map<number, Seen>();
  readonly #awaitingReversal = new Set<number>();
  readonly #reversed = new Set<number>();
  /** Full mode only: the checkpoint to compare with when the stream passes its boundary. */
  readonly #compareWith: UserCheckpoint | null;
  #creditBoundarySeen: boolean;
  #withdrawalBoundarySeen: boolean;

  constructor(
    readonly userId: number,
    readonly coinId: number,
    book: CertBook,
    start: AccountState,
    compareWith: UserCheckpoint | null = null,
    /** The coin's fee user: only it may receive fee credits. */
    readonly feeUserId: number | null = null,
    /** Incremental mode: the checkpoint the start state came from. */
    startedFrom: UserCheckpoint | null = null,
  ) {
    this.#key = userKey(userId, coinId);
    this.#book = book;
    this.#credit = { lastId: start.lastCreditId, total: start.creditTotal, lastAt: 0 };
    this.#lastBlockHash = start.lastBlockHash;
    this.#debit = { lastId: start.lastWithdrawalId, total: start.debitTotal, lastAt: 0 };
    this.#final = { lastId: start.lastWithdrawalId, debit: start.debitTotal, sent: start.sentTotal, statusCount: start.statusCount };
    this.#compareWith = compareWith;
    this.#creditBoundarySeen = !compareWith || compareWith.lastCreditId === 0;
    this.#withdrawalBoundarySeen = !compareWith || compareWith.lastWithdrawalId === 0;
    this.#reference = compareWith ?? startedFrom;
    this.#headSeen = !this.#reference || this.#reference.headWithdrawalId <= this.#reference.lastWithdrawalId;
    if (compareWith) this.#compareAtStart(compareWith);
  }

  #add(table: string, row: number | string, code: ProblemCode, detail: string): void {
    this.#problems.push(problem(table, row, code, detail));
  }

  /** In incremental mode: the checkpoint's last covered credit must still be there and end where the checkpoint says. */
  boundaryCredit(c: Credit | null, cp: UserCheckpoint): void {
    if (cp.lastCreditId === 0) return;
    if (!c || c.userId !== this.userId || c.coinId !== this.coinId) {
      this.#add(CHECKPOINTS, this.#key, 'checkpoint_row_missing', `credit ${cp.lastCreditId} covered by the checkpoint is gone or moved`);
      return;
    }
    const end = add(c.balanceBefore, c.amount);
    if (end !== cp.creditTotal || c.blockHash !== cp.lastBlockHash) {
      this.#add(
        CHECKPOINTS,
        this.#key,
        'checkpoint_mismatch',
        `credit ${c.id} no longer ends at the checkpoint's total ${formatAmount(cp.creditTotal)}`,
      );
    }
    this.#credit = { ...this.#credit, lastAt: c.createdAt.getTime() };
  }

  /** In incremental mode: the checkpoint's last covered withdrawal must still be there, final, and end at its debit. */
  boundaryWithdrawal(w: Withdrawal | null, cp: UserCheckpoint): void {
    if (cp.lastWithdrawalId === 0) return;
    if (!w || w.userId !== this.userId || w.coinId !== this.coinId) {
      this.#add(
        CHECKPOINTS,
        this.#key,
        'checkpoint_row_missing',
        `withdrawal ${cp.lastWithdrawalId} covered by the checkpoint is gone or moved`,
      );
      return;
    }
    if (add(w.debitBefore, w.amount) !== cp.debitTotal) {
      this.#add(
        CHECKPOINTS,
        this.#key,
        'checkpoint_mismatch',
        `withdrawal ${w.id} no longer ends at the checkpoint's debit ${formatAmount(cp.debitTotal)}`,
      );
    }
    if (!isFinal(w.status)) this.#add(WITHDRAWALS, w.id, 'status_rolled_back', `covered by a checkpoint as final, but now ${w.status}`);
    this.#debit = { ...this.#debit, lastAt: w.createdAt.getTime() };
  }

  /** Resuming from a state this process verified itself: the chains' last row times (ms), so no new row may be dated before them. */
  resumeAt(creditAt: number, debitAt: number): void {
    this.#credit = { ...this.#credit, lastAt: creditAt };
    this.#debit = { ...this.#debit, lastAt: debitAt };
  }

  credit(c: Signed<Credit>, hasIncome: boolean): void {
    if (c.userId !== this.userId || c.coinId !== this.coinId) throw new Error('credit fed to the wrong account');
    const { head, faults } = followChain(
      this.#credit,
      { id: c.id, prevId: c.prevId, amount: c.amount, before: c.balanceBefore, at: c.createdAt },
      'balance_before',
    );
    for (const f of faults) this.#add(CREDITS, c.id, 'chain', f);
    this.#credit = head;
    this.#lastBlockHash = c.blockHash;
    const why = this.#book.check(encodeCredit(c), c.sigKeyId, c.signature, creditSigner(c), c.createdAt);
    if (why) this.#add(CREDITS, c.id, 'signature', why);
    if (!hasIncome) this.#add(CREDITS, c.id, 'ghost', `ghost credit: block ${c.blockHash} has no pool income`);
    if (c.type === 'fee' && this.feeUserId !== null && c.userId !== this.feeUserId) {
      this.#add(CREDITS, c.id, 'fee_user', `fee credit to user ${c.userId}, who is not the coin's fee user ${this.feeUserId}`);
    }
    if (this.#compareWith && c.id === this.#compareWith.lastCreditId) {
      this.#creditBoundarySeen = true;
      if (head.total !== this.#compareWith.creditTotal || c.blockHash !== this.#compareWith.lastBlockHash) {
        this.#add(
          CHECKPOINTS,
          this.#key,
          'checkpoint_mismatch',
          `credit total at credit ${c.id} is ${formatAmount(head.total)}, the checkpoint says ${formatAmount(this.#compareWith.creditTotal)}`,
        );
      }
    }
  }

  /** `parent`: for a reversal whose original precedes the verified range, the original as read. */
  withdrawal(w: Withdrawal, history: readonly StatusSignature[], parent: Withdrawal | null = null): void {
    if (w.userId !== this.userId || w.coinId !== this.coinId) throw new Error('withdrawal fed to the wrong account');
    const { head, faults } = followChain(
      this.#debit,
      { id: w.id, prevId: w.prevId, amount: w.amount, before: w.debitBefore, at: w.createdAt },
      'debit_before',
    );
    for (const f of faults) this.#add(WITHDRAWALS, w.id, 'chain', f);
    this.#debit = head;
    for (const f of checkHistory(w, history, this.#book)) this.#add(WITHDRAWALS, w.id, 'status', f);
    this.#reversal(w, parent);
    if (w.status === 'processing' || w.status === 'pending') this.#pendingDebit = add(this.#pendingDebit, w.amount);
    this.#seen.set(w.id, { status: w.status, amount: w.amount });
    if (!isFinal(w.status)) {
      this.#prefixOpen = false;
      this.#open.push(w);
    }
    if (!this.#prefixOpen) {
      this.#openStatus += w.statusSeq + 1;
    } else {
      this.#final = {
        lastId: w.id,
        debit: head.total,
        sent: w.status === 'sent' ? add(this.#final.sent, w.amount) : this.#final.sent,
        statusCount: this.#final.statusCount + w.statusSeq + 1,
      };
    }
    this.#atReferenceHead(w, head.total);
    const ref = this.#reference;
    if (ref && w.id > ref.lastWithdrawalId && w.id <= ref.headWithdrawalId) this.#referenceOpenStatus += w.statusSeq + 1;
    const cp = this.#compareWith;
    if (cp && w.id <= cp.lastWithdrawalId) {
      if (!isFinal(w.status)) this.#add(WITHDRAWALS, w.id, 'status_rolled_back', `covered by a checkpoint as final, but now ${w.status}`);
      if (w.id === cp.lastWithdrawalId) {
        this.#withdrawalBoundarySeen = true;
        const f = this.#final;
        if (f.lastId !== w.id || f.debit !== cp.debitTotal || f.sent !== cp.sentTotal || f.statusCount !== cp.statusCount) {
          this.#add(
            CHECKPOINTS,
            this.#key,
            'checkpoint_mismatch',
            `withdrawals up to ${w.id} sum to debit ${formatAmount(f.debit)}, sent ${formatAmount(f.sent)}, ${f.statusCount} statuses; the checkpoint says ${formatAmount(cp.debitTotal)}, ${formatAmount(cp.sentTotal)}, ${cp.statusCount}`,
          );
        }
      }
    }
  }

  /** The chain's head at the checkpoint must still be there, and still end at the same debit. */
  #atReferenceHead(w: Withdrawal, end: Amount): void {
    const ref = this.#reference;
    if (!ref || w.id !== ref.headWithdrawalId || ref.headWithdrawalId <= ref.lastWithdrawalId) return;
    this.#headSeen = true;
    if (end !== ref.headDebit) {
      this.#add(
        CHECKPOINTS,
        this.#key,
        'checkpoint_mismatch',
        `withdrawal ${w.id} ends at debit ${formatAmount(end)}; at the checkpoint it ended at ${formatAmount(ref.headDebit)}`,
      );
    }
  }

  #reversal(w: Withdrawal, parentRead: Withdrawal | null): void {
    if (w.status === 'processed') this.#awaitingReversal.add(w.id);
    if (w.parentId === null) return;
    const parent =
      this.#seen.get(w.parentId) ??
      (parentRead && parentRead.id === w.parentId ? { status: parentRead.status, amount: parentRead.amount } : null);
    if (!parent) {
      this.#add(WITHDRAWALS, w.id, 'reversal', `reversal of withdrawal ${w.parentId}, which is not an earlier withdrawal of this account`);
      return;
    }
    if (w.parentId >= w.id) this.#add(WITHDRAWALS, w.id, 'reversal', `reversal precedes its original ${w.parentId}`);
    if (parent.status !== 'processed')
      this.#add(WITHDRAWALS, w.id, 'reversal', `reverses withdrawal ${w.parentId}, whose status is ${parent.status}, not processed`);
    if (w.amount !== neg(parent.amount)) {
      this.#add(WITHDRAWALS, w.id, 'reversal', `reversal amount ${formatAmount(w.amount)} does not cancel ${formatAmount(parent.amount)}`);
    }
    if (this.#reversed.has(w.parentId)) this.#add(WITHDRAWALS, w.id, 'reversal', `withdrawal ${w.parentId} is reversed twice`);
    this.#reversed.add(w.parentId);
    this.#awaitingReversal.delete(w.parentId);
  }

  #compareAtStart(cp: UserCheckpoint): void {
    if (cp.userId !== this.userId || cp.coinId !== this.coinId) throw new Error('checkpoint of another account');
  }

  finish(): AccountResult {
    for (const id of this.#awaitingReversal) this.#add(WITHDRAWALS, id, 'reversal', 'declined (processed) but its reversal row is missing');
    const cp = this.#compareWith;
    if (cp && !this.#creditBoundarySeen)
      this.#add(CHECKPOINTS, this.#key, 'checkpoint_row_missing', `credit ${cp.lastCreditId} covered by the checkpoint is gone`);
    if (cp && !this.#withdrawalBoundarySeen) {
      this.#add(CHECKPOINTS, this.#key, 'checkpoint_row_missing', `withdrawal ${cp.lastWithdrawalId} covered by the checkpoint is gone`);
    }
    const ref = this.#reference;
    if (ref && !this.#headSeen) {
      this.#add(
        CHECKPOINTS,
        this.#key,
        'checkpoint_row_missing',
        `withdrawal ${ref.headWithdrawalId}, the last one at the checkpoint, is gone (history cut?)`,
      );
    }
    if (ref && this.#referenceOpenStatus < ref.openStatusCount) {
      this.#add(
        CHECKPOINTS,
        this.#key,
        'status_rolled_back',
        `withdrawals ${ref.lastWithdrawalId + 1}..${ref.headWithdrawalId} have ${this.#referenceOpenStatus} signed statuses, fewer than the ${ref.openStatusCount} at the checkpoint (a status was rolled back)`,
      );
    }
    const committedDebit = sub(this.#debit.total, this.#pendingDebit);
    if (committedDebit > this.#credit.total) {
      this.#add(
        WITHDRAWALS,
        this.#key,
        'overdrawn',
        `approved withdrawals ${formatAmount(committedDebit)} exceed the credits ${formatAmount(this.#credit.total)}`,
      );
    }
    return {
      problems: this.#problems,
      state: {
        lastCreditId: this.#credit.lastId,
        lastBlockHash: this.#lastBlockHash,
        creditTotal: this.#credit.total,
        lastWithdrawalId: this.#final.lastId,
        debitTotal: this.#final.debit,
        sentTotal: this.#final.sent,
        statusCount: this.#final.statusCount,
        headWithdrawalId: this.#debit.lastId,
        headDebit: this.#debit.total,
        openStatusCount: this.#openStatus,
      },
      creditTotal: this.#credit.total,
      debitTotal: this.#debit.total,
      committedDebit,
      open: this.#open,
    };
  }
}
