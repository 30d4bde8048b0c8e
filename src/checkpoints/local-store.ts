// The checkpoint copies that live only on the payserv host. The database cannot reach this directory,
// so an attacker who rewrites the ledger and its checkpoint tables still disagrees with these files.
import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { readJson, TMP_NAME, writeJsonAtomic } from '../state/atomic-file.js';
import { markAnchor, type LocalPart } from '../state/local-anchor.js';

/** Opaque to the store: the caller signs it, writes it, and compares it with the database's copy. */
export type StoredCheckpoint = Record<string, unknown>;

export class LocalStoreError extends Error {
  override name = 'LocalStoreError';
}

const FILE_MODE = 0o600;
const ID_NAME = /^[1-9][0-9]*$/;

function checkId(what: string, id: number): number {
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new LocalStoreError(`local checkpoint store: bad ${what} ${String(id)}: expected a positive safe integer`);
  return id;
}

/** Parses an id from a directory entry name; anything else in the tree is damage to report, not skip. */
function parseIdName(name: string, suffix: string, path: string): number {
  const stem = name.endsWith(suffix) ? name.slice(0, name.length - suffix.length) : null;
  const n = stem !== null && ID_NAME.test(stem) ? Number(stem) : NaN;
  if (!Number.isSafeInteger(n))
    throw new LocalStoreError(`local checkpoint store: unexpected entry ${path}: name is not <positive id>${suffix}`);
  return n;
}

export class LocalCheckpointStore {
  readonly root: string;

  constructor(readonly stateDir: string) {
    this.root = join(stateDir, 'checkpoints');
  }

  userPath(userId: number, coinId: number): string {
    return join(this.root, 'user', String(checkId('coin id', coinId)), `${checkId('user id', userId)}.json`);
  }

  coinPath(coinId: number): string {
    return join(this.root, 'coin', `${checkId('coin id', coinId)}.json`);
  }

  /** What this host has seen of an account's wallets (src/verify/wallets.ts): not a checkpoint, kept beside them for the same reason. */
  walletPath(userId: number, coinId: number): string {
    return join(this.root, 'wallet', String(checkId('coin id', coinId)), `${checkId('user id', userId)}.json`);
  }

  // async, so a bad id rejects like every other failure instead of throwing synchronously.
  async getUser(userId: number, coinId: number): Promise<StoredCheckpoint | null> {
    return this.read(this.userPath(userId, coinId));
  }

  async putUser(userId: number, coinId: number, record: StoredCheckpoint): Promise<void> {
    await this.write(this.userPath(userId, coinId), record);
    await this.mark('user_checkpoints');
  }

  async getCoin(coinId: number): Promise<StoredCheckpoint | null> {
    return this.read(this.coinPath(coinId));
  }

  async putCoin(coinId: number, record: StoredCheckpoint): Promise<void> {
    await this.write(this.coinPath(coinId), record);
    await this.mark('coin_checkpoints');
  }

  async getWallets(userId: number, coinId: number): Promise<StoredCheckpoint | null> {
    return this.read(this.walletPath(userId, coinId));
  }

  async putWallets(userId: number, coinId: number, record: StoredCheckpoint): Promise<void> {
    await this.write(this.walletPath(userId, coinId), record);
    await this.mark('wallet_memory');
  }

  /** Parts this store already saw recorded in the anchor: one look per part and process. */
  #marked = new Set<LocalPart>();

  /** The first write of a part: the anchor (if the state directory has one) records it, so its later loss is seen. */
  private async mark(part: LocalPart): Promise<void> {
    if (this.#marked.has(part)) return;
    try {
      if (await markAnchor(this.stateDir, part)) this.#marked.add(part);
    } catch (e) {
      throw new LocalStoreError(`local checkpoint store: ${(e as Error).message}`);
    }
  }

  /** Every stored user checkpoint, one directory entry at a time: the user tree can hold millions. */
  listUsers(): AsyncGenerator<{ userId: number; coinId: number }> {
    return this.listAccounts('user');
  }

  /** Every account whose wallets this host remembers, streamed like listUsers. */
  listWalletAccounts(): AsyncGenerator<{ userId: number; coinId: number }> {
    return this.listAccounts('wallet');
  }

  private async *listAccounts(tree: 'user' | 'wallet'): AsyncGenerator<{ userId: number; coinId: number }> {
    const treeRoot = join(this.root, tree);
    for await (const coinName of this.entries(treeRoot)) {
      const coinDir = join(treeRoot, coinName);
      const coinId = parseIdName(coinName, '', coinDir);
      for await (const fileName of this.entries(coinDir)) {
        yield { userId: parseIdName(fileName, '.json', join(coinDir, fileName)), coinId };
      }
    }
  }

  async *listCoins(): AsyncGenerator<number> {
    const coinRoot = join(this.root, 'coin');
    for await (const name of this.entries(coinRoot)) yield parseIdName(name, '.json', join(coinRoot, name));
  }

  /** Entry names of dir, streamed; a missing directory is empty (nothing stored yet). Skips temp files. */
  private async *entries(dir: string): AsyncGenerator<string> {
    let handle;
    try {
      handle = await opendir(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new LocalStoreError(`local checkpoint store: cannot list ${dir}: ${(e as Error).message}`);
    }
    // for-await over a Dir closes it, also when the consumer stops early.
    for await (const entry of handle) {
      if (!TMP_NAME.test(entry.name)) yield entry.name;
    }
  }

  private async read(path: string): Promise<StoredCheckpoint | null> {
    let value: unknown;
    try {
      value = await readJson(path);
    } catch (e) {
      throw new LocalStoreError(`local checkpoint store: ${(e as Error).message}`);
    }
    if (value === null) return null;
    if (typeof value !== 'object' || Array.isArray(value)) {
      throw new LocalStoreError(`local checkpoint store: ${path} does not hold a JSON object`);
    }
    return value as StoredCheckpoint;
  }

  /** Crash-safe replace (src/state/atomic-file.ts): after a crash the file is the old record or the new one, never a torn mix. */
  private async write(path: string, record: StoredCheckpoint): Promise<void> {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new LocalStoreError(`local checkpoint store: record for ${path} must be a JSON object`);
    }
    try {
      await writeJsonAtomic(path, record, FILE_MODE);
    } catch (e) {
      throw new LocalStoreError(`local checkpoint store: ${(e as Error).message}`);
    }
  }
}
