import type { Problem } from '../ledger/problem.js';
import { verifyAccount } from '../verify/account.js';
import { verifyAllAccounts } from '../verify/accounts.js';
import { checkCoins, checkWallets, withdrawalPrecisionProblem } from '../verify/catalog.js';
import { verifyPool } from '../verify/pool.js';
import { checkJournal } from './journal.js';
import { RowError } from '../data/rows.js';
import type { LedgerView } from '../verify/view.js';

// The operator's checks, as in the original runbook: silence means clean; every problem is one line.
// `balanceerrors` is the start-up check: certificates, coins, wallets, every pool, every account.

export const CHECKS = ['balanceerrors', 'balance', 'balances', 'coins', 'wallets', 'proxypool', 'proxypools'] as const;
export type CheckName = (typeof CHECKS)[number];

export interface CheckArgs {
  userId?: number;
  coinId?: number;
}

export interface CheckSummary {
  check: CheckName;
  problems: number;
  counts: Record<string, number>;
}

export type Progress = (what: string, done: number) => void;

/** PROBLEMS_MAX bounds what one run reports; past it the run stops early and says so. */
export const PROBLEMS_MAX = 10_000;

class TooManyProblems extends Error {}

export async function runCheck(
  view: LedgerView,
  check: CheckName,
  args: CheckArgs,
  report: (p: Problem) => void,
  progress?: Progress,
): Promise<CheckSummary> {
  let n = 0;
  // Some findings are reached by two paths (a ghost by its account and by its pool): one line each.
  const seen = new Set<string>();
  const counted = (p: Problem) => {
    const key = `${p.table}\n${p.row}\n${p.code}\n${p.detail}`;
    if (seen.has(key)) return;
    seen.add(key);
    report(p);
    if (++n >= PROBLEMS_MAX) throw new TooManyProblems();
  };
  const counts: Record<string, number> = {};
  try {
    await dispatch(view, check, args, counted, counts, progress);
  } catch (e) {
    if (e instanceof RowError) {
      // A value not of its form stops the walk: nothing after it can be summed. Named, never a crash.
      report({ table: '-', row: '-', code: 'malformed', detail: `${e.message}; the check stopped there` });
      n++;
    } else if (e instanceof TooManyProblems) {
      report({ table: '-', row: '-', code: 'too_many', detail: `stopped after ${PROBLEMS_MAX} problems` });
    } else {
      throw e;
    }
  }
  return { check, problems: n, counts };
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`this check needs ${what}`);
  return v;
}

async function dispatch(
  view: LedgerView,
  check: CheckName,
  a: CheckArgs,
  report: (p: Problem) => void,
  counts: Record<string, number>,
  progress?: Progress,
) {
  switch (check) {
    case 'coins':
      counts.coins = checkCoins(view, report);
      return;
    case 'wallets':
      Object.assign(counts, await checkWallets(view, report));
      return;
    case 'balance': {
      const r = await verifyAccount(view, need(a.userId, '--user'), need(a.coinId, '--coin'), 'full');
      r.problems.forEach(report);
      const coin = view.coins.get(need(a.coinId, '--coin'));
      if (coin) r.open.map((w) => withdrawalPrecisionProblem(coin, w)).forEach((p) => p && report(p));
      counts.open_withdrawals = r.open.length;
      return;
    }
    case 'balances':
      Object.assign(counts, await verifyAllAccounts(view, report, (k) => progress?.('accounts', k)));
      return;
    case 'proxypool':
      (await verifyPool(view, need(a.coinId, '--coin'), 'full')).problems.forEach(report);
      counts.coins = 1;
      return;
    case 'proxypools':
      for (const id of view.coins.keys()) (await verifyPool(view, id, 'full')).problems.forEach(report);
      for await (const coinId of view.local.listCoins()) {
        if (!view.coins.has(coinId))
          report({
            table: 'finances_coin_checkpoints',
            row: `coin=${coinId}`,
            code: 'checkpoint_local',
            detail: 'local checkpoint of a coin the database does not have',
          });
      }
      counts.coins = view.coins.size;
      return;
    case 'balanceerrors':
      view.certProblems.forEach(report);
      counts.certs = view.book.size;
      await dispatch(view, 'coins', a, report, counts, progress);
      await dispatch(view, 'wallets', a, report, counts, progress);
      await dispatch(view, 'proxypools', a, report, counts, progress);
      await dispatch(view, 'balances', a, report, counts, progress);
      Object.assign(counts, await checkJournal(view, report));
      return;
  }
}
