// pscli audit: the audit trail of RPC calls. verify is a check like the others: silent and 0 when clean,
// one line per problem and 1 when not.
import type { Command } from 'commander';
import { formatProblem, type Problem } from '../../ledger/problem.js';
import { AuditError, auditHeadPath, verifyAudit } from '../../payserv/audit.js';
import { action, withData } from '../context.js';
import { CliError, EXIT } from '../exit.js';

export function register(program: Command): void {
  const audit = program.command('audit').description('the audit trail of RPC calls');

  audit
    .command('verify')
    .description("recompute the audit trail's hash chain and hold it against the local head (silent when clean)")
    .action(
      action(async (ctx) => {
        const problems: Problem[] = [];
        let count = 0;
        await withData(ctx, async (db) => {
          try {
            for await (const p of verifyAudit(db, ctx.stateDir)) {
              count++;
              if (ctx.json) problems.push(p);
              else ctx.print(formatProblem(p));
            }
          } catch (e) {
            // A damaged local head is a finding about this host, not a passing failure: retrying will not help.
            if (e instanceof AuditError) throw new CliError(e.message, EXIT.PROBLEMS);
            throw e;
          }
        });
        ctx.log.info(
          { check: 'audit', head: auditHeadPath(ctx.stateDir), problems: count },
          count ? 'check found problems' : 'check clean',
        );
        if (ctx.json) ctx.printJson({ check: 'audit', clean: count === 0, problems });
        return count ? EXIT.PROBLEMS : EXIT.OK;
      }),
    );
}
