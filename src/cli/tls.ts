import { readFileSync } from 'node:fs';
import { operatorTlsPaths, pkiPaths } from '../esman/pki-files.js';
import { operatorNameProblem } from '../pki/operators.js';
import type { TlsMaterial } from '../rpc/tls.js';
import type { Context } from './context.js';
import { CliError, EXIT } from './exit.js';

/** The operator pscli acts as ($PSCLI_OPERATOR), or null for the shared pscli identity. */
export function operatorOf(ctx: Context): string | null {
  const name = ctx.io.env.PSCLI_OPERATOR;
  if (name === undefined || name === '') return null;
  const problem = operatorNameProblem(name);
  if (problem) throw new CliError(`PSCLI_OPERATOR: ${problem}`, EXIT.USAGE);
  return name;
}

/**
 * pscli's TLS pair and the pinned root, from the state directory: for payserv and dbgw alike. The pair is
 * the operator's own (pki/operators/NAME.{crt,key}) when $PSCLI_OPERATOR names one, else the shared pscli pair.
 */
export function pscliTls(ctx: Context): TlsMaterial {
  const p = pkiPaths(ctx.stateDir);
  const operator = operatorOf(ctx);
  const hint = operator
    ? `issue it with \`pscli pki issue --operator ${operator}\`, or copy the operator's pair there`
    : "run `pscli pki init`, or copy pscli's TLS pair there";
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      throw new CliError(`${what} not found at ${path} (${hint})`, EXIT.USAGE);
    }
  };
  const caPem = read(p.root, 'pinned root certificate');
  if (operator) {
    const o = operatorTlsPaths(ctx.stateDir, operator);
    return { certPem: read(o.cert, `operator ${operator}'s certificate`), keyPem: read(o.key, `operator ${operator}'s key`), caPem };
  }
  return { certPem: read(p.tlsCert('pscli'), 'pscli TLS certificate'), keyPem: read(p.tlsKey('pscli'), 'pscli TLS key'), caPem };
}
