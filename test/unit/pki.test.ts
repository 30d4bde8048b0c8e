// The PKI: a pinned root, role signers, TLS identities. No database: temporary state directories only.
import { createPrivateKey, sign, X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/db/db.js';
import { CertBook } from '../../src/ledger/certbook.js';
import { initPki, loadRootPair, loadSigner, loadTrust, pkiPaths } from '../../src/esman/pki-files.js';
import { issueCert } from '../../src/pki/issue.js';
import { registerCert } from '../../src/writer/certs.js';
import { SIGNER_ROLES, TLS_IDENTITIES, type SignerRole, type TlsIdentity } from '../../src/pki/roles.js';
import { Signer } from '../../src/pki/signer.js';
import { assertSignerFor, CertError, Trust } from '../../src/pki/trust.js';
import { tmpStateDir } from '../support/tmp.js';

const read = (path: string) => readFileSync(path, 'utf8');

async function newPki(opts: { now?: Date; rootDays?: number; leafDays?: number } = {}): Promise<string> {
  const dir = await tmpStateDir();
  await initPki(dir, { rootDays: opts.rootDays ?? 3650, leafDays: opts.leafDays ?? 825, ...(opts.now ? { now: opts.now } : {}) });
  return dir;
}

const signerPem = (dir: string, role: SignerRole) => read(pkiPaths(dir).signerCert(role));
const tlsPem = (dir: string, id: TlsIdentity) => read(pkiPaths(dir).tlsCert(id));
const tlsKey = (dir: string, id: TlsIdentity) => read(pkiPaths(dir).tlsKey(id));

/** A Queryable that fails the test if anything reaches the database. */
const noDb: Queryable = {
  query: () => Promise.reject(new Error('the database must not be touched')),
  exec: () => Promise.reject(new Error('the database must not be touched')),
};

describe('pki init', () => {
  it('writes the root, every signer and every TLS identity, keys 0600 in private directories', async () => {
    const dir = await tmpStateDir();
    const r = await initPki(dir, { rootDays: 3650, leafDays: 825 });
    const p = pkiPaths(dir);
    expect(r.root).toBe(p.root);
    expect(Object.keys(r.signers).sort()).toEqual([...SIGNER_ROLES].sort());
    expect(Object.keys(r.tls).sort()).toEqual([...TLS_IDENTITIES].sort());
    const keys = [p.rootKey, ...SIGNER_ROLES.map(p.signerKey), ...TLS_IDENTITIES.map(p.tlsKey)];
    for (const k of keys) {
      expect(statSync(k).mode & 0o777, k).toBe(0o600);
      expect(read(k)).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    }
    for (const c of [p.root, ...SIGNER_ROLES.map(p.signerCert), ...TLS_IDENTITIES.map(p.tlsCert)]) {
      expect(read(c)).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(statSync(c).mode & 0o022, c).toBe(0); // nobody else may replace a certificate
    }
    for (const d of [p.dir, join(p.dir, 'ca'), join(p.dir, 'signers'), join(p.dir, 'tls')]) expect(statSync(d).mode & 0o077, d).toBe(0);
    // Nothing else was written.
    expect((await readdir(join(p.dir, 'signers'))).length).toBe(SIGNER_ROLES.length * 2);
    expect((await readdir(join(p.dir, 'tls'))).length).toBe(TLS_IDENTITIES.length * 2);
    // The root is a self-signed CA; every leaf is issued by it.
    const root = new X509Certificate(read(p.root));
    expect(root.ca).toBe(true);
    for (const c of [...SIGNER_ROLES.map(p.signerCert), ...TLS_IDENTITIES.map(p.tlsCert)]) {
      const leaf = new X509Certificate(read(c));
      expect(leaf.ca).toBe(false);
      expect(leaf.verify(root.publicKey)).toBe(true);
    }
  });

  it('refuses to run twice and leaves the pinned root as it was', async () => {
    const dir = await newPki();
    const p = pkiPaths(dir);
    const before = [p.root, p.rootKey, p.signerKey('admin'), p.tlsKey('payserv')].map(read);
    await expect(initPki(dir, { rootDays: 3650, leafDays: 825 })).rejects.toThrow(/already exists/);
    expect([p.root, p.rootKey, p.signerKey('admin'), p.tlsKey('payserv')].map(read)).toEqual(before);
  });
});

describe('trust', () => {
  it('accepts its signers for their own role only', async () => {
    const dir = await newPki();
    const trust = loadTrust(dir);
    const now = new Date();
    for (const role of SIGNER_ROLES) {
      const c = trust.check(signerPem(dir, role));
      expect(c).toMatchObject({ role, purpose: 'signer' });
      expect(c.keyId).toBe(loadSigner(dir, role).keyId);
      expect(c.keyId).toMatch(/^[0-9a-f]{64}$/);
      expect(() => trust.checkSigner(signerPem(dir, role), role, now)).not.toThrow();
      for (const other of SIGNER_ROLES.filter((r) => r !== role)) {
        expect(() => trust.checkSigner(signerPem(dir, role), other, now)).toThrow(CertError);
        expect(() => trust.checkSigner(signerPem(dir, role), other, now)).toThrow(
          new RegExp(`signed by role ${role}, but this record needs role ${other}`),
        );
      }
    }
  });

  it('CertBook admits the registered signers and verifies their signatures, for the right role, over the right bytes', async () => {
    const dir = await newPki();
    const trust = loadTrust(dir);
    const book = new CertBook(trust);
    const now = new Date();
    for (const [i, role] of SIGNER_ROLES.entries()) {
      const c = trust.check(signerPem(dir, role));
      expect(book.admit({ id: i + 1, keyId: c.keyId, role, certPem: signerPem(dir, role) })).toBeNull();
    }
    expect(book.size).toBe(SIGNER_ROLES.length);
    const admin = loadSigner(dir, 'admin');
    const msg = Buffer.from('a record');
    const sig = admin.sign(msg);
    expect(book.check(msg, admin.keyId, sig, 'admin', now)).toBeNull();
    expect(book.check(Buffer.from('a record!'), admin.keyId, sig, 'admin', now)).toBe('signature does not match the record');
    expect(book.check(msg, admin.keyId, sig, 'payserv', now)).toMatch(/needs role payserv/);
    expect(book.check(msg, null, sig, 'admin', now)).toBe('unsigned');
    expect(book.check(msg, admin.keyId, new Uint8Array(0), 'admin', now)).toBe('unsigned');
    expect(book.check(msg, 'f'.repeat(64), sig, 'admin', now)).toMatch(/not a certificate under the pinned root/);
    // Another role's valid signature under the admin key id does not verify.
    const autopay = loadSigner(dir, 'autopay');
    expect(book.check(msg, admin.keyId, autopay.sign(msg), 'admin', now)).toBe('signature does not match the record');
  });

  it('CertBook refuses a row whose key id or role column lies about the certificate', async () => {
    const dir = await newPki();
    const trust = loadTrust(dir);
    const book = new CertBook(trust);
    const admin = trust.check(signerPem(dir, 'admin'));
    const autopay = trust.check(signerPem(dir, 'autopay'));
    expect(book.admit({ id: 1, keyId: autopay.keyId, role: 'admin', certPem: signerPem(dir, 'admin') })).toMatch(
      /does not match the certificate's key/,
    );
    expect(book.admit({ id: 2, keyId: admin.keyId, role: 'payserv', certPem: signerPem(dir, 'admin') })).toMatch(
      /role column "payserv" does not match/,
    );
    expect(book.admit({ id: 3, keyId: admin.keyId, role: 'admin', certPem: 'not a certificate' })).toMatch(
      /not a parseable X.509 certificate/,
    );
    expect(book.size).toBe(0);
  });

  it('a TLS certificate is not a ledger signer, even with a signer role name (tls/payserv)', async () => {
    const dir = await newPki();
    const trust = loadTrust(dir);
    const book = new CertBook(trust);
    const now = new Date();
    for (const id of TLS_IDENTITIES) {
      const pem = tlsPem(dir, id);
      const c = trust.check(pem);
      expect(c).toMatchObject({ role: id, purpose: 'tls' });
      expect(book.admit({ id: 1, keyId: c.keyId, role: id, certPem: pem })).toBe('not a ledger-signing certificate');
      expect(() => assertSignerFor(c, 'payserv', now, trust.root)).toThrow(/is not a ledger signer/);
      expect(() => trust.checkSigner(pem, 'payserv', now)).toThrow(CertError);
      await expect(registerCert(noDb, trust, pem)).rejects.toThrow(/is a TLS certificate, not a ledger signer/);
    }
    expect(book.size).toBe(0);
    // A record signed with the payserv TLS key does not verify, whatever key id it claims.
    const payservSigner = trust.check(signerPem(dir, 'payserv'));
    book.admit({ id: 9, keyId: payservSigner.keyId, role: 'payserv', certPem: signerPem(dir, 'payserv') });
    const tlsKeyObj = createPrivateKey(tlsKey(dir, 'payserv'));
    const msg = Buffer.from('a checkpoint');
    const forged = sign(null, msg, tlsKeyObj);
    const tlsKeyId = trust.check(tlsPem(dir, 'payserv')).keyId;
    expect(book.check(msg, tlsKeyId, forged, 'payserv', now)).toMatch(/not a certificate under the pinned root/);
    expect(book.check(msg, payservSigner.keyId, forged, 'payserv', now)).toBe('signature does not match the record');
  });

  it('refuses a certificate from another root, even one with the same names', async () => {
    const mine = await newPki();
    const theirs = await newPki();
    const trust = loadTrust(mine);
    const book = new CertBook(trust);
    // Both roots are "CN=payserv root CA": only the signature tells them apart.
    expect(new X509Certificate(read(pkiPaths(theirs).root)).subject).toBe(trust.root.subject);
    for (const role of SIGNER_ROLES) {
      const pem = signerPem(theirs, role);
      expect(() => trust.check(pem)).toThrow(/does not chain to the pinned root/);
      const keyId = loadSigner(theirs, role).keyId;
      expect(book.admit({ id: 1, keyId, role, certPem: pem })).toMatch(/does not chain to the pinned root/);
      await expect(registerCert(noDb, trust, pem)).rejects.toThrow(/does not chain/);
    }
    expect(() => trust.check(tlsPem(theirs, 'pscli'))).toThrow(/does not chain/);
    // A root (a CA) is never a signer, ours or theirs.
    expect(() => trust.check(read(pkiPaths(mine).root))).toThrow(/CA certificate cannot sign/);
    expect(() => trust.check(read(pkiPaths(theirs).root))).toThrow(CertError);
    // A leaf cannot be pinned as a root.
    expect(() => new Trust(signerPem(mine, 'admin'))).toThrow(/not a self-signed CA/);
    expect(() => new Trust('garbage')).toThrow(/not a parseable/);
  });

  it('an expired certificate fails after its validity, passes inside it, to the second', async () => {
    // A PKI made in 2020 (root valid ten years), and a signer valid for the first half of 2021 only.
    const dir = await newPki({ now: new Date('2020-01-01T00:00:00Z') });
    const trust = loadTrust(dir);
    const notBefore = new Date('2021-01-01T00:00:00Z');
    const notAfter = new Date('2021-07-01T00:00:00Z');
    const pair = await issueCert(
      loadRootPair(dir),
      { purpose: 'signer', role: 'admin', commonName: 'short-lived admin' },
      { notBefore, notAfter },
    );
    const c = trust.check(pair.certPem);
    expect(c.notBefore.toISOString()).toBe(notBefore.toISOString());
    expect(c.notAfter.toISOString()).toBe(notAfter.toISOString());
    const at = (iso: string | number) => new Date(iso);
    const ok = (t: Date) => () => assertSignerFor(c, 'admin', t, trust.root);
    expect(ok(at('2021-03-01T12:00:00Z'))).not.toThrow();
    expect(ok(notBefore)).not.toThrow();
    expect(ok(notAfter)).not.toThrow();
    // Certificate times have one-second resolution: the last second of validity still counts.
    expect(ok(at(notAfter.getTime() + 999))).not.toThrow();
    expect(ok(at(notAfter.getTime() + 1000))).toThrow(/was not valid at 2021-07-01T00:00:01.000Z/);
    expect(ok(at(notBefore.getTime() - 1))).toThrow(CertError);
    expect(ok(new Date())).toThrow(/was not valid/);
    expect(() => trust.checkSigner(pair.certPem, 'admin', new Date())).toThrow(CertError);
    // Through a CertBook: the same signature is good for a record made in its validity, refused after.
    const signer = Signer.fromPem(pair.certPem, pair.keyPem);
    const book = new CertBook(trust);
    expect(book.admit({ id: 1, keyId: c.keyId, role: 'admin', certPem: pair.certPem })).toBeNull();
    const msg = Buffer.from('a block credit');
    const sig = signer.sign(msg);
    expect(book.check(msg, signer.keyId, sig, 'admin', at('2021-02-01T00:00:00Z'))).toBeNull();
    expect(book.check(msg, signer.keyId, sig, 'admin', at('2022-02-01T00:00:00Z'))).toMatch(/was not valid/);
  });

  it('a leaf outliving its root is refused once the root has expired', async () => {
    const dir = await newPki({ now: new Date('2010-01-01T00:00:00Z'), rootDays: 365 });
    const trust = loadTrust(dir);
    const pair = await issueCert(
      loadRootPair(dir),
      { purpose: 'signer', role: 'payserv' },
      { notBefore: new Date('2010-02-01T00:00:00Z'), notAfter: new Date('2030-01-01T00:00:00Z') },
    );
    const c = trust.check(pair.certPem);
    expect(() => assertSignerFor(c, 'payserv', new Date('2010-06-01T00:00:00Z'), trust.root)).not.toThrow();
    expect(() => assertSignerFor(c, 'payserv', new Date('2012-01-01T00:00:00Z'), trust.root)).toThrow(/the root was not valid/);
  });
});

describe('Signer', () => {
  it('fromPem refuses a key that does not match the certificate, an unreadable key, and a non-signer certificate', async () => {
    const dir = await newPki();
    const p = pkiPaths(dir);
    expect(() => Signer.fromPem(read(p.signerCert('admin')), read(p.signerKey('autopay')))).toThrow(
      /the admin signing key does not match its certificate/,
    );
    expect(() => Signer.fromPem(read(p.signerCert('payserv')), read(p.tlsKey('payserv')))).toThrow(/does not match its certificate/);
    expect(() => Signer.fromPem(read(p.signerCert('admin')), 'not a key')).toThrow(/not a readable private key/);
    expect(() => Signer.fromPem(read(p.root), read(p.rootKey))).toThrow(/is not a signer role/);
    expect(() => Signer.fromPem(read(p.tlsCert('pscli')), read(p.tlsKey('pscli')))).toThrow(/is not a signer role/);
    // A TLS pair whose role name is also a signer role still is not a signer.
    expect(() => Signer.fromPem(read(p.tlsCert('payserv')), read(p.tlsKey('payserv')))).toThrow(
      /the payserv certificate is not a ledger-signing certificate/,
    );
    expect(() => Signer.fromPem('garbage', read(p.signerKey('admin')))).toThrow(CertError);
    // The matching pair loads, with the certificate's role and key id.
    const s = Signer.fromPem(read(p.signerCert('autopay')), read(p.signerKey('autopay')));
    expect(s.role).toBe('autopay');
    expect(s.keyId).toBe(loadTrust(dir).check(read(p.signerCert('autopay'))).keyId);
  });

  it('never serialises key material: JSON holds the role and key id only', async () => {
    const dir = await newPki();
    const p = pkiPaths(dir);
    for (const role of SIGNER_ROLES) {
      const s = loadSigner(dir, role);
      const keyPem = read(p.signerKey(role));
      const jwk = createPrivateKey(keyPem).export({ format: 'jwk' });
      const d = jwk.d as string;
      const raw = Buffer.from(d, 'base64url');
      const pemBody = keyPem
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'))
        .join('');
      const json = JSON.stringify(s);
      expect(JSON.parse(json)).toEqual({ role, keyId: s.keyId });
      expect(JSON.stringify({ nested: [s] })).toBe(`{"nested":[${json}]}`);
      expect(Object.keys(s).sort()).toEqual(['keyId', 'role']);
      for (const text of [json, inspect(s, { depth: 5, showHidden: true }), String(s)]) {
        for (const secret of [d, raw.toString('hex'), raw.toString('base64'), pemBody, 'PRIVATE KEY']) expect(text).not.toContain(secret);
      }
    }
  });
});

// ---- mutual TLS 1.3 with the generated identities ----

interface Served {
  port: number;
  accepted: Array<{ peerOU: string | undefined; protocol: string | null; authorizationError?: string }>;
  refused: Error[];
  close(): Promise<void>;
}

/** reject false: an auditing server that lets every client finish the handshake, to record why it would have been refused. */
async function serve(opts: tls.TlsOptions, reject = true): Promise<Served> {
  const accepted: Served['accepted'] = [];
  const refused: Error[] = [];
  const server = tls.createServer({ ...opts, requestCert: true, rejectUnauthorized: reject, minVersion: 'TLSv1.3' }, (socket) => {
    accepted.push({
      peerOU: socket.getPeerCertificate().subject?.OU as string | undefined,
      protocol: socket.getProtocol(),
      ...(socket.authorized ? {} : { authorizationError: String(socket.authorizationError) }),
    });
    socket.on('error', () => undefined);
    socket.once('data', (d) => socket.end(`hello ${d.toString()}`));
  });
  server.on('tlsClientError', (e) => refused.push(e));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return { port, accepted, refused, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

interface Outcome {
  reply: string | null;
  error: string | null;
  protocol: string | null;
}

function connect(port: number, opts: tls.ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    let reply = '';
    let protocol: string | null = null;
    let done = false;
    const finish = (error: string | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ reply: reply || null, error, protocol });
    };
    const socket = tls.connect({ host: '127.0.0.1', port, minVersion: 'TLSv1.3', ...opts }, () => {
      protocol = socket.getProtocol();
      socket.write('pscli');
    });
    const timer = setTimeout(() => finish('timeout'), 10_000);
    socket.on('data', (d) => (reply += d.toString()));
    socket.on('error', (e: NodeJS.ErrnoException) => finish(e.code ?? e.message));
    socket.on('close', () => finish(null));
  });
}

