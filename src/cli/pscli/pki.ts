// pscli pki init, pscli loadcert: the root CA, the role certificates, and registering signers.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { Command } from 'commander';
import {
  distributeRevocations,
  initPki,
  issueOperator,
  PkiError,
  renewOperator,
  revokeOperator,
  type OperatorResult,
} from '../../esman/pki-files.js';
import { renewService, renewSigner } from '../../esman/pki-renew.js';
import { issueBrowserOperator, makeDashboardCa, renewBrowserOperator } from '../../esman/pki-dashboard.js';
import { loadTrust } from '../../esman/pki-files.js';
import type { SignerRole, TlsIdentity } from '../../pki/roles.js';
import { parseCertPem } from '../../pki/trust.js';
import { registerCert } from '../../writer/certs.js';
import { requireCurrentSchema } from '../../db/migrate.js';
import { action, requireDatabaseChosen, withDb, type Context } from '../context.js';
import { CliError, EXIT } from '../exit.js';
import { positiveInt, trustOf } from '../ledger-context.js';

// A DNS name: dot-separated labels of letters, digits and inner hyphens, at most 63 characters each, 253 in all.
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** The --host values, each a DNS name or an IP address: an empty or odd one would be a certificate SAN no client matches. */
export function tlsHosts(values: readonly string[]): string[] {
  for (const h of values)
    if (!isIP(h) && !DNS_NAME.test(h))
      throw new CliError(`--host: expected a DNS name or an IP address, got ${JSON.stringify(h.slice(0, 80))}`, EXIT.USAGE);
  return [...values];
}

/** A certificate file's text, checked to be one: not a file OpenSSL would answer for in its own words. */
function readCertFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch {
    throw new CliError(`cannot read certificate file ${file}`, EXIT.USAGE);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new CliError(`not a PEM certificate: ${file}`, EXIT.USAGE);
  try {
    parseCertPem(pem);
  } catch {
    throw new CliError(`${file}: not a parseable X.509 certificate`, EXIT.USAGE);
  }
  return pem;
}

/** A refusal of the PKI's (bad name, existing or unknown operator, no CA key) is the command line's fault: exit 2. */
const usage = (e: unknown): never => {
  throw e instanceof PkiError ? new CliError(e.message, EXIT.USAGE) : e;
};

const operatorLine = (verb: string, r: OperatorResult) =>
  `operator ${r.operator} ${verb}: certificate ${r.cert}, key ${r.key}, valid until ${r.notAfter}`;

interface RenewOpts {
  operator?: string;
  browser?: boolean;
  service?: string;
  signer?: string;
  days?: string;
  newKey?: boolean;
  host?: string[];
  keysDir?: string;
}

async function renewOperatorCmd(ctx: Context, o: RenewOpts): Promise<void> {
  if (o.browser)
    return browserCmd(
      ctx,
      { operator: o.operator as string, days: o.days ?? '365', exact: o.days !== undefined, keysDir: o.keysDir },
      true,
    );
  const r = await renewOperator(ctx.stateDir, o.operator as string, {
    days: positiveInt('--days', o.days ?? '365'),
    exact: o.days !== undefined,
    newKey: o.newKey === true,
    ...(o.keysDir ? { keysDir: o.keysDir } : {}),
  }).catch(usage);
  ctx.log.info({ operator: r.operator, notAfter: r.notAfter, newKey: o.newKey === true }, 'operator certificate renewed');
  if (ctx.json) ctx.printJson(r);
  else ctx.print(operatorLine('renewed', r));
}

async function browserCmd(
  ctx: Context,
  o: { operator: string; days: string; exact?: boolean; keysDir?: string | undefined },
  renew = false,
): Promise<void> {
  const opts = { days: positiveInt('--days', o.days), exact: o.exact === true, ...(o.keysDir ? { keysDir: o.keysDir } : {}) };
  const r = await (renew ? renewBrowserOperator : issueBrowserOperator)(ctx.stateDir, loadTrust(ctx.stateDir), o.operator, opts).catch(
    usage,
  );
  const verb = renew ? 'renewed' : 'issued';
  ctx.log.info({ operator: r.operator, notAfter: r.notAfter, browser: true }, `operator browser certificate ${verb}`);
  if (ctx.json) return ctx.printJson(r);
  ctx.print(
    [
      `operator ${r.operator} browser certificate ${verb}: certificate ${r.cert}, key ${r.key}, valid until ${r.notAfter}`,
      `for the browser: openssl pkcs12 -export -in ${r.cert} -inkey ${r.key} -name ${r.operator} -out ${r.operator}.p12 (a passphrase is asked), then delete the key file`,
    ].join('\n'),
  );
}

