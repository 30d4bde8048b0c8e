// Who is who. A certificate's role is its subject's OU; its purpose (signing ledger records or
// speaking TLS) is its extended key usage, so a TLS key can never sign a ledger row and back.

/** Roles whose keys sign ledger records (DESIGN §3). */
export const SIGNER_ROLES = ['payserv', 'admin', 'autopay'] as const;
export type SignerRole = (typeof SIGNER_ROLES)[number];

/** Identities that speak mutually authenticated TLS: the services (the ledger intake among them) and the pool's admin back end. */
export const TLS_IDENTITIES = ['payserv', 'dbgw', 'pscli', 'backend', 'intake'] as const;
export type TlsIdentity = (typeof TLS_IDENTITIES)[number];

/** Private extended-key-usage OID marking a ledger-signing certificate (2.25 = UUID-derived arc). */
export const EKU_LEDGER_SIGNING = '2.25.170693617640429755342036612245283491861';
export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export const ORGANIZATION = 'payserv';

export function isSignerRole(x: string): x is SignerRole {
  return (SIGNER_ROLES as readonly string[]).includes(x);
}

export function isTlsIdentity(x: string): x is TlsIdentity {
  return (TLS_IDENTITIES as readonly string[]).includes(x);
}
