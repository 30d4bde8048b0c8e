// The dashboard's P-256 family (README "Operator dashboard"): the CA tied to the root, its server pair, the
// operators' browser certificates, and every refusal. No database: temporary state directories only.
import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { connect, createServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import {
  DASHBOARD_KEY_ITEM,
  dashboardCa,
  dashboardTls,
  issueBrowserOperator,
  makeDashboardCa,
  renewBrowserOperator,
} from '../../src/esman/pki-dashboard.js';
import { certificatesExpiring, initPki, loadTrust, pkiPaths, revokeOperator } from '../../src/esman/pki-files.js';
import { peerIdentity, serverTlsOptions, type PeerIdentity } from '../../src/rpc/tls.js';
import { tmpStateDir } from '../support/tmp.js';

async function newPki(): Promise<string> {
  const dir = await tmpStateDir();
  await initPki(dir, { rootDays: 3650, leafDays: 825 });
  return dir;
}

const cert = (file: string) => new X509Certificate(readFileSync(file));

describe('the dashboard CA and browser certificates', () => {
  it('makes a P-256 CA tied to the root, a server pair and an operator certificate under it; revocation names both', async () => {
    const dir = await newPki();
    const p = pkiPaths(dir);
    const trust = loadTrust(dir);
    const r = await makeDashboardCa(dir, { days: 30, hosts: ['127.0.0.1', 'dash.example'] });
    const ca = cert(r.ca);
    expect(ca.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(ca.ca && ca.checkIssued(ca) && ca.verify(ca.publicKey)).toBe(true);
    const tie = cert(p.dashboardCaTie);
    expect(tie.checkIssued(trust.root) && tie.verify(trust.root.publicKey)).toBe(true);
    expect(dashboardCa(dir, trust).fingerprint256).toBe(ca.fingerprint256);
    const server = cert(r.server);
    expect(server.verify(ca.publicKey)).toBe(true);
    expect(server.subject).toContain('OU=dashboard');
    expect(server.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']);
    expect(server.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(dashboardTls(dir, trust, readFileSync(r.serverKey, 'utf8')).caPem).toContain(ca.toString().trim());
    const b = await issueBrowserOperator(dir, trust, 'alice', { days: 10 });
    const alice = cert(b.cert);
    expect(alice.verify(ca.publicKey) && alice.checkIssued(ca)).toBe(true);
    expect(alice.subject.split('\n')).toEqual(['CN=alice', 'OU=operator', 'O=payserv']);
    expect(alice.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(alice.verify(trust.root.publicKey)).toBe(false);
    expect(certificatesExpiring(dir, 40).map((c) => c.what)).toEqual(
      expect.arrayContaining(['browser alice', 'dashboard ca', 'dashboard ca-root', 'dashboard server']),
    );
    // Renewed: a new key and certificate, under the same CA; unknown names refused.
    const renewed = await renewBrowserOperator(dir, trust, 'alice', { days: 20 });
    const alice2 = cert(renewed.cert);
    expect(alice2.verify(ca.publicKey)).toBe(true);
    expect(alice2.publicKey.export({ format: 'der', type: 'spki' })).not.toEqual(alice.publicKey.export({ format: 'der', type: 'spki' }));
    expect(Date.parse(alice2.validTo)).toBeGreaterThan(Date.parse(alice.validTo));
    await expect(renewBrowserOperator(dir, trust, 'carol', { days: 20 })).rejects.toThrow(/carol has no browser certificate/);
    // A name with only a browser certificate is revoked all the same, never issued or renewed again.
    await expect(revokeOperator(dir, 'alice', {})).resolves.toMatchObject({ added: true });
    await expect(issueBrowserOperator(dir, trust, 'alice', { days: 10 })).rejects.toThrow(/alice was revoked/);
    await expect(renewBrowserOperator(dir, trust, 'alice', { days: 10 })).rejects.toThrow(/alice is revoked/);
  });

  it('refuses: a second CA, a browser certificate twice or without the CA, a CA not tied to this root, a key not the server’s', async () => {
    const dir = await newPki();
    const trust = loadTrust(dir);
    await expect(issueBrowserOperator(dir, trust, 'bob', { days: 10 })).rejects.toThrow(
      /no dashboard CA certificate at .*pki dashboard-ca/,
    );
    const r = await makeDashboardCa(dir, { days: 30, hosts: ['127.0.0.1'] });
    await expect(makeDashboardCa(dir, { days: 30, hosts: ['127.0.0.1'] })).rejects.toThrow(/a dashboard CA exists already/);
    await expect(makeDashboardCa(await newPki(), { days: 99_999, exact: true, hosts: ['x'] })).rejects.toThrow(/ends after the root/);
    await issueBrowserOperator(dir, trust, 'bob', { days: 10 });
    await expect(issueBrowserOperator(dir, trust, 'bob', { days: 10 })).rejects.toThrow(/bob has a browser certificate already/);
    await expect(issueBrowserOperator(dir, trust, 'Bob!', { days: 10 })).rejects.toThrow(/operator name/);
    // Another PKI's dashboard CA (self-signed, of the same name) put in place, with or without its tie: refused.
    const other = await newPki();
    await makeDashboardCa(other, { days: 30, hosts: ['127.0.0.1'] });
    const p = pkiPaths(dir);
    const original = readFileSync(p.dashboardCa);
    const originalTie = readFileSync(p.dashboardCaTie);
    copyFileSync(pkiPaths(other).dashboardCa, p.dashboardCa);
    expect(() => dashboardCa(dir, trust)).toThrow(/the root certifies another key or name/);
    copyFileSync(pkiPaths(other).dashboardCaTie, p.dashboardCaTie);
    expect(() => dashboardCa(dir, trust)).toThrow(/not signed by the pinned root/);
    writeFileSync(p.dashboardCa, original);
    expect(() => dashboardCa(dir, trust)).toThrow(/not signed by the pinned root/);
    // Its own tie back, then altered in the last byte of the root's signature.
    writeFileSync(p.dashboardCaTie, originalTie);
    expect(dashboardCa(dir, trust).fingerprint256).toBe(cert(p.dashboardCa).fingerprint256);
    const der = Buffer.from(cert(p.dashboardCaTie).raw);
    der[der.length - 1] = (der[der.length - 1] as number) ^ 1;
    writeFileSync(p.dashboardCaTie, new X509Certificate(der).toString());
    expect(() => dashboardCa(dir, trust)).toThrow(/not signed by the pinned root/);
    // The server key must be the server certificate's.
    await expect(async () => dashboardTls(other, loadTrust(other), readFileSync(r.serverKey, 'utf8'))).rejects.toThrow(
      /the dashboard key is not the key of/,
    );
    // Expired: refused at start.
    expect(() => dashboardCa(other, loadTrust(other), new Date(Date.now() + 40 * 86_400_000))).toThrow(/not valid now/);
  });

  it('--keys-dir: the CA key offline beside the root key, the server key as the store item payserv.DASH.KEY, none in the state directory', async () => {
    const dir = await tmpStateDir();
    const keys = join(await tmpStateDir(), 'keys');
    await initPki(dir, { rootDays: 3650, leafDays: 825, keysDir: keys });
    const r = await makeDashboardCa(dir, { days: 30, hosts: ['127.0.0.1'], keysDir: keys });
    expect([r.caKey, r.serverKey]).toEqual([join(keys, 'offline', 'dashboard-ca.key'), join(keys, DASHBOARD_KEY_ITEM)]);
    const trust = loadTrust(dir);
    expect(dashboardTls(dir, trust, readFileSync(r.serverKey, 'utf8')).certPem).toContain('BEGIN CERTIFICATE');
    // Without the keys directory the CA key is not at hand: refused, nothing written.
    await expect(issueBrowserOperator(dir, trust, 'dora', { days: 5 })).rejects.toThrow(/the dashboard CA key is not at .*--keys-dir/);
    const b = await issueBrowserOperator(dir, trust, 'dora', { days: 5, keysDir: keys });
    expect(b.key).toBe(join(keys, 'operators', 'browser', 'dora.key'));
    expect(readFileSync(join(keys, 'operators', 'browser', 'dora.crt'), 'utf8')).toBe(readFileSync(b.cert, 'utf8'));
    const p = pkiPaths(dir);
    for (const f of [p.dashboardCaKey, p.dashboardServerKey, p.browserKey('dora')]) expect(existsSync(f), f).toBe(false);
  });

  it('a browser certificate is an operator at the dashboard only: any other listener that trusted its CA refuses it by its issuer', async () => {
    const dir = await newPki();
    const trust = loadTrust(dir);
    const r = await makeDashboardCa(dir, { days: 30, hosts: ['127.0.0.1'] });
    const b = await issueBrowserOperator(dir, trust, 'erin', { days: 5 });
    const material = dashboardTls(dir, trust, readFileSync(r.serverKey, 'utf8'));
    const seen: PeerIdentity[][] = [];
    const server = createServer(serverTlsOptions(material), (socket) => {
      seen.push([peerIdentity(socket), peerIdentity(socket, 'dashboard')]);
      socket.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await new Promise<void>((resolve, reject) => {
        const c = connect({ host: '127.0.0.1', port, cert: readFileSync(b.cert), key: readFileSync(b.key), ca: readFileSync(r.ca) });
        c.on('error', reject).on('close', () => resolve());
        c.resume();
      });
    } finally {
      server.close();
    }
    expect(seen).toEqual([
      [
        { ok: false, reason: 'a browser certificate (issued by the dashboard CA) is for the operator dashboard only' },
        { ok: true, identity: 'pscli', commonName: 'erin', operator: 'erin' },
      ],
    ]);
  });
});
