// What a service takes from its esman store at start (payserv, the intake): the store opened with the
// key esman manager hands over, and each item read into memory with the store's copy wiped.
import { resolve } from 'node:path';
import type { Logger } from '../log/index.js';
import type { SignerRole } from '../pki/roles.js';
import { Signer } from '../pki/signer.js';
import type { Trust } from '../pki/trust.js';
import { wipe } from './errors.js';
import { pemItem, signerItems } from './items.js';
import { obtainKey } from './request.js';
import { KeyStore } from './store-file.js';

/** A PEM item as text; the store's bytes wiped. */
export function pemFrom(store: KeyStore, name: string): string {
  const bytes = store.get(name);
  try {
    return pemItem(bytes, name);
  } finally {
    wipe(bytes);
  }
}

/** A role's signer from the store, its certificate checked against the pinned root. */
export function signerFrom(store: KeyStore, trust: Trust, role: SignerRole): Signer {
  const names = signerItems(role);
  const certPem = pemFrom(store, names.cert);
  trust.check(certPem);
  return Signer.fromPem(certPem, pemFrom(store, names.key));
}

export interface StoreSettings {
  /** The store file, relative to the state directory. */
  store: string;
  manager: string;
  retry_ms: number;
  answer_timeout_ms: number;
}

/**
 * Waits for esman manager's key (retrying until an operator allows it), opens the store and lets `take`
 * read what the service needs. A key that opens the store and yields every item is our manager's;
 * anything else (`take` throwing) is refused and the manager is told why.
 */
export function unlockStore<T>(
  keys: StoreSettings,
  o: { stateDir: string; who: string; log: Logger; signal?: AbortSignal | undefined },
  take: (store: KeyStore) => T,
): Promise<T> {
  const path = resolve(o.stateDir, keys.store);
  o.log.warn({ store: path, manager: keys.manager }, `${o.who} is locked: waiting for the key from esman manager`);
  return obtainKey({
    manager: keys.manager,
    retryMs: keys.retry_ms,
    answerTimeoutMs: keys.answer_timeout_ms,
    log: o.log,
    ...(o.signal ? { signal: o.signal } : {}),
    accept: async (master) => {
      const store = await KeyStore.open(path, master);
      try {
        return take(store);
      } finally {
        store.close();
      }
    },
  });
}
