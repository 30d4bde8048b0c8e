import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { IssuedPair, Validity } from '../pki/issue.js';
import { keyIdOf } from '../pki/keyid.js';
import { operatorNameProblem } from '../pki/operators.js';
import { readRevocations, signRevocations, type Revoked } from '../pki/revocation.js';
import { SIGNER_ROLES, TLS_IDENTITIES, type SignerRole, type TlsIdentity } from '../pki/roles.js';
import { Signer } from '../pki/signer.js';
import { Trust } from '../pki/trust.js';
import { writeFileAtomic, writeJsonAtomic } from '../state/atomic-file.js';
import { checkKeysDir, makeKeysDir } from './keys-dir.js';

// The PKI directory under the state directory. root.crt is the pinned root: payserv trusts nothing
// else, whatever the database says. Private keys are written here only for development and tests;
// in production (keysDir) they go to a directory for the encrypted key store and the CA key offline.

export const PKI_DIR = 'pki';
const DAY_MS = 86_400_000;

export function pkiPaths(stateDir: string) {
  const dir = join(stateDir, PKI_DIR);
  return {
    dir,
    root: join(dir, 'root.crt'),
    rootKey: join(dir, 'ca', 'root.key'),
    signerCert: (r: SignerRole) => join(dir, 'signers', `${r}.crt`),
    signerKey: (r: SignerRole) => join(dir, 'signers', `${r}.key`),
    tlsCert: (i: TlsIdentity) => join(dir, 'tls', `${i}.crt`),
    tlsKey: (i: TlsIdentity) => join(dir, 'tls', `${i}.key`),
    /** The dashboard CA's certificate (self-signed): the browsers' trust anchor. */
    dashboardCa: join(dir, 'dashboard', 'ca.crt'),
    /** The root's certificate of the dashboard CA's key: the tie to the root. */
    dashboardCaTie: join(dir, 'dashboard', 'ca-root.crt'),
    dashboardCaKey: join(dir, 'ca', 'dashboard-ca.key'),
    dashboardServer: join(dir, 'dashboard', 'server.crt'),
    dashboardServerKey: join(dir, 'dashboard', 'server.key'),
    /** An operator's P-256 certificate for a browser, under the dashboard CA. */
    browserCert: (name: string) => join(dir, 'operators', 'browser', `${name}.crt`),
    browserKey: (name: string) => join(dir, 'operators', 'browser', `${name}.key`),
  };
}

export interface PkiInitOptions {
  rootDays: number;
  leafDays: number;
  now?: Date;
  /** Host names and addresses the TLS certificates are valid for. */
  hosts?: string[];
  /**
   * For the encrypted store: private keys go here, as flat files named as store items (payserv.SIGN.KEY,
   * payserv.TLS.KEY, … with their certificates beside them) for `esman create --from`, and the root CA key
   * into offline/ below it; the state directory then gets only the pinned root and the public certificates.
   * Unset: everything under the state directory (development and tests).
   */
  keysDir?: string;
}

export interface PkiInitResult {
  root: string;
  signers: Record<SignerRole, string>;
  tls: Record<TlsIdentity, string>;
  /** Where the private keys were written. */
  keys: string;
}

export function writeOnce(path: string, text: string, mode: number): void {
  // 'wx': never overwrite a key or certificate that exists.
  writeFileSync(path, text, { mode, flag: 'wx' });
}

