// Outside attack on renewal of the services' certificates (README "PKI": a running server takes up a renewed
// certificate): certificates for the SAME key that must never be served: from another CA, for another
// service, of an operator or a signer; a PEM bundle sneaking a foreign certificate behind a good one.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { initPki, pkiPaths, loadRootPair, validityFor } from '../src/esman/pki-files.js';
import { createRoot, issueCert } from '../src/pki/issue.js';
import { clientTlsOptions } from '../src/rpc/tls.js';
import { spawnNode, tlsOf } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';

async function peer(dir: string, port: number): Promise<string> {
  const socket = connect({
    ...clientTlsOptions(tlsOf(dir, 'pscli'), 'dbgw'),
    host: '127.0.0.1',
    port,
    checkServerIdentity: () => undefined,
    rejectUnauthorized: false,
  });
  try {
    await once(socket, 'secureConnect');
    const c = socket.getPeerCertificate();
    return `${c.fingerprint256} issuer=${c.issuer?.CN}/${c.issuer?.OU} subject=${c.subject?.CN}/${c.subject?.OU} to=${c.valid_to}`;
  } finally {
    socket.destroy();
  }
}

describe('attack17b: renewed certificates that must be refused', () => {
  it('same key, foreign CA / wrong service / operator / signer / bundle: the certificate in use stays', { timeout: 90_000 }, async () => {
    const dir = await tmpStateDir();
    await initPki(dir, { rootDays: 3650, leafDays: 20 });
    writeFileSync(join(dir, 'dbgw.toml'), '[rpc]\nport = 0\n');
    const p = pkiPaths(dir);
    const crt = p.tlsCert('dbgw');
    const keyPem = readFileSync(p.tlsKey('dbgw'), 'utf8');
    const goodPem = readFileSync(crt, 'utf8');
    const root = loadRootPair(dir);
    const now = new Date();
    const long = validityFor(root, 900, now);
    const rogueRoot = await createRoot('payserv root', {
      notBefore: new Date(now.getTime() - 60_000),
      notAfter: new Date(now.getTime() + 3000 * 86_400_000),
    });
    const variants: Record<string, string> = {
      'foreign CA, same key, same names': (
        await issueCert(rogueRoot, { purpose: 'tls', identity: 'dbgw', hosts: ['localhost', '127.0.0.1'] }, long, keyPem)
      ).certPem,
      'real CA, same key, identity payserv': (
        await issueCert(root, { purpose: 'tls', identity: 'payserv', hosts: ['localhost', '127.0.0.1'] }, long, keyPem)
      ).certPem,
      'real CA, same key, operator certificate named dbgw': (await issueCert(root, { purpose: 'operator', name: 'dbgw' }, long, keyPem))
        .certPem,
      'real CA, same key, ledger signer dbgw?': (
        await issueCert(root, { purpose: 'signer', role: 'admin', commonName: 'dbgw tls' }, long, keyPem)
      ).certPem,
      'bundle: foreign leaf then the pinned root':
        (await issueCert(rogueRoot, { purpose: 'tls', identity: 'dbgw', hosts: ['localhost'] }, long, keyPem)).certPem +
        readFileSync(p.root, 'utf8'),
      'bundle: good old leaf then a foreign longer one':
        goodPem + (await issueCert(rogueRoot, { purpose: 'tls', identity: 'dbgw', hosts: ['localhost'] }, long, keyPem)).certPem,
      garbage: 'not a certificate',
      empty: '',
    };
    const gw = spawnNode(['bin/dbgw.mjs'], { PAYSERV_STATE_DIR: dir });
    const port = Number((await gw.waitForLine(/^dbgw listening on 127\.0\.0\.1:(\d+)$/, 30_000))[1]);
    const served0 = await peer(dir, port);
    const results: Record<string, string> = {};
    try {
      for (const [name, pem] of Object.entries(variants)) {
        writeFileSync(crt, pem);
        gw.proc.kill('SIGHUP');
        await new Promise((r) => setTimeout(r, 1500));
        const now2 = await peer(dir, port).catch((e: Error) => `CONNECT FAILED ${e.message}`);
        results[name] = now2 === served0 ? 'kept' : `SERVED: ${now2}`;
        writeFileSync(crt, goodPem);
      }
      // still alive
      expect(await peer(dir, port)).toBe(served0);
    } finally {
      gw.proc.kill('SIGTERM');
    }
    console.log(
      results,
      '\n',
      (gw.stdout() + gw.stderr())
        .split('\n')
        .filter((x) => /refused/.test(x))
        .map((x) => x.slice(0, 300))
        .join('\n'),
    );
    void X509Certificate;
    for (const [name, r] of Object.entries(results)) expect(r, name).toBe('kept');
  });
});
