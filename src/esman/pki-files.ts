import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IssuedPair, Validity } from '../pki/issue.js';
import { SIGNER_ROLES, TLS_IDENTITIES, type SignerRole, type TlsIdentity } from '../pki/roles.js';
import { Signer } from '../pki/signer.js';
import { Trust } from '../pki/trust.js';
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

function writeOnce(path: string, text: string, mode: number): void {
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
