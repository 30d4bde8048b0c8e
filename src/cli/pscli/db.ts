// pscli db: schema migrations.
import type { Command } from 'commander';
import { listMigrations, migrate, migrationStatus } from '../../db/migrate.js';
import { action, withDb } from '../context.js';
import { table } from '../format.js';

export function register(program: Command): void {
  const db = program.command('db').description('database schema');

  db.command('migrate')
    .description('apply the schema migrations this version has and the database lacks')
    .action(
      action(async (ctx) => {
        const applied = await withDb(ctx, (d) => migrate(d));
        const names = new Map(listMigrations().map((m) => [m.version, m.name]));
        ctx.log.info({ applied }, applied.length ? 'migrations applied' : 'schema is current');
        if (ctx.json) ctx.printJson({ applied: applied.map((v) => ({ version: v, name: names.get(v) })) });
        else if (!applied.length) ctx.print('schema is current');
        else ctx.print(applied.map((v) => `applied ${v} ${names.get(v) ?? ''}`.trimEnd()).join('\n'));
      }),
    );

  db.command('status')
    .description('list the schema migrations and whether each is applied')
    .action(
      action(async (ctx) => {
        const states = await withDb(ctx, (d) => migrationStatus(d));
        if (ctx.json) {
          ctx.printJson({
            migrations: states.map((s) => ({
              version: s.version,
              name: s.name,
              applied: s.applied,
              applied_at: s.appliedAt?.toISOString() ?? null,
            })),
          });
        } else {
          ctx.print(
            table(
              ['version', 'name', 'applied', 'applied_at'],
              states.map((s) => [String(s.version), s.name, s.applied ? 'yes' : 'no', s.appliedAt?.toISOString() ?? '-']),
            ),
          );
        }
      }),
    );
}
