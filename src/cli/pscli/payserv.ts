// pscli's calls to a running payserv (JSON-RPC over mutual TLS), printed as the original did:
// `REPLY: [APPROVED]`. An ERROR reply or a refused call exits 1; --json prints the whole result.
import type { Command } from 'commander';
import type { Method } from '../../payserv/api.js';
import { RpcError } from '../../rpc/jsonrpc.js';
import { RpcTransportError } from '../../rpc/client.js';
import { action, type Context } from '../context.js';
import { CliError, EXIT, type ExitCode } from '../exit.js';
import { positiveInt } from '../ledger-context.js';
import { withPayserv } from '../payserv-client.js';

async function call(ctx: Context, method: Method, params?: unknown): Promise<unknown> {
  try {
    return await withPayserv(ctx, (c) => c.call(method, params as never));
  } catch (e) {
    if (e instanceof RpcError) throw new CliError(`payserv refused ${method}: ${e.message} (code ${e.code})`, EXIT.PROBLEMS);
    if (e instanceof RpcTransportError) throw new CliError(`${e.message}${e.mayHaveRun ? ' — the call may have run: look before retrying (pscli transinfo)' : ''}`, EXIT.RUNTIME);
    throw e;
  }
}

/** The original's output: one REPLY line, then what payserv said. */
function printReply(ctx: Context, r: { reply: string; message?: string; status?: string | null; id?: number }): ExitCode {
  if (ctx.json) ctx.printJson(r);
  else ctx.print([`REPLY: [${r.reply}]`, ...(r.message ? [`MESSAGE: ${r.message}`] : [])].join('\n'));
  return r.reply === 'ERROR' ? EXIT.PROBLEMS : EXIT.OK;
}

function printDoc(ctx: Context, doc: unknown, text: (d: never) => string): void {
  if (ctx.json) ctx.printJson(doc);
  else ctx.print(text(doc as never));
}

const PAYOUTS: Array<[string, Method, string]> = [
  ['process', 'PayServ.Process', 'verify a request (processing) and approve it, leave it pending, or decline it'],
  ['approve', 'PayServ.Approve', 'approve a pending withdrawal (pays it where a chain driver exists)'],
  ['decline', 'PayServ.Decline', 'decline a pending withdrawal (a reversal row gives the amount back)'],
  ['resend', 'PayServ.Resend', 'retry a withdrawal in send_error or send_retry'],
  ['check', 'PayServ.Check', 'ask the chain about a sending withdrawal'],
  ['send', 'PayServ.Send', 'mark a withdrawal sent: an operator paid it by hand'],
];

