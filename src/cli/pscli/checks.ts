// The checks of the original runbook: silence means clean (exit 0); one line per problem (exit 1).
import type { Command } from 'commander';
import { runCheck, type CheckArgs, type CheckName } from '../../checks/run.js';
import { formatProblem, type Problem } from '../../ledger/problem.js';
import { action } from '../context.js';
import { EXIT } from '../exit.js';
import { coinIdOf, positiveInt, terminalProgress, withLedgerView } from '../ledger-context.js';

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

export function register(program: Command): void {
  for (const c of COMMANDS) {
    const cmd = program.command(c.name).description(c.about);
    if (c.user) cmd.requiredOption('--user <id>', 'user id');
    if (c.coin) cmd.requiredOption('--coin <tag|id>', 'coin');
    cmd.action(
      action(async (ctx, command) => {
        const o = command.opts<{ user?: string; coin?: string }>();
        const problems: Problem[] = [];
        const progress = terminalProgress(ctx);
        const summary = await withLedgerView(ctx, async (view) => {
          const args: CheckArgs = {};
          if (c.user) args.userId = positiveInt('--user', o.user);
          if (c.coin) args.coinId = coinIdOf(view, o.coin);
          return runCheck(
            view,
            c.check,
            args,
            (p) => {
              if (ctx.json) problems.push(p);
              else ctx.print(formatProblem(p));
            },
            progress,
          );
        });
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
