// The dashboard's certificate family, for browsers: a P-256 dashboard CA (self-signed, the browsers' anchor,
// and tied to the offline Ed25519 root by the root's certificate of the same key), the dashboard's P-256 server
// certificate and the operators' P-256 browser certificates it issues. Browsers speak neither Ed25519
// signatures in TLS nor Ed25519-signed chains. payserv uses the CA only while the root's tie verifies.
// Everything else (RPC, dbgw, the ledger) stays Ed25519 and refuses this family.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { IssuedPair } from '../pki/issue.js';
import { keyIdOf } from '../pki/keyid.js';
import type { Trust } from '../pki/trust.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import { checkName, PkiError, pkiPaths, revokedNow, rootPairFor, validityFor, writeOnce } from './pki-files.js';

/** The store item of the dashboard's server key (production); its certificate is pki/dashboard/server.crt. */
export const DASHBOARD_KEY_ITEM = 'payserv.DASH.KEY';

export interface DashboardCaOptions {
  days: number;
  exact?: boolean;
  hosts: string[];
  /** The offline keys directory: the root CA key read from, and the dashboard CA key written to, <dir>/offline/; the server key to <dir>/payserv.DASH.KEY. */
  keysDir?: string;
  now?: Date;
}

export interface DashboardCaResult {
  ca: string;
  caKey: string;
  server: string;
  serverKey: string;
  notAfter: string;
}

function keyFiles(stateDir: string, keysDir: string | undefined) {
  const p = pkiPaths(stateDir);
  return keysDir
    ? {
        rootKey: join(keysDir, 'offline', 'root.key'),
        caKey: join(keysDir, 'offline', 'dashboard-ca.key'),
        serverKey: join(keysDir, DASHBOARD_KEY_ITEM),
      }
    : { rootKey: p.rootKey, caKey: p.dashboardCaKey, serverKey: p.dashboardServerKey };
}

const endOf = (pem: string): string => new Date(new X509Certificate(pem).validTo).toISOString();

/** Makes the dashboard CA (signed by the root key) and the dashboard's server certificate. Refuses over an existing one. */
export async function makeDashboardCa(stateDir: string, opts: DashboardCaOptions): Promise<DashboardCaResult> {
  const p = pkiPaths(stateDir);
  const k = keyFiles(stateDir, opts.keysDir);
  const taken = [p.dashboardCa, p.dashboardCaTie, p.dashboardServer, k.caKey, k.serverKey].filter((f) => existsSync(f));
  if (taken.length) throw new PkiError(`a dashboard CA exists already (${taken.join(', ')}); nothing was written`);
  const root = rootPairFor(stateDir, k.rootKey);
  const { createDashboardCa, issueBrowserCert } = await import('../pki/issue.js');
  const now = opts.now ?? new Date();
  const ca = await createDashboardCa(root, validityFor(root, opts.days, now, opts.exact));
  const server = await issueBrowserCert(ca, { purpose: 'dashboard', hosts: opts.hosts }, validityFor(ca, opts.days, now));
  for (const f of [p.dashboardCa, k.caKey, k.serverKey]) mkdirSync(dirname(f), { recursive: true, mode: 0o700 });
  writeOnce(k.caKey, ca.keyPem, 0o600);
  writeOnce(k.serverKey, server.keyPem, 0o600);
  writeOnce(p.dashboardCaTie, ca.tiePem, 0o644);
  writeOnce(p.dashboardCa, ca.certPem, 0o644);
  writeOnce(p.dashboardServer, server.certPem, 0o644);
  return { ca: p.dashboardCa, caKey: k.caKey, server: p.dashboardServer, serverKey: k.serverKey, notAfter: endOf(server.certPem) };
}

function readCert(file: string, missing: string): X509Certificate {
  try {
    return new X509Certificate(readFileSync(file));
  } catch {
    throw new PkiError(`no ${missing} at ${file} (make it with \`pscli pki dashboard-ca\`)`);
  }
}

/**
 * The dashboard CA's certificate, once its tie verifies under the pinned root: a self-signed CA, and the
 * root's certificate of the same key and name, valid now. Throws naming what is wrong.
 */
export function dashboardCa(stateDir: string, trust: Trust, now: Date = new Date()): X509Certificate {
  const p = pkiPaths(stateDir);
  const ca = readCert(p.dashboardCa, 'dashboard CA certificate');
  const tie = readCert(p.dashboardCaTie, "root's certificate of the dashboard CA");
  if (!ca.ca || !ca.checkIssued(ca) || !ca.verify(ca.publicKey)) throw new PkiError(`${p.dashboardCa}: not a self-signed CA certificate`);
  if (!tie.ca || !tie.checkIssued(trust.root) || !tie.verify(trust.root.publicKey))
    throw new PkiError(`${p.dashboardCaTie}: not signed by the pinned root`);
  if (tie.subject !== ca.subject || keyIdOf(tie.publicKey) !== keyIdOf(ca.publicKey))
    throw new PkiError(`${p.dashboardCaTie}: the root certifies another key or name than ${p.dashboardCa}'s`);
  for (const c of [ca, tie])
    if (now.getTime() < Date.parse(c.validFrom) || now.getTime() > Date.parse(c.validTo))
      throw new PkiError(`the dashboard CA is not valid now (${c.validFrom} to ${c.validTo})`);
  return ca;
}

