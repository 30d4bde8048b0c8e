// The steps several esman commands share: rebuild the master key from T operators' shares and open the store.
import { EsmanError, wipe } from '../../esman/errors.js';
import { unlockShares, type Unlocked } from '../../esman/shares.js';
import { KeyStore, readIndex } from '../../esman/store-file.js';
import type { Passphrases } from './input.js';

export async function unlock(dir: string, input: Passphrases, say: (s: string) => void): Promise<Unlocked> {
  const u = await unlockShares(dir, (prompt) => input.ask(prompt));
  say(`master key ${u.keyId.slice(0, 16)} rebuilt from shares ${u.used.join(', ')} (${u.threshold} of ${u.shares})`);
  return u;
}

/** Runs `fn` with the open store and the key (`asksMore`: `fn` asks passphrases too); wipes both however it ends. */
export async function withStore<T>(
  dir: string,
  storage: string,
  input: Passphrases,
  say: (s: string) => void,
  fn: (store: KeyStore, master: Uint8Array) => Promise<T>,
  asksMore = false,
): Promise<T> {
  const u = await unlock(dir, input, say);
  let store: KeyStore | undefined;
  try {
    // Unless `fn` asks for new passphrases (rekey), the last was asked: nothing may be left on a descriptor.
    if (!asksMore) await input.end();
    store = await KeyStore.open(storage, u.master);
    return await fn(store, u.master);
  } finally {
    store?.close();
    wipe(u.master);
  }
}

export function refuseExisting(exists: boolean, path: string): void {
  if (exists) throw new EsmanError('exists', `${path} already exists: esman never overwrites a store (use add, delete or rekey)`);
}

/** The index is readable without the key: a name that is not there is said so before any passphrase. */
export async function refuseAbsent(storage: string, name: string): Promise<void> {
  if (!(await readIndex(storage)).items.some((i) => i.name === name))
    throw new EsmanError('missing_item', `store ${storage} has no item ${name}`);
}
