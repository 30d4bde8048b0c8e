// Renewing the services' own certificates under the same root (pscli pki renew --service / --signer), and a
// running server taking the renewal up for new connections. No database: temporary state directories,
// pscli and dbgw (which starts without one) in this process.
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit.js';
import { expiryLine } from '../../src/cli/pscli/payserv.js';
import { certificatesExpiring, initPki, pkiPaths, revocationPath, revokedNow } from '../../src/esman/pki-files.js';
import { CertBook } from '../../src/ledger/certbook.js';
import { keyIdOf } from '../../src/pki/keyid.js';
import { EKU_LEDGER_SIGNING } from '../../src/pki/roles.js';
import { Trust } from '../../src/pki/trust.js';
import { renewedCertProblem } from '../../src/rpc/cert-reload.js';
import { RpcClient } from '../../src/rpc/client.js';
import { startRpcServer } from '../../src/rpc/server.js';
import { createLogger } from '../../src/log/index.js';
import { clientTlsOptions } from '../../src/rpc/tls.js';
import { startTestDbgw } from '../support/dbgw.js';
import { runPscli } from '../support/pscli.js';
import { tlsOf } from '../support/spawn.js';
import { tmpStateDir } from '../support/tmp.js';

const DAY = 86_400_000;

async function newPki(leafDays = 20, keysDir?: string) {
  const dir = await tmpStateDir();
  await initPki(dir, { rootDays: 3650, leafDays, ...(keysDir ? { keysDir } : {}) });
  return { dir, run: (argv: string[]) => runPscli(argv, { PAYSERV_STATE_DIR: dir }) };
}

const certAt = (file: string) => new X509Certificate(readFileSync(file));
const endOf = (c: X509Certificate) => new Date(c.validTo).getTime();

