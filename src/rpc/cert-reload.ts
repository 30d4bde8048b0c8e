// A renewed certificate taken up by a running server: the state directory's copy of the server's TLS
// certificate is watched, and a new one that certifies the key in use, chains to the pinned root, names
// this server and ends later than the one served replaces it for new connections (those open keep
// theirs). Anything else is refused and logged, and the certificate in use stays. The key never changes
// here: a new key comes from the store or the key file at a restart.
import { createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import type { Server } from 'node:tls';
import type { Logger } from '../log/index.js';
import { keyIdOf } from '../pki/keyid.js';
import type { TlsIdentity } from '../pki/roles.js';
import { Trust } from '../pki/trust.js';
import { serverTlsOptions, type TlsMaterial } from './tls.js';

/** How often the certificate file is looked at (a stat); SIGHUP looks at once. */
export const CERT_POLL_MS = 10_000;

export interface CertReloadOptions {
  /** The certificate file to take renewals from, e.g. <state dir>/pki/tls/payserv.crt. */
  file: string;
  /** Whose certificate it must be (its subject's OU). */
  identity: TlsIdentity;
  pollMs?: number;
}

export type CertReloadOutcome = 'renewed' | 'unchanged' | 'refused' | 'absent';

/** Why `pem` may not replace the certificate in use, or null when it may. Free of I/O. */
export function renewedCertProblem(pem: string, inUse: TlsMaterial, identity: TlsIdentity, now: Date): string | null {
  let c;
  try {
    c = new Trust(inUse.caPem).check(pem);
  } catch (e) {
    return (e as Error).message;
  }
  if (c.purpose !== 'tls' || c.role !== identity) return `a ${c.purpose} certificate of ${c.role}, not the TLS certificate of ${identity}`;
  if (c.keyId !== keyIdOf(createPublicKey(inUse.keyPem)))
    return 'it does not certify the key in use (a certificate for a new key is taken up at a restart, with its key)';
  if (now < c.notBefore || now >= c.notAfter)
    return `it is not valid now (valid ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()})`;
  const current = new Date(new X509Certificate(inUse.certPem).validTo);
  if (c.notAfter <= current) return `it ends ${c.notAfter.toISOString()}, no later than the certificate in use (${current.toISOString()})`;
  return null;
}

export interface CertWatch {
  /** Looks at the file now (start, SIGHUP). */
  check(): CertReloadOutcome;
  stop(): void;
}

/** Watches `opts.file` and puts a good renewal into `server`'s context; `tls` is the material it was started with. */
export function watchCertificate(server: Server, tls: TlsMaterial, opts: CertReloadOptions, log: Logger): CertWatch {
  let inUse = tls;
  /** The last text looked at: a refused file is logged once, not at every look. */
  let seen = normalise(tls.certPem);
  const check = (): CertReloadOutcome => {
    let pem: string;
    try {
      pem = readFileSync(opts.file, 'utf8');
    } catch {
      return 'absent';
    }
    if (normalise(pem) === seen) return 'unchanged';
    seen = normalise(pem);
    // Put back after a refusal: the one served, nothing to say.
    if (seen === normalise(inUse.certPem)) return 'unchanged';
    const why = renewedCertProblem(pem, inUse, opts.identity, new Date());
    if (why) {
      log.error({ file: opts.file, reason: why }, 'renewed certificate refused: the certificate in use stays');
      return 'refused';
    }
    try {
      server.setSecureContext(serverTlsOptions({ ...inUse, certPem: pem }));
    } catch (e) {
      log.error({ file: opts.file, reason: (e as Error).message }, 'renewed certificate refused: the certificate in use stays');
      return 'refused';
    }
    inUse = { ...inUse, certPem: pem };
    const notAfter = new Date(new X509Certificate(pem).validTo).toISOString();
    log.warn({ file: opts.file, notAfter }, 'renewed certificate in use for new connections');
    return 'renewed';
  };
  const onChange = (cur: Stats, prev: Stats) => {
    if (cur.mtimeMs !== prev.mtimeMs || cur.ino !== prev.ino || cur.size !== prev.size) check();
  };
  watchFile(opts.file, { interval: opts.pollMs ?? CERT_POLL_MS, persistent: false }, onChange);
  return { check, stop: () => unwatchFile(opts.file, onChange) };
}

const normalise = (pem: string) => pem.replace(/\r\n/g, '\n').trim();
