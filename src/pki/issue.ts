import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { DASHBOARD_OU } from './dashboard-ou.js';
import { OPERATOR_OU } from './operators.js';
import { EKU_CLIENT_AUTH, EKU_LEDGER_SIGNING, EKU_SERVER_AUTH, ORGANIZATION, type SignerRole, type TlsIdentity } from './roles.js';

// Issues the project's certificates: Ed25519 throughout (deterministic signatures, fast native
// verification, accepted by OpenSSL for TLS 1.3), but for the browsers' family: the dashboard CA, its
// server certificate and the operators' browser certificates are P-256 (ECDSA), which browsers speak.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'Ed25519' } as const;
const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const P256_SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
type KeyAlg = typeof ALG | typeof P256;

export interface IssuedPair {
  certPem: string;
  keyPem: string;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export type CertSpec =
  | { purpose: 'signer'; role: SignerRole; commonName?: string }
  | { purpose: 'tls'; identity: TlsIdentity; commonName?: string; hosts?: string[] }
  /** A person's client certificate: CN=name, OU=operator, clientAuth only (no host names: it never serves). */
  | { purpose: 'operator'; name: string };

async function newKeys(alg: KeyAlg = ALG): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function pemOf(k: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'pem', type: 'pkcs8' }) as string;
}

function serial(): string {
  // Positive 128-bit serial: high bit cleared so DER does not read it as negative.
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f;
  return b.toString('hex');
}

