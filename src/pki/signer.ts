import { createPrivateKey, createPublicKey, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';
import { keyIdOf } from './keyid.js';
import { parseCertPem, subjectOf } from './trust.js';
import { EKU_LEDGER_SIGNING, isSignerRole, type SignerRole } from './roles.js';

/** A role's signing key in process memory. The key never leaves this object: not logged, not serialised. */
export class Signer {
  readonly role: SignerRole;
  readonly keyId: string;
  readonly #key: KeyObject;

  private constructor(role: SignerRole, keyId: string, key: KeyObject) {
    this.role = role;
    this.keyId = keyId;
    this.#key = key;
  }

  static fromPem(certPem: string, keyPem: string): Signer {
    const cert = parseCertPem(certPem);
    const role = subjectOf(cert).OU ?? '';
    if (!isSignerRole(role)) throw new Error(`certificate role ${JSON.stringify(role)} is not a signer role`);
    // A TLS pair of the same role name must not load as a signer: its signatures would only be refused later.
    if (!(cert.keyUsage ?? []).includes(EKU_LEDGER_SIGNING)) throw new Error(`the ${role} certificate is not a ledger-signing certificate`);
    let key: KeyObject;
    try {
      key = createPrivateKey(keyPem);
    } catch {
      throw new Error(`the ${role} signing key is not a readable private key`);
    }
    const keyId = keyIdOf(cert.publicKey);
    if (keyIdOf(createPublicKey(key)) !== keyId) throw new Error(`the ${role} signing key does not match its certificate`);
    return new Signer(role, keyId, key);
  }

  sign(message: Uint8Array): Uint8Array {
    return sign(null, message, this.#key);
  }

  /**
   * A secret for one purpose, derived from this key so that only its holder can compute it:
   * HKDF-SHA256 over the key's PKCS#8 DER encoding, empty salt (the key itself is uniformly random),
   * `info` naming the purpose. The key stays in this object; the caller owns (and may wipe) the result.
   */
  deriveSecret(info: string, bytes: number): Buffer {
    if (!info) throw new Error('deriveSecret: info must name the purpose');
    if (!Number.isSafeInteger(bytes) || bytes < 16 || bytes > 64) throw new RangeError(`deriveSecret: ${bytes} bytes; 16..64`);
    const der = this.#key.export({ format: 'der', type: 'pkcs8' });
    try {
      return Buffer.from(hkdfSync('sha256', der, Buffer.alloc(0), Buffer.from(info, 'utf8'), bytes));
    } finally {
      der.fill(0);
    }
  }

  /** Whether this key made `signature` over `message`: a writer recognising its own earlier signature. */
  madeSignature(message: Uint8Array, signature: Uint8Array): boolean {
    return verify(null, message, createPublicKey(this.#key), signature);
  }

  toJSON(): object {
    return { role: this.role, keyId: this.keyId };
  }
}