describe('mutual TLS with the generated identities', () => {
  it('payserv serves pscli over TLS 1.3, each side verifying the other under the pinned root', async () => {
    const dir = await newPki();
    const ca = read(pkiPaths(dir).root);
    const server = await serve({ key: tlsKey(dir, 'payserv'), cert: tlsPem(dir, 'payserv'), ca });
    try {
      const r = await connect(server.port, { key: tlsKey(dir, 'pscli'), cert: tlsPem(dir, 'pscli'), ca });
      expect(r).toEqual({ reply: 'hello pscli', error: null, protocol: 'TLSv1.3' });
      expect(server.accepted).toEqual([{ peerOU: 'pscli', protocol: 'TLSv1.3' }]);
      expect(server.refused).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('refuses a client certificate from another CA, a signer certificate, and no certificate at all', async () => {
    const dir = await newPki();
    const other = await newPki();
    const ca = read(pkiPaths(dir).root);
    const server = await serve({ key: tlsKey(dir, 'payserv'), cert: tlsPem(dir, 'payserv'), ca });
    try {
      const p = pkiPaths(dir);
      const attempts: tls.ConnectionOptions[] = [
        { key: tlsKey(other, 'pscli'), cert: tlsPem(other, 'pscli'), ca }, // another CA, same names
        { key: read(p.signerKey('admin')), cert: read(p.signerCert('admin')), ca }, // our root, but a ledger signer, not a TLS client
        { ca }, // no client certificate
      ];
      for (const [i, opts] of attempts.entries()) {
        const r = await connect(server.port, opts);
        expect(r.reply, `attempt ${i}`).toBeNull();
        expect(server.refused.length, `attempt ${i}`).toBe(i + 1);
      }
      expect(server.accepted).toEqual([]);
    } finally {
      await server.close();
    }
    // Why: an auditing server that does not reject shows OpenSSL's verdict on each.
    const audit = await serve({ key: tlsKey(dir, 'payserv'), cert: tlsPem(dir, 'payserv'), ca }, false);
    try {
      await connect(audit.port, { key: tlsKey(other, 'pscli'), cert: tlsPem(other, 'pscli'), ca });
      await connect(audit.port, { key: read(pkiPaths(dir).signerKey('admin')), cert: read(pkiPaths(dir).signerCert('admin')), ca });
      await connect(audit.port, { key: tlsKey(dir, 'pscli'), cert: tlsPem(dir, 'pscli'), ca });
      expect(audit.accepted).toEqual([
        { peerOU: 'pscli', protocol: 'TLSv1.3', authorizationError: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' },
        { peerOU: 'admin', protocol: 'TLSv1.3', authorizationError: 'INVALID_PURPOSE' },
        { peerOU: 'pscli', protocol: 'TLSv1.3' },
      ]);
    } finally {
      await audit.close();
    }
  });

  it('the client refuses a server certificate from another CA', async () => {
    const dir = await newPki();
    const other = await newPki();
    const server = await serve({ key: tlsKey(other, 'payserv'), cert: tlsPem(other, 'payserv'), ca: read(pkiPaths(dir).root) });
    try {
      const r = await connect(server.port, { key: tlsKey(dir, 'pscli'), cert: tlsPem(dir, 'pscli'), ca: read(pkiPaths(dir).root) });
      expect(r.reply).toBeNull();
      expect(r.error).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT_SIGNATURE_FAILURE|UNABLE_TO_GET_ISSUER|certificate/i);
      expect(server.accepted).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
