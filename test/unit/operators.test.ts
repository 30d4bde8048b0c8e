// Operators' certificates: issued by the root CA key for one person, renewed, revoked by a list the root
// signs. No database: temporary state directories, pscli run in this process.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../src/cli/exit.js';
import {
  certificatesExpiring,
  initPki,
  loadTrust,
  operatorTlsPaths,
  PkiError,
  revocationCheck,
  revocationPath,
  revokedNow,
  REVOCATION_LIST_SHRANK,
} from '../../src/esman/pki-files.js';
import { EKU_CLIENT_AUTH, EKU_SERVER_AUTH } from '../../src/pki/roles.js';
import { keyIdOf } from '../../src/pki/keyid.js';
import { runPscli } from '../support/pscli.js';
import { tmpStateDir } from '../support/tmp.js';

async function newPki(): Promise<{ dir: string; run: (argv: string[]) => ReturnType<typeof runPscli> }> {
  const dir = await tmpStateDir();
  await initPki(dir, { rootDays: 3650, leafDays: 825 });
  return { dir, run: (argv) => runPscli(argv, { PAYSERV_STATE_DIR: dir }) };
}

const certOf = (dir: string, name: string) => new X509Certificate(readFileSync(operatorTlsPaths(dir, name).cert));

describe('pscli pki issue --operator', () => {
  it('issues a client certificate naming the person, chained to the root, for client authentication only', async () => {
    const { dir, run } = await newPki();
    const r = await run(['pki', 'issue', '--operator', 'alice', '--days', '90']);
    expect(r).toMatchObject({
      code: EXIT.OK,
      stdout: expect.stringMatching(/^operator alice issued: certificate .*alice\.crt, key .*alice\.key, valid until /),
    });
    const cert = certOf(dir, 'alice');
    expect(cert.subject).toBe('CN=alice\nOU=operator\nO=payserv');
    expect(cert.keyUsage).toEqual([EKU_CLIENT_AUTH]);
    expect(cert.keyUsage).not.toContain(EKU_SERVER_AUTH);
    expect(cert.verify(loadTrust(dir).root.publicKey)).toBe(true);
    const days = (new Date(cert.validTo).getTime() - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(89);
    expect(days).toBeLessThan(91);
  });

  it('refuses a bad name and an existing operator (exit 2), writing nothing', async () => {
    const { dir, run } = await newPki();
    for (const bad of ['Alice', '../x', '', 'a b', 'x'.repeat(33), '-x', 'al,OU=payserv']) {
      const r = await run(['pki', 'issue', '--operator', bad]);
      expect(r.code, bad).toBe(EXIT.USAGE);
      expect(r.stderr, bad).toMatch(/operator name .*expected a lower-case letter/);
    }
    expect(existsSync(join(dir, 'pki', 'operators'))).toBe(false);
    expect((await run(['pki', 'issue', '--operator', 'alice'])).code).toBe(EXIT.OK);
    const before = readFileSync(operatorTlsPaths(dir, 'alice').cert, 'utf8');
    expect(await run(['pki', 'issue', '--operator', 'alice'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('operator alice exists already'),
    });
    expect(readFileSync(operatorTlsPaths(dir, 'alice').cert, 'utf8')).toBe(before);
  });

  it('refuses without the CA key, naming where it looked (the key is offline in production)', async () => {
    const dir = await tmpStateDir();
    const keys = join(await tmpStateDir(), 'keys');
    await initPki(dir, { rootDays: 3650, leafDays: 825, keysDir: keys });
    const run = (argv: string[]) => runPscli(argv, { PAYSERV_STATE_DIR: dir });
    expect(await run(['pki', 'issue', '--operator', 'alice'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('the root CA key is not at'),
    });
    expect(await run(['pki', 'issue', '--operator', 'alice', '--keys-dir', keys])).toMatchObject({ code: EXIT.OK });
    // The key goes to the keys directory with a copy of the certificate; the state directory keeps the certificate only.
    expect(existsSync(join(keys, 'operators', 'alice.key'))).toBe(true);
    expect(existsSync(join(keys, 'operators', 'alice.crt'))).toBe(true);
    expect(existsSync(join(dir, 'pki', 'operators', 'alice.crt'))).toBe(true);
    expect(existsSync(join(dir, 'pki', 'operators', 'alice.key'))).toBe(false);
  });
});

describe('pscli pki renew --operator', () => {
  it('certifies the same key again, or a new one with --new-key; refuses an unknown operator', async () => {
    const { dir, run } = await newPki();
    await run(['pki', 'issue', '--operator', 'alice', '--days', '10']);
    const first = certOf(dir, 'alice');
    expect(await run(['pki', 'renew', '--operator', 'alice', '--days', '400'])).toMatchObject({ code: EXIT.OK });
    const same = certOf(dir, 'alice');
    expect(keyIdOf(same.publicKey)).toBe(keyIdOf(first.publicKey));
    expect(same.serialNumber).not.toBe(first.serialNumber);
    expect(new Date(same.validTo).getTime()).toBeGreaterThan(new Date(first.validTo).getTime() + 300 * 86_400_000);
    expect(await run(['pki', 'renew', '--operator', 'alice', '--new-key'])).toMatchObject({ code: EXIT.OK });
    const fresh = certOf(dir, 'alice');
    expect(keyIdOf(fresh.publicKey)).not.toBe(keyIdOf(first.publicKey));
    expect(fresh.checkPrivateKey((await import('node:crypto')).createPrivateKey(readFileSync(operatorTlsPaths(dir, 'alice').key)))).toBe(
      true,
    );
    expect(await run(['pki', 'renew', '--operator', 'bob'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('no operator bob'),
    });
  });
});

describe('pscli pki revoke --operator', () => {
  it('adds the name to a list signed by the root; the name is never issued or renewed again', async () => {
    const { dir, run } = await newPki();
    await run(['pki', 'issue', '--operator', 'alice']);
    await run(['pki', 'issue', '--operator', 'bob']);
    expect(revokedNow(dir).size).toBe(0);
    expect(await run(['pki', 'revoke', '--operator', 'bob'])).toMatchObject({
      code: EXIT.OK,
      stdout: expect.stringMatching(/^operator bob revoked: /),
    });
    expect([...revokedNow(dir).keys()]).toEqual(['bob']);
    expect((await run(['pki', 'revoke', '--operator', 'bob'])).stdout).toMatch(/^operator bob was already revoked/);
    expect(await run(['pki', 'renew', '--operator', 'bob'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('bob is revoked'),
    });
    expect((await run(['pki', 'issue', '--operator', 'bob'])).code).toBe(EXIT.USAGE);
    expect(await run(['pki', 'revoke', '--operator', 'carol'])).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('no operator carol'),
    });
  });

  it('a list edited without the CA key (a name taken out) does not verify, and then refuses every operator', async () => {
    const { dir, run } = await newPki();
    await run(['pki', 'issue', '--operator', 'alice']);
    await run(['pki', 'issue', '--operator', 'bob']);
    await run(['pki', 'revoke', '--operator', 'bob']);
    const bad: string[] = [];
    const check = revocationCheck(dir, (_message, reason) => bad.push(reason));
    expect(check('alice')).toBeNull();
    expect(check('bob')).toMatch(/^the certificate of operator bob is revoked \(since /);
    const path = revocationPath(dir);
    const doc = JSON.parse(readFileSync(path, 'utf8')) as { revoked: unknown[] };
    // Un-revoking bob by taking his entry out, keeping the signature:
    writeFileSync(path, JSON.stringify({ ...doc, revoked: [] }));
    expect(() => revokedNow(dir)).toThrow(PkiError);
    expect(check('bob')).toMatch(/revocation list cannot be trusted .*signature is not the pinned root's/);
    expect(check('alice')).toMatch(/revocation list cannot be trusted/);
    expect(bad).toHaveLength(1);
    writeFileSync(path, 'not json');
    expect(check('alice')).toMatch(/not a readable JSON revocation list/);
  });

  it('a running server never forgets a revocation: an older signed list put back, or the file removed, keeps the name refused', async () => {
    const { dir, run } = await newPki();
    for (const name of ['alice', 'bob', 'carol']) await run(['pki', 'issue', '--operator', name]);
    await run(['pki', 'revoke', '--operator', 'alice']);
    const path = revocationPath(dir);
    const older = readFileSync(path);
    await run(['pki', 'revoke', '--operator', 'bob']);
    const problems: [string, string][] = [];
    const check = revocationCheck(dir, (message, reason) => problems.push([message, reason]));
    expect(check('bob')).toMatch(/operator bob is revoked/);
    // Whoever can write the file (not the CA key) puts the older, validly signed list back:
    writeFileSync(path, older);
    utimesSync(path, new Date(), new Date(Date.now() + 5_000));
    expect(check('bob')).toMatch(/operator bob is revoked/);
    expect(check('alice')).toMatch(/operator alice is revoked/);
    expect(check('carol')).toBeNull();
    expect(problems).toEqual([[REVOCATION_LIST_SHRANK, expect.stringContaining('no longer named: bob')]]);
    rmSync(path);
    expect(check('alice')).toMatch(/operator alice is revoked/);
    expect(check('bob')).toMatch(/operator bob is revoked/);
    expect(problems.at(-1)?.[1]).toMatch(/no longer named: alice, bob/);
  });
});

describe('certificatesExpiring', () => {
  it('lists the certificates expiring within N days (or expired), whatever their kind', async () => {
    const { dir, run } = await newPki();
    await run(['pki', 'issue', '--operator', 'alice', '--days', '10']);
    await run(['pki', 'issue', '--operator', 'bob', '--days', '365']);
    const soon = certificatesExpiring(dir, 30);
    expect(soon.map((c) => c.what)).toEqual(['operator alice']);
    expect(soon[0]?.daysLeft).toBe(9);
    expect(certificatesExpiring(dir, 5)).toEqual([]);
    // Two and a half years on, the role certificates (825 days) are due and alice's has expired.
    const later = certificatesExpiring(dir, 30, new Date(Date.now() + 820 * 86_400_000));
    expect(later.map((c) => c.what)).toEqual(expect.arrayContaining(['signer admin', 'tls payserv', 'tls pscli', 'operator alice']));
    expect(later.find((c) => c.what === 'operator alice')?.daysLeft).toBeLessThan(0);
    expect(later.map((c) => c.what)).not.toContain('root');
  });
});
