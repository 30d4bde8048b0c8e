// The intake's keys at start: the admin and autopay signers, its TLS pair ('intake'), the database
// (DB.JSON) and the Zcash nodes' credentials (node_auth_item), from esman's store opened with the key `esman manager` hands over (production), or from
// the plain files of a development state directory, with a warning.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/load.js';
import { EsmanError } from '../esman/errors.js';
import { DATABASE_ITEM, MININGCORE_ITEM, parseDatabaseItem, parseNodeAuthItem, tlsItems } from '../esman/items.js';
import { loadSigner, pkiPaths } from '../esman/pki-files.js';
import { pemFrom, signerFrom, unlockStore } from '../esman/store-keys.js';
import type { KeyStore } from '../esman/store-file.js';
import type { Logger } from '../log/index.js';
import type { Signer } from '../pki/signer.js';
import type { Trust } from '../pki/trust.js';

export interface IntakeKeys {
  source: 'store' | 'files';
  signers: { admin: Signer; autopay: Signer };
  tls: { certPem: string; keyPem: string };
  databaseUrl: string | undefined;
  /** Each Zcash node's RPC credentials, by coin tag, from the store items [coins.T] node_auth_item names. */
  nodeAuth: Map<string, { user: string; password: string }>;
  /** MiningCore's database, for the adapter ([pools.miningcore]). */
  miningcoreUrl?: string | undefined;
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
function fromStore(store: KeyStore, trust: Trust, coins: Config<'intake'>['coins']): IntakeKeys {
  const t = tlsItems('intake');
  const certPem = pemFrom(store, t.cert);
  trust.check(certPem);
  return {
    source: 'store',
    signers: { admin: signerFrom(store, trust, 'admin'), autopay: signerFrom(store, trust, 'autopay') },
    tls: { certPem, keyPem: pemFrom(store, t.key) },
    databaseUrl: store.has(DATABASE_ITEM) ? parseDatabaseItem(store.get(DATABASE_ITEM)).url : undefined,
    nodeAuth: new Map(authItems(coins).map(([tag, name]) => [tag, parseNodeAuthItem(store.get(name), name)])),
    miningcoreUrl: store.has(MININGCORE_ITEM) ? parseDatabaseItem(store.get(MININGCORE_ITEM), MININGCORE_ITEM).url : undefined,
  };
}

export async function loadIntakeKeys(config: Config<'intake'>, trust: Trust, log: Logger, signal?: AbortSignal): Promise<IntakeKeys> {
  if (!config.keys.store) return fromFiles(config, log);
  const store = config.keys.store;
  return unlockStore({ ...config.keys, store }, { stateDir: config.stateDir, who: 'the intake', log, signal }, (s) =>
    fromStore(s, trust, config.coins),
  );
}
