// payserv's keys at start. With [keys] store set (production): ask esman manager for the master key
// (retrying until an operator allows it), open the store, take the signing keys, the TLS pair, the
// hot-wallet keys and the database parameters into memory, and wipe the store's copy. Without a store:
// the plain files of a development state directory, with a warning.
import { readFileSync } from 'node:fs';
import type { Config } from '../config/load.js';
import { stateDirFile } from '../config/state-file.js';
import { sameAddress } from '../chains/address.js';
import { EsmanError, wipe } from '../esman/errors.js';
import {
  DATABASE_ITEM,
  coinItem,
  nextCoinItem,
  parseCoinItem,
  parseDatabaseItem,
  parseNodeAuthItem,
  pemItem,
  signerItems,
  tlsItems,
  withCredentials,
} from '../esman/items.js';
import { signerFrom, unlockStore } from '../esman/store-keys.js';
import { KeyStore } from '../esman/store-file.js';
import { hotWalletAddress } from '../keys/hot-wallet.js';
import type { Logger } from '../log/index.js';
import { loadSigner, pkiPaths } from '../esman/pki-files.js';
import { DASHBOARD_KEY_ITEM } from '../esman/pki-dashboard.js';
import type { SignerRole } from '../pki/roles.js';
import { Signer } from '../pki/signer.js';
import type { Trust } from '../pki/trust.js';
import { notifyItems, secretText } from './notify.js';

type CoinSettings = Config<'payserv'>['coins'][string];

export interface PayservKeys {
  source: 'store' | 'files';
  signers: { payserv: Signer; admin: Signer | undefined; autopay: Signer | undefined };
  tls: { certPem: string; keyPem: string };
  /** The dashboard's P-256 server key ([dashboard] listen set), else undefined. */
  dashboardKey: string | undefined;
  /** Hands each automatically paid coin's key over once (the caller wipes it); undefined: the key files. */
  hotKey: ((tag: string, s: CoinSettings) => Promise<Uint8Array>) | undefined;
  /** A rotation's next key (item Coin.<TAG>.NEXT.JSON), handed over once; undefined: none pending. Files: undefined (the key files). */
  nextHotKey: ((tag: string) => Uint8Array | undefined) | undefined;
  /** The store's DB.JSON: the database payserv (issue 6: dbgw) is given once the store is open. */
  databaseUrl: string | undefined;
  /** The coins' settings, each node_url with its node_auth_item's credentials. */
  coins: Config<'payserv'>['coins'];
  /** [alerts] channels' secrets named as store items: item name → value (src/app/notify.ts). */
  notifySecrets: Map<string, string>;
}

function fromFiles(config: Config<'payserv'>, log: Logger): PayservKeys {
  const dir = config.stateDir;
  const needsStore = Object.entries(config.coins).find(([, s]) => s.chain !== 'evm' && s.node_auth_item);
  if (needsStore)
    throw new EsmanError('no_store', `[coins.${needsStore[0]}] node_auth_item names a store item, but [keys] store is not set`);
  const notifyItem = notifyItems(config)[0];
  if (notifyItem) throw new EsmanError('no_store', `[alerts] names the store item ${notifyItem}, but [keys] store is not set`);
  const p = pkiPaths(dir);
  log.warn(
    { stateDir: dir },
    'keys read from plain files in the state directory ([keys] store is not set): for development and tests only',
  );
  return stateDirFile(config, 'payserv', () => ({
    source: 'files',
    signers: {
      payserv: loadSigner(dir, 'payserv'),
      admin: config.keys.admin ? loadSigner(dir, 'admin') : undefined,
      autopay: config.autopay.enabled ? loadSigner(dir, 'autopay') : undefined,
    },
    tls: { certPem: readFileSync(p.tlsCert('payserv'), 'utf8'), keyPem: readFileSync(p.tlsKey('payserv'), 'utf8') },
    dashboardKey: config.dashboard.listen ? dashboardKeyFile(p.dashboardServerKey) : undefined,
    hotKey: undefined,
    nextHotKey: undefined,
    databaseUrl: undefined,
    coins: config.coins,
    notifySecrets: new Map(),
  }));
}

