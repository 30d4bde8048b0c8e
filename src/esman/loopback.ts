import { isIP } from 'node:net';
import { EsmanError } from './errors.js';

/** 127.0.0.0/8, ::1, and IPv4-mapped 127.x: addresses no other host can send from. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  if (isIP(a) === 4) return a.startsWith('127.');
  return a === '::1';
}

/** "host:port" → parts; the host must be a loopback address (the key is handed over on this host only). */
export function loopbackEndpoint(spec: string, what: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(spec);
  const host = m ? (m[1] ?? m[2]!) : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new EsmanError('bad_option', `${what} ${JSON.stringify(spec)}: expected host:port, e.g. 127.0.0.1:7444`);
  const h = host === 'localhost' ? '127.0.0.1' : host;
  if (!isLoopback(h)) throw new EsmanError('not_loopback', `${what} ${spec}: the key is handed over on loopback only (127.0.0.1 or ::1)`);
  return { host: h, port };
}
