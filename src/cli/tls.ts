import { readFileSync } from 'node:fs';
import { pkiPaths } from '../esman/pki-files.js';
import type { TlsMaterial } from '../rpc/tls.js';
import type { Context } from './context.js';
import { CliError, EXIT } from './exit.js';

/** pscli's own TLS pair and the pinned root, from the state directory: for payserv and dbgw alike. */
export function pscliTls(ctx: Context): TlsMaterial {
  const p = pkiPaths(ctx.stateDir);
  const read = (path: string, what: string) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      throw new CliError(`${what} not found at ${path} (run \`pscli pki init\`, or copy pscli's TLS pair there)`, EXIT.USAGE);
    }
  };
  return {
    certPem: read(p.tlsCert('pscli'), 'pscli TLS certificate'),
    keyPem: read(p.tlsKey('pscli'), 'pscli TLS key'),
    caPem: read(p.root, 'pinned root certificate'),
  };
}
