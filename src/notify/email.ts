import { isIP } from 'node:net';
import { createTransport } from 'nodemailer';
import { abortedWhy } from './http.js';
import type { Channel } from './channels.js';
import { subjectOf, textOf, type Notice } from './message.js';

// E-mail over SMTP (nodemailer): TLS required unless the operator chose a loopback relay without it
// (config refuses "none" for any other host); the certificate is checked, against ca if given.

export interface EmailSettings {
  host: string;
  port: number;
  /** starttls: upgrade required; implicit: TLS from the first byte (port 465); none: a loopback relay only. */
  tls: 'starttls' | 'implicit' | 'none';
  from: string;
  to: readonly string[];
  user?: string | undefined;
  password?: string | undefined;
  /** PEM of a private CA that issued the server's certificate; unset: the system's. */
  caPem?: string | undefined;
  timeoutMs: number;
}

/** Long enough for any notice; nodemailer's own limits are far above. */
const TEXT_MAX = 20_000;

export function emailChannel(s: EmailSettings): Channel {
  const transport = createTransport({
    host: s.host,
    port: s.port,
    secure: s.tls === 'implicit',
    requireTLS: s.tls === 'starttls',
    ignoreTLS: s.tls === 'none',
    ...(s.user ? { auth: { user: s.user, pass: s.password ?? '' } } : {}),
    // SNI names a host, never an address (RFC 6066); the certificate is checked against the host either way.
    tls: {
      minVersion: 'TLSv1.2',
      rejectUnauthorized: true,
      ...(isIP(s.host) ? {} : { servername: s.host }),
      ...(s.caPem ? { ca: s.caPem } : {}),
    },
    connectionTimeout: s.timeoutMs,
    greetingTimeout: s.timeoutMs,
    socketTimeout: s.timeoutMs,
    // Nothing in a notice may make nodemailer read a file or fetch a URL.
    disableFileAccess: true,
    disableUrlAccess: true,
    logger: false,
  });
  return {
    name: 'email',
    target: `smtp ${s.host}:${s.port}`,
    deliver: (n: Notice, signal: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        const onAbort = (): void => {
          transport.close();
          reject(new Error(abortedWhy(signal)));
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        transport
          .sendMail({ from: s.from, to: [...s.to], subject: subjectOf(n), text: textOf(n, TEXT_MAX) })
          .then(
            () => resolve(),
            (e: Error) => reject(new Error(`SMTP: ${e.message}`)),
          )
          .finally(() => signal.removeEventListener('abort', onAbort));
      }),
  };
}