export function register(program: Command): void {
  for (const [name, method, about] of PAYOUTS) {
    program.command(name).description(about).argument('<id>', 'withdrawal id')
      .action(action(async (ctx, cmd) => printReply(ctx, (await call(ctx, method, [positiveInt('id', cmd.args[0])])) as never)));
  }
  program.command('sendcoin').description('pay every approved and retrying withdrawal of a coin in batches').argument('<coin>')
    .action(action(async (ctx, cmd) => printReply(ctx, (await call(ctx, 'PayServ.SendCoin', [String(cmd.args[0]).toUpperCase()])) as never)));

  const state = (method: Method) => action(async (ctx) => {
    const s = (await call(ctx, method)) as { enabled: boolean; reason: string | null; since: string; fail_stops: number };
    printDoc(ctx, s, (d: typeof s) => `payouts ${d.enabled ? 'ENABLED' : 'DISABLED'} since ${d.since}${d.reason ? `\nreason: ${d.reason}` : ''}${d.fail_stops ? `\nfail-stops since start: ${d.fail_stops}` : ''}`);
    return s.enabled || method !== 'Utils.Status' ? EXIT.OK : EXIT.PROBLEMS;
  });
  program.command('enable').description('enable payouts (after the checks are clean)').action(state('Utils.Enable'));
  program.command('disable').description('disable payouts').action(state('Utils.Disable'));
  program.command('status').description('whether payouts are enabled, and why not').action(state('Utils.Status'));

  program.command('listlocks').description('withdrawals and coins being handled right now').action(action(async (ctx) => {
    const r = (await call(ctx, 'Utils.ListLocks')) as { held: Array<{ name: string; holder: string; since: string }>; held_elsewhere: number };
    printDoc(ctx, r, (d: typeof r) => [...d.held.map((l) => `${l.name}  ${l.holder}  since ${l.since}`), ...(d.held_elsewhere ? [`${d.held_elsewhere} held by other payserv processes`] : [])].join('\n') || 'no locks held');
  }));
  program.command('isprocessing').description('whether a withdrawal is being handled right now').argument('<id>').action(action(async (ctx, cmd) => {
    const r = (await call(ctx, 'Utils.IsProcessing', [positiveInt('id', cmd.args[0])])) as { id: number; processing: boolean };
    printDoc(ctx, r, (d: typeof r) => `withdrawal ${d.id} is ${d.processing ? '' : 'not '}being processed`);
  }));
  program.command('transinfo').description('a withdrawal and its signed history').argument('<id>').action(action(async (ctx, cmd) => {
    const r = (await call(ctx, 'Utils.TransInfo', [positiveInt('id', cmd.args[0])])) as Record<string, unknown> & { history: Array<Record<string, unknown>>; problems: string[] };
    printDoc(ctx, r, (d: typeof r) => [
      `withdrawal ${d.id}: user ${d.user}, ${d.amount} ${d.coin} (fee ${d.fee}) to ${d.address} (wallet ${d.wallet})`,
      `status ${d.status}${d.tx_hash ? `, tx ${d.tx_hash}` : ''}${d.comment ? ` — ${d.comment}` : ''}`,
      ...d.history.map((h) => `  ${h.seq}. ${h.status} at ${h.at}${h.tx_hash ? ` tx ${h.tx_hash}` : ''}${h.comment ? ` — ${h.comment}` : ''}`),
      ...d.problems.map((p) => `PROBLEM: ${p}`),
    ].join('\n'));
    return r.problems.length ? EXIT.PROBLEMS : EXIT.OK;
  }));
  program.command('signcoin').description('sign a coin as it is now, after reviewing it (payserv holds the admin key)').argument('<id>')
    .action(action(async (ctx, cmd) => printDoc(ctx, await call(ctx, 'Coins.Sign', [positiveInt('id', cmd.args[0])]), (d: { tag: string; id: number }) => `coin ${d.tag} (${d.id}) signed`)));
  program.command('signwallet').description('sign a wallet as it is now, after reviewing it').argument('<id>')
    .action(action(async (ctx, cmd) => printDoc(ctx, await call(ctx, 'Wallets.Sign', [positiveInt('id', cmd.args[0])]), (d: { id: number; address: string }) => `wallet ${d.id} (${d.address}) signed`)));
  program.command('signwallets').description('sign every wallet awaiting review (review them first: pscli checkwallets --json lists them)')
    .requiredOption('--yes', 'confirm that every unsigned wallet was reviewed')
    .action(action(async (ctx) => printDoc(ctx, await call(ctx, 'Wallets.SignAll'), (d: { signed: number; more: boolean }) => `${d.signed} wallets signed${d.more ? ' (more remain: run again)' : ''}`)));
  program.command('createcorrection').description('a signed corrective credit for a user, with its pool-income counterpart')
    .requiredOption('--user <id>').requiredOption('--coin <tag>').requiredOption('--amount <decimal>', 'the user\'s credit (negative to take back)')
    .option('--pool <decimal>', 'the pool-income counterpart (default: the amount); the difference goes to the pool\'s own user')
    .option('--comment <text>')
    .action(action(async (ctx, cmd) => {
      const o = cmd.opts<{ user: string; coin: string; amount: string; pool?: string; comment?: string }>();
      const r = await call(ctx, 'Corrections.Apply', { user: positiveInt('--user', o.user), coin: o.coin.toUpperCase(), amount: o.amount, ...(o.pool ? { pool: o.pool } : {}), ...(o.comment ? { comment: o.comment } : {}) });
      printDoc(ctx, r, (d: { income_id: number; credit_id: number; amount: string }) => `correction applied: credit ${d.credit_id} of ${d.amount}, pool income ${d.income_id}`);
    }));
}
