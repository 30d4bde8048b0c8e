import { createHash, type KeyObject } from 'node:crypto';

/** A key id is the SHA-256 of the public key's SubjectPublicKeyInfo: derived, so it cannot be forged apart from the key. */
export function keyIdOf(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}
