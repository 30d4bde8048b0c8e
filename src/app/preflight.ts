// What payserv checks before it asks esman manager for the key, so that an operator's key ceremony is
// never spent on a start that would fail anyway: [keys] (a manager on loopback, a store file that is an
// esman store: its index needs no key), a database named somewhere (else payserv would make an empty
// embedded one), then each configured node is asked which chain it is on
// (eth_chainId, getblockchaininfo: no key needed), and a node on another chain than configured stops
// the start here; so does an Ethereum node whose latest block says the fee mode is wrong (eip1559). A node that does not answer (or wants credentials the store will give) is only a
// warning now: the drivers check it again, with the chain's whole identity, once the store is open.
import { ConfigError, type Config } from '../config/load.js';
import { networkOf } from '../chains/zcash/driver.js';
import { nodeChainOf } from '../chains/btc/driver.js';
import { resolveNetwork } from '../chains/btc/network.js';
import { redactUrl } from '../chains/zcash/rpc.js';
import type { Logger } from '../log/index.js';
import { resolve } from 'node:path';
import { EsmanError, type EsmanCode } from '../esman/errors.js';
import { loopbackEndpoint } from '../esman/loopback.js';
import { readIndex } from '../esman/store-file.js';
import { DATABASE_ITEM } from '../esman/items.js';
import { requiredItems } from './keys.js';

type CoinSettings = Config<'payserv'>['coins'][string];

/** One question to a node at start: bounded, so a hung node delays the start this long at most. */
export const PREFLIGHT_TIMEOUT_MS = 5_000;

/** A configured node on another chain: the configuration or the node is wrong, and waiting will not help. */
export class WrongChainError extends ConfigError {
  override name = 'WrongChainError';
}

/** [keys] that cannot work: a configuration to fix (exit 2), with esman's code for why, found before any key request. */
export class KeysConfigError extends ConfigError {
  override name = 'KeysConfigError';
  constructor(
    readonly code: EsmanCode,
    message: string,
  ) {
    super(`[${code}] ${message}`);
  }
}

/**
 * [keys] manager on loopback and [keys] store an esman store that can be read (its index needs no key):
 * otherwise the operators would type their passphrases for a start that fails right after. Answers the
 * names of the items the store holds (none without a store).
 */
export async function checkKeysBeforeKeys(config: Config<'payserv'>): Promise<ReadonlySet<string>> {
  const keys = config.keys;
  if (!keys.store) return new Set();
  const store = keys.store;
  try {
    loopbackEndpoint(keys.manager, '[keys] manager');
    const index = await readIndex(resolve(config.stateDir, store)).catch((e: unknown) => {
      throw e instanceof EsmanError ? new EsmanError(e.code, `[keys] store = ${JSON.stringify(store)}: ${e.message}`) : e;
    });
    const held = new Set(index.items.map((i) => i.name));
    const missing = requiredItems(config).filter((n) => !held.has(n));
    if (missing.length)
      throw new EsmanError(
        'missing_item',
        `[keys] store = ${JSON.stringify(store)} holds no ${missing.join(', ')}, which this configuration needs`,
      );
    return held;
  } catch (e) {
    if (!(e instanceof EsmanError)) throw e;
    throw new KeysConfigError(e.code, `${e.message} (no key was requested)`);
  }
}

/**
 * A database is named somewhere: [database] url (or DATABASE_URL), [dbgw] (which may hold its own), the store's
 * DB.JSON (`held`: the store's item names), or the embedded one chosen ([database] embedded = true, or the demo's
 * state directory). Otherwise payserv would quietly create an empty embedded ledger: refused before any key request.
 */
export function checkDatabaseBeforeKeys(config: Config<'payserv'>, held: ReadonlySet<string>): void {
  const d = config.database;
  if (d.url && held.has(DATABASE_ITEM))
    throw new ConfigError(
      `the database is named twice, in [database] url (or DATABASE_URL) and in the store's ${DATABASE_ITEM}: keep one (no key was requested)`,
    );
  if (d.url || config.dbgw || d.embedded || held.has(DATABASE_ITEM)) return;
  throw new ConfigError(
    'no database configured: set [database] url, [dbgw], a DB.JSON item in the store, or [database] embedded = true for development (no key was requested)',
  );
}

