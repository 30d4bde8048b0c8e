// Each interval: every withdrawal of the adapter's users in the coin, read from the ledger and verified as the
// intake's balance check verifies an account (signatures, chains, status histories), brought into the pool's
// Redis as the pool's payer would have written it (steps.ts). Users are found through their wallets: a
// wallet whose address derives the user's id is a login the adapter registered. An account that does not
// verify is not mirrored (logged); a step whose Redis write fails is applied next interval.

import type { Redis } from 'ioredis';
import { intakeView } from '../../intake/ledger.js';
import { INTAKE_ALERT } from '../../intake/alerts.js';
import type { Intake } from '../../intake/context.js';
import { verifiedCoin } from '../../intake/ledger.js';
import { AccountVerifier, EMPTY_ACCOUNT } from '../../ledger/account.js';
import { formatProblem } from '../../ledger/problem.js';
import type { Coin, Signed, StatusSignature, Withdrawal } from '../../ledger/records.js';
import type { Logger } from '../../log/index.js';
import { toBaseUnits } from '../../money/amount.js';
import { streamAccountCredits, streamAccountWithdrawals, streamWallets } from '../../store/reads.js';
import { withIncomeFlags } from '../../verify/batch.js';
import type { LedgerView } from '../../verify/view.js';
import { PoolFormatError } from '../errors.js';
import { oepUserId, type OepSettings } from './import.js';
import { weiToShannonExact } from './shannon.js';
import { mirroredKey, STAGES, stepCommands, stepsTo, type MirroredPayment, type Stage } from './steps.js';

export interface MirrorReport {
  steps: number;
  accounts: number;
  skipped: number;
}

interface Todo {
  p: Omit<MirroredPayment, 'at'>;
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

export class Mirror {
  constructor(
    readonly it: Intake,
    readonly redis: Redis,
    readonly s: OepSettings,
    readonly log: Logger,
  ) {}

  async run(): Promise<MirrorReport> {
    const report: MirrorReport = { steps: 0, accounts: 0, skipped: 0 };
    const view = await intakeView(this.it, this.it.db);
    const coin = verifiedCoin(view, this.s.coin);
    const seen = new Set<number>();
    for await (const w of streamWallets(this.it.db)) {
      if (w.coinId !== coin.id || seen.has(w.userId) || oepUserId(this.s, w.address.toLowerCase()) !== w.userId) continue;
      seen.add(w.userId);
      report.accounts++;
      const todo = await this.#verifiedTodo(view, coin, w.userId, w.address.toLowerCase());
      if (!todo) report.skipped++;
      else for (const t of todo) report.steps += await this.#apply(t);
    }
    return report;
  }

  /** The account verified from the beginning; its withdrawals whose recorded stage is behind the ledger. Null when it does not verify. */
  async #verifiedTodo(view: LedgerView, coin: Signed<Coin>, userId: number, login: string): Promise<Todo[] | null> {
    const v = new AccountVerifier(userId, coin.id, view.book, EMPTY_ACCOUNT, null, coin.feeUserId);
    for await (const [c, hasIncome] of withIncomeFlags(view.db, streamAccountCredits(view.db, userId, coin.id, 0))) v.credit(c, hasIncome);
    const todo: Todo[] = [];
    for await (const { withdrawal: w, history } of streamAccountWithdrawals(view.db, userId, coin.id, 0)) {
      v.withdrawal(w, history, null);
      // A reversal row (negative) is mirrored through its original's processed status.
      if (w.amount <= 0n || w.parentId !== null) continue;
      const target = targetOf(w);
      const recorded = (await this.redis.hget(mirroredKey(this.s.prefix), String(w.id))) as Stage | null;
      if (recorded === target) continue;
      const t = this.#todo(w, history, login, target);
      if (t) todo.push(t);
    }
    const r = v.finish();
    const first = r.problems[0];
    if (!first) return todo;
    const facts = { pool: 'oep', user: userId, login, problems: r.problems.length, first: formatProblem(first) };
    this.log.error(facts, 'account not mirrored: it does not verify');
    this.it.alerts.once(INTAKE_ALERT.notMirrored, `${coin.tag} user ${userId}`, `account of ${login} not mirrored: ${facts.first}`, facts);
    return null;
  }

  #todo(w: Withdrawal, history: readonly StatusSignature[], login: string, target: Stage): Todo | null {
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
      p: { withdrawalId: w.id, login, shannon, txHash: w.txHash },
      target,
      requestedAt: unix(w.createdAt),
      sentAt: unix(sent?.createdAt ?? w.updatedAt),
    };
  }

  /** The steps from the recorded stage to the ledger's, each in one MULTI with its record; the number applied. */
  async #apply(t: Todo): Promise<number> {
    const key = mirroredKey(this.s.prefix);
    let applied = 0;
    for (;;) {
      await this.redis.watch(key);
      const recorded = await this.redis.hget(key, String(t.p.withdrawalId));
      const steps = stepsTo(recorded === null ? null : checkStage(recorded), t.target);
      if (!steps || steps.length === 0) {
        await this.redis.unwatch();
        if (!steps)
          this.log.error(
            { pool: 'oep', withdrawal: t.p.withdrawalId, recorded, ledger: t.target },
            'withdrawal not mirrored: Redis records another final stage',
          );
        return applied;
      }
      const stage = steps[0] as Stage;
      const at = stage === 'paid' ? t.sentAt : t.requestedAt;
      const r = await this.redis.multi(stepCommands(this.s.prefix, stage, { ...t.p, at })).exec();
      // null: the record changed under us (another writer); next interval reads it again.
      if (!r) return applied;
      const failed = r.find(([e]) => e);
      if (failed) throw new Error(`withdrawal ${t.p.withdrawalId}: a Redis command of step ${stage} failed: ${String(failed[0])}`);
      applied++;
      this.log.info(
        { pool: 'oep', withdrawal: t.p.withdrawalId, login: t.p.login, shannon: t.p.shannon.toString(), stage },
        'payment mirrored',
      );
    }
  }
}

function checkStage(text: string): Stage {
  if (!(STAGES as readonly string[]).includes(text)) throw new PoolFormatError('mirrored stage', text, `not one of ${STAGES.join(', ')}`);
  return text as Stage;
}
