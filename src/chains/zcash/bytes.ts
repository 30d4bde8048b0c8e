// Byte encoding for Zcash transactions: little-endian integers, Bitcoin's CompactSize, hex. A reader
// error names the byte offset and the field, because a decoder that only says "bad transaction"
// leaves an operator guessing which of a thousand bytes is wrong.

export class ZcashDecodeError extends Error {
  override name = 'ZcashDecodeError';
  constructor(
    message: string,
    /** Offset of the first byte that could not be read. */
    readonly offset: number,
  ) {
    super(message);
  }
}

/** zcashd's MAX_SIZE: no CompactSize count or length may exceed it (serialize.h). */
export const COMPACT_SIZE_MAX = 0x02000000;

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Strict: even length, hex digits only (Buffer.from would silently stop at the first bad digit). */
export function fromHex(hex: string, what = 'hex'): Uint8Array {
  if (!HEX.test(hex)) throw new ZcashDecodeError(`${what}: not an even-length hex string`, 0);
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** A 32-byte hash in display order (as RPCs and explorers show txids) to its internal byte order. */
export function displayHexToHash(hex: string, what = 'txid'): Uint8Array {
  const bytes = fromHex(hex, what);
  if (bytes.length !== 32) throw new ZcashDecodeError(`${what}: ${bytes.length} bytes, a hash is 32`, 0);
  return bytes.reverse();
}

/** A 32-byte hash in internal byte order to display hex (reversed, as zcashd prints txids). */
export function hashToDisplayHex(hash: Uint8Array): string {
  return toHex(Uint8Array.from(hash).reverse());
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bytes needed for a CompactSize of n. */
export function compactSizeLength(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : n <= 0xffffffff ? 5 : 9;
}

export class ByteWriter {
  private buf = new Uint8Array(256);
  private view = new DataView(this.buf.buffer);
  private at = 0;

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new RangeError(`u8 out of range: ${v}`);
    this.room(1);
    this.buf[this.at++] = v;
    return this;
  }

  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`u32 out of range: ${v}`);
    this.room(4);
    this.view.setUint32(this.at, v, true);
    this.at += 4;
    return this;
  }

  i64(v: bigint): this {
    if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new RangeError(`i64 out of range: ${v}`);
    this.room(8);
    this.view.setBigInt64(this.at, v, true);
    this.at += 8;
    return this;
  }

  u64(v: bigint): this {
    if (v < 0n || v >= 2n ** 64n) throw new RangeError(`u64 out of range: ${v}`);
    this.room(8);
    this.view.setBigUint64(this.at, v, true);
    this.at += 8;
    return this;
  }

  compactSize(n: number): this {
    if (!Number.isSafeInteger(n) || n < 0 || n > COMPACT_SIZE_MAX) throw new RangeError(`CompactSize out of range: ${n}`);
    if (n < 0xfd) return this.u8(n);
    if (n <= 0xffff) {
      this.u8(0xfd).room(2);
      this.view.setUint16(this.at, n, true);
      this.at += 2;
      return this;
    }
    return this.u8(0xfe).u32(n);
  }

  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
    return this;
  }

  /** CompactSize length, then the bytes (Bitcoin's script and vector encoding). */
  varBytes(b: Uint8Array): this {
    return this.compactSize(b.length).bytes(b);
  }

  get length(): number {
    return this.at;
  }

  /** A copy: the writer may go on growing. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.at);
  }
}

export class ByteReader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.at;
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }

  private need(n: number, what: string): void {
    if (this.remaining < n) {
      throw new ZcashDecodeError(`truncated at byte ${this.at} reading ${what} (${n} bytes wanted, ${this.remaining} left)`, this.at);
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.buf[this.at++] as number;
  }

  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.at, true);
    this.at += 4;
    return v;
  }

  i64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigInt64(this.at, true);
    this.at += 8;
    return v;
  }

  u64(what: string): bigint {
    this.need(8, what);
    const v = this.view.getBigUint64(this.at, true);
    this.at += 8;
    return v;
  }

  /** A copy of the next n bytes (callers keep them; the source buffer may be reused). */
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return out;
  }

  /**
   * Canonical CompactSize (zcashd rejects a non-minimal one: "non-canonical ReadCompactSize()"),
   * at most `max`.
   */
  compactSize(what: string, max = COMPACT_SIZE_MAX): number {
    const start = this.at;
    const tag = this.u8(what);
    let n: number;
    let min: number;
    if (tag < 0xfd) {
      n = tag;
      min = 0;
    } else if (tag === 0xfd) {
      this.need(2, what);
      n = this.view.getUint16(this.at, true);
      this.at += 2;
      min = 0xfd;
    } else if (tag === 0xfe) {
      n = this.u32(what);
      min = 0x10000;
    } else {
      const big = this.u64(what);
      if (big > BigInt(max)) throw new ZcashDecodeError(`${what} at byte ${start}: ${big} is over the limit ${max}`, start);
      n = Number(big);
      min = 0x100000000;
    }
    if (n < min) throw new ZcashDecodeError(`${what} at byte ${start}: non-canonical CompactSize`, start);
    if (n > max) throw new ZcashDecodeError(`${what} at byte ${start}: ${n} is over the limit ${max}`, start);
    return n;
  }

  /**
   * A count of items each at least `itemBytesMin` long: bounded by what is left, so a forged count
   * cannot make the parser loop (or allocate) far past the end of the input.
   */
  count(what: string, itemBytesMin: number): number {
    const start = this.at;
    const n = this.compactSize(what);
    if (n * itemBytesMin > this.remaining) {
      throw new ZcashDecodeError(
        `truncated at byte ${start} reading ${what}: ${n} items need at least ${n * itemBytesMin} bytes, ${this.remaining} left`,
        start,
      );
    }
    return n;
  }

  varBytes(what: string, max = COMPACT_SIZE_MAX): Uint8Array {
    const n = this.compactSize(`${what} length`, max);
    return this.bytes(n, what);
  }

  /** Refuses trailing bytes: two different byte strings must never decode to one transaction. */
  end(what: string): void {
    if (this.remaining !== 0) throw new ZcashDecodeError(`${this.remaining} trailing bytes after ${what} at byte ${this.at}`, this.at);
  }
}
