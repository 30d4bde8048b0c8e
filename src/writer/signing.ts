import type { SignerRole } from '../pki/roles.js';
import type { Signer } from '../pki/signer.js';

/** Refuses to write a record that its signer's role may not sign: it would only be flagged by the checks later. */
export function assertRole(signer: Signer, role: SignerRole, what: string): void {
  if (signer.role !== role) throw new Error(`${what} must be signed by role ${role}, not ${signer.role}`);
}