describe('pscli pki renew --service', () => {
  it('certifies the same key again under the pinned root, keeping its host names; the key is not touched', async () => {
    const { dir, run } = await newPki();
    const p = pkiPaths(dir);
    const before = certAt(p.tlsCert('dbgw'));
    const key = readFileSync(p.tlsKey('dbgw'), 'utf8');
    const r = await run(['pki', 'renew', '--service', 'dbgw', '--days', '400']);
    expect(r, r.stderr).toMatchObject({
      code: EXIT.OK,
      stdout: expect.stringMatching(/^tls dbgw renewed: certificate .*dbgw\.crt, valid until .*\nsame key/),
    });
    const after = certAt(p.tlsCert('dbgw'));
    expect(keyIdOf(after.publicKey)).toBe(keyIdOf(before.publicKey));
    expect(after.serialNumber).not.toBe(before.serialNumber);
    expect(after.subject).toBe(before.subject);
    expect(after.subjectAltName).toBe(before.subjectAltName);
    expect(endOf(after) - Date.now()).toBeGreaterThan(399 * DAY);
    expect(new Trust(readFileSync(p.root, 'utf8')).check(after.toString())).toMatchObject({ role: 'dbgw', purpose: 'tls' });
    expect(after.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(readFileSync(p.tlsKey('dbgw'), 'utf8')).toBe(key);
  });

  it('never past the root: --days past its end refused naming it, nothing written', async () => {
    const { dir, run } = await newPki();
    const p = pkiPaths(dir);
    const before = readFileSync(p.tlsCert('payserv'), 'utf8');
    const r = await run(['pki', 'renew', '--service', 'payserv', '--days', '99999']);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/--days 99999 ends after the root certificate \(it ends \d{4}-.*\): at most \d+ days; nothing was written/);
    expect(readFileSync(p.tlsCert('payserv'), 'utf8')).toBe(before);
    expect((await run(['pki', 'renew', '--service', 'payserv'])).code).toBe(EXIT.OK);
    expect(endOf(certAt(p.tlsCert('payserv')))).toBeLessThanOrEqual(endOf(certAt(p.root)));
  });

  it('production: the CA key from --keys-dir; a new key written there as a store item, never into the state directory', async () => {
    const keys = join(await tmpStateDir(), 'keys');
    const { dir, run } = await newPki(20, keys);
    const p = pkiPaths(dir);
    const before = certAt(p.tlsCert('payserv'));
    expect(await run(['pki', 'renew', '--service', 'payserv'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('the root CA key is not at'),
    });
    // The key of `pki init` is still in the keys directory here: a new key never replaces a file.
    const r = await run(['pki', 'renew', '--service', 'payserv', '--new-key', '--keys-dir', keys]);
    expect(r).toMatchObject({ code: EXIT.USAGE, stderr: expect.stringContaining('refusing to overwrite') });
    expect(certAt(p.tlsCert('payserv')).serialNumber).toBe(before.serialNumber);
    // Once the store is made the staging copies are gone, and only the CA key is brought back.
    rmSync(join(keys, 'payserv.TLS.KEY'));
    const ok = await run(['pki', 'renew', '--service', 'payserv', '--new-key', '--keys-dir', keys, '--json']);
    expect(ok.code, ok.stderr).toBe(EXIT.OK);
    const after = certAt(p.tlsCert('payserv'));
    expect(keyIdOf(after.publicKey)).not.toBe(keyIdOf(before.publicKey));
    expect(after.checkPrivateKey(createPrivateKey(readFileSync(join(keys, 'payserv.TLS.KEY'))))).toBe(true);
    expect(readFileSync(join(keys, 'payserv.TLS.CRT'), 'utf8').trim()).toBe(after.toString().trim());
    expect(existsSync(p.tlsKey('payserv'))).toBe(false);
    expect(JSON.parse(ok.stdout)).toMatchObject({
      what: 'tls payserv',
      key: join(keys, 'payserv.TLS.KEY'),
      keyId: keyIdOf(after.publicKey),
    });
  });

  it("refuses another PKI's CA key and a certificate of another PKI (exit 2), writing nothing", async () => {
    const { dir, run } = await newPki();
    const other = await newPki();
    const p = pkiPaths(dir);
    const before = readFileSync(p.tlsCert('dbgw'), 'utf8');
    const foreignKeys = join(await tmpStateDir(), 'k');
    mkdirSync(join(foreignKeys, 'offline'), { recursive: true });
    copyFileSync(pkiPaths(other.dir).rootKey, join(foreignKeys, 'offline', 'root.key'));
    expect(await run(['pki', 'renew', '--service', 'dbgw', '--keys-dir', foreignKeys])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining("is not the pinned root's"),
    });
    expect(readFileSync(p.tlsCert('dbgw'), 'utf8')).toBe(before);
    copyFileSync(pkiPaths(other.dir).tlsCert('dbgw'), p.tlsCert('dbgw'));
    expect(await run(['pki', 'renew', '--service', 'dbgw'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('does not chain to the pinned root'),
    });
    expect(await run(['pki', 'renew', '--service', 'nobody'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('expected one of'),
    });
    expect(await run(['pki', 'renew', '--service', 'dbgw', '--operator', 'alice'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('exactly one of'),
    });
  });
});

describe('pscli pki renew --signer', () => {
  it('needs --new-key; the new key gets a new certificate while the old one still vouches for what it signed', async () => {
    const { dir, run } = await newPki();
    const p = pkiPaths(dir);
    expect(await run(['pki', 'renew', '--signer', 'admin'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('add --new-key'),
    });
    const oldPem = readFileSync(p.signerCert('admin'), 'utf8');
    const oldKey = createPrivateKey(readFileSync(p.signerKey('admin')));
    const r = await run(['pki', 'renew', '--signer', 'admin', '--new-key', '--days', '400']);
    expect(r).toMatchObject({ code: EXIT.OK, stdout: expect.stringContaining('next: pscli loadcert') });
    const newPem = readFileSync(p.signerCert('admin'), 'utf8');
    const fresh = new X509Certificate(newPem);
    expect(fresh.keyUsage).toEqual([EKU_LEDGER_SIGNING]);
    const newKey = createPrivateKey(readFileSync(p.signerKey('admin')));
    expect(fresh.checkPrivateKey(newKey)).toBe(true);
    // crypto_certs holds both (one row per key id); a record is checked against its own signer's certificate at its time.
    const trust = new Trust(readFileSync(p.root, 'utf8'));
    const book = new CertBook(trust);
    const rows = [oldPem, newPem].map((pem, i) => ({
      id: i + 1,
      keyId: keyIdOf(new X509Certificate(pem).publicKey),
      role: 'admin',
      certPem: pem,
    }));
    for (const row of rows) expect(book.admit(row)).toBeNull();
    const msg = Buffer.from('a record');
    const now = new Date();
    expect(book.check(msg, rows[0]!.keyId, sign(null, msg, oldKey), 'admin', now)).toBeNull();
    expect(book.check(msg, rows[1]!.keyId, sign(null, msg, newKey), 'admin', new Date(now.getTime() + 100 * DAY))).toBeNull();
    // Past the old certificate's end its key no longer vouches: that is why a signer is renewed before then.
    expect(book.check(msg, rows[0]!.keyId, sign(null, msg, oldKey), 'admin', new Date(now.getTime() + 100 * DAY))).toMatch(/not valid at/);
  });
});

describe('expiry warnings', () => {
  it("name the services' and signers' certificates and the command that renews each", async () => {
    const { dir, run } = await newPki(10);
    const soon = certificatesExpiring(dir, 30).map((c) => c.what);
    expect(soon).toEqual(expect.arrayContaining(['tls payserv', 'tls dbgw', 'tls intake', 'signer admin', 'signer payserv']));
    const line = (what: string) => expiryLine(certificatesExpiring(dir, 30).find((c) => c.what === what)!);
    expect(line('tls dbgw')).toMatch(/^WARNING certificate tls dbgw expires in 9 day\(s\).*renew it \(pscli pki renew --service dbgw\)$/);
    expect(line('signer autopay')).toContain('pscli pki renew --signer autopay --new-key, then pscli loadcert');
    expect((await run(['pki', 'renew', '--service', 'dbgw', '--days', '365'])).code).toBe(EXIT.OK);
    expect(certificatesExpiring(dir, 30).map((c) => c.what)).not.toContain('tls dbgw');
  });
});

describe('pscli pki revoke --to', () => {
  it('copies the signed list to the state directories of the same root, refusing one of another root (copying nothing)', async () => {
    const { dir, run } = await newPki();
    await run(['pki', 'issue', '--operator', 'bob']);
    const payserv = await tmpStateDir();
    const dbgw = await tmpStateDir();
    for (const d of [payserv, dbgw]) {
      mkdirSync(join(d, 'pki'), { recursive: true });
      copyFileSync(pkiPaths(dir).root, pkiPaths(d).root);
    }
    const foreign = await newPki();
    expect(await run(['pki', 'revoke', '--operator', 'bob', '--to', payserv, foreign.dir])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining("is not this PKI's"),
    });
    expect(existsSync(revocationPath(payserv))).toBe(false);
    // The name is revoked in this state directory all the same; a second run copies it.
    const r = await run(['pki', 'revoke', '--operator', 'bob', '--to', payserv, dbgw]);
    expect(r).toMatchObject({ code: EXIT.OK, stdout: expect.stringContaining(`copied to ${revocationPath(payserv)}`) });
    for (const d of [payserv, dbgw]) expect([...revokedNow(d).keys()]).toEqual(['bob']);
    expect(existsSync(revocationPath(foreign.dir))).toBe(false);
  });
});

describe('a running server and a renewed certificate', () => {
  it('renewedCertProblem refuses another key, another root, another identity, and one ending no later', async () => {
    const { dir, run } = await newPki();
    const other = await newPki();
    const inUse = tlsOf(dir, 'dbgw');
    const now = new Date();
    expect(renewedCertProblem(inUse.certPem, inUse, 'dbgw', now)).toMatch(/no later than the certificate in use/);
    expect(renewedCertProblem(readFileSync(pkiPaths(other.dir).tlsCert('dbgw'), 'utf8'), inUse, 'dbgw', now)).toMatch(
      /does not chain to the pinned root/,
    );
    expect(renewedCertProblem(readFileSync(pkiPaths(dir).tlsCert('payserv'), 'utf8'), inUse, 'dbgw', now)).toMatch(
      /not the TLS certificate of dbgw/,
    );
    expect(renewedCertProblem(readFileSync(pkiPaths(dir).signerCert('admin'), 'utf8'), inUse, 'dbgw', now)).toMatch(
      /signer certificate of admin/,
    );
    await run(['pki', 'renew', '--service', 'dbgw', '--new-key']);
    expect(renewedCertProblem(readFileSync(pkiPaths(dir).tlsCert('dbgw'), 'utf8'), inUse, 'dbgw', now)).toMatch(
      /does not certify the key in use/,
    );
  });

  it("payserv's case: started with the store's older certificate, it serves the state directory's renewal from the start", async () => {
    const { dir, run } = await newPki();
    const fromStore = tlsOf(dir, 'payserv'); // what the store still holds
    expect((await run(['pki', 'renew', '--service', 'payserv', '--days', '400'])).code).toBe(EXIT.OK);
    const server = await startRpcServer({
      port: 0,
      tls: fromStore,
      certReload: { file: pkiPaths(dir).tlsCert('payserv'), identity: 'payserv' },
      log: createLogger('payserv', 'silent'),
      handle: async () => 1,
    });
    try {
      const socket = connect({ ...clientTlsOptions(tlsOf(dir, 'pscli'), 'payserv'), host: '127.0.0.1', port: server.port });
      await once(socket, 'secureConnect');
      expect(new Date(socket.getPeerCertificate().valid_to).getTime()).toBe(endOf(certAt(pkiPaths(dir).tlsCert('payserv'))));
      expect(new Date(socket.getPeerCertificate().valid_to).getTime()).toBeGreaterThan(endOf(new X509Certificate(fromStore.certPem)));
      socket.destroy();
    } finally {
      await server.close(100);
    }
  });

  it('dbgw serves the renewal to new connections; open connections and existing clients keep working; a bad file is refused', async () => {
    const { dir, run } = await newPki();
    const p = pkiPaths(dir);
    const gw = await startTestDbgw(dir);
    const port = gw.server.port;
    const client = new RpcClient({ host: '127.0.0.1', port, tls: tlsOf(dir, 'payserv'), serverIdentity: 'dbgw', timeoutMs: 10_000 });
    const peerEnd = async (): Promise<{ end: number; socket: TLSSocket }> => {
      const socket = connect({ ...clientTlsOptions(tlsOf(dir, 'payserv'), 'dbgw'), host: '127.0.0.1', port });
      await once(socket, 'secureConnect');
      return { end: new Date(socket.getPeerCertificate().valid_to).getTime(), socket };
    };
    try {
      await client.call('Dbgw.Version');
      const open = await peerEnd();
      const oldEnd = endOf(certAt(p.tlsCert('dbgw')));
      expect(open.end).toBe(oldEnd);
      expect(gw.server.reloadCertificate()).toBe('unchanged');

      expect((await run(['pki', 'renew', '--service', 'dbgw', '--days', '400'])).code).toBe(EXIT.OK);
      expect(gw.server.reloadCertificate()).toBe('renewed');
      const renewedPem = readFileSync(p.tlsCert('dbgw'), 'utf8');
      const fresh = await peerEnd();
      expect(fresh.end).toBe(endOf(certAt(p.tlsCert('dbgw'))));
      expect(fresh.end).toBeGreaterThan(oldEnd + 300 * DAY);
      fresh.socket.destroy();
      // The connection opened before the renewal still answers, and so does the client made before it.
      const body = JSON.stringify({ jsonrpc: '2.0', method: 'Dbgw.Version', id: 1 });
      open.socket.write(`POST / HTTP/1.1\r\nHost: dbgw\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      const [reply] = (await once(open.socket, 'data')) as [Buffer];
      expect(reply.toString()).toMatch(/^HTTP\/1\.1 200[\s\S]*"result"/);
      open.socket.destroy();
      await expect(client.call('Dbgw.Version')).resolves.toMatchObject({ catalog: expect.any(String) });

      // A certificate of another PKI, or for another key, put in its place: refused, the renewed one stays.
      const other = await newPki();
      copyFileSync(pkiPaths(other.dir).tlsCert('dbgw'), p.tlsCert('dbgw'));
      expect(gw.server.reloadCertificate()).toBe('refused');
      expect((await peerEnd()).end).toBe(fresh.end);
      writeFileSync(p.tlsCert('dbgw'), readFileSync(pkiPaths(other.dir).tlsCert('dbgw'), 'utf8').replace('CERTIFICATE', 'X'));
      expect(gw.server.reloadCertificate()).toBe('refused');
      const last = await peerEnd();
      expect(last.end).toBe(fresh.end);
      last.socket.destroy();
      // The renewed file put back: the one served, nothing to take up or refuse.
      writeFileSync(p.tlsCert('dbgw'), renewedPem);
      expect(gw.server.reloadCertificate()).toBe('unchanged');
    } finally {
      client.close();
      await gw.stop();
    }
  });
});
