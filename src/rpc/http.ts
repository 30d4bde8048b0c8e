// The HTTP side of the RPC server: what a request must look like before its body is read, reading
// that body within a byte limit, and which HTTP status goes with which JSON-RPC error code.
import type { IncomingMessage } from 'node:http';
import { RPC } from '../api/jsonrpc.js';

/**
 * `application/json`, optionally with `charset=utf-8`: JSON is UTF-8 (RFC 8259), and a body declared
 * in another charset would be read as something other than what the caller meant.
 */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [type, ...parameters] = header.split(';').map((s) => s.trim().toLowerCase());
  if (type !== 'application/json') return false;
  return parameters.every((p) => p === '' || p === 'charset=utf-8' || p === 'charset="utf-8"');
}

/** The declared length, or null for chunked bodies and unreadable headers (the reader counts those itself). */
export function declaredLength(req: IncomingMessage): number | null {
  const h = req.headers['content-length'];
  if (h === undefined || !/^\d{1,15}$/.test(h)) return null;
  return Number(h);
}

export type BodyResult = { ok: true; body: Buffer } | { ok: false; reason: 'too-large' | 'aborted' };

/**
 * Reads the body, keeping at most `limit` bytes in memory: a larger body is known to be too large as
 * soon as its length is declared or its bytes pass the limit, and nothing after that is kept.
 * Bytes the caller goes on sending are left for the HTTP layer to discard (the stream is resumed).
 */
export function readBody(req: IncomingMessage, limit: number): Promise<BodyResult> {
  const declared = declaredLength(req);
  if (declared !== null && declared > limit) return Promise.resolve({ ok: false, reason: 'too-large' });
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const settle = (r: BodyResult) => {
      if (settled) return;
      settled = true;
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        // Keep the stream flowing so that what follows is discarded rather than buffered.
        req.resume();
        settle({ ok: false, reason: 'too-large' });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => settle({ ok: true, body: Buffer.concat(chunks, size) });
    const onAbort = () => settle({ ok: false, reason: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    req.on('close', onAbort);
  });
}

/**
 * The HTTP status of a JSON-RPC error. The body is what a JSON-RPC client reads; the status is for
 * everything in between (proxies, load balancers, access logs), so a refusal does not look like a 200.
 * Errors a method chooses (its own codes) are successful HTTP exchanges.
 */
export function httpStatusFor(code: number | null): number {
  switch (code) {
    case null:
      return 200;
    case RPC.PARSE_ERROR:
    case RPC.INVALID_REQUEST:
    case RPC.INVALID_PARAMS:
      return 400;
    case RPC.FORBIDDEN:
      return 403;
    case RPC.METHOD_NOT_FOUND:
      return 404;
    case RPC.INTERNAL_ERROR:
      return 500;
    case RPC.SHUTTING_DOWN:
    case RPC.BUSY:
    case RPC.NOT_CONNECTED:
      return 503;
    default:
      return 200;
  }
}
