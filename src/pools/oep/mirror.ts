// Each interval: every withdrawal of the adapter's users in the coin, verified as the intake's balance check
// verifies an account (signatures, chains, status histories), brought into the pool's Redis as the pool's payer
// would have written it (steps.ts). Users are found through their wallets: a wallet whose address derives the
// user's id is a login the adapter registered. An account that does not verify is not mirrored (logged); a step
// whose Redis write fails is applied next interval.
//
// Incremental: per account, this process remembers the point it verified and mirrored up to (never read from the
// database, which an attacker may write) and next interval reads only the rows after it, withdrawals not final yet
// included until they are. The point moves only once everything read was mirrored. A restart verifies from the
// beginning once.

import type { Redis } from 'ioredis';
import { INTAKE_ALERT } from '../../intake/alerts.js';
import { FROM_THE_START, verifyAccountFrom, type VerifiedPoint } from '../../intake/balance.js';
import type { Intake } from '../../intake/context.js';
import { intakeView, verifiedCoin } from '../../intake/ledger.js';
import { formatProblem } from '../../ledger/problem.js';
import type { Coin, Signed, StatusSignature, Withdrawal } from '../../ledger/records.js';
import type { Logger } from '../../log/index.js';
import { toBaseUnits } from '../../money/amount.js';
import type { WithdrawalWithHistory } from '../../store/reads.js';
import type { LedgerView } from '../../verify/view.js';
import { adapterAccounts } from '../accounts.js';
import { PoolFormatError } from '../errors.js';
import { withdrawalFingerprint } from '../fingerprint.js';
import { oepUserId, type OepSettings } from './import.js';
import { weiToShannonExact } from './shannon.js';
import {
  mirroredKey,
  parseRecord,
  recordValue,
  stepCommands,
  stepsTo,
  type Command,
  type MirroredPayment,
  type MirroredRecord,
  type Stage,
} from './steps.js';

export interface MirrorReport {
  steps: number;
  accounts: number;
  skipped: number;
  /** Withdrawal rows read from the ledger this interval. */
  read: number;
}

interface Todo {
  p: Omit<MirroredPayment, 'at'>;
  /** The account's other withdrawals of the same amount read this interval: they share its payments:pending member. */
  siblings: string[];
  target: Stage;
  requestedAt: number;
  sentAt: number;
}

const unix = (d: Date): number => Math.floor(d.getTime() / 1000);

function targetOf(w: Withdrawal): Stage {
  if (w.status === 'sent') return 'paid';
  // A declined original: its reversal row credited the amount back.
  if (w.status === 'processed') return 'rolledback';
  return 'pending';
}

/** A reversal row (negative) is mirrored through its original's processed status. */
const mirrorable = ({ withdrawal: w }: WithdrawalWithHistory): boolean => w.amount > 0n && w.parentId === null;

/**
 * Per amount, the account's withdrawals that may hold its payments:pending member ("login:amount") while another's
 * step runs: recorded `pending`, or in flight in the ledger (recorded by their own step later this interval). A
 * withdrawal recorded final never holds it again; one not recorded with a final target is stepped through `pending`
 * within its own steps.
 */
function pendingHolders(read: readonly WithdrawalWithHistory[], recorded: ReadonlyArray<MirroredRecord | null>): Map<bigint, string[]> {
  const holders = new Map<bigint, string[]>();
  for (const [i, { withdrawal: w }] of read.entries()) {
    if (recorded[i]?.stage !== 'pending' && targetOf(w) !== 'pending') continue;
    const ids = holders.get(w.amount) ?? [];
    ids.push(String(w.id));
    holders.set(w.amount, ids);
  }
  return holders;
}

export class Mirror {
  /** Per user: the point its account was verified and mirrored up to by this process. */
  readonly #verified = new Map<number, VerifiedPoint>();

  constructor(
    readonly it: Intake,
    readonly redis: Redis,
    readonly s: OepSettings,
    readonly log: Logger,
  ) {}

  async run(): Promise<MirrorReport> {
    const report: MirrorReport = { steps: 0, accounts: 0, skipped: 0, read: 0 };
    const view = await intakeView(this.it, this.it.db);
    const coin = verifiedCoin(view, this.s.coin);
    for await (const { userId, address } of adapterAccounts(this.it.db, coin.id, (a) => oepUserId(this.s, a.toLowerCase()))) {
      report.accounts++;
      await this.#account(view, coin, userId, address.toLowerCase(), report);
    }
    return report;
  }

