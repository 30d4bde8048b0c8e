import { verify } from 'node:crypto';
import { assertSignerFor, CertError, type CheckedCert, type Trust } from '../pki/trust.js';
import type { SignerRole } from '../pki/roles.js';

// The signer certificates registered in crypto_certs, each checked once against the root pinned on
// this host. The database only says which certificate to look at; the root decides whether it counts.

export interface CertRow {
  id: number;
  keyId: string;
  role: string;
  certPem: string;
}

export class CertBook {
  readonly #trust: Trust;
  readonly #byKeyId = new Map<string, CheckedCert>();

  constructor(trust: Trust) {
    this.#trust = trust;
  }

  get size(): number {
    return this.#byKeyId.size;
  }

  /** Admits a registered certificate; returns why it was refused, or null. */
  admit(row: CertRow): string | null {
    let c: CheckedCert;
    try {
      c = this.#trust.check(row.certPem);
    } catch (e) {
      return (e as Error).message;
    }
    if (c.keyId !== row.keyId) return `key_id ${row.keyId.slice(0, 16)}… does not match the certificate's key ${c.keyId.slice(0, 16)}…`;
    if (c.role !== row.role)
      return `role column ${JSON.stringify(row.role)} does not match the certificate's role ${JSON.stringify(c.role)}`;
    if (c.purpose !== 'signer') return 'not a ledger-signing certificate';
    this.#byKeyId.set(c.keyId, c);
    return null;
  }

  /** Verifies a record's signature: null when good, else why not. */
  check(message: Uint8Array, sigKeyId: string | null, signature: Uint8Array | null, role: SignerRole, at: Date): string | null {
    if (!sigKeyId || !signature || signature.length === 0) return 'unsigned';
    const c = this.#byKeyId.get(sigKeyId);
    if (!c) return `signed by key ${sigKeyId.slice(0, 16)}…, which is not a certificate under the pinned root`;
    try {
      assertSignerFor(c, role, at, this.#trust.root);
    } catch (e) {
      if (e instanceof CertError) return e.message;
      throw e;
    }
    return verify(null, message, c.cert.publicKey, signature) ? null : 'signature does not match the record';
  }
}
