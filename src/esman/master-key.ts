// The master key and what is derived from it. Nothing stores the master key itself: shares rebuild it,
// the store's key and the public key id come from it through HKDF, each under its own label.
import { randomBytes } from 'node:crypto';
import { hkdf } from '@noble/hashes/hkdf';
import { sha256 } from '@noble/hashes/sha2';

export const MASTER_KEY_BYTES = 32;
export const KEY_ID_BYTES = 16;

export const newMasterKey = (): Uint8Array => new Uint8Array(randomBytes(MASTER_KEY_BYTES));

const derive = (master: Uint8Array, label: string, bytes: number) => hkdf(sha256, master, undefined, `esman/${label}/v1`, bytes);

/** A public commitment to the master key: lets shares and stores say which key they belong to, and proves a rebuilt key right. */
export const keyIdOf = (master: Uint8Array): Uint8Array => derive(master, 'key-id', KEY_ID_BYTES);

/** The AEAD key of the store file. */
export const storeKeyOf = (master: Uint8Array): Uint8Array => derive(master, 'store', 32);

export const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
