// The checks of the original runbook: silence means clean (exit 0); one line per problem (exit 1).
import type { Command } from 'commander';
import { runCheck, type CheckArgs, type CheckName } from '../../checks/run.js';
import { LEDGER } from '../../data/ops/ledger.js';
import { formatProblem, type Problem } from '../../ledger/problem.js';
import type { LedgerView } from '../../verify/view.js';
import { action } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import { coinIdOf, payservStateDir, payservStateDirOption, positiveInt, terminalProgress, withLedgerView } from '../ledger-context.js';

const COMMANDS: Array<{ name: string; check: CheckName; about: string; user?: boolean; coin?: boolean }> = [
  {
    name: 'checkbalanceerrors',
    check: 'balanceerrors',
    about: 'the start-up check: certificates, coins, wallets, every pool and every balance',
  },
  { name: 'checkbalance', check: 'balance', about: 'one balance, from the beginning of its history', user: true, coin: true },
  { name: 'checkbalances', check: 'balances', about: 'every balance, from the beginning of its history' },
  { name: 'checkcoins', check: 'coins', about: 'coin records and their admin signatures' },
  { name: 'checkwallets', check: 'wallets', about: 'reviewed wallets: signatures and addresses' },
  { name: 'checkproxypool', check: 'proxypool', about: "one coin's pool income: chain, blocks against credits, ghosts", coin: true },
  { name: 'checkproxypools', check: 'proxypools', about: "every coin's pool income" },
];

/** Whether the database holds any row of the account: a credit, a withdrawal or a checkpoint (one row each at most). */
async function accountHasRows(view: LedgerView, userId: number, coinId: number): Promise<boolean> {
  const q = view.db;
  if ((await q.query(LEDGER.userCheckpoint, [userId, coinId])).length) return true;
  if ((await q.query(LEDGER.accountCreditsPage, [userId, coinId, 0, 1])).length) return true;
  return (await q.query(LEDGER.accountWithdrawalsPage, [userId, coinId, 0, 1])).length > 0;
}

export function register(program: Command): void {
  for (const c of COMMANDS) {
    const cmd = payservStateDirOption(program.command(c.name).description(c.about));
    if (c.user) cmd.requiredOption('--user <id>', 'user id');
    if (c.coin) cmd.requiredOption('--coin <tag|id>', 'coin');
    cmd.action(
      action(async (ctx, command) => {
        const o = command.opts<{ user?: string; coin?: string }>();
        const problems: Problem[] = [];
        const progress = terminalProgress(ctx);
        const local = payservStateDir(ctx, command);
        const summary = await withLedgerView(
          ctx,
          async (view) => {
            const args: CheckArgs = {};
            if (c.user) args.userId = positiveInt('--user', o.user);
            if (c.coin) args.coinId = coinIdOf(view, o.coin);
            const done = await runCheck(
              view,
              c.check,
              args,
              (p) => {
                if (ctx.json) problems.push(p);
                else ctx.print(formatProblem(p));
              },
              progress,
            );
            // Clean and no row at all: nobody by that id has this account (as `pscli balance` says), not a verified one.
            if (args.userId && args.coinId && !done.problems && !(await accountHasRows(view, args.userId, args.coinId)))
              throw new CliError(
                `unknown user ${args.userId} for ${view.coins.get(args.coinId)?.tag}: no credit, withdrawal or checkpoint`,
                EXIT.USAGE,
              );
            return done;
          },
          local,
        );
        progress.end();
        ctx.log.info(
          { check: c.check, problems: summary.problems, ...summary.counts },
          summary.problems ? 'check found problems' : 'check clean',
        );
        if (ctx.json) ctx.printJson({ check: c.check, clean: summary.problems === 0, problems, counts: summary.counts });
        return summary.problems ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );
  }
}
