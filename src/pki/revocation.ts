// The revocation list: the operators whose certificates payserv refuses, signed by the root CA key.
// It lives in the state directory, not the database: a database attacker cannot touch it, and even a
// writer of the file cannot add a name to it or take one out without the (offline) CA key, since payserv
// checks the signature against the pinned root. A revoked name stays revoked: every certificate issued
// to it, before or after, is refused, so a revocation cannot be undone by renewing.
import { createPrivateKey, sign, verify, type X509Certificate } from 'node:crypto';
import { operatorNameProblem } from './operators.js';

const DOMAIN = 'payserv.revocations.v1';

export class RevocationError extends Error {
  override name = 'RevocationError';
}

export interface Revoked {
  operator: string;
  /** ISO 8601. */
  at: string;
}

/** The file's content: the list and the root's Ed25519 signature over its canonical bytes (base64). */
export interface RevocationFile {
  domain: typeof DOMAIN;
  revoked: Revoked[];
  signature: string;
}

/** The signed bytes: the domain and the entries, sorted by name, in a fixed shape (no key order to argue about). */
const byName = (revoked: readonly Revoked[]): Revoked[] =>
  [...revoked].sort((a, b) => (a.operator < b.operator ? -1 : a.operator > b.operator ? 1 : 0));

function signedBytes(revoked: readonly Revoked[]): Buffer {
  return Buffer.from(JSON.stringify([DOMAIN, byName(revoked).map((r) => [r.operator, r.at])]), 'utf8');
}

/** The list, signed with the root CA's key. */
export function signRevocations(revoked: readonly Revoked[], rootKeyPem: string): RevocationFile {
  const entries = byName(revoked);
  const signature = sign(null, signedBytes(entries), createPrivateKey(rootKeyPem)).toString('base64');
  return { domain: DOMAIN, revoked: entries, signature };
}

/** The revoked names of a file, once its signature is checked against the pinned root; throws naming what is wrong. */
export function readRevocations(doc: unknown, root: X509Certificate): Map<string, Revoked> {
  const d = doc as Partial<RevocationFile> | null;
  if (!d || typeof d !== 'object' || d.domain !== DOMAIN || !Array.isArray(d.revoked) || typeof d.signature !== 'string')
    throw new RevocationError(`not a revocation list (expected {"domain":"${DOMAIN}","revoked":[…],"signature":"…"})`);
  const out = new Map<string, Revoked>();
  for (const r of d.revoked as unknown[]) {
    const e = r as Partial<Revoked> | null;
    if (
      !e ||
      typeof e.operator !== 'string' ||
      operatorNameProblem(e.operator) ||
      typeof e.at !== 'string' ||
      Number.isNaN(Date.parse(e.at))
    )
      throw new RevocationError(`revocation list: an entry is not {"operator": NAME, "at": TIME}`);
    out.set(e.operator, { operator: e.operator, at: e.at });
  }
  if (!verify(null, signedBytes([...out.values()]), root.publicKey, Buffer.from(d.signature, 'base64')))
    throw new RevocationError("revocation list: the signature is not the pinned root's (forged or altered)");
  return out;
}
