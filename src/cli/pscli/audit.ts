// pscli audit verify: the audit trail of RPC calls. verify is a check like the others: silent and 0 when clean,
// one line per problem and 1 when not.
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { formatProblem, type Problem } from '../../ledger/problem.js';
import { AuditError, auditHeadPath, lastAuditRows, verifyAudit } from '../../payserv/audit.js';
import { action, withData } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import { payservStateDir, payservStateDirOption, positiveInt } from '../ledger-context.js';

/**
 * A trail with rows and no head, in a directory where payserv never kept one (no audit/ in it), is the wrong
 * directory, not evidence: the operator is told where to look instead of reading "audit_no_head" as tampering.
 */
function noHeadHere(path: string, given: boolean): CliError {
  return new CliError(
    `no audit head at ${path}, and the trail has rows: payserv keeps its head in its own state directory` +
      (given ? '; is this it?' : `, not pscli's: give it with --payserv-state-dir DIR (e.g. /var/lib/payserv)`),
    EXIT.USAGE,
  );
}

export function register(program: Command): void {
  const audit = program.command('audit').description('the audit trail of RPC calls');

  audit
    .command('list')
    .description('the newest calls: when, who (the identity, or the operator), what, the reply (as stored: `audit verify` checks them)')
    .option('--last <n>', 'how many', '50')
    .action(
      action(async (ctx, cmd) => {
        const last = positiveInt('--last', cmd.opts<{ last: string }>().last);
        const rows = await withData(ctx, (db) => lastAuditRows(db, last));
        const shown = rows.map((r) => ({
          id: r.id,
          at: r.at.toISOString(),
          client: r.client,
          method: r.method,
          target: r.target,
          reply: r.reply,
          code: r.code,
        }));
        if (ctx.json) ctx.printJson(shown);
        else
          ctx.print(
            shown
              .map(
                (r) =>
                  `${r.id} ${r.at} ${r.client} ${r.method}${r.target ? ` ${r.target}` : ''}: ${r.reply}${r.code ? ` (${r.code})` : ''}`,
              )
              .join('\n') || 'the audit trail is empty',
          );
      }),
    );

  payservStateDirOption(audit.command('verify'))
    .description("recompute the audit trail's hash chain and hold it against payserv's local head (silent when clean)")
    .action(
      action(async (ctx, cmd) => {
        const { dir, given } = payservStateDir(ctx, cmd);
        const head = auditHeadPath(dir);
        // Findings are held until the end only where payserv never kept a head: they may all be the wrong directory's.
        const hold = !existsSync(dirname(head));
        const problems: Problem[] = [];
        let count = 0;
        await withData(ctx, async (db) => {
          try {
            for await (const p of verifyAudit(db, dir)) {
              if (hold && p.code === 'audit_no_head') throw noHeadHere(head, given);
              count++;
              if (ctx.json || hold) problems.push(p);
              else ctx.print(formatProblem(p));
            }
          } catch (e) {
            // A damaged local head is a finding about this host, not a passing failure: retrying will not help.
            if (e instanceof AuditError) throw new CliError(e.message, EXIT.PROBLEMS);
            throw e;
          }
        });
        if (hold && !ctx.json) for (const p of problems) ctx.print(formatProblem(p));
        ctx.log.info({ check: 'audit', head, problems: count }, count ? 'check found problems' : 'check clean');
        if (ctx.json) ctx.printJson({ check: 'audit', clean: count === 0, problems });
        return count ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );
}