/** The dashboard CA's pair for issuing: its key from `caKeyPath`, its certificate checked under the root. */
function dashboardCaPair(stateDir: string, trust: Trust, caKeyPath: string): IssuedPair {
  const ca = dashboardCa(stateDir, trust);
  if (!existsSync(caKeyPath))
    throw new PkiError(`the dashboard CA key is not at ${caKeyPath}: give --keys-dir DIR, where \`pki dashboard-ca\` wrote it`);
  const keyPem = readFileSync(caKeyPath, 'utf8');
  if (keyIdOfPem(keyPem, caKeyPath) !== keyIdOf(ca.publicKey)) throw new PkiError(`the key at ${caKeyPath} is not the dashboard CA's`);
  return { certPem: ca.toString(), keyPem };
}

function keyIdOfPem(keyPem: string, file: string): string {
  try {
    return keyIdOf(createPublicKey(createPrivateKey(keyPem)));
  } catch {
    throw new PkiError(`${file}: not a readable private key`);
  }
}

export interface BrowserOperatorResult {
  operator: string;
  cert: string;
  key: string;
  notAfter: string;
}

export interface BrowserOperatorOptions {
  days: number;
  exact?: boolean;
  keysDir?: string;
  now?: Date;
}

function browserPaths(stateDir: string, name: string, keysDir: string | undefined) {
  const p = pkiPaths(stateDir);
  return {
    cert: p.browserCert(name),
    key: keysDir ? join(keysDir, 'operators', 'browser', `${name}.key`) : p.browserKey(name),
    /** With a keys directory, the certificate also goes beside the key: the operator takes both from one place. */
    copy: keysDir ? join(keysDir, 'operators', 'browser', `${name}.crt`) : null,
  };
}

/** A new P-256 pair for the operator's browser, signed by the dashboard CA (its key checked to be the CA's). */
async function browserPair(stateDir: string, trust: Trust, name: string, opts: BrowserOperatorOptions): Promise<IssuedPair> {
  const ca = dashboardCaPair(stateDir, trust, keyFiles(stateDir, opts.keysDir).caKey);
  const { issueBrowserCert } = await import('../pki/issue.js');
  return issueBrowserCert(ca, { purpose: 'operator', name }, validityFor(ca, opts.days, opts.now ?? new Date(), opts.exact));
}

/** An operator's P-256 certificate for a browser, under the dashboard CA; refuses a bad, revoked or already issued name. */
export async function issueBrowserOperator(
  stateDir: string,
  trust: Trust,
  name: string,
  opts: BrowserOperatorOptions,
): Promise<BrowserOperatorResult> {
  checkName(name);
  const f = browserPaths(stateDir, name, opts.keysDir);
  if (revokedNow(stateDir).has(name))
    throw new PkiError(`operator ${name} was revoked; a revoked name is never issued again: choose another`);
  for (const file of [f.cert, f.key, f.copy])
    if (file && existsSync(file))
      throw new PkiError(
        `operator ${name} has a browser certificate already (${file}): renew it with \`pscli pki renew --operator ${name} --browser\``,
      );
  const pair = await browserPair(stateDir, trust, name, opts);
  for (const file of [f.cert, f.key]) mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  writeOnce(f.key, pair.keyPem, 0o600);
  writeOnce(f.cert, pair.certPem, 0o644);
  if (f.copy) writeOnce(f.copy, pair.certPem, 0o644);
  return { operator: name, cert: f.cert, key: f.key, notAfter: endOf(pair.certPem) };
}

/**
 * A new browser certificate for an operator, always for a new key (the browser imports a new .p12 anyway); the
 * old certificate keeps working until it expires (revoke the name to stop it). Refuses an unknown or revoked operator.
 */
export async function renewBrowserOperator(
  stateDir: string,
  trust: Trust,
  name: string,
  opts: BrowserOperatorOptions,
): Promise<BrowserOperatorResult> {
  checkName(name);
  const f = browserPaths(stateDir, name, opts.keysDir);
  if (!existsSync(f.cert))
    throw new PkiError(
      `operator ${name} has no browser certificate (no ${f.cert}): issue one with \`pscli pki issue --operator ${name} --browser\``,
    );
  if (revokedNow(stateDir).has(name)) throw new PkiError(`operator ${name} is revoked: a revoked operator is not renewed`);
  const pair = await browserPair(stateDir, trust, name, opts);
  // Key first: a certificate for a key that is not there yet would be unusable.
  mkdirSync(dirname(f.key), { recursive: true, mode: 0o700 });
  await writeFileAtomic(f.key, pair.keyPem, 0o600);
  await writeFileAtomic(f.cert, pair.certPem, 0o644);
  if (f.copy) await writeFileAtomic(f.copy, pair.certPem, 0o644);
  return { operator: name, cert: f.cert, key: f.key, notAfter: endOf(pair.certPem) };
}

/**
 * The dashboard listener's TLS: its P-256 pair, and as client authorities the dashboard CA (browser
 * certificates) and the root (operators' Ed25519 certificates, for a TLS helper or curl).
 */
export function dashboardTls(stateDir: string, trust: Trust, keyPem: string): { certPem: string; keyPem: string; caPem: string } {
  const ca = dashboardCa(stateDir, trust);
  const file = pkiPaths(stateDir).dashboardServer;
  const server = readCert(file, 'dashboard server certificate');
  if (!server.checkIssued(ca) || !server.verify(ca.publicKey)) throw new PkiError(`${file}: not issued by the dashboard CA`);
  if (keyIdOfPem(keyPem, 'the dashboard key') !== keyIdOf(server.publicKey))
    throw new PkiError(`the dashboard key is not the key of ${file}`);
  return { certPem: server.toString(), keyPem, caPem: `${trust.root.toString()}\n${ca.toString()}` };
}
