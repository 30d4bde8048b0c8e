// A dbgw process and `pscli pki renew --service dbgw`: the running process serves the renewed certificate
// to new connections (on its own, within its poll, and at once on SIGHUP), a client made before keeps
// working, and a certificate of another PKI put in its place is refused, logged, the renewed one kept.
// No database is used (dbgw starts without one); it spawns the built dbgw, hence not in test/unit.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import { initPki, pkiPaths } from '../src/esman/pki-files.js';
import { CERT_POLL_MS } from '../src/rpc/cert-reload.js';
import { RpcClient } from '../src/rpc/client.js';
import { clientTlsOptions } from '../src/rpc/tls.js';
import { runPscli } from './support/pscli.js';
import { spawnNode, tlsOf, until } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';

const DAY = 86_400_000;

async function peerEnd(dir: string, port: number): Promise<number> {
  const socket = connect({ ...clientTlsOptions(tlsOf(dir, 'pscli'), 'dbgw'), host: '127.0.0.1', port });
  try {
    await once(socket, 'secureConnect');
    return new Date(socket.getPeerCertificate().valid_to).getTime();
  } finally {
    socket.destroy();
  }
}

describe('renewing a running dbgw certificate', () => {
  it('new connections see the renewal without a restart; old clients keep working; a foreign certificate is refused', async () => {
    const dir = await tmpStateDir();
    await initPki(dir, { rootDays: 3650, leafDays: 20 });
    const other = await tmpStateDir();
    await initPki(other, { rootDays: 3650, leafDays: 900 });
    writeFileSync(join(dir, 'dbgw.toml'), '[rpc]\nport = 0\n');
    const crt = pkiPaths(dir).tlsCert('dbgw');
    const endOf = () => new Date(new X509Certificate(readFileSync(crt)).validTo).getTime();
    const run = (argv: string[]) => runPscli(argv, { PAYSERV_STATE_DIR: dir });

    const gw = spawnNode(['bin/dbgw.mjs'], { PAYSERV_STATE_DIR: dir });
    const port = Number((await gw.waitForLine(/^dbgw listening on 127\.0\.0\.1:(\d+)$/, 30_000))[1]);
    const client = new RpcClient({ host: '127.0.0.1', port, tls: tlsOf(dir, 'payserv'), serverIdentity: 'dbgw', timeoutMs: 10_000 });
    try {
      await client.call('Dbgw.Version');
      const first = await peerEnd(dir, port);
      expect(first).toBe(endOf());

      // Renewed: taken up within the poll, no signal.
      expect((await run(['pki', 'renew', '--service', 'dbgw', '--days', '400'])).code).toBe(EXIT.OK);
      const renewed = endOf();
      expect(renewed).toBeGreaterThan(first + 300 * DAY);
      await until('dbgw serves the renewed certificate', async () => (await peerEnd(dir, port)) === renewed, CERT_POLL_MS + 10_000, 250);
      await expect(client.call('Dbgw.Version')).resolves.toMatchObject({ catalog: expect.any(String) });

      // Renewed again, then SIGHUP: at once.
      expect((await run(['pki', 'renew', '--service', 'dbgw', '--days', '500'])).code).toBe(EXIT.OK);
      const again = endOf();
      gw.proc.kill('SIGHUP');
      await until('dbgw serves the certificate after SIGHUP', async () => (await peerEnd(dir, port)) === again, 3_000, 100);

      // Another PKI's certificate in its place: refused and logged, the renewed certificate stays.
      copyFileSync(pkiPaths(other).tlsCert('dbgw'), crt);
      gw.proc.kill('SIGHUP');
      await until('the refusal is logged', () => /renewed certificate refused/.test(gw.stdout() + gw.stderr()), 3_000, 100);
      expect(gw.stdout() + gw.stderr()).toContain('does not chain to the pinned root');
      expect(await peerEnd(dir, port)).toBe(again);
      await expect(client.call('Dbgw.Version')).resolves.toMatchObject({ catalog: expect.any(String) });
    } finally {
      client.close();
    }
    expect(await gw.stop('SIGTERM', 30_000), gw.stderr()).toBe(0);
  }, 60_000);
});
