// pscli's calls to a running payserv (JSON-RPC over mutual TLS), printed as the original did:
// `REPLY: [APPROVED]`. An ERROR reply or a refused call exits 1 (2 when it names an unknown id, coin or
// wallet, 3 when payserv's data was out of reach: refusalExit); --json prints the whole result.
import type { Command } from 'commander';
import type { Restored } from '../../payserv/payments/restore.js';
import type { Method } from '../../api/payserv.js';
import { UNPRINTABLE } from '../../log/scrub.js';
import { refusalLine } from '../../api/reply.js';
import { refusalCodeOf, RpcError } from '../../api/jsonrpc.js';
import { action, type Context } from '../context.js';
import { CliError, EXIT, refusalExit, scrubSecrets, type ExitCode } from '../exit.js';
import { amountOpt, coinTag, positiveInt } from '../ledger-context.js';
import { withPayserv } from '../payserv-client.js';
import { CERT_WARN_DAYS, certificatesExpiring, type ExpiringCert } from '../../esman/pki-files.js';
import type { ResolveReport } from '../../autopay/resolve.js';
import type { RunReport } from '../../autopay/run.js';
import type { LockReport, ReportedLock } from '../../payserv/lock-watch.js';
import type { BackupOutcome } from '../../payserv/backup.js';

async function call(ctx: Context, method: Method, params?: unknown): Promise<unknown> {
  try {
    return await withPayserv(ctx, (c) => c.call(method, params as never));
  } catch (e) {
    if (!(e instanceof RpcError)) throw e;
    const code = refusalCodeOf(e);
    throw new CliError(`payserv refused ${method}: ${code ? `${code}: ` : ''}${e.message} (code ${e.code})`, refusalExit(code));
  }
}

/** The original's output: one REPLY line (an ERROR or DECLINED with its code and why), then what payserv said. */
function printReply(ctx: Context, r: { reply: string; code?: string; message?: string; status?: string | null; id?: number }): ExitCode {
  if (ctx.json) ctx.printJson(r);
  else if ((r.reply === 'ERROR' || r.reply === 'DECLINED') && r.code) ctx.print(refusalLine({ ...r, code: r.code }));
  else ctx.print([`REPLY: [${r.reply}]`, ...(r.message ? [`MESSAGE: ${r.message}`] : [])].join('\n'));
  return r.reply === 'ERROR' ? refusalExit(r.code) : EXIT.OK;
}

interface RebaselineReply {
  reply: string;
  message?: string;
  digest?: string;
  problems?: Array<{ table: string; row: string; code: string; detail: string }>;
  problems_total?: number;
  confirmations_needed: number;
  confirmed_by: Array<{ operator: string; reason: string }>;
}

