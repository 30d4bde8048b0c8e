// pscli withdrawals, pscli balance: what an operator looks up about users, read like the checks (through
// dbgw when pscli.toml has a [dbgw] table, else the database), never the whole table at once.
import type { Command } from 'commander';
import { LEDGER } from '../../data/ops/ledger.js';
import { formatProblem } from '../../ledger/problem.js';
import { WITHDRAWAL_STATUSES, type WithdrawalStatus } from '../../ledger/records.js';
import { formatAmount, sub } from '../../money/amount.js';
import { toWithdrawal } from '../../data/rows.js';
import { verifyAccount } from '../../verify/account.js';
import { action } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import { table } from '../format.js';
import { coinIdOf, payservStateDir, payservStateDirOption, positiveInt, wholeNumber, withLedgerView } from '../ledger-context.js';

const LIMIT_MAX = 1000;

interface ListOptions {
  status?: string;
  coin?: string;
  user?: string;
  limit: string;
  after: string;
}

function statusOf(value: string | undefined): WithdrawalStatus | null {
  if (value === undefined) return null;
  const s = WITHDRAWAL_STATUSES.find((x) => x === value);
  if (!s) throw new CliError(`--status: expected one of ${WITHDRAWAL_STATUSES.join(', ')}, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return s;
}

export function register(program: Command): void {
  program
    .command('withdrawals')
    .description('withdrawals as the database holds them, oldest first, a page at a time (pscli transinfo ID verifies one)')
    .option('--status <status>', `only this status: ${WITHDRAWAL_STATUSES.join(', ')}`)
    .option('--coin <tag|id>', 'only this coin')
    .option('--user <id>', 'only this user')
    .option('--limit <n>', `rows in the page (at most ${LIMIT_MAX})`, '100')
    .option('--after <id>', 'the page after this withdrawal id (the last one shown)', '0')
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<ListOptions>();
        const status = statusOf(o.status);
        const user = o.user === undefined ? null : positiveInt('--user', o.user);
        const limit = positiveInt('--limit', o.limit);
        if (limit > LIMIT_MAX) throw new CliError(`--limit: at most ${LIMIT_MAX}, got ${limit}`, EXIT.USAGE);
        const after = wholeNumber('--after', o.after);
        const { rows, tags } = await withLedgerView(ctx, async (view) => {
          const coin = o.coin === undefined ? null : coinIdOf(view, o.coin);
          const found = await view.db.query(LEDGER.withdrawalsListPage, [after, status, coin, user, limit]);
          return { rows: found.map(toWithdrawal), tags: new Map([...view.coins.values()].map((c) => [c.id, c.tag])) };
        });
        const doc = rows.map((w) => ({
          id: w.id,
          user: w.userId,
          coin: tags.get(w.coinId) ?? String(w.coinId),
          amount: formatAmount(w.amount),
          fee: formatAmount(w.fee),
          address: w.address,
          status: w.status,
          tx_hash: w.txHash,
          created_at: w.createdAt.toISOString(),
          updated_at: w.updatedAt.toISOString(),
        }));
        const next = rows.length === limit ? (rows[rows.length - 1]?.id ?? null) : null;
        if (ctx.json) return ctx.printJson({ withdrawals: doc, next_after: next });
        if (!doc.length) return ctx.print('no withdrawals');
        ctx.print(
          table(
            ['id', 'user', 'coin', 'amount', 'fee', 'status', 'created_at', 'tx_hash'],
            doc.map((d) => [String(d.id), String(d.user), d.coin, d.amount, d.fee, d.status, d.created_at, d.tx_hash ?? '-']),
          ),
        );
        if (next !== null) ctx.print(`more: --after ${next}`);
      }),
    );

  payservStateDirOption(program.command('balance'))
    .description(
      "a user's verified balance of a coin: the signed history from its checkpoint, checked as payserv checks it before a payout",
    )
    .requiredOption('--user <id>', 'user id')
    .requiredOption('--coin <tag|id>', 'coin')
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ user: string; coin: string }>();
        const user = positiveInt('--user', o.user);
        const r = await withLedgerView(
          ctx,
          async (view) => {
            const coin = view.coins.get(coinIdOf(view, o.coin));
            return coin && { coin: coin.tag, account: await verifyAccount(view, user, coin.id, 'incremental') };
          },
          payservStateDir(ctx, cmd),
        );
        if (!r) throw new CliError(`unknown coin ${JSON.stringify(o.coin)}`, EXIT.USAGE);
        const { account } = r;
        if (account.problems.length) {
          for (const p of account.problems) ctx.print(formatProblem(p));
          return EXIT.PROBLEMS;
        }
        // No credit, no withdrawal and no checkpoint: nobody by that id has this account; "0" would say otherwise.
        if (!account.checkpoint && !account.state.lastCreditId && !account.state.lastWithdrawalId && !account.open.length) {
          throw new CliError(`unknown user ${user} for ${r.coin}: no credit, withdrawal or checkpoint`, EXIT.USAGE);
        }
        const balance = formatAmount(sub(account.creditTotal, account.debitTotal));
        if (ctx.json)
          ctx.printJson({
            user,
            coin: r.coin,
            balance,
            credits: formatAmount(account.creditTotal),
            debits: formatAmount(account.debitTotal),
          });
        else ctx.print(balance);
      }),
    );
}
