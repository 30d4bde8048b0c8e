// The encrypted store: one file of named items. The index (names and sizes) is readable without the
// key, as the original's `esman -list` was, and authenticated with the values: it is the associated
// data of the AEAD that seals the values. Every write takes a fresh nonce and replaces the file atomically.
//
//   magic "ESMSTORE" | version 1 | key id 16 | nonce 12 | index length u32 BE | index JSON | sealed values + tag 16
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { writeFileAtomic } from '../state/atomic-file.js';
import { NONCE_BYTES, freshNonce, open, seal } from './aead.js';
import { EsmanError, reasonOf, wipe } from './errors.js';
import { KEY_ID_BYTES, hex, keyIdOf, storeKeyOf } from './master-key.js';
import { checkItemName } from './items.js';

const MAGIC = Buffer.from('ESMSTORE');
const VERSION = 1;
const INDEX_BYTES_MAX = 1 << 20;

export interface ItemInfo {
  name: string;
  size: number;
}

const indexSchema = z.array(z.strictObject({ name: z.string(), size: z.int().min(0) }));

interface Parsed {
  keyId: Uint8Array;
  nonce: Uint8Array;
  index: ItemInfo[];
  aad: Uint8Array;
  sealed: Uint8Array;
}

function parse(bytes: Buffer, where: string): Parsed {
  if (bytes.length < MAGIC.length + 1 || !bytes.subarray(0, MAGIC.length).equals(MAGIC))
    throw new EsmanError('damaged_file', `${where} is not an esman store`);
  if (bytes[MAGIC.length] !== VERSION)
    throw new EsmanError(
      'damaged_file',
      `${where}: store version ${bytes[MAGIC.length]} is not supported (this esman reads version ${VERSION})`,
    );
  let o = MAGIC.length + 1;
  if (bytes.length < o + KEY_ID_BYTES + NONCE_BYTES + 4) throw new EsmanError('damaged_file', `${where} is truncated`);
  const keyId = bytes.subarray(o, (o += KEY_ID_BYTES));
  const nonce = bytes.subarray(o, (o += NONCE_BYTES));
  const indexLen = bytes.readUInt32BE(o);
  o += 4;
  if (indexLen > INDEX_BYTES_MAX || o + indexLen > bytes.length)
    throw new EsmanError('damaged_file', `${where}: index length ${indexLen} does not fit the file: the store is damaged`);
  let index: ItemInfo[];
  try {
    index = indexSchema.parse(JSON.parse(bytes.subarray(o, o + indexLen).toString('utf8')));
  } catch {
    throw new EsmanError('damaged_file', `${where}: the item index is unreadable: the store is damaged`);
  }
  o += indexLen;
  return { keyId, nonce, index, aad: bytes.subarray(0, o), sealed: bytes.subarray(o) };
}

async function readStoreFile(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new EsmanError('unreadable', `store ${path} cannot be read: ${reasonOf(e)}`);
  }
}

/** Names and sizes, without the key (and so without proof they are genuine: opening the store proves that). */
export async function readIndex(path: string): Promise<{ keyId: string; items: ItemInfo[] }> {
  const p = parse(await readStoreFile(path), path);
  return { keyId: hex(p.keyId), items: p.index };
}

/** The store's items in memory. Values are copies the caller may wipe; `close()` wipes them all. */
export class KeyStore {
  private constructor(
    readonly path: string,
    private readonly items: Map<string, Buffer>,
  ) {}

  static empty(path: string): KeyStore {
    return new KeyStore(path, new Map());
  }

  static async open(path: string, master: Uint8Array): Promise<KeyStore> {
    return KeyStore.decode(await readStoreFile(path), master, path);
  }

  static decode(bytes: Buffer, master: Uint8Array, where: string): KeyStore {
    const p = parse(bytes, where);
    if (!Buffer.from(keyIdOf(master)).equals(Buffer.from(p.keyId))) {
      throw new EsmanError(
        'wrong_key',
        `${where} is sealed under key ${hex(p.keyId).slice(0, 16)}, not under this key (${hex(keyIdOf(master)).slice(0, 16)}): wrong shares for this store, or its header was altered`,
      );
    }
    const key = storeKeyOf(master);
    const plain = open(key, p.nonce, p.sealed, p.aad);
    wipe(key);
    if (!plain) throw new EsmanError('altered_file', `${where} fails authentication: the store was altered or damaged`);
    const items = new Map<string, Buffer>();
    let o = 0;
    for (const { name, size } of p.index) {
      items.set(name, Buffer.from(plain.subarray(o, (o += size))));
    }
    const whole = o === plain.length;
    wipe(plain);
    if (!whole) throw new EsmanError('damaged_file', `${where}: the index does not match the sealed values: the store is damaged`);
    return new KeyStore(where, items);
  }

  list(): ItemInfo[] {
    return [...this.items].map(([name, v]) => ({ name, size: v.length }));
  }

  has(name: string): boolean {
    return this.items.has(name);
  }

  /** A copy of the item's value. */
  get(name: string): Buffer {
    const v = this.items.get(name);
    if (!v)
      throw new EsmanError(
        'missing_item',
        `store ${this.path} has no item ${name} (it has: ${[...this.items.keys()].join(', ') || 'nothing'})`,
      );
    return Buffer.from(v);
  }

  set(name: string, value: Uint8Array): void {
    checkItemName(name);
    wipe(this.items.get(name));
    this.items.set(name, Buffer.from(value));
  }

  delete(name: string): void {
    const v = this.items.get(name);
    if (!v) throw new EsmanError('missing_item', `store ${this.path} has no item ${name}`);
    wipe(v);
    this.items.delete(name);
  }

  encode(master: Uint8Array): Buffer {
    const names = [...this.items.keys()].sort();
    const index = Buffer.from(JSON.stringify(names.map((name) => ({ name, size: this.items.get(name)!.length }))), 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32BE(index.length);
    const aad = Buffer.concat([MAGIC, Uint8Array.of(VERSION), keyIdOf(master), freshNonce(), len, index]);
    const nonce = aad.subarray(MAGIC.length + 1 + KEY_ID_BYTES, MAGIC.length + 1 + KEY_ID_BYTES + NONCE_BYTES);
    const plain = Buffer.concat(names.map((n) => this.items.get(n)!));
    const key = storeKeyOf(master);
    try {
      return Buffer.concat([aad, seal(key, nonce, plain, aad)]);
    } finally {
      wipe(key, plain);
    }
  }

  /** Seals the items under `master` (a fresh nonce) and replaces the file atomically (0600). */
  async save(master: Uint8Array, path = this.path): Promise<void> {
    await writeFileAtomic(path, this.encode(master), 0o600);
  }

  close(): void {
    for (const v of this.items.values()) wipe(v);
    this.items.clear();
  }
}