/** Creates the root CA and every role's certificate. Refuses to touch an existing PKI. */
export async function initPki(stateDir: string, opts: PkiInitOptions): Promise<PkiInitResult> {
  const p = pkiPaths(stateDir);
  if (existsSync(p.root)) throw new Error(`a PKI already exists at ${p.dir}; refusing to replace the pinned root`);
  const k = opts.keysDir;
  // Issuing needs @peculiar/x509 (and the store's item names, zod): heavy to load, so only here, not for
  // every reader of the PKI's files (pscli's start-up).
  const [{ createRoot, issueCert }, { signerItems, tlsItems }] = await Promise.all([import('../pki/issue.js'), import('./items.js')]);
  // Every file is checked before the first is written: a refusal half-way would leave keys of a root
  // that is pinned nowhere, and a second run refused by them.
  const items = [...SIGNER_ROLES.map(signerItems), ...TLS_IDENTITIES.map(tlsItems)].flatMap((i) => [i.key, i.cert]);
  const keyFiles = k
    ? [join(k, 'offline', 'root.key'), ...items.map((name) => join(k, name))]
    : [p.rootKey, ...SIGNER_ROLES.map(p.signerKey), ...TLS_IDENTITIES.map(p.tlsKey)];
  const taken = [...keyFiles, ...SIGNER_ROLES.map(p.signerCert), ...TLS_IDENTITIES.map(p.tlsCert)].filter((f) => existsSync(f));
  if (taken.length)
    throw new Error(
      `refusing to create a PKI over ${taken.length} existing file(s) of one (${taken.slice(0, 3).join(', ')}${taken.length > 3 ? ', …' : ''}); ` +
        `nothing was written: ${k ? 'give an empty --keys-dir, or ' : ''}move them away first`,
    );
  // After the list above, which names a PKI's own files: the rest of what makes a directory wrong for keys.
  if (k) checkKeysDir(k, stateDir);
  // The keys directory first: a path that passed the checks but still cannot hold a directory (/proc) leaves no PKI behind.
  if (k) makeKeysDir(join(k, 'offline'));
  for (const d of [p.dir, join(p.dir, 'signers'), join(p.dir, 'tls')]) mkdirSync(d, { recursive: true, mode: 0o700 });
  if (!k) mkdirSync(join(p.dir, 'ca'), { recursive: true, mode: 0o700 });
  const now = opts.now ?? new Date();
  const rootValidity: Validity = {
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + opts.rootDays * DAY_MS),
  };
  const leafValidity: Validity = {
    notBefore: rootValidity.notBefore,
    notAfter: new Date(now.getTime() + Math.min(opts.leafDays, opts.rootDays) * DAY_MS),
  };
  const root = await createRoot('payserv root CA', rootValidity);
  writeOnce(k ? join(k, 'offline', 'root.key') : p.rootKey, root.keyPem, 0o600);
  writeOnce(p.root, root.certPem, 0o644);
  const signers = {} as Record<SignerRole, string>;
  for (const role of SIGNER_ROLES) {
    const pair = await issueCert(root, { purpose: 'signer', role }, leafValidity);
    writePair(p.signerCert(role), k ? join(k, signerItems(role).key) : p.signerKey(role), pair);
    if (k) writeOnce(join(k, signerItems(role).cert), pair.certPem, 0o600);
    signers[role] = p.signerCert(role);
  }
  const tls = {} as Record<TlsIdentity, string>;
  for (const identity of TLS_IDENTITIES) {
    const pair = await issueCert(root, { purpose: 'tls', identity, ...(opts.hosts ? { hosts: opts.hosts } : {}) }, leafValidity);
    writePair(p.tlsCert(identity), k ? join(k, tlsItems(identity).key) : p.tlsKey(identity), pair);
    if (k) writeOnce(join(k, tlsItems(identity).cert), pair.certPem, 0o600);
    tls[identity] = p.tlsCert(identity);
  }
  return { root: p.root, signers, tls, keys: k ?? p.dir };
}

function writePair(certPath: string, keyPath: string, pair: IssuedPair): void {
  writeOnce(keyPath, pair.keyPem, 0o600);
  writeOnce(certPath, pair.certPem, 0o644);
}

function readFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new Error(`${what} not found at ${path} (run \`pscli pki init\` first)`);
  }
}

/** The root pinned on this host. */
export function loadTrust(stateDir: string): Trust {
  const path = pkiPaths(stateDir).root;
  try {
    return new Trust(readFile(path, 'pinned root certificate'));
  } catch (e) {
    throw new Error(`pinned root ${path}: ${(e as Error).message}`);
  }
}

/** A role's signer from the PKI directory (first run, tests, demo). */
export function loadSigner(stateDir: string, role: SignerRole): Signer {
  const p = pkiPaths(stateDir);
  return Signer.fromPem(readFile(p.signerCert(role), `${role} certificate`), readFile(p.signerKey(role), `${role} signing key`));
}

export function loadRootPair(stateDir: string): IssuedPair {
  const p = pkiPaths(stateDir);
  return { certPem: readFile(p.root, 'root certificate'), keyPem: readFile(p.rootKey, 'root CA key') };
}

// --- Operators: one client certificate per person, renewal, revocation ----------------------------

export class PkiError extends Error {
  override name = 'PkiError';
}

export interface OperatorOptions {
  days: number;
  /** `days` as the operator gave it: refused past the root's end instead of shortened. */
  exact?: boolean;
  /** The offline keys directory: the CA key is read from <dir>/offline/root.key, the operator's key written to <dir>/operators/. */
  keysDir?: string;
  now?: Date;
}

export interface OperatorResult {
  operator: string;
  cert: string;
  key: string;
  notAfter: string;
}