function rebaselineText(r: RebaselineReply): string {
  const by = r.confirmed_by.map((c) => `${c.operator} (${c.reason})`).join(', ');
  if (r.reply === 'ERROR')
    return [
      `REPLY: [ERROR] rebaseline_refused: ${r.message ?? `the ledger does not verify (${r.problems_total ?? 0} problems): nothing written`}`,
      ...(r.problems ?? []).map((p) => `${p.table} ${p.row}: ${p.detail} [${p.code}]`),
    ].join('\n');
  if (r.reply === 'REBASELINED')
    return `REPLY: [REBASELINED] fresh local state written from ledger ${r.digest}, confirmed by ${by}: run the checks, then pscli enable`;
  return `REPLY: [CONFIRMED] ledger ${r.digest}: ${r.confirmed_by.length} of ${r.confirmations_needed} confirmations (${by}); another operator confirms with pscli rebaseline`;
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

interface AutopayStatus {
  coins: Array<{
    coin: string;
    state: string;
    since: string | null;
    reason: string | null;
    threshold: string | null;
    last_run: RunReport | null;
  }>;
}

/** Utils.ListLocks: this process's locks, and those reported (src/payserv/lock-watch.ts). */
type LockList = { held: Array<{ name: string; holder: string; since: string }>; held_elsewhere: number } & LockReport;

/** One reported lock, naming who holds it and since when (as far as payserv and the server know). */
function lockLine(l: ReportedLock): string {
  const s = Math.round(l.held_ms / 1000);
  if (l.holder === 'own') return `LOCK ${l.lock} held by this payserv (${l.by}) since ${l.since}: ${s} s, over held_max_ms`;
  const server = [
    l.backend_start && `session started ${l.backend_start}`,
    l.xact_start && `transaction since ${l.xact_start}`,
    l.state_change && `last active ${l.state_change}`,
  ]
    .filter(Boolean)
    .join(', ');
  return `LOCK ${l.lock} HELD by ${l.by}, not this payserv: seen since ${l.since} (${s} s${l.over_max ? ', over held_max_ms' : ''})${server ? `; ${server}` : ''}`;
}

/** Utils.Status's probe of payserv's data path (src/payserv/admin.ts). */
interface DataReach {
  where: string;
  reachable: boolean;
  error: string | null;
}

function unreachableLine(d: DataReach): string {
  const what = /through dbgw/.test(d.where) ? 'dbgw unreachable' : 'database unreachable';
  return `${what}: payserv cannot read ${d.where}${d.error ? ` (${scrubSecrets(d.error)})` : ''}`;
}

function printRun(ctx: Context, r: RunReport): ExitCode {
  printDoc(ctx, r, (d: RunReport) =>
    [
      `autopay ${d.coin}: ${d.outcome.toUpperCase()}${d.reason ? ` — ${d.reason}` : ''}`,
      `paid: ${d.paid.count} withdrawals, ${d.paid.sum} ${d.coin}${d.paid.withdrawals.length ? ` (${d.paid.withdrawals.join(', ')})` : ''}`,
      ...(d.confirmed.length ? [`confirmed earlier payments: ${d.confirmed.join(', ')}`] : []),
      ...d.skipped.map((s) => `skipped user ${s.userId}: ${s.reason}`),
      `below threshold: ${d.belowThreshold} users`,
      `hot wallet after: ${d.hotWallet ?? 'unknown'} ${d.coin}`,
    ].join('\n'),
  );
  return r.outcome === 'halted' || r.outcome === 'stopped' ? EXIT.PROBLEMS : EXIT.OK;
}

async function resolve(ctx: Context, coin: string): Promise<ExitCode> {
  const r = (await call(ctx, 'Autopay.Resolve', [coin])) as ResolveReport;
  printDoc(ctx, r, (d: ResolveReport) => d.lines.join('\n'));
  return r.resolutions.some((x) => x.decision === 'unknown') ? EXIT.PROBLEMS : EXIT.OK;
}

/** Why autopay will not run `coin` (payserv pays by threshold only the coins its [autopay] lists, and none when disabled), or null. */
function autopayOff(s: AutopayStatus, coin?: string): string | null {
  const on = s.coins.filter((c) => c.threshold !== null);
  if (!on.length) return "autopay is disabled in payserv's configuration ([autopay] enabled = false, or no [autopay.coins.*] table)";
  if (coin && !on.some((c) => c.coin === coin))
    return `autopay is disabled for ${coin}: payserv.toml has no [autopay.coins.${coin}] threshold (autopay pays ${on.map((c) => c.coin).join(', ')})`;
  return null;
}

/** RESOLVE_PAYOUT=1 (or True), as open-ethereum-pool's manual spells it, turns a run into a resolve. */
const resolveMode = (ctx: Context) => /^(1|true)$/i.test(ctx.io.env.RESOLVE_PAYOUT ?? '');

export function expiryLine(c: ExpiringCert): string {
  const when = c.daysLeft < 0 ? `EXPIRED on ${c.notAfter}` : `expires in ${c.daysLeft} day(s), on ${c.notAfter}`;
  const [kind, name] = c.what.split(' ');
  const how =
    kind === 'operator'
      ? `pscli pki renew --operator ${name}`
      : kind === 'tls'
        ? `pscli pki renew --service ${name}`
        : kind === 'signer'
          ? `pscli pki renew --signer ${name} --new-key, then pscli loadcert`
          : 'the root is not renewed: a new PKI, pscli pki init, before it ends';
  return `WARNING certificate ${c.what} ${when} (${c.file}): renew it (${how})`;
}

export function register(program: Command): void {
  program
    .command('resolve')
    .description('ask the chain about every payment of a coin in flight: record the paid, credit back what never left, unlock autopay')
    .requiredOption('--coin <tag>')
    .action(action(async (ctx, cmd) => resolve(ctx, coinTag('--coin', cmd.opts<{ coin: string }>().coin))));
  const autopay = program.command('autopay').description('automatic threshold payouts (payserv runs them every [autopay] interval_s)');
  autopay
    .command('run')
    .description('one run for a coin now (RESOLVE_PAYOUT=1: resolve instead, as the original)')
    .requiredOption('--coin <tag>')
    .action(
      action(async (ctx, cmd) => {
        const coin = coinTag('--coin', cmd.opts<{ coin: string }>().coin);
        if (!resolveMode(ctx)) {
          const off = autopayOff((await call(ctx, 'Autopay.Status')) as AutopayStatus, coin);
          if (off) throw new CliError(`${off}: nothing was run`, EXIT.PROBLEMS);
          return printRun(ctx, (await call(ctx, 'Autopay.Run', [coin])) as RunReport);
        }
        const code = await resolve(ctx, coin);
        if (!ctx.json) ctx.print('Now you have to run autopay with RESOLVE_PAYOUT=0 for a normal run');
        return code;
      }),
    );
  program
    .command('journal')
    .description("the payserv host's payment journal")
    .command('restore')
    .description(
      'put back every payment the journal holds and the database lost (after a rollback, or payserv dying before a commit); then Check each',
    )
    .action(
      action(async (ctx) => {
        const rs = (await call(ctx, 'Journal.Restore')) as Restored[];
        const shown = rs.filter((r) => r.outcome !== 'present');
        printDoc(
          ctx,
          rs,
          () =>
            shown.map((r) => `withdrawal ${r.withdrawal} ${r.hash}: ${r.outcome}: ${r.detail}`).join('\n') ||
            'nothing to restore: every journaled payment is in the database',
        );
        return rs.some((r) => r.outcome === 'diverged') ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );
  program
    .command('rebaseline')
    .description(
      "after the payserv host's local state was lost: verify the whole ledger and confirm it as one operator (PSCLI_OPERATOR=NAME); fresh local state is written once [rebaseline] confirmations operators confirmed",
    )
    .requiredOption('--reason <text>', 'why the local state was lost and why this ledger can be trusted (logged and alerted)')
    .action(
      action(async (ctx, cmd) => {
        const reason = cmd.opts<{ reason: string }>().reason.trim();
        if (reason.length < 3 || reason.length > 500) throw new CliError('--reason: say why, in 3 to 500 characters', EXIT.USAGE);
        if (UNPRINTABLE.test(reason))
          throw new CliError('--reason: one line of plain text: no control characters or line breaks', EXIT.USAGE);
        const r = (await call(ctx, 'Utils.Rebaseline', { reason })) as RebaselineReply;
        printDoc(ctx, r, rebaselineText);
        return r.reply === 'ERROR' ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );
  autopay
    .command('status')
    .description('each coin: idle, running or halted (and why), its threshold, its last run')
    .action(
      action(async (ctx) => {
        const s = (await call(ctx, 'Autopay.Status')) as AutopayStatus;
        const off = autopayOff(s);
        printDoc(ctx, s, (d: AutopayStatus) =>
          [
            ...d.coins.map(
              (c) =>
                `${c.coin}: ${c.state}${c.reason ? ` — ${c.reason}` : ''}${c.threshold ? `; threshold ${c.threshold}` : ''}${c.last_run ? `; last run ${c.last_run.outcome}, paid ${c.last_run.paid.count} (${c.last_run.paid.sum})` : ''}`,
            ),
            ...(off ? [off] : []),
          ].join('\n'),
        );
        // Disabled is a finding, as `autopay run` refuses for it (exit 1): a script asking "is autopay paying?" hears no.
        return off || s.coins.some((c) => c.state === 'halted') ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );

  for (const [name, method, about] of PAYOUTS) {
    program
      .command(name)
      .description(about)
      .argument('<id>', 'withdrawal id')
      .action(action(async (ctx, cmd) => printReply(ctx, (await call(ctx, method, [positiveInt('id', cmd.args[0])])) as never)));
  }
  program
    .command('sendcoin')
    .description('pay every approved and retrying withdrawal of a coin in batches')
    .argument('<coin>')
    .action(action(async (ctx, cmd) => printReply(ctx, (await call(ctx, 'PayServ.SendCoin', [coinTag('coin', cmd.args[0])])) as never)));

  const backupLine = (b: BackupOutcome) =>
    b.ok
      ? `last backup: ${b.id ?? ''} taken at ${b.at}`
      : `last backup FAILED at ${b.at} [${b.code ?? 'backup_failed'}]: ${b.reason ?? ''}`;
  const state = (method: Method) =>
    action(async (ctx) => {
      const s = (await call(ctx, method)) as {
        enabled: boolean;
        reason: string | null;
        since: string;
        fail_stops: number;
        data?: DataReach;
        last_backup?: BackupOutcome | null;
      };
      // payserv without its data answers only from memory: the autopay and lock reports would be "internal error".
      const unreachable = s.data && !s.data.reachable ? unreachableLine(s.data) : null;
      const full = method === 'Utils.Status' && !unreachable;
      // Which coins autopay has halted, and why: the operator's next step is resolve.
      const locked = full ? ((await call(ctx, 'Autopay.Status')) as AutopayStatus).coins.filter((c) => c.state !== 'idle') : [];
      // Locks held by another database session or for too long: payouts of what they guard stop, silently.
      const locks = full ? ((await call(ctx, 'Utils.ListLocks')) as LockList).reported : [];
      // The certificates this host holds (the services' TLS pairs, the operators'): a warning, not a finding (the exit is unchanged).
      const expiring = method === 'Utils.Status' ? certificatesExpiring(ctx.stateDir, CERT_WARN_DAYS) : [];
      printDoc(ctx, { ...s, autopay_locked: locked, locks_reported: locks, certificates_expiring: expiring }, (d: typeof s) =>
        [
          `payouts ${d.enabled ? 'ENABLED' : 'DISABLED'} since ${d.since}`,
          ...(d.reason ? [`reason: ${d.reason}`] : []),
          ...(d.fail_stops ? [`fail-stops since start: ${d.fail_stops}`] : []),
          ...(unreachable ? [unreachable] : []),
          ...(d.last_backup ? [backupLine(d.last_backup)] : []),
          ...locked.map((c) => `autopay ${c.coin} ${c.state.toUpperCase()}: ${c.reason}`),
          ...locks.map(lockLine),
          ...expiring.map(expiryLine),
        ].join('\n'),
      );
      // Enable or disable answered: it is done (a disable needs no data; payserv refuses an enable without it).
      if (method !== 'Utils.Status') return EXIT.OK;
      // payserv could not read its data: nothing was decided, a retry may succeed (README exit codes: 3).
      if (unreachable) return EXIT.RUNTIME;
      // A running lock is a run in progress (or one that never finished); only a halt is a problem for sure.
      return s.enabled && !locked.some((c) => c.state === 'halted') && !locks.length ? EXIT.OK : EXIT.PROBLEMS;
    });
  program.command('enable').description('enable payouts (after the checks are clean)').action(state('Utils.Enable'));
  program.command('disable').description('disable payouts').action(state('Utils.Disable'));
  program.command('status').description('whether payouts are enabled, and why not').action(state('Utils.Status'));

  program
    .command('listlocks')
    .description('withdrawals and coins being handled right now, and locks held by others or for too long')
    .action(
      action(async (ctx) => {
        const r = (await call(ctx, 'Utils.ListLocks')) as LockList;
        printDoc(
          ctx,
          r,
          (d: LockList) =>
            [
              ...d.held.map((l) => `${l.name}  ${l.holder}  since ${l.since}`),
              ...(d.held_elsewhere ? [`${d.held_elsewhere} advisory locks held by other database sessions`] : []),
              ...d.reported.map(lockLine),
            ].join('\n') || 'no locks held',
        );
        return r.reported.length ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );
  program
    .command('isprocessing')
    .description('whether a withdrawal is being handled right now')
    .argument('<id>')
    .action(
      action(async (ctx, cmd) => {
        const r = (await call(ctx, 'Utils.IsProcessing', [positiveInt('id', cmd.args[0])])) as { id: number; processing: boolean };
        printDoc(ctx, r, (d: typeof r) => `withdrawal ${d.id} is ${d.processing ? '' : 'not '}being processed`);
      }),
    );
  program
    .command('transinfo')
    .description('a withdrawal and its signed history')
    .argument('<id>')
    .action(
      action(async (ctx, cmd) => {
        const r = (await call(ctx, 'Utils.TransInfo', [positiveInt('id', cmd.args[0])])) as Record<string, unknown> & {
          history: Array<Record<string, unknown>>;
          problems: string[];
        };
        printDoc(ctx, r, (d: typeof r) =>
          [
            `withdrawal ${d.id}: user ${d.user}, ${d.amount} ${d.coin} (fee ${d.fee}) to ${d.address} (wallet ${d.wallet})`,
            `status ${d.status}${d.tx_hash ? `, tx ${d.tx_hash}` : ''}${d.comment ? ` — ${d.comment}` : ''}`,
            ...d.history.map(
              (h) => `  ${h.seq}. ${h.status} at ${h.at}${h.tx_hash ? ` tx ${h.tx_hash}` : ''}${h.comment ? ` — ${h.comment}` : ''}`,
            ),
            ...d.problems.map((p) => `PROBLEM: ${p}`),
          ].join('\n'),
        );
        return r.problems.length ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );
  program
    .command('signcoin')
    .description('sign a coin as it is now, after reviewing it (payserv holds the admin key)')
    .argument('<id>')
    .action(
      action(async (ctx, cmd) =>
        printDoc(
          ctx,
          await call(ctx, 'Coins.Sign', [positiveInt('id', cmd.args[0])]),
          (d: { tag: string; id: number }) => `coin ${d.tag} (${d.id}) signed`,
        ),
      ),
    );
  program
    .command('signwallet')
    .description('sign a wallet as it is now, after reviewing it')
    .argument('<id>')
    .action(
      action(async (ctx, cmd) =>
        printDoc(
          ctx,
          await call(ctx, 'Wallets.Sign', [positiveInt('id', cmd.args[0])]),
          (d: { id: number; address: string }) => `wallet ${d.id} (${d.address}) signed`,
        ),
      ),
    );
  program
    .command('signwallets')
    .description('sign every wallet awaiting review (review them first: pscli checkwallets --json lists them)')
    .requiredOption('--yes', 'confirm that every unsigned wallet was reviewed')
    .action(
      action(async (ctx) =>
        printDoc(
          ctx,
          await call(ctx, 'Wallets.SignAll'),
          (d: { signed: number; more: boolean }) => `${d.signed} wallets signed${d.more ? ' (more remain: run again)' : ''}`,
        ),
      ),
    );
  program
    .command('createcorrection')
    .description('a signed corrective credit for a user, with its pool-income counterpart')
    .requiredOption('--user <id>')
    .requiredOption('--coin <tag>')
    .requiredOption('--amount <decimal>', "the user's credit (negative to take back)")
    .option('--pool <decimal>', "the pool-income counterpart (default: the amount); the difference goes to the pool's own user")
    .option('--comment <text>')
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ user: string; coin: string; amount: string; pool?: string; comment?: string }>();
        const params = {
          user: positiveInt('--user', o.user),
          coin: coinTag('--coin', o.coin),
          amount: o.amount,
          ...(o.pool !== undefined ? { pool: o.pool } : {}),
          ...(o.comment ? { comment: o.comment } : {}),
        };
        amountOpt('--amount', o.amount);
        if (o.pool !== undefined) amountOpt('--pool', o.pool);
        const r = await call(ctx, 'Corrections.Apply', params);
        printDoc(
          ctx,
          r,
          (d: { income_id: number; credit_id: number; amount: string }) =>
            `correction applied: credit ${d.credit_id} of ${d.amount}, pool income ${d.income_id}`,
        );
      }),
    );
}
