// One operator's share of the master key, D/<i>.ss: a fixed binary layout whose every byte is either
// checked (magic, version, lengths, bounds) or authenticated (the header is the AEAD's associated data;
// the salt and nonce feed the key and the cipher), so a flipped byte anywhere is detected.
//
//   magic "ESMSHARE" | version 1 | set id 16 | key id 16 | index 1 | shares 1 | threshold 1 |
//   kdf 1 (1 = scrypt) | log2N 1 | r 1 | p 1 | salt 16 | nonce 12 | sealed share (33 + tag 16)
import { randomBytes } from 'node:crypto';
import { NONCE_BYTES, TAG_BYTES, open, seal } from './aead.js';
import { EsmanError, wipe } from './errors.js';
import { SALT_BYTES, checkScrypt, deriveKey, type ScryptParams } from './kdf.js';
import { KEY_ID_BYTES, MASTER_KEY_BYTES } from './master-key.js';

const MAGIC = Buffer.from('ESMSHARE');
const VERSION = 1;
const KDF_SCRYPT = 1;
export const SET_ID_BYTES = 16;
const SHARE_BYTES = MASTER_KEY_BYTES + 1;
const HEADER_BYTES = MAGIC.length + 1 + SET_ID_BYTES + KEY_ID_BYTES + 3 + 4 + SALT_BYTES + NONCE_BYTES;
export const SHARE_FILE_BYTES = HEADER_BYTES + SHARE_BYTES + TAG_BYTES;

export interface ShareHeader {
  setId: Uint8Array;
  keyId: Uint8Array;
  /** 1-based: the file's number, D/<index>.ss. */
  index: number;
  shares: number;
  threshold: number;
  kdf: ScryptParams;
}

export interface ShareFile {
  header: ShareHeader;
  salt: Uint8Array;
  nonce: Uint8Array;
  sealed: Uint8Array;
  /** The header bytes, authenticated by the AEAD. */
  aad: Uint8Array;
}

export const shareFileName = (index: number) => `${index}.ss`;

export async function encryptShare(h: ShareHeader, share: Uint8Array, passphrase: Uint8Array): Promise<Buffer> {
  const salt = randomBytes(SALT_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  const aad = Buffer.concat([
    MAGIC,
    Uint8Array.of(VERSION),
    h.setId,
    h.keyId,
    Uint8Array.of(h.index, h.shares, h.threshold, KDF_SCRYPT, h.kdf.log2N, h.kdf.r, h.kdf.p),
    salt,
    nonce,
  ]);
  const key = await deriveKey(passphrase, salt, h.kdf);
  try {
    return Buffer.concat([aad, seal(key, nonce, share, aad)]);
  } finally {
    wipe(key);
  }
}

/** Parses and bounds-checks a share file without any secret; `where` names it in errors. */
export function parseShareFile(bytes: Uint8Array, where: string): ShareFile {
  const b = Buffer.from(bytes);
  if (b.length < MAGIC.length || !b.subarray(0, MAGIC.length).equals(MAGIC))
    throw new EsmanError('damaged_file', `${where} is not an esman share file`);
  if (b[MAGIC.length] !== VERSION)
    throw new EsmanError(
      'damaged_file',
      `${where}: share file version ${b[MAGIC.length]} is not supported (this esman reads version ${VERSION})`,
    );
  if (b.length !== SHARE_FILE_BYTES)
    throw new EsmanError('damaged_file', `${where} is ${b.length} bytes, a share file is ${SHARE_FILE_BYTES}: the file is damaged`);
  let o = MAGIC.length + 1;
  const take = (n: number) => b.subarray(o, (o += n));
  const setId = take(SET_ID_BYTES);
  const keyId = take(KEY_ID_BYTES);
  const [index, shares, threshold, kdfId, log2N, r, p] = take(7) as unknown as number[];
  const salt = take(SALT_BYTES);
  const nonce = take(NONCE_BYTES);
  const aad = b.subarray(0, o);
  const sealed = b.subarray(o);
  if (kdfId !== KDF_SCRYPT) throw new EsmanError('damaged_file', `${where}: unknown key derivation ${kdfId}: the file is damaged`);
  if (!shares || !threshold || !index || threshold > shares || index > shares) {
    throw new EsmanError(
      'damaged_file',
      `${where}: share ${index} of ${shares} with threshold ${threshold} is impossible: the file is damaged`,
    );
  }
  const kdf = { log2N: log2N!, r: r!, p: p! };
  checkScrypt(kdf, `${where} (damaged?)`);
  return { header: { setId, keyId, index: index!, shares: shares!, threshold: threshold!, kdf }, salt, nonce, sealed, aad };
}

/** The share inside, or a clear error: the AEAD cannot tell a wrong passphrase from an altered file. */
export async function decryptShare(f: ShareFile, passphrase: Uint8Array, where: string): Promise<Uint8Array> {
  const key = await deriveKey(passphrase, f.salt, f.header.kdf);
  const share = open(key, f.nonce, f.sealed, f.aad);
  wipe(key);
  if (!share || share.length !== SHARE_BYTES)
    throw new EsmanError('wrong_passphrase', `${where}: wrong passphrase, or the share file was altered`);
  return share;
}