function operatorPaths(stateDir: string, name: string, keysDir?: string) {
  const p = pkiPaths(stateDir);
  return {
    cert: join(p.dir, 'operators', `${name}.crt`),
    key: keysDir ? join(keysDir, 'operators', `${name}.key`) : join(p.dir, 'operators', `${name}.key`),
    /** With a keys directory, the certificate also goes beside the key: the operator takes both from one place. */
    keysDirCert: keysDir ? join(keysDir, 'operators', `${name}.crt`) : null,
    rootKey: keysDir ? join(keysDir, 'offline', 'root.key') : p.rootKey,
  };
}

/** The operator's certificate and key files when pscli acts as that operator (the certificate and key under pki/operators/). */
export function operatorTlsPaths(stateDir: string, name: string): { cert: string; key: string } {
  const o = operatorPaths(stateDir, name);
  return { cert: o.cert, key: o.key };
}

export function checkName(name: string): void {
  const problem = operatorNameProblem(name);
  if (problem) throw new PkiError(problem);
}

/** The root CA's pair, the key read from `rootKeyPath`. */
export function rootPairFor(stateDir: string, rootKeyPath: string): IssuedPair {
  if (!existsSync(rootKeyPath))
    throw new PkiError(`the root CA key is not at ${rootKeyPath}: give --keys-dir DIR, the directory \`pscli pki init --keys-dir\` wrote`);
  const pair = { certPem: readFile(pkiPaths(stateDir).root, 'root certificate'), keyPem: readFileSync(rootKeyPath, 'utf8') };
  // Another PKI's CA key would issue certificates that chain to nothing this host trusts: refused before issuing.
  let keyId: string;
  try {
    keyId = keyIdOf(createPublicKey(createPrivateKey(pair.keyPem)));
  } catch {
    throw new PkiError(`${rootKeyPath}: not a readable private key`);
  }
  if (keyId !== keyIdOf(new X509Certificate(pair.certPem).publicKey))
    throw new PkiError(`the CA key at ${rootKeyPath} is not the pinned root's (${pkiPaths(stateDir).root}): another PKI's key?`);
  return pair;
}

/**
 * Validity from now for `days`, never past the root's own: shortened to the root's end, or with `exact`
 * (days the operator asked for) refused naming the root's end: a certificate ending sooner than asked
 * would surprise its operator.
 */
export function validityFor(root: IssuedPair, days: number, now: Date, exact = false): Validity {
  const rootEnd = new Date(new X509Certificate(root.certPem).validTo).getTime();
  const want = now.getTime() + days * DAY_MS;
  if (exact && want > rootEnd)
    throw new PkiError(
      `--days ${days} ends after the root certificate (it ends ${new Date(rootEnd).toISOString()}): at most ${Math.max(0, Math.floor((rootEnd - now.getTime()) / DAY_MS))} days; nothing was written`,
    );
  return { notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(Math.min(want, rootEnd)) };
}

async function issueFor(root: IssuedPair, name: string, opts: OperatorOptions, keyPem?: string): Promise<IssuedPair> {
  const { issueCert } = await import('../pki/issue.js');
  return issueCert(root, { purpose: 'operator', name }, validityFor(root, opts.days, opts.now ?? new Date(), opts.exact), keyPem);
}

function resultOf(name: string, o: ReturnType<typeof operatorPaths>, pair: IssuedPair): OperatorResult {
  return { operator: name, cert: o.cert, key: o.key, notAfter: new Date(new X509Certificate(pair.certPem).validTo).toISOString() };
}

/** A client certificate for one person. Refuses a bad name, an operator of that name (current or revoked), a missing CA key. */
export async function issueOperator(stateDir: string, name: string, opts: OperatorOptions): Promise<OperatorResult> {
  checkName(name);
  const o = operatorPaths(stateDir, name, opts.keysDir);
  if (existsSync(o.cert))
    throw new PkiError(`operator ${name} exists already (${o.cert}): renew it with \`pscli pki renew --operator ${name}\``);
  if (revokedNow(stateDir).has(name))
    throw new PkiError(`operator ${name} was revoked; a revoked name is never issued again: choose another`);
  for (const f of [o.key, o.keysDirCert]) if (f && existsSync(f)) throw new PkiError(`refusing to overwrite ${f}: move it away first`);
  const root = rootPairFor(stateDir, o.rootKey);
  const pair = await issueFor(root, name, opts);
  mkdirSync(dirname(o.cert), { recursive: true, mode: 0o700 });
  mkdirSync(dirname(o.key), { recursive: true, mode: 0o700 });
  writeOnce(o.key, pair.keyPem, 0o600);
  writeOnce(o.cert, pair.certPem, 0o644);
  if (o.keysDirCert) writeOnce(o.keysDirCert, pair.certPem, 0o644);
  return resultOf(name, o, pair);
}