async function ask(nodeUrl: string, method: string, timeoutMs: number, params: unknown[] = []): Promise<unknown> {
  // fetch refuses a URL with credentials, and its refusal quotes the URL: they travel as a header.
  const url = new URL(nodeUrl);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (url.username || url.password) {
    headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  }
  const res = await fetch(url, {
    method: 'POST',
    headers,
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as { result?: unknown; error?: { message?: string } | null };
  if (body.error) throw new Error(`node error: ${body.error.message ?? 'unknown'}`);
  return body.result;
}

/** The node's chain as the configuration names it (a chain id, a network), or why it could not be read. */
async function nodeChain(s: CoinSettings, timeoutMs: number): Promise<{ configured: string; node: string; key: string }> {
  if (s.chain === 'evm') {
    const id = await ask(s.node_url, 'eth_chainId', timeoutMs);
    if (typeof id !== 'string' || !/^0x[0-9a-f]+$/i.test(id)) throw new Error('eth_chainId did not answer a hex quantity');
    return { key: 'chain_id', configured: String(s.chain_id), node: BigInt(id).toString() };
  }
  const info = (await ask(s.node_url, 'getblockchaininfo', timeoutMs)) as { chain?: unknown } | null;
  if (typeof info?.chain !== 'string') throw new Error('getblockchaininfo did not name its chain');
  if (s.chain === 'btc') return { key: 'network', configured: nodeChainOf(resolveNetwork(s.network)), node: info.chain };
  return { key: 'network', configured: s.network, node: networkOf(info.chain) };
}

/**
 * Why the configured fee mode does not fit the node's chain (its latest block has a base fee or not), or null;
 * the driver checks the same once the store is open, but by then the key ceremony is spent.
 */
async function feeModeMismatch(s: CoinSettings, timeoutMs: number): Promise<string | null> {
  if (s.chain !== 'evm') return null;
  const block = (await ask(s.node_url, 'eth_getBlockByNumber', timeoutMs, ['latest', false])) as { baseFeePerGas?: unknown } | null;
  if (block === null || typeof block !== 'object') throw new Error('eth_getBlockByNumber "latest" answered no block');
  const baseFee = block.baseFeePerGas !== undefined && block.baseFeePerGas !== null;
  if (s.eip1559 && !baseFee)
    return "eip1559 = true, but the node's latest block carries no base fee (a chain without EIP-1559, such as ETC): set eip1559 = false";
  if (!s.eip1559 && baseFee) return "eip1559 = false, but the node's chain has a base fee (EIP-1559 is active): set eip1559 = true";
  return null;
}

export async function checkNodesBeforeKeys(
  coins: Config<'payserv'>['coins'],
  log: Logger,
  timeoutMs = PREFLIGHT_TIMEOUT_MS,
): Promise<void> {
  await Promise.all(
    Object.entries(coins)
      .filter(([, s]) => s.auto)
      .map(async ([tag, s]) => {
        const where = redactUrl(new URL(s.node_url));
        let c, fee;
        try {
          c = await nodeChain(s, timeoutMs);
          fee = c.node === c.configured ? await feeModeMismatch(s, timeoutMs) : null;
        } catch (e) {
          log.warn(
            { coin: tag, node: where, err: (e as Error).message },
            'node not checked before the key request: checked again once the store is open',
          );
          return;
        }
        if (c.node !== c.configured) {
          throw new WrongChainError(
            `[coins.${tag}] ${c.key} = ${c.configured}, but the node at ${where} is on ${c.key} ${c.node}: fix the configuration or the node (no key was requested)`,
          );
        }
        if (fee) throw new ConfigError(`[coins.${tag}] ${fee} (the node at ${where}; no key was requested)`);
      }),
  );
}