/** Escapes a value for an RFC 4514 distinguished name. */
function dnValue(v: string): string {
  return v.replace(/([,+"\\<>;=#])/g, '\\$1');
}

export async function createRoot(commonName: string, validity: Validity): Promise<IssuedPair> {
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${dnValue(commonName)}, OU=root, O=${ORGANIZATION}`,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await pemOf(keys.privateKey) };
}

async function importRootKey(root: IssuedPair, alg: KeyAlg = ALG): Promise<webcrypto.CryptoKey> {
  const der = createPrivateKey(root.keyPem).export({ format: 'der', type: 'pkcs8' });
  return webcrypto.subtle.importKey('pkcs8', der, alg, false, ['sign']);
}

/** The key pair to certify: a new one, or (renewing with the same key) the one in `keyPem`. */
async function keysFor(keyPem: string | undefined): Promise<{ publicKey: webcrypto.CryptoKey; keyPem: () => Promise<string> }> {
  if (keyPem === undefined) {
    const keys = await newKeys();
    return { publicKey: keys.publicKey, keyPem: () => pemOf(keys.privateKey) };
  }
  const spki = createPublicKey(createPrivateKey(keyPem)).export({ format: 'der', type: 'spki' });
  return { publicKey: await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify']), keyPem: () => Promise.resolve(keyPem) };
}

/** A host name or an IP address as a subject alternative name. */
const sanOf = (h: string): x509.JsonGeneralName => (/^[\d.]+$|:/.test(h) ? { type: 'ip', value: h } : { type: 'dns', value: h });

function subjectParts(spec: CertSpec): { cn: string; ou: string } {
  if (spec.purpose === 'operator') return { cn: spec.name, ou: OPERATOR_OU };
  const role = spec.purpose === 'signer' ? spec.role : spec.identity;
  return { cn: spec.commonName ?? `${role} ${spec.purpose}`, ou: role };
}

/** Issues a signer, TLS or operator certificate under the root; for a new key unless `keyPem` gives the one to keep. */
export async function issueCert(root: IssuedPair, spec: CertSpec, validity: Validity, keyPem?: string): Promise<IssuedPair> {
  const keys = await keysFor(keyPem);
  return { certPem: await certify(root, spec, validity, keys.publicKey), keyPem: await keys.keyPem() };
}

/**
 * A new certificate for the key an existing certificate certifies: what renewing needs, and all it needs
 * (the private key stays where it is, in a key store the renewal never opens).
 */
export async function reissueCert(root: IssuedPair, spec: CertSpec, validity: Validity, oldCertPem: string): Promise<string> {
  const spki = new x509.X509Certificate(oldCertPem).publicKey.rawData;
  const publicKey = await webcrypto.subtle.importKey('spki', spki, ALG, true, ['verify']);
  return certify(root, spec, validity, publicKey);
}

async function certify(root: IssuedPair, spec: CertSpec, validity: Validity, publicKey: webcrypto.CryptoKey): Promise<string> {
  const rootCert = new x509.X509Certificate(root.certPem);
  const { cn, ou } = subjectParts(spec);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(rootCert),
  ];
  if (spec.purpose === 'signer') {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.nonRepudiation, true));
    extensions.push(new x509.ExtendedKeyUsageExtension([EKU_LEDGER_SIGNING], true));
  } else if (spec.purpose === 'operator') {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
    extensions.push(new x509.ExtendedKeyUsageExtension([EKU_CLIENT_AUTH], true));
  } else {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
    extensions.push(new x509.ExtendedKeyUsageExtension([EKU_SERVER_AUTH, EKU_CLIENT_AUTH], true));
    const hosts = spec.hosts ?? ['localhost', '127.0.0.1', '::1'];
    extensions.push(new x509.SubjectAlternativeNameExtension(hosts.map(sanOf)));
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${dnValue(cn)}, OU=${ou}, O=${ORGANIZATION}`,
    issuer: rootCert.subject,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    signingKey: await importRootKey(root),
    publicKey: publicKey,
    signingAlgorithm: ALG,
    extensions,
  });
  return cert.toString('pem');
}

// --- The browsers' family (P-256) ---------------------------------------------------------------------

/** The dashboard CA's pair (its certificate self-signed: the browsers' trust anchor) and the root's certificate of the same key and name. */
export interface DashboardCaPair extends IssuedPair {
  /** Signed by the Ed25519 root: how payserv knows the root vouches for this CA. */
  tiePem: string;
}

/**
 * The dashboard CA: a P-256 key with a self-signed certificate (a CA for leaves only, pathlen 0), which
 * browsers and OpenSSL take as an anchor, and a second certificate of the same key and name signed by the
 * Ed25519 root (the tie). payserv uses the CA only while the tie verifies under the pinned root. Not one
 * chain through the root: the root's own constraint (pathlen 0) allows no CA below it, so OpenSSL would
 * refuse such a chain, and browsers could not check the root's signature anyway.
 */
export async function createDashboardCa(root: IssuedPair, validity: Validity): Promise<DashboardCaPair> {
  const keys = await newKeys(P256);
  const rootCert = new x509.X509Certificate(root.certPem);
  const name = `CN=payserv dashboard CA, OU=${DASHBOARD_OU}, O=${ORGANIZATION}`;
  const extensions = async (): Promise<x509.Extension[]> => [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const self = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    keys,
    signingAlgorithm: P256_SIGNING,
    extensions: await extensions(),
  });
  const tie = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: name,
    issuer: rootCert.subject,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    signingKey: await importRootKey(root),
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [...(await extensions()), await x509.AuthorityKeyIdentifierExtension.create(rootCert)],
  });
  return { certPem: self.toString('pem'), keyPem: await pemOf(keys.privateKey), tiePem: tie.toString('pem') };
}

/** What the dashboard CA issues: the dashboard's server certificate, or an operator's browser certificate. */
export type BrowserSpec = { purpose: 'dashboard'; hosts: string[] } | { purpose: 'operator'; name: string };

/** A P-256 pair signed (ECDSA SHA-256) by the dashboard CA: serverAuth with host names, or clientAuth naming the operator. */
export async function issueBrowserCert(ca: IssuedPair, spec: BrowserSpec, validity: Validity): Promise<IssuedPair> {
  const keys = await newKeys(P256);
  const caCert = new x509.X509Certificate(ca.certPem);
  const server = spec.purpose === 'dashboard';
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([server ? EKU_SERVER_AUTH : EKU_CLIENT_AUTH], true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ];
  if (server) extensions.push(new x509.SubjectAlternativeNameExtension(spec.hosts.map(sanOf)));
  const subject = server
    ? `CN=payserv dashboard, OU=${DASHBOARD_OU}, O=${ORGANIZATION}`
    : `CN=${dnValue(spec.name)}, OU=${OPERATOR_OU}, O=${ORGANIZATION}`;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject,
    issuer: caCert.subject,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    signingKey: await importRootKey(ca, P256),
    publicKey: keys.publicKey,
    signingAlgorithm: P256_SIGNING,
    extensions,
  });
  return { certPem: cert.toString('pem'), keyPem: await pemOf(keys.privateKey) };
}
