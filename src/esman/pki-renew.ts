// Renewing the services' own certificates under the pinned root, without a new root: a TLS pair's
// certificate for the same key (the private key stays in its store: certifying needs only the public key,
// which the old certificate carries), or for a new key; a ledger signer's always for a new key.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CertSpec } from '../pki/issue.js';
import { SIGNER_ROLES, TLS_IDENTITIES, type SignerRole, type TlsIdentity } from '../pki/roles.js';
import { Trust, type CheckedCert } from '../pki/trust.js';
import { writeFileAtomic } from '../state/atomic-file.js';
import { PkiError, pkiPaths, rootPairFor, validityFor } from './pki-files.js';

export interface RenewOptions {
  days: number;
  /** `days` as the operator gave it: refused past the root's end instead of shortened. */
  exact?: boolean;
  /** The offline keys directory: the CA key from <dir>/offline/root.key; a new key and the certificate written as store items in <dir>. */
  keysDir?: string;
  newKey?: boolean;
  /** A TLS certificate's host names and addresses; default: those of the certificate renewed. */
  hosts?: string[];
  now?: Date;
}

export interface RenewResult {
  /** "tls dbgw", "signer admin". */
  what: string;
  cert: string;
  /** Where the new key was written (a store item's file with --keys-dir); null when the key is kept. */
  key: string | null;
  /** With --keys-dir, the certificate as a store item's file too (for `esman add … --replace`). */
  item: string | null;
  notAfter: string;
  keyId: string;
}

/** The host names and addresses of a TLS certificate's subjectAltName, as `pki init --host` takes them. */
export function hostsOf(subjectAltName: string | undefined): string[] {
  const hosts: string[] = [];
  for (const part of (subjectAltName ?? '').split(', ')) {
    if (part.startsWith('DNS:')) hosts.push(part.slice(4));
    else if (part.startsWith('IP Address:')) hosts.push(part.slice(11));
  }
  return hosts;
}

/** The certificate renewed: there, and one of the pinned root's, of that role and purpose. */
function currentCert(stateDir: string, file: string, role: string, purpose: 'tls' | 'signer'): { pem: string; checked: CheckedCert } {
  if (!existsSync(file)) throw new PkiError(`no certificate to renew at ${file}`);
  const pem = readFileSync(file, 'utf8');
  let checked: CheckedCert;
  try {
    checked = new Trust(readFileSync(pkiPaths(stateDir).root, 'utf8')).check(pem);
  } catch (e) {
    throw new PkiError(`${file}: ${(e as Error).message}; renewing it would not make it one of this PKI's`);
  }
  if (checked.role !== role || checked.purpose !== purpose)
    throw new PkiError(`${file}: a ${checked.purpose} certificate of ${checked.role}, not the ${purpose} certificate of ${role}`);
  return { pem, checked };
}

async function writeRenewed(
  certFile: string,
  keyFile: string | null,
  itemCert: string | null,
  pair: { certPem: string; keyPem: string | null },
): Promise<void> {
  // Key first: a certificate for a key that is not there yet would be unusable.
  if (keyFile && pair.keyPem !== null) {
    if (itemCert && existsSync(keyFile)) throw new PkiError(`refusing to overwrite ${keyFile}: move it away first`);
    await writeFileAtomic(keyFile, pair.keyPem, 0o600);
  }
  if (itemCert) await writeFileAtomic(itemCert, pair.certPem, 0o600);
  await writeFileAtomic(certFile, pair.certPem, 0o644);
}

async function renew(
  stateDir: string,
  what: string,
  spec: CertSpec,
  files: { cert: string; devKey: string; item: { cert: string; key: string } },
  current: { pem: string },
  opts: RenewOptions,
): Promise<RenewResult> {
  const k = opts.keysDir;
  const root = rootPairFor(stateDir, k ? join(k, 'offline', 'root.key') : pkiPaths(stateDir).rootKey);
  const validity = validityFor(root, opts.days, opts.now ?? new Date(), opts.exact);
  if (validity.notAfter.getTime() <= (opts.now ?? new Date()).getTime()) throw new PkiError('the root has expired: a new PKI is needed');
  const { issueCert, reissueCert } = await import('../pki/issue.js');
  const pair = opts.newKey
    ? await issueCert(root, spec, validity)
    : { certPem: await reissueCert(root, spec, validity, current.pem), keyPem: null };
  const keyFile = opts.newKey ? (k ? join(k, files.item.key) : files.devKey) : null;
  const itemCert = k ? join(k, files.item.cert) : null;
  await writeRenewed(files.cert, keyFile, itemCert, pair);
  const c = new Trust(root.certPem).check(pair.certPem);
  return { what, cert: files.cert, key: keyFile, item: itemCert, notAfter: c.notAfter.toISOString(), keyId: c.keyId };
}

/** A new certificate for a service's (or the back end's) TLS pair: for the same key unless `newKey`. */
export async function renewService(stateDir: string, identity: TlsIdentity, opts: RenewOptions): Promise<RenewResult> {
  if (!(TLS_IDENTITIES as readonly string[]).includes(identity))
    throw new PkiError(`--service ${JSON.stringify(identity)}: expected one of ${TLS_IDENTITIES.join(', ')}`);
  const p = pkiPaths(stateDir);
  const current = currentCert(stateDir, p.tlsCert(identity), identity, 'tls');
  const hosts = opts.hosts ?? hostsOf(current.checked.cert.subjectAltName);
  const { tlsItems } = await import('./items.js');
  const files = { cert: p.tlsCert(identity), devKey: p.tlsKey(identity), item: tlsItems(identity) };
  return renew(stateDir, `tls ${identity}`, { purpose: 'tls', identity, ...(hosts.length ? { hosts } : {}) }, files, current, opts);
}

/**
 * A new certificate for a ledger signer, always for a new key: crypto_certs registers one certificate per
 * key id, so the same key's new certificate could not be registered, and records signed after the old one
 * ends would not verify. With a new key the old certificate keeps vouching for the records it signed.
 */
export async function renewSigner(stateDir: string, role: SignerRole, opts: RenewOptions): Promise<RenewResult> {
  if (!(SIGNER_ROLES as readonly string[]).includes(role))
    throw new PkiError(`--signer ${JSON.stringify(role)}: expected one of ${SIGNER_ROLES.join(', ')}`);
  if (!opts.newKey)
    throw new PkiError(
      `a signer is renewed with a new key: add --new-key (crypto_certs registers one certificate per key, so a new certificate for the same key could not be registered)`,
    );
  const p = pkiPaths(stateDir);
  const current = currentCert(stateDir, p.signerCert(role), role, 'signer');
  const { signerItems } = await import('./items.js');
  const files = { cert: p.signerCert(role), devKey: p.signerKey(role), item: signerItems(role) };
  return renew(stateDir, `signer ${role}`, { purpose: 'signer', role }, files, current, opts);
}
