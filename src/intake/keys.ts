// The intake's keys at start: the admin and autopay signers, its TLS pair ('intake'), the database
// (DB.JSON) and the Zcash nodes' credentials (node_auth_item), from esman's store opened with the key `esman manager` hands over (production), or from
// the plain files of a development state directory, with a warning.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Config } from '../config/load.js';
import { EsmanError, wipe } from '../esman/errors.js';
import { DATABASE_ITEM, parseDatabaseItem, parseNodeAuthItem, pemItem, signerItems, tlsItems } from '../esman/items.js';
import { loadSigner, pkiPaths } from '../esman/pki-files.js';
import { obtainKey } from '../esman/request.js';
import { KeyStore } from '../esman/store-file.js';
import type { Logger } from '../log/index.js';
import type { SignerRole } from '../pki/roles.js';
import { Signer } from '../pki/signer.js';
import type { Trust } from '../pki/trust.js';

export interface IntakeKeys {
  source: 'store' | 'files';
  signers: { admin: Signer; autopay: Signer };
  tls: { certPem: string; keyPem: string };
  databaseUrl: string | undefined;
  /** Each Zcash node's RPC credentials, by coin tag, from the store items [coins.T] node_auth_item names. */
  nodeAuth: Map<string, { user: string; password: string }>;
}

/** The coins whose node credentials are a store item. */
const authItems = (coins: Config<'intake'>['coins']) =>
  Object.entries(coins).flatMap(([tag, c]) => (c.chain === 'zcash' && c.node_auth_item ? [[tag, c.node_auth_item] as const] : []));

function fromFiles(config: Config<'intake'>, log: Logger): IntakeKeys {
  const needsStore = authItems(config.coins)[0];
  if (needsStore)
    throw new EsmanError('no_store', `[coins.${needsStore[0]}] node_auth_item names a store item, but [keys] store is not set`);
  const dir = config.stateDir;
  const p = pkiPaths(dir);
  log.warn(
    { stateDir: dir },
    'keys read from plain files in the state directory ([keys] store is not set): for development and tests only',
  );
  return {
    source: 'files',
    signers: { admin: loadSigner(dir, 'admin'), autopay: loadSigner(dir, 'autopay') },
    tls: { certPem: readFileSync(p.tlsCert('intake'), 'utf8'), keyPem: readFileSync(p.tlsKey('intake'), 'utf8') },
    databaseUrl: undefined,
    nodeAuth: new Map(),
  };
}

/** A PEM item read and wiped: only the string copy stays, in this process. */
function pemOf(store: KeyStore, name: string): string {
  const bytes = store.get(name);
  try {
    return pemItem(bytes, name);
  } finally {
    wipe(bytes);
  }
}

function signerFrom(store: KeyStore, trust: Trust, role: SignerRole): Signer {
  const names = signerItems(role);
  const certPem = pemOf(store, names.cert);
  trust.check(certPem);
  return Signer.fromPem(certPem, pemOf(store, names.key));
}

function fromStore(store: KeyStore, trust: Trust, coins: Config<'intake'>['coins']): IntakeKeys {
  const t = tlsItems('intake');
  const certPem = pemOf(store, t.cert);
  trust.check(certPem);
  return {
    source: 'store',
    signers: { admin: signerFrom(store, trust, 'admin'), autopay: signerFrom(store, trust, 'autopay') },
    tls: { certPem, keyPem: pemOf(store, t.key) },
    databaseUrl: store.has(DATABASE_ITEM) ? parseDatabaseItem(store.get(DATABASE_ITEM)).url : undefined,
    nodeAuth: new Map(authItems(coins).map(([tag, name]) => [tag, parseNodeAuthItem(store.get(name), name)])),
  };
}

export async function loadIntakeKeys(config: Config<'intake'>, trust: Trust, log: Logger, signal?: AbortSignal): Promise<IntakeKeys> {
  if (!config.keys.store) return fromFiles(config, log);
  const path = resolve(config.stateDir, config.keys.store);
  log.warn({ store: path, manager: config.keys.manager }, 'the intake is locked: waiting for the key from esman manager');
  return obtainKey({
    manager: config.keys.manager,
    retryMs: config.keys.retry_ms,
    answerTimeoutMs: config.keys.answer_timeout_ms,
    log,
    ...(signal ? { signal } : {}),
    accept: async (master) => {
      const store = await KeyStore.open(path, master);
      try {
        return fromStore(store, trust, config.coins);
      } finally {
        store.close();
      }
    },
  });
}
