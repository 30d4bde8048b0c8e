import { certificateNotAfter, pkiCertificateFiles, type PkiCertFile } from '../esman/pki-files.js';

// The certificates payserv's state directory holds, read when scraped: a handful of small files, so no
// cache. A file that is there but cannot be read as a certificate is reported apart, for the scrape's
// error counter: its expiry is unknown, which is not the same as far away.

export interface CertificateExpiry extends PkiCertFile {
  /** ms since the epoch. */
  notAfter: number;
}

export interface CertificatesRead {
  certs: CertificateExpiry[];
  unreadable: Array<{ file: string; err: string }>;
}

/** Each certificate file of the state directory's PKI with its notAfter. Throws only when the directory cannot be listed. */
export function readCertificates(stateDir: string): CertificatesRead {
  const out: CertificatesRead = { certs: [], unreadable: [] };
  for (const c of pkiCertificateFiles(stateDir)) {
    try {
      out.certs.push({ ...c, notAfter: certificateNotAfter(c.file) });
    } catch (e) {
      out.unreadable.push({ file: c.file, err: (e as Error).message });
    }
  }
  return out;
}
