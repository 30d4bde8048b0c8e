// A set of shares in a directory: made by init and rekey, combined to unlock. Combining authenticates:
// each share under its passphrase, all shares of one set, and the rebuilt key against the key id they
// were made for. Any failure gives an error and no key.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../state/atomic-file.js';
import { EsmanError, reasonOf, wipe } from './errors.js';
import type { ScryptParams } from './kdf.js';
import { hex, keyIdOf } from './master-key.js';
import { combineShares, splitSecret } from './shamir.js';
import { SET_ID_BYTES, decryptShare, encryptShare, parseShareFile, shareFileName, type ShareFile } from './share-file.js';

/** Asks for a passphrase; '' (or null: no more input) skips that share. */
export type PassphraseSource = (prompt: string) => Promise<string | null>;

export interface SplitOptions {
  shares: number;
  threshold: number;
  kdf: ScryptParams;
}

const SHARE_NAME = /^([1-9]\d{0,2})\.ss$/;

async function shareFilesIn(dir: string): Promise<Array<{ index: number; path: string }>> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new EsmanError('unreadable', `share directory ${dir} cannot be read: ${reasonOf(e)}`);
  }
  return names
    .flatMap((n) => {
      const m = SHARE_NAME.exec(n);
      return m ? [{ index: Number(m[1]), path: join(dir, n) }] : [];
    })
    .sort((a, b) => a.index - b.index);
}

/** Refuses a directory that already holds shares: init and rekey call it before asking anything. */
export async function refuseShareDir(dir: string): Promise<void> {
  const existing = await shareFilesIn(dir).catch(() => []);
  if (existing.length)
    throw new EsmanError(
      'exists',
      `${dir} already holds shares (${existing.map((e) => shareFileName(e.index)).join(', ')}): shares are never overwritten`,
    );
}

/** Splits `master` into dir/1.ss … dir/N.ss, one passphrase each. Refuses a directory that already holds shares. */
export async function writeShares(
  dir: string,
  master: Uint8Array,
  o: SplitOptions,
  passphraseFor: (index: number) => Promise<Uint8Array>,
): Promise<string[]> {
  await refuseShareDir(dir);
  const parts = await splitSecret(master, o.shares, o.threshold);
  const header = { setId: randomBytes(SET_ID_BYTES), keyId: keyIdOf(master), shares: o.shares, threshold: o.threshold, kdf: o.kdf };
  // Encrypt all before writing any: a passphrase refused half-way leaves no partial set behind.
  const files: Buffer[] = [];
  try {
    for (const [i, part] of parts.entries()) {
      const pass = await passphraseFor(i + 1);
      files.push(await encryptShare({ ...header, index: i + 1 }, part, pass));
      wipe(pass);
    }
  } finally {
    wipe(...parts);
  }
  const paths = files.map((_, i) => join(dir, shareFileName(i + 1)));
  for (const [i, f] of files.entries()) await writeFileAtomic(paths[i]!, f, 0o600);
  return paths;
}

export interface Unlocked {
  master: Uint8Array;
  keyId: string;
  used: number[];
  threshold: number;
  shares: number;
}

async function readShare(path: string): Promise<ShareFile> {
  let bytes: Buffer;
  try {
    if (!(await stat(path)).isFile()) throw new EsmanError('unreadable', `${path} is not a file`);
    bytes = await readFile(path);
  } catch (e) {
    if (e instanceof EsmanError) throw e;
    throw new EsmanError('unreadable', `share ${path} cannot be read: ${reasonOf(e)}`);
  }
  return parseShareFile(bytes, path);
}

function sameSet(a: ShareFile, b: ShareFile, aPath: string, bPath: string): void {
  const ha = a.header;
  const hb = b.header;
  if (!Buffer.from(ha.setId).equals(Buffer.from(hb.setId)) || !Buffer.from(ha.keyId).equals(Buffer.from(hb.keyId))) {
    throw new EsmanError(
      'mixed_sets',
      `${bPath} belongs to another set of shares than ${aPath} (set ${hex(hb.setId).slice(0, 8)} vs ${hex(ha.setId).slice(0, 8)}): shares of different inits never combine`,
    );
  }
  if (ha.threshold !== hb.threshold || ha.shares !== hb.shares)
    throw new EsmanError('mixed_sets', `${bPath} says ${hb.threshold} of ${hb.shares}, ${aPath} says ${ha.threshold} of ${ha.shares}`);
}

/**
 * Rebuilds the master key from the shares in `dir`, asking for passphrases share by share until the
 * threshold is met (an empty answer skips a share whose operator is absent).
 */
export async function unlockShares(dir: string, ask: PassphraseSource): Promise<Unlocked> {
  const files = await shareFilesIn(dir);
  if (!files.length) throw new EsmanError('no_shares', `no share files (1.ss, 2.ss, …) in ${dir}`);
  const first = await readShare(files[0]!.path);
  const { threshold, shares } = first.header;
  const got: Uint8Array[] = [];
  const used: number[] = [];
  try {
    for (const { index, path } of files) {
      if (got.length === threshold) break;
      const f = index === files[0]!.index ? first : await readShare(path);
      sameSet(first, f, files[0]!.path, path);
      if (f.header.index !== index)
        throw new EsmanError('renamed_share', `${path} holds share ${f.header.index}: share files must not be renamed`);
      const answer = await ask(`passphrase for share ${index} of ${shares} (${threshold} needed, ${got.length} given; empty to skip): `);
      if (!answer) continue;
      const pass = Buffer.from(answer, 'utf8');
      try {
        got.push(await decryptShare(f, pass, path));
      } finally {
        wipe(pass);
      }
      used.push(index);
    }
    if (got.length < threshold)
      throw new EsmanError(
        'too_few_shares',
        `${got.length} of the ${threshold} shares needed were given (${files.length} present in ${dir}): no key`,
      );
    const master = await combineShares(got, threshold);
    if (!timingSafeEqual(keyIdOf(master), first.header.keyId)) {
      wipe(master);
      throw new EsmanError(
        'altered_file',
        `the shares ${used.join(', ')} do not rebuild the key they were made for: a share was altered or comes from another init`,
      );
    }
    return { master, keyId: hex(first.header.keyId), used, threshold, shares };
  } finally {
    wipe(...got);
  }
}
