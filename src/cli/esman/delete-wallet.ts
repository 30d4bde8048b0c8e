// `esman delete NAME`: any item goes at once, except a hot-wallet key (known by its name, payserv's
// [coins.TAG] key_item or its content): that goes only once the coin's node, shown to be on the
// configured chain, says its address holds no more than dust, and the operator typed the item's name
// back (or gave --yes); otherwise nothing changes.
import type { Config } from '../../config/load.js';
import { EsmanError, wipe } from '../../esman/errors.js';
import { parseCoinItem, parseNodeAuthItem, withCredentials } from '../../esman/items.js';
import type { KeyStore } from '../../esman/store-file.js';
import {
  checkConfirmation,
  confirmPrompt,
  hotWalletCoin,
  hotWalletContent,
  hotWalletTag,
  refuseFunded,
} from '../../esman/wallet-delete.js';
import { scrubSecrets } from '../../log/scrub.js';
import { refuseAbsent, withStore } from './unlock.js';
import type { Passphrases } from './input.js';
import type { ExpectedChain } from './wallet-funds.js';
import { resolveNetwork } from '../../chains/btc/network.js';
import { coinChain, type CoinChains } from '../../chains/coin-chain.js';

export interface DeleteOpts {
  dir: string;
  storage: string;
  passphraseFd?: number;
  nodeUrl?: string;
  config?: string;
  network?: string;
  chainId?: number;
  yes?: boolean;
}

type Network = 'mainnet' | 'testnet';
type CoinConfig = Config<'payserv'>['coins'][string];

/** payserv's configuration as esman reads it: its coins, and the state directory holding its chain pins. */
interface Payserv {
  file: string;
  stateDir: string;
  coins: Record<string, CoinConfig>;
}

/** Where and on which chain a hot wallet's balance is read. */
interface Node {
  url: string;
  authItem?: string;
  expected: Omit<ExpectedChain, 'chain'> & { chain: string | null };
  /** Zcash: the network the configuration or --network says; undefined: the stored address's. */
  network?: Network;
}

const NAME_THE_NODE = (name: string) =>
  `${name} is a hot-wallet key: name the coin's node with --node-url URL or --config payserv.toml, so that esman can check the wallet is empty`;

/** payserv's configuration file, read for its coins; a bad one is `bad_option`. */
export async function readPayserv(path: string): Promise<Payserv> {
  const { loadConfig } = await import('../../config/load.js');
  try {
    const c = await loadConfig('payserv', path);
    // A coin configured on another chain than its tag's (ETH as "btc") is named here, not met later as an internal error.
    for (const tag of Object.keys(c.coins)) coinChain(tag, c.coins);
    return { file: path, stateDir: c.stateDir, coins: c.coins };
  } catch (e) {
    throw new EsmanError('bad_option', `--config ${path}: ${(e as Error).message}`);
  }
}

/** The option values that need no store: refused before any passphrase. */
function checkOptions(o: DeleteOpts): void {
  if (o.nodeUrl !== undefined && o.config !== undefined) throw new EsmanError('bad_option', '--node-url and --config: give one');
  if (o.network !== undefined && o.network !== 'mainnet' && o.network !== 'testnet')
    throw new EsmanError('bad_option', `--network ${o.network}: expected mainnet or testnet`);
  if (o.nodeUrl === undefined) return;
  let u: URL | undefined;
  try {
    u = new URL(o.nodeUrl);
  } catch {
    // URL's own error quotes the input, credentials and all.
  }
  if (u?.protocol !== 'http:' && u?.protocol !== 'https:')
    throw new EsmanError('bad_option', `--node-url ${scrubSecrets(o.nodeUrl)}: expected an http:// or https:// URL`);
}

/** The coin payserv's configuration keeps under `name` ([coins.TAG] key_item, by default Coin.<TAG>.JSON), or null. */
function configuredCoin(name: string, p: Payserv | undefined): string | null {
  const tags = Object.entries(p?.coins ?? {}).filter(([tag, s]) => (s.key_item ?? `Coin.${tag}.JSON`) === name);
  return tags.length
    ? hotWalletCoin(
        name,
        tags.map(([t]) => t),
      )
    : null;
}

