import { X509Certificate } from 'node:crypto';
import { keyIdOf } from './keyid.js';
import { EKU_CLIENT_AUTH, EKU_LEDGER_SIGNING, ORGANIZATION, isSignerRole, type SignerRole } from './roles.js';

// Decides whether a certificate may vouch for a signature: chained to the root pinned on this host
// (never one taken from the database), of the right role and purpose, valid at the record's time.

export class CertError extends Error {
  override name = 'CertError';
}

export interface CheckedCert {
  keyId: string;
  role: string;
  purpose: 'signer' | 'tls';
  cert: X509Certificate;
  notBefore: Date;
  notAfter: Date;
}

/** The subject's attributes, e.g. { CN: 'admin signer', OU: 'admin', O: 'payserv' }. */
export function subjectOf(cert: X509Certificate): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of cert.subject.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export function parseCertPem(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    throw new CertError(`not a parseable X.509 certificate: ${(e as Error).message}`);
  }
}

export class Trust {
  readonly root: X509Certificate;
  readonly rootKeyId: string;

  constructor(rootPem: string) {
    this.root = parseCertPem(rootPem);
    if (!this.root.ca || !this.root.checkIssued(this.root) || !this.root.verify(this.root.publicKey)) {
      throw new CertError('pinned root is not a self-signed CA certificate');
    }
    this.rootKeyId = keyIdOf(this.root.publicKey);
  }

  /** Checks everything but time: issued and signed by the pinned root, a leaf, a known purpose. */
  check(pem: string): CheckedCert {
    const cert = parseCertPem(pem);
    if (cert.ca) throw new CertError('a CA certificate cannot sign records');
    if (!cert.checkIssued(this.root) || !cert.verify(this.root.publicKey)) {
      throw new CertError('certificate does not chain to the pinned root');
    }
    const subject = subjectOf(cert);
    if (subject.O !== ORGANIZATION || !subject.OU) throw new CertError(`certificate subject carries no ${ORGANIZATION} role`);
    const eku = cert.keyUsage ?? [];
    const purpose = eku.includes(EKU_LEDGER_SIGNING) ? 'signer' : eku.includes(EKU_CLIENT_AUTH) ? 'tls' : null;
    if (!purpose) throw new CertError('certificate has neither the ledger-signing nor the TLS usage');
    const notBefore = new Date(cert.validFrom);
    const notAfter = new Date(cert.validTo);
    if (Number.isNaN(notBefore.getTime()) || Number.isNaN(notAfter.getTime())) throw new CertError('certificate validity is unreadable');
    return { keyId: keyIdOf(cert.publicKey), role: subject.OU, purpose, cert, notBefore, notAfter };
  }

  /** A signer certificate that may sign a record of `role` made at `at`. */
  checkSigner(pem: string, role: SignerRole, at: Date): CheckedCert {
    const c = this.check(pem);
    assertSignerFor(c, role, at, this.root);
    return c;
  }
}

/** The parts of the check that depend on the record: role, purpose and time. */
export function assertSignerFor(c: CheckedCert, role: SignerRole, at: Date, root: X509Certificate): void {
  if (c.purpose !== 'signer' || !isSignerRole(c.role)) throw new CertError(`certificate ${c.keyId.slice(0, 16)} is not a ledger signer`);
  if (c.role !== role) throw new CertError(`signed by role ${c.role}, but this record needs role ${role}`);
  const t = at.getTime();
  // Certificate times have a resolution of one second; records carry milliseconds.
  if (t < c.notBefore.getTime() || t >= c.notAfter.getTime() + 1000) {
    throw new CertError(
      `certificate ${c.keyId.slice(0, 16)} was not valid at ${at.toISOString()} (valid ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()})`,
    );
  }
  if (t < new Date(root.validFrom).getTime() || t >= new Date(root.validTo).getTime() + 1000) {
    throw new CertError(`the root was not valid at ${at.toISOString()}`);
  }
}
