import { z } from 'zod';
import type { Row } from '../db/db.js';

// Values crossing dbgw's JSON: parameters one way, rows the other, as exactly as in process. JSON has
// no bytes and no timestamps: those travel as tagged objects, and so does every object value (a json
// column), so a row that happens to hold {"$b": "..."} is never mistaken for bytes.

export type WireValue = null | boolean | number | string | WireValue[] | { $b: string } | { $d: string } | { $j: unknown };

export class WireError extends Error {
  override name = 'WireError';
}

export function toWire(v: unknown, what: string): WireValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new WireError(`${what}: ${v} is not a finite number`);
    return v;
  }
  if (v instanceof Uint8Array) return { $b: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) throw new WireError(`${what}: an invalid date`);
    return { $d: v.toISOString() };
  }
  if (Array.isArray(v)) return v.map((x, i) => toWire(x, `${what}[${i}]`));
  // A bigint is money or an id: it must arrive as the decimal string the SQL casts, never a float.
  if (typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype) return { $j: v };
  throw new WireError(`${what}: a ${typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v} cannot cross to the database`);
}

export function fromWire(w: WireValue): unknown {
  if (w === null || typeof w !== 'object') return w;
  if (Array.isArray(w)) return w.map(fromWire);
  if ('$b' in w) return new Uint8Array(Buffer.from(w.$b, 'base64'));
  if ('$d' in w) return new Date(w.$d);
  return w.$j;
}

export const rowToWire = (r: Row): Record<string, WireValue> =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, toWire(v, `column ${k}`)]));

export const rowFromWire = (r: Record<string, WireValue>): Row => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, fromWire(v)]));

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** What dbgw accepts as one parameter: the forms above and nothing else (strict: no extra keys). */
export const wireValueSchema: z.ZodType<WireValue> = z.lazy(() =>
  z.union([
    z.null(),
    z.boolean(),
    z.number().finite(),
    z.string().max(1_000_000),
    z.array(wireValueSchema).max(100_000),
    z.strictObject({ $b: z.base64().max(1_400_000) }),
    z.strictObject({ $d: z.string().regex(ISO, 'an ISO timestamp') }),
    z.strictObject({ $j: z.unknown() }),
  ]),
);