/** The node of coin `tag` and the chain it must be on; every refusal here is a command line to fix. */
async function nodeOf(name: string, tag: string, o: DeleteOpts, p: Payserv | undefined): Promise<Node> {
  const { familyOf } = await import('../../chains/address.js');
  if (o.passphraseFd === 0 && !o.yes)
    throw new EsmanError(
      'bad_option',
      `--passphrase-fd 0: stdin carries the confirmation of deleting ${name}: give the passphrases on another descriptor, or add --yes`,
    );
  const family = familyOf(tag, p?.coins);
  const evm = family === 'evm';
  if (o.nodeUrl !== undefined) {
    if (family === 'manual')
      throw new EsmanError(
        'bad_option',
        `${name} is a key of ${tag}, which is not ETH, ETC or ZEC: a Bitcoin-family coin's network and wallet type come from payserv's configuration: give --config payserv.toml`,
      );
    // Without a configuration the chain comes from the command line: a bare URL could be any chain's node.
    if (evm && o.chainId === undefined)
      throw new EsmanError(
        'bad_option',
        `${name} is a key of ${tag}: with --node-url give --chain-id N (the chain the wallet is on, e.g. 1 for ETH, 61 for ETC)`,
      );
    const chain = evm ? String(o.chainId) : (o.network ?? null);
    return {
      url: o.nodeUrl,
      expected: { chain, stateDir: null, confirmations: 1 },
      ...(o.network ? { network: o.network as Network } : {}),
    };
  }
  if (p === undefined) throw new EsmanError('bad_option', NAME_THE_NODE(name));
  const s = p.coins[tag];
  if (!s) throw new EsmanError('bad_option', `--config ${p.file} has no [coins.${tag}]: ${NAME_THE_NODE(name)}`);
  if (s.chain === 'zcash' && o.network !== undefined && o.network !== s.network)
    throw new EsmanError('bad_option', `--network ${o.network}: --config ${p.file} says [coins.${tag}] network = "${s.network}"`);
  if (o.chainId !== undefined && !(s.chain === 'evm' && s.chain_id === o.chainId))
    throw new EsmanError('bad_option', `--chain-id ${o.chainId}: --config ${p.file} gives [coins.${tag}] its chain; leave --chain-id out`);
  const expected = {
    chain: s.chain === 'evm' ? String(s.chain_id) : s.chain === 'btc' ? resolveNetwork(s.network).chain : s.network,
    genesis: s.genesis_hash,
    stateDir: p.stateDir,
    confirmations: Math.max(s.confirmations ?? 1, 1),
  };
  return {
    url: s.node_url,
    expected,
    ...(s.chain === 'zcash' ? { network: s.network } : {}),
    ...(s.chain !== 'evm' && s.node_auth_item ? { authItem: s.node_auth_item } : {}),
  };
}

/** The wallet's address as the item says it (else derived from its key), and the Zcash network that spelling belongs to. */
async function walletOf(value: Uint8Array, name: string, tag: string, network: Network | undefined, coins: CoinChains) {
  const [{ hotWalletAddress }, { sameAddress }] = await Promise.all([
    import('../../keys/hot-wallet.js'),
    import('../../chains/address.js'),
  ]);
  const item = parseCoinItem(value, name, tag);
  try {
    if (item.address === undefined)
      return { address: hotWalletAddress(tag, item.privateKey, network ?? 'mainnet', coins), network: network ?? 'mainnet' };
    const nets = network ? [network] : (['mainnet', 'testnet'] as const);
    const net = nets.find((n) => sameAddress(tag, hotWalletAddress(tag, item.privateKey, n, coins), item.address!, coins));
    if (!net)
      throw new EsmanError('bad_item', `store item ${name}: its address is not the ${network ? `${network} ` : ''}address of its key`);
    return { address: item.address, network: net };
  } catch (e) {
    if (e instanceof EsmanError) throw e;
    throw new EsmanError(
      'bad_item',
      `${name} holds a key of ${tag}, whose balance esman cannot read (ETH, ETC, ZEC, and a Bitcoin-family coin given by --config payserv.toml): nothing deleted`,
    );
  } finally {
    wipe(item.privateKey);
  }
}

/** The hot wallet `value` is the key of: deleted only once its node, on the right chain, shows it empty and the name is typed back. */
async function guardHotWallet(
  store: KeyStore,
  name: string,
  tag: string,
  value: Uint8Array,
  node: Node,
  o: DeleteOpts,
  coins: CoinChains,
  askLine: (prompt: string) => Promise<string | null>,
  say: (s: string) => void,
): Promise<void> {
  const { checkWalletNode, hotWalletFunds, NODE_TIMEOUT_MS } = await import('./wallet-funds.js');
  const { address, network } = await walletOf(value, name, tag, node.network, coins);
  const url = node.authItem ? withCredentials(node.url, parseNodeAuthItem(store.get(node.authItem), node.authItem)) : node.url;
  await checkWalletNode(name, tag, address, url, { ...node.expected, chain: node.expected.chain ?? network }, NODE_TIMEOUT_MS, coins);
  const funds = await hotWalletFunds(name, tag, address, url, network, NODE_TIMEOUT_MS, coins);
  refuseFunded(name, funds);
  if (!o.yes) checkConfirmation(name, await askLine(confirmPrompt(name, funds)));
  say(`${name}: hot wallet ${address} holds ${funds.held} ${funds.unit} (dust is at most ${funds.dust})`);
}

export async function deleteItem(
  name: string,
  o: DeleteOpts,
  input: Passphrases,
  askLine: (prompt: string) => Promise<string | null>,
  say: (s: string) => void,
): Promise<void> {
  checkOptions(o);
  const payserv = o.config === undefined ? undefined : await readPayserv(o.config);
  const configured = configuredCoin(name, payserv);
  const named = hotWalletTag(name);
  await refuseAbsent(o.storage, name);
  // Known by its name: the node is named before any passphrase.
  if (named !== null || configured !== null) await nodeOf(name, hotWalletCoin(name, [named, configured]), o, payserv);
  await withStore(o.dir, o.storage, input, say, async (store, master) => {
    const value = store.get(name);
    try {
      const content = hotWalletContent(value);
      if (named !== null || configured !== null || content !== null) {
        const tag = hotWalletCoin(name, [named, configured, content?.coin ?? null]);
        await guardHotWallet(store, name, tag, value, await nodeOf(name, tag, o, payserv), o, payserv?.coins ?? {}, askLine, say);
      }
    } finally {
      wipe(value);
    }
    store.delete(name);
    await store.save(master);
  });
}