/** The store items this configuration will take when the store opens: checked by name before the key is asked for. */
export function requiredItems(config: Config<'payserv'>): string[] {
  const roles: SignerRole[] = [
    'payserv',
    ...(config.keys.admin ? (['admin'] as const) : []),
    ...(config.autopay.enabled ? (['autopay'] as const) : []),
  ];
  const coins = Object.entries(config.coins).flatMap(([tag, s]) => [
    ...(s.auto ? [s.key_item ?? coinItem(tag)] : []),
    ...(s.chain !== 'evm' && s.node_auth_item ? [s.node_auth_item] : []),
  ]);
  return [
    ...Object.values(tlsItems('payserv')),
    ...(config.dashboard.listen ? [DASHBOARD_KEY_ITEM] : []),
    ...roles.flatMap((r) => Object.values(signerItems(r))),
    ...coins,
    ...notifyItems(config),
  ];
}

/** Every hot-wallet key of a coin paid automatically, checked against the address stored beside it. */
function hotKeysFrom(store: KeyStore, coins: Config<'payserv'>['coins'], next = false): Map<string, Uint8Array> {
  const keys = new Map<string, Uint8Array>();
  for (const [tag, s] of Object.entries(coins)) {
    if (!s.auto) continue;
    const name = next ? nextCoinItem(tag) : (s.key_item ?? coinItem(tag));
    if (next && !store.has(name)) continue;
    const value = store.get(name);
    try {
      const item = parseCoinItem(value, name, tag);
      const address = hotWalletAddress(tag, item.privateKey, 'mainnet', coins);
      if (item.address && !sameAddress(tag, item.address, address, coins))
        throw new EsmanError('bad_item', `store item ${name}: its address ${item.address} is not its key's (${address})`);
      keys.set(tag, item.privateKey);
    } finally {
      wipe(value);
    }
  }
  return keys;
}

function fromStore(store: KeyStore, config: Config<'payserv'>, trust: Trust): PayservKeys {
  const t = tlsItems('payserv');
  const certPem = pemItem(store.get(t.cert), t.cert);
  trust.check(certPem);
  const keyBytes = store.get(t.key);
  const keyPem = pemItem(keyBytes, t.key);
  wipe(keyBytes);
  const hot = hotKeysFrom(store, config.coins);
  const nextHot = hotKeysFrom(store, config.coins, true);
  return {
    source: 'store',
    signers: {
      payserv: signerFrom(store, trust, 'payserv'),
      admin: config.keys.admin ? signerFrom(store, trust, 'admin') : undefined,
      // Autopay signs its own withdrawal requests, as the pool's back end does.
      autopay: config.autopay.enabled ? signerFrom(store, trust, 'autopay') : undefined,
    },
    tls: { certPem, keyPem },
    dashboardKey: config.dashboard.listen ? pemOnce(store, DASHBOARD_KEY_ITEM) : undefined,
    hotKey: async (tag) => {
      const k = hot.get(tag);
      if (!k) throw new EsmanError('missing_item', `no hot-wallet key for ${tag} was loaded from the store`);
      hot.delete(tag);
      return k;
    },
    nextHotKey: (tag) => {
      const k = nextHot.get(tag);
      nextHot.delete(tag);
      return k;
    },
    databaseUrl: store.has(DATABASE_ITEM) ? parseDatabaseItem(store.get(DATABASE_ITEM)).url : undefined,
    coins: Object.fromEntries(
      Object.entries(config.coins).map(([tag, s]) => [
        tag,
        s.chain !== 'evm' && s.node_auth_item
          ? { ...s, node_url: withCredentials(s.node_url, parseNodeAuthItem(store.get(s.node_auth_item), s.node_auth_item)) }
          : s,
      ]),
    ),
    notifySecrets: notifySecretsFrom(store, config),
  };
}

function dashboardKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new EsmanError(
      'missing_item',
      `[dashboard] listen is set but its key is not at ${file} (make it with \`pscli pki dashboard-ca\`)`,
    );
  }
}

/** A PEM item's text, its bytes wiped once read. */
function pemOnce(store: KeyStore, name: string): string {
  const bytes = store.get(name);
  try {
    return pemItem(bytes, name);
  } finally {
    wipe(bytes);
  }
}

/** The [alerts] channels' secrets held in the store; each item's bytes wiped once read. */
function notifySecretsFrom(store: KeyStore, config: Config<'payserv'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of notifyItems(config)) {
    const value = store.get(name);
    try {
      out.set(name, secretText(value, `store item ${name}`));
    } finally {
      wipe(value);
    }
  }
  return out;
}

export async function loadPayservKeys(config: Config<'payserv'>, trust: Trust, log: Logger, signal?: AbortSignal): Promise<PayservKeys> {
  if (!config.keys.store) return fromFiles(config, log);
  const store = config.keys.store;
  return unlockStore({ ...config.keys, store }, { stateDir: config.stateDir, who: 'payserv', log, signal }, (s) =>
    fromStore(s, config, trust),
  );
}
