// pscli pki init, pscli loadcert: the root CA, the role certificates, and registering signers.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { initPki, loadTrust } from '../../esman/pki-files.js';
import { registerCert } from '../../writer/certs.js';
import { requireCurrentSchema } from '../../db/migrate.js';
import { action, requireDatabaseChosen, withDb } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import { positiveInt } from '../ledger-context.js';

export function register(program: Command): void {
  const pki = program.command('pki').description('certificates: root CA and role certificates');
  pki
    .command('init')
    .description('create the root CA (pinned in the state directory) and the signer and TLS certificates of every role')
    .option('--root-days <n>', 'root CA validity in days', '3650')
    .option('--leaf-days <n>', 'role certificate validity in days', '825')
    .option('--host <name...>', 'host names / addresses for the TLS certificates', ['localhost', '127.0.0.1', '::1'])
    .option(
      '--keys-dir <dir>',
      'write private keys here as store items for `esman create --from` (the CA key into <dir>/offline), not into the state directory',
    )
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ rootDays: string; leafDays: string; host: string[]; keysDir?: string }>();
        const r = await initPki(ctx.stateDir, {
          rootDays: positiveInt('--root-days', o.rootDays),
          leafDays: positiveInt('--leaf-days', o.leafDays),
          hosts: o.host,
          ...(o.keysDir ? { keysDir: o.keysDir } : {}),
        }).catch((e: Error) => {
          throw new CliError(e.message, EXIT.USAGE);
        });
        ctx.log.info({ root: r.root }, 'pki created');
        if (ctx.json) ctx.printJson(r);
        else
          ctx.print(
            [
              `root (pinned): ${r.root}`,
              ...Object.entries(r.signers).map(([k, v]) => `signer ${k}: ${v}`),
              ...Object.entries(r.tls).map(([k, v]) => `tls ${k}: ${v}`),
              `private keys: ${r.keys}`,
            ].join('\n'),
          );
      }),
    );

  program
    .command('loadcert')
    .description('register a signer certificate in crypto_certs (checked against the pinned root)')
    .argument('<file>', 'PEM certificate')
    .action(
      action(async (ctx, cmd) => {
        const file = cmd.args[0] as string;
        let pem: string;
        try {
          pem = readFileSync(file, 'utf8');
        } catch {
          throw new CliError(`cannot read certificate file ${file}`, EXIT.USAGE);
        }
        requireDatabaseChosen(ctx);
        const trust = loadTrust(ctx.stateDir);
        const r = await withDb(ctx, async (db) => {
          await requireCurrentSchema(db);
          return registerCert(db, trust, pem).catch((e: Error) => {
            throw new CliError(`${file}: ${e.message}`, EXIT.USAGE);
          });
        });
        ctx.log.info({ keyId: r.keyId, role: r.role, added: r.added }, 'certificate registered');
        if (ctx.json) ctx.printJson(r);
        else ctx.print(`${r.added ? 'registered' : 'already registered'}: role ${r.role}, key id ${r.keyId}`);
      }),
    );
}