  /** One account from its remembered point: verified, then its withdrawals' steps applied; the point moves once all are. */
  async #account(view: LedgerView, coin: Signed<Coin>, userId: number, login: string, report: MirrorReport): Promise<void> {
    const read: WithdrawalWithHistory[] = [];
    const run = await verifyAccountFrom(view, userId, coin, this.#verified.get(userId) ?? FROM_THE_START, (r) => {
      if (mirrorable(r)) read.push(r);
      report.read++;
    });
    const first = run.problems[0];
    if (first) {
      report.skipped++;
      const facts = { pool: 'oep', user: userId, login, problems: run.problems.length, first: formatProblem(first) };
      this.log.error(facts, 'account not mirrored: it does not verify');
      this.it.alerts.once(
        INTAKE_ALERT.notMirrored,
        `${this.s.coin} user ${userId}`,
        `account of ${login} not mirrored: ${facts.first}`,
        facts,
      );
      return;
    }
    let complete = true;
    for (const t of await this.#todo(read, login)) {
      if (!t) complete = false;
      else {
        const { applied, reached } = await this.#apply(t);
        report.steps += applied;
        complete &&= reached;
      }
    }
    if (complete) this.#verified.set(userId, run.next);
  }

  /** The withdrawals whose record is behind the ledger (their records read in one HMGET); null for one that cannot be mirrored. */
  async #todo(read: readonly WithdrawalWithHistory[], login: string): Promise<Array<Todo | null>> {
    if (!read.length) return [];
    const records = await this.redis.hmget(mirroredKey(this.s.prefix), ...read.map((r) => String(r.withdrawal.id)));
    const recorded = records.map((text) => (text === null ? null : parseRecord(text)));
    const holders = pendingHolders(read, recorded);
    const todo: Array<Todo | null> = [];
    for (const [i, { withdrawal: w, history }] of read.entries()) {
      const record = recorded[i] ?? null;
      const fingerprint = withdrawalFingerprint(history);
      if (record && record.stage === targetOf(w) && record.fingerprint === fingerprint) continue;
      const siblings = (holders.get(w.amount) ?? []).filter((id) => id !== String(w.id));
      todo.push(this.#sameWithdrawal(w.id, record, fingerprint) ? this.#todoOf(w, history, login, fingerprint, siblings) : null);
    }
    return todo;
  }

  /** False, logged, when the record was written for another withdrawal under this id (payserv's database restored from an older backup). */
  #sameWithdrawal(id: number, recorded: MirroredRecord | null, fingerprint: string): boolean {
    if (!recorded || recorded.fingerprint === null || recorded.fingerprint === fingerprint) return true;
    const facts = { pool: 'oep', withdrawal: id, recorded: recorded.stage, fingerprint, recordedFingerprint: recorded.fingerprint };
    const reason =
      "withdrawal not mirrored: Redis records another withdrawal under its id (was payserv's database restored from an older backup?)";
    this.log.error({ ...facts, alert: INTAKE_ALERT.integrity }, reason);
    this.it.alerts.once(INTAKE_ALERT.integrity, `${this.s.coin} mirrored withdrawal ${id}`, `withdrawal ${id}: ${reason}`, facts);
    return false;
  }

  #todoOf(w: Withdrawal, history: readonly StatusSignature[], login: string, fingerprint: string, siblings: string[]): Todo | null {
    let shannon: bigint;
    try {
      shannon = weiToShannonExact(toBaseUnits(w.amount, 18));
    } catch (e) {
      if (!(e instanceof PoolFormatError)) throw e;
      this.log.error({ pool: 'oep', withdrawal: w.id, login, reason: e.message }, 'withdrawal not mirrored: the pool counts whole Shannon');
      return null;
    }
    const sent = history.find((h) => h.status === 'sent');
    return {
      p: { withdrawalId: w.id, fingerprint, login, shannon, txHash: w.txHash },
      siblings,
      target: targetOf(w),
      requestedAt: unix(w.createdAt),
      sentAt: unix(sent?.createdAt ?? w.updatedAt),
    };
  }

  /**
   * Whether a sibling's record (read under the step's WATCH) is `pending`: its payments:pending member is this one's,
   * and stays until the last of them is final. A sibling not recorded yet adds the member again with its own step.
   */
  async #shared(t: Todo): Promise<boolean> {
    if (!t.siblings.length) return false;
    const records = await this.redis.hmget(mirroredKey(this.s.prefix), ...t.siblings);
    return records.some((text) => text !== null && parseRecord(text).stage === 'pending');
  }

  /**
   * The steps from the recorded stage to the ledger's, each in one MULTI with its record (a record without a fingerprint
   * at the target: rewritten with it); how many were applied, and whether the target was reached.
   */
  async #apply(t: Todo): Promise<{ applied: number; reached: boolean }> {
    const key = mirroredKey(this.s.prefix);
    const id = String(t.p.withdrawalId);
    let applied = 0;
    for (;;) {
      await this.redis.watch(key);
      const text = await this.redis.hget(key, id);
      const recorded = text === null ? null : parseRecord(text);
      const same = this.#sameWithdrawal(t.p.withdrawalId, recorded, t.p.fingerprint);
      const steps = same ? stepsTo(recorded?.stage ?? null, t.target) : null;
      const stage = steps?.[0];
      const at = stage === 'paid' ? t.sentAt : t.requestedAt;
      const commands: Command[] | null = stage
        ? stepCommands(this.s.prefix, stage, { ...t.p, at }, stage !== 'pending' && (await this.#shared(t)))
        : recorded && recorded.fingerprint === null
          ? [['hset', key, id, recordValue(recorded.stage, t.p.fingerprint)]]
          : null;
      if (!commands) {
        await this.redis.unwatch();
        if (same && !steps)
          this.log.error(
            { pool: 'oep', withdrawal: t.p.withdrawalId, recorded: recorded?.stage, ledger: t.target },
            'withdrawal not mirrored: Redis records another final stage',
          );
        return { applied, reached: !!steps };
      }
      const r = await this.redis.multi(commands).exec();
      // null: the record changed under us (another writer); next interval reads it again.
      if (!r) return { applied, reached: false };
      const failed = r.find(([e]) => e);
      if (failed) throw new Error(`withdrawal ${id}: a Redis command of step ${stage ?? 'record'} failed: ${String(failed[0])}`);
      if (!stage) return { applied, reached: true };
      applied++;
      this.log.info(
        { pool: 'oep', withdrawal: t.p.withdrawalId, login: t.p.login, shannon: t.p.shannon.toString(), stage },
        'payment mirrored',
      );
    }
  }
}