/** A new certificate for an operator: for the same key, or (newKey) a new one. Refuses an unknown or revoked operator. */
export async function renewOperator(stateDir: string, name: string, opts: OperatorOptions & { newKey?: boolean }): Promise<OperatorResult> {
  checkName(name);
  const o = operatorPaths(stateDir, name, opts.keysDir);
  if (!existsSync(o.cert)) throw new PkiError(`no operator ${name} (no ${o.cert}): issue one with \`pscli pki issue --operator ${name}\``);
  if (revokedNow(stateDir).has(name)) throw new PkiError(`operator ${name} is revoked: a revoked operator is not renewed`);
  if (!opts.newKey && !existsSync(o.key))
    throw new PkiError(`the key of operator ${name} is not at ${o.key}: give --keys-dir DIR where it is, or --new-key for a new one`);
  const root = rootPairFor(stateDir, o.rootKey);
  const pair = await issueFor(root, name, opts, opts.newKey ? undefined : readFileSync(o.key, 'utf8'));
  // Key first: a certificate for a key that is not there yet would be unusable.
  if (opts.newKey) await writeFileAtomic(o.key, pair.keyPem, 0o600);
  await writeFileAtomic(o.cert, pair.certPem, 0o644);
  if (o.keysDirCert) await writeFileAtomic(o.keysDirCert, pair.certPem, 0o644);
  return resultOf(name, o, pair);
}

export function revocationPath(stateDir: string): string {
  return join(pkiPaths(stateDir).dir, 'revoked.json');
}

/** The revoked operators, the list's signature checked against the pinned root; none when there is no list. Throws on a bad list. */
export function revokedNow(stateDir: string): Map<string, Revoked> {
  const path = revocationPath(stateDir);
  if (!existsSync(path)) return new Map();
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new PkiError(`${path}: not a readable JSON revocation list`);
  }
  try {
    return readRevocations(doc, loadTrust(stateDir).root);
  } catch (e) {
    throw new PkiError(`${path}: ${(e as Error).message}`);
  }
}

/** Adds an operator to the signed revocation list (payserv reads it on the next call). Idempotent. */
export async function revokeOperator(
  stateDir: string,
  name: string,
  opts: { keysDir?: string; now?: Date },
): Promise<{ added: boolean; list: string }> {
  checkName(name);
  const o = operatorPaths(stateDir, name, opts.keysDir);
  const revoked = revokedNow(stateDir);
  if (revoked.has(name)) return { added: false, list: revocationPath(stateDir) };
  if (!existsSync(o.cert) && !existsSync(pkiPaths(stateDir).browserCert(name)))
    throw new PkiError(`no operator ${name} (no ${o.cert} nor a browser certificate)`);
  const root = rootPairFor(stateDir, o.rootKey);
  revoked.set(name, { operator: name, at: (opts.now ?? new Date()).toISOString() });
  await writeJsonAtomic(revocationPath(stateDir), signRevocations([...revoked.values()], root.keyPem), 0o644);
  return { added: true, list: revocationPath(stateDir) };
}

/**
 * Copies the signed revocation list to other state directories (payserv's, dbgw's), each of which must pin
 * the same root: a list under another root would verify nowhere there and refuse every operator.
 */
export async function distributeRevocations(stateDir: string, dirs: readonly string[]): Promise<string[]> {
  const list = revocationPath(stateDir);
  if (!existsSync(list)) throw new PkiError(`no revocation list at ${list} to copy`);
  const text = readFileSync(list, 'utf8');
  const ours = readFileSync(pkiPaths(stateDir).root, 'utf8').trim();
  // Every target checked before the first is written: a refusal copies nothing.
  for (const d of dirs) {
    const root = pkiPaths(d).root;
    if (!existsSync(root)) throw new PkiError(`--to ${d}: no pinned root at ${root} (not a state directory of this PKI)`);
    if (readFileSync(root, 'utf8').trim() !== ours) throw new PkiError(`--to ${d}: its pinned root ${root} is not this PKI's`);
  }
  const written: string[] = [];
  for (const d of dirs) {
    await writeFileAtomic(revocationPath(d), text, 0o644);
    written.push(revocationPath(d));
  }
  return written;
}

/** The log message of a server whose revocation list does not verify. */
export const REVOCATION_LIST_REFUSED = 'revocation list refused: every operator certificate is refused';
/** The log message of a server whose revocation list no longer names an operator it read revoked. */
export const REVOCATION_LIST_SHRANK = 'revocation list names fewer operators than before: those stay refused';