function registerDashboardCa(pki: Command): void {
  pki
    .command('dashboard-ca')
    .description(
      "the dashboard CA (P-256, signed by the root CA key) and the dashboard's server certificate: browsers trust the CA, operators' browser certificates come from it",
    )
    .option('--days <n>', "validity in days (default 825, shortened to the root's end; a --days past it is refused)")
    .option('--host <name...>', "the dashboard's host names / addresses, as the browser's URL names it", ['localhost', '127.0.0.1', '::1'])
    .option(
      '--keys-dir <dir>',
      'the offline keys directory: the root CA key read from and the dashboard CA key written to <dir>/offline/, the server key to <dir>/payserv.DASH.KEY',
    )
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ days?: string; host: string[]; keysDir?: string }>();
        const r = await makeDashboardCa(ctx.stateDir, {
          days: positiveInt('--days', o.days ?? '825'),
          exact: o.days !== undefined,
          hosts: tlsHosts(o.host),
          ...(o.keysDir ? { keysDir: o.keysDir } : {}),
        }).catch(usage);
        ctx.log.warn({ ca: r.ca, server: r.server, notAfter: r.notAfter }, 'dashboard CA made');
        if (ctx.json) return ctx.printJson(r);
        ctx.print(
          [
            `dashboard CA: ${r.ca} (the browsers' trust anchor), key ${r.caKey} (keep it offline, with the root's)`,
            `dashboard server certificate: ${r.server}, key ${r.serverKey}, valid until ${r.notAfter}`,
          ].join('\n'),
        );
      }),
    );
}

