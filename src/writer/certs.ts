import type { Queryable } from '../db/db.js';
import type { Trust } from '../pki/trust.js';

/** Registers a signer certificate in crypto_certs after checking it against the pinned root; idempotent. */
export async function registerCert(db: Queryable, trust: Trust, certPem: string): Promise<{ keyId: string; role: string; added: boolean }> {
  const c = trust.check(certPem);
  if (c.purpose !== 'signer') throw new Error(`certificate ${c.keyId.slice(0, 16)}… is a TLS certificate, not a ledger signer`);
  const rows = await db.query(
    'INSERT INTO crypto_certs (key_id, role, cert_pem) VALUES ($1, $2, $3) ON CONFLICT (key_id) DO NOTHING RETURNING id',
    [c.keyId, c.role, c.cert.toString()],
  );
  return { keyId: c.keyId, role: c.role, added: rows.length === 1 };
}