/**
 * For a server: whether an operator is revoked, from the state directory's list, read again whenever the
 * file changes (a revocation takes effect on the next call, no restart). A list that is there but does not
 * verify refuses every operator: the list cannot be trusted to say who is not revoked. A revocation only
 * grows, so a running server never forgets a name it has read revoked: a list put back without it (an
 * older signed copy, or the file deleted) is reported and the name stays refused until a restart.
 */
export function revocationCheck(
  stateDir: string,
  onProblem: (message: string, reason: string) => void,
): (operator: string) => string | null {
  const path = revocationPath(stateDir);
  let seen = '';
  const everRevoked = new Map<string, Revoked>();
  let bad: string | null = null;
  const reload = (): void => {
    bad = null;
    const now = existsSync(path) ? revokedNow(stateDir) : new Map<string, Revoked>();
    const dropped = [...everRevoked.keys()].filter((name) => !now.has(name));
    for (const [name, r] of now) everRevoked.set(name, r);
    if (dropped.length > 0)
      onProblem(REVOCATION_LIST_SHRANK, `no longer named: ${dropped.join(', ')} (an older list put back, or the file removed)`);
  };
  return (operator) => {
    const st = existsSync(path) ? statSync(path) : null;
    const stamp = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'none';
    if (stamp !== seen) {
      seen = stamp;
      try {
        reload();
      } catch (e) {
        bad = (e as Error).message;
        onProblem(REVOCATION_LIST_REFUSED, bad);
      }
    }
    if (bad !== null) return `the revocation list cannot be trusted (${bad}): every operator certificate is refused`;
    const r = everRevoked.get(operator);
    return r ? `the certificate of operator ${operator} is revoked (since ${r.at})` : null;
  };
}

// --- Expiry -----------------------------------------------------------------------------------------

export interface ExpiringCert {
  /** What it is: "root", "signer admin", "tls payserv", "operator alice". */
  what: string;
  file: string;
  notAfter: string;
  /** Whole days left, rounded down; negative once expired. */
  daysLeft: number;
}

/** `pscli status` warns of certificates expiring within this many days, and payserv_certificates_expiring counts them. */
export const CERT_WARN_DAYS = 30;

export interface PkiCertFile {
  kind: 'root' | 'signer' | 'tls' | 'operator' | 'browser' | 'dashboard';
  /** The role, TLS identity or operator it is for; "root" for the pinned root. */
  name: string;
  file: string;
}

/** The certificate files in the state directory's PKI: the pinned root, the signers', the TLS pairs', the operators' (also for browsers), the dashboard's. */
export function pkiCertificateFiles(stateDir: string): PkiCertFile[] {
  const p = pkiPaths(stateDir);
  const files: PkiCertFile[] = existsSync(p.root) ? [{ kind: 'root', name: 'root', file: p.root }] : [];
  for (const [kind, sub] of [
    ['signer', 'signers'],
    ['tls', 'tls'],
    ['operator', 'operators'],
    ['browser', join('operators', 'browser')],
    ['dashboard', 'dashboard'],
  ] as const) {
    const dir = join(p.dir, sub);
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.crt'))
      .sort())
      files.push({ kind, name: f.slice(0, -4), file: join(dir, f) });
  }
  return files;
}

/** When the certificate in `file` expires (ms since the epoch). Throws when it cannot be read or is not a certificate. */
export function certificateNotAfter(file: string): number {
  return new Date(new X509Certificate(readFileSync(file)).validTo).getTime();
}

/** Whether a certificate ending at `notAfter` is due: expiring within `days` of `now`, or expired. */
export function expiresWithin(notAfter: number, now: Date, days: number): boolean {
  return notAfter - now.getTime() <= days * DAY_MS;
}

/** The certificates in the state directory's PKI (root, signers, TLS pairs, operators) that expire within `days` (or have expired). */
export function certificatesExpiring(stateDir: string, days: number, now: Date = new Date()): ExpiringCert[] {
  const out: ExpiringCert[] = [];
  for (const { kind, name, file } of pkiCertificateFiles(stateDir)) {
    let end: number;
    try {
      end = certificateNotAfter(file);
    } catch {
      continue; // Not a certificate: for `pscli verify`'s other checks, not an expiry.
    }
    if (expiresWithin(end, now, days))
      out.push({
        what: kind === 'root' ? 'root' : `${kind} ${name}`,
        file,
        notAfter: new Date(end).toISOString(),
        daysLeft: Math.floor((end - now.getTime()) / DAY_MS),
      });
  }
  return out;
}