function registerOperators(pki: Command): void {
  pki
    .command('issue')
    .description(
      'a client certificate for one person (CN=NAME, OU=operator), signed by the root CA key: payserv grants it what it grants pscli, and audits the name',
    )
    .requiredOption('--operator <name>', 'the operator: a lower-case letter, then letters, digits, ., _ or - (at most 32)')
    .option('--days <n>', 'validity in days (never past the root)', '365')
    .option(
      '--browser',
      "a P-256 certificate for the operator's browser, signed by the dashboard CA key (`pki dashboard-ca`), for the dashboard only",
    )
    .option(
      '--keys-dir <dir>',
      "the offline keys directory of `pki init --keys-dir`: the CA key is read from it, the operator's key written to <dir>/operators/",
    )
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ operator: string; days: string; keysDir?: string; browser?: boolean }>();
        if (o.browser) return browserCmd(ctx, o);
        const r = await issueOperator(ctx.stateDir, o.operator, {
          days: positiveInt('--days', o.days),
          ...(o.keysDir ? { keysDir: o.keysDir } : {}),
        }).catch(usage);
        ctx.log.info({ operator: r.operator, notAfter: r.notAfter }, 'operator certificate issued');
        if (ctx.json) ctx.printJson(r);
        else ctx.print(operatorLine('issued', r));
      }),
    );
  pki
    .command('renew')
    .description(
      "a new certificate before one expires, under the same root: an operator's or a TLS pair's for the same key (or --new-key), a signer's for a new key",
    )
    .option('--operator <name>', 'an operator')
    .option('--service <name>', 'a TLS pair: payserv, dbgw, pscli, backend or intake (its key stays in its store unless --new-key)')
    .option('--signer <role>', 'a ledger signer: payserv, admin or autopay (with --new-key; then `pscli loadcert` the new certificate)')
    .option(
      '--days <n>',
      "validity in days from now (refused past the root's end; default 825, or 365 for an operator, shortened to the root's end)",
    )
    .option('--new-key', 'a new key as well (the old certificate keeps working until it expires)')
    .option('--browser', "--operator: the operator's browser certificate (always a new key: a new .p12 to import)")
    .option('--host <name...>', "--service: host names / addresses (default: the renewed certificate's)")
    .option(
      '--keys-dir <dir>',
      'the offline keys directory: the CA key from <dir>/offline/root.key; new keys (and the certificate) written there as store items',
    )
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<RenewOpts>();
        const which = [o.operator, o.service, o.signer].filter((x) => x !== undefined).length;
        if (which !== 1) throw new CliError('pki renew: give exactly one of --operator NAME, --service NAME, --signer ROLE', EXIT.USAGE);
        if (o.host && o.service === undefined) throw new CliError('pki renew: --host is for --service only', EXIT.USAGE);
        if (o.browser && o.operator === undefined) throw new CliError('pki renew: --browser is for --operator only', EXIT.USAGE);
        if (o.operator !== undefined) return renewOperatorCmd(ctx, o);
        const opts = {
          days: positiveInt('--days', o.days ?? '825'),
          exact: o.days !== undefined,
          newKey: o.newKey === true,
          ...(o.keysDir ? { keysDir: o.keysDir } : {}),
          ...(o.host ? { hosts: tlsHosts(o.host) } : {}),
        };
        const r = await (
          o.service !== undefined
            ? renewService(ctx.stateDir, o.service as TlsIdentity, opts)
            : renewSigner(ctx.stateDir, o.signer as SignerRole, opts)
        ).catch(usage);
        ctx.log.warn({ renewed: r.what, notAfter: r.notAfter, keyId: r.keyId, newKey: r.key !== null }, 'certificate renewed');
        if (ctx.json) return ctx.printJson(r);
        ctx.print(
          [
            `${r.what} renewed: certificate ${r.cert}, valid until ${r.notAfter}, key id ${r.keyId}`,
            r.key
              ? `new key: ${r.key}${o.keysDir ? ' (into the store with `esman add … --replace`, then delete the file)' : ''}`
              : 'same key',
            ...(r.item ? [`store item: ${r.item}`] : []),
            ...(o.signer !== undefined ? [`next: pscli loadcert ${r.cert}, before the ${o.signer} key signs anything`] : []),
          ].join('\n'),
        );
      }),
    );
  pki
    .command('revoke')
    .description(
      "refuse an operator's certificates from now on: adds the name to the revocation list (pki/revoked.json) signed by the root CA key",
    )
    .requiredOption('--operator <name>', 'the operator')
    .option('--keys-dir <dir>', 'the offline keys directory holding the CA key')
    .option('--to <dir...>', "also copy the list to these state directories (payserv's, dbgw's), each pinning the same root")
    .action(
      action(async (ctx, cmd) => {
        const o = cmd.opts<{ operator: string; keysDir?: string; to?: string[] }>();
        const r = await revokeOperator(ctx.stateDir, o.operator, o.keysDir ? { keysDir: o.keysDir } : {}).catch(usage);
        ctx.log.warn({ operator: o.operator, list: r.list, added: r.added }, 'operator revoked');
        const copies = o.to ? await distributeRevocations(ctx.stateDir, o.to).catch(usage) : [];
        if (ctx.json) return ctx.printJson({ operator: o.operator, ...r, copies });
        ctx.print(
          `operator ${o.operator} ${r.added ? 'revoked' : 'was already revoked'}: ${r.list}` +
            (copies.length
              ? `, copied to ${copies.join(', ')}`
              : " (copy it to payserv's and dbgw's state directories if they are others, or give --to)"),
        );
      }),
    );
}

export function register(program: Command): void {
  const pki = program.command('pki').description('certificates: root CA, role certificates and operators');
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
        const opts = {
          rootDays: positiveInt('--root-days', o.rootDays),
          leafDays: positiveInt('--leaf-days', o.leafDays),
          hosts: tlsHosts(o.host),
          ...(o.keysDir ? { keysDir: o.keysDir } : {}),
        };
        const r = await initPki(ctx.stateDir, opts).catch((e: Error) => {
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
  registerOperators(pki);
  registerDashboardCa(pki);

  program
    .command('loadcert')
    .description('register a signer certificate in crypto_certs (checked against the pinned root)')
    .argument('<file>', 'PEM certificate')
    .action(
      action(async (ctx, cmd) => {
        const file = cmd.args[0] as string;
        requireDatabaseChosen(ctx);
        const pem = readCertFile(file);
        const trust = trustOf(ctx);
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
