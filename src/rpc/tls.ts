// The TLS settings of both ends, in one place, each spelt out rather than left to Node's defaults:
// a default that changes with the Node version (or with NODE_OPTIONS / openssl.cnf) must not widen
// who may call payserv.
import { constants } from 'node:crypto';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { checkServerIdentity } from 'node:tls';
import { OPERATOR_ACTS_AS, OPERATOR_OU, operatorNameProblem } from '../pki/operators.js';
import { DASHBOARD_OU } from '../pki/dashboard-ou.js';
import { isTlsIdentity, type TlsIdentity } from '../pki/roles.js';

/** A TLS identity's pair and the pinned root, as PEM text (src/esman/pki-files.ts writes them). */
export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  /** The pinned root: the only certificate authority trusted for the peer. */
  caPem: string;
}

/** A TLS handshake that has not finished by then is dropped: an authenticated caller never needs this long. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

export function serverTlsOptions(m: TlsMaterial) {
  return {
    cert: m.certPem,
    key: m.keyPem,
    // `ca` replaces Node's bundled public roots (it does not add to them): only our root issues clients.
    ca: m.caPem,
    minVersion: 'TLSv1.3' as const,
    // Ask for a client certificate and end the handshake unless it chains to `ca` and carries the
    // clientAuth purpose (so a ledger signer's certificate, under the same root, is refused too).
    requestCert: true,
    rejectUnauthorized: true,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    // No session tickets, so no resumption: a resumed TLS 1.3 session skips the certificate check and
    // reuses the identity verified when the ticket was issued. Every connection is verified in full
    // instead (an Ed25519 handshake is cheap, and keep-alive makes it rare).
    secureOptions: constants.SSL_OP_NO_TICKET,
  };
}

/**
 * Every TLS certificate carries serverAuth as well as clientAuth, and all are valid for localhost, so
 * the host name alone does not tell payserv from a pscli holder's server: the client also checks the
 * server's identity (its OU).
 */
export function clientTlsOptions(m: TlsMaterial, serverIdentity: TlsIdentity) {
  return {
    cert: m.certPem,
    key: m.keyPem,
    ca: m.caPem,
    minVersion: 'TLSv1.3' as const,
    rejectUnauthorized: true,
    checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined => {
      const err = checkServerIdentity(host, cert);
      if (err) return err;
      const ou = cert.subject?.OU;
      if (ou !== serverIdentity) {
        return Object.assign(new Error(`the server's certificate is for ${JSON.stringify(ou ?? null)}, not ${serverIdentity}`), {
          code: 'ERR_TLS_SERVER_IDENTITY',
        });
      }
      return undefined;
    },
  };
}

/** A verified caller: its identity (what the ACL grants) and, for a person's certificate, the operator's name. */
export interface Peer {
  identity: TlsIdentity;
  commonName: string;
  /** Set for an operator's certificate (OU=operator): the person; the identity is then pscli's. */
  operator?: string;
}

export type PeerIdentity = ({ ok: true } & Peer) | { ok: false; reason: string };

/**
 * Who is calling, from the verified client certificate: its subject OU, which must name a TLS identity,
 * or be an operator's (CN = the operator's name). The handshake has already checked that the
 * certificate chains to the pinned root; this only reads it.
 */
export function peerIdentity(socket: TLSSocket, listener: 'rpc' | 'dashboard' = 'rpc'): PeerIdentity {
  // Should not happen with rejectUnauthorized, but the identity must never rest on one setting alone.
  if (!socket.authorized) return { ok: false, reason: `client certificate not verified: ${String(socket.authorizationError)}` };
  // getPeerCertificate() returns {} (not null) when the peer sent none.
  const cert = socket.getPeerCertificate();
  const subject = cert.subject as PeerCertificate['subject'] | undefined;
  if (!subject) return { ok: false, reason: 'no client certificate' };
  // The handshake chained it to the root, directly or through the dashboard CA (the issuer's name tells
  // which: a name matches only the key that signed). The dashboard CA's certificates are for the dashboard only.
  const issuerOu: unknown = (cert.issuer as PeerCertificate['issuer'] | undefined)?.OU;
  if (issuerOu === DASHBOARD_OU && listener !== 'dashboard')
    return { ok: false, reason: 'a browser certificate (issued by the dashboard CA) is for the operator dashboard only' };
  // A subject with two OUs yields an array: ambiguous, so refused.
  const ou: unknown = subject.OU;
  const cn: unknown = subject.CN;
  if (ou === OPERATOR_OU) {
    if (typeof cn !== 'string' || operatorNameProblem(cn))
      return { ok: false, reason: 'operator certificate without a valid operator name (CN)' };
    return { ok: true, identity: OPERATOR_ACTS_AS, commonName: cn, operator: cn };
  }
  if (typeof ou !== 'string' || !isTlsIdentity(ou))
    return { ok: false, reason: `client certificate OU ${JSON.stringify(ou ?? null)} is not a TLS identity` };
  return { ok: true, identity: ou, commonName: typeof cn === 'string' ? cn : '' };
}
