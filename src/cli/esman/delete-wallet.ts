// `esman delete Coin.<TAG>.JSON`: the key of a hot wallet goes only once the coin's node says its address holds no
// more than dust and the operator typed the item's name back (or gave --yes); otherwise nothing changes.
import { EsmanError, wipe } from '../../esman/errors.js';
import { parseCoinItem, parseNodeAuthItem, withCredentials } from '../../esman/items.js';
import type { KeyStore } from '../../esman/store-file.js';
import { checkConfirmation, confirmPrompt, refuseFunded } from '../../esman/wallet-delete.js';
import { scrubSecrets } from '../../log/scrub.js';
import { refuseAbsent, withStore } from './unlock.js';
import type { Passphrases } from './input.js';

export interface DeleteWalletOpts {
  dir: string;
  storage: string;
  passphraseFd?: number;
  nodeUrl?: string;
  config?: string;
  network: string;
  yes?: boolean;
}

/** Where the coin's node is: `--node-url`, or `[coins.TAG]` of payserv's configuration (its credentials item read once the store is open). */
interface Node {
  url: string;
  authItem?: string;
}

const NAME_THE_NODE = (name: string) =>
  `${name} is a hot-wallet key: name the coin's node with --node-url URL or --config payserv.toml, so that esman can check the wallet is empty`;

async function nodeOf(name: string, tag: string, o: DeleteWalletOpts): Promise<Node> {
  if (o.nodeUrl !== undefined && o.config !== undefined) throw new EsmanError('bad_option', '--node-url and --config: give one');
  if (o.nodeUrl !== undefined) {
    let u: URL | undefined;
    try {
      u = new URL(o.nodeUrl);
    } catch {
      // URL's own error quotes the input, credentials and all.
    }
    if (u?.protocol !== 'http:' && u?.protocol !== 'https:')
      throw new EsmanError('bad_option', `--node-url ${scrubSecrets(o.nodeUrl)}: expected an http:// or https:// URL`);
    return { url: o.nodeUrl };
  }
  if (o.config === undefined) throw new EsmanError('bad_option', NAME_THE_NODE(name));
  const { loadConfig } = await import('../../config/load.js');
  let coins;
  try {
    ({ coins } = await loadConfig('payserv', o.config));
  } catch (e) {
    throw new EsmanError('bad_option', `--config ${o.config}: ${(e as Error).message}`);
  }
  const s = coins[tag];
  if (!s) throw new EsmanError('bad_option', `--config ${o.config} has no [coins.${tag}]: ${NAME_THE_NODE(name)}`);
  return { url: s.node_url, ...(s.chain === 'zcash' && s.node_auth_item ? { authItem: s.node_auth_item } : {}) };
}

/** The wallet's address as the item says it (else derived from its key), and the Zcash network that spelling belongs to. */
async function walletOf(store: KeyStore, name: string, tag: string, network: 'mainnet' | 'testnet') {
  const { hotWalletAddress } = await import('../../keys/hot-wallet.js');
  const value = store.get(name);
  const item = parseCoinItem(value, name, tag);
  wipe(value);
  try {
    if (item.address === undefined) return { address: hotWalletAddress(tag, item.privateKey, network), network };
    const net = (['mainnet', 'testnet'] as const).find((n) => hotWalletAddress(tag, item.privateKey, n) === item.address);
    if (!net) throw new EsmanError('bad_item', `store item ${name}: its address is not the address of its key`);
    return { address: item.address, network: net };
  } finally {
    wipe(item.privateKey);
  }
}

export async function deleteHotWallet(
  name: string,
  tag: string,
  o: DeleteWalletOpts,
  input: Passphrases,
  askLine: (prompt: string) => Promise<string | null>,
  say: (s: string) => void,
): Promise<void> {
  if (o.network !== 'mainnet' && o.network !== 'testnet')
    throw new EsmanError('bad_option', `--network ${o.network}: expected mainnet or testnet`);
  if (o.passphraseFd === 0 && !o.yes)
    throw new EsmanError(
      'bad_option',
      `--passphrase-fd 0: stdin carries the confirmation of deleting ${name}: give the passphrases on another descriptor, or add --yes`,
    );
  const node = await nodeOf(name, tag, o);
  await refuseAbsent(o.storage, name);
  const { hotWalletFunds } = await import('./wallet-funds.js');
  await withStore(o.dir, o.storage, input, say, async (store, master) => {
    const { address, network } = await walletOf(store, name, tag, o.network as 'mainnet' | 'testnet');
    const url = node.authItem ? withCredentials(node.url, parseNodeAuthItem(store.get(node.authItem), node.authItem)) : node.url;
    const funds = await hotWalletFunds(name, tag, address, url, network);
    refuseFunded(name, funds);
    if (!o.yes) checkConfirmation(name, await askLine(confirmPrompt(name, funds)));
    store.delete(name);
    await store.save(master);
    say(`${name}: hot wallet ${address} holds ${funds.held} ${funds.unit} (dust is at most ${funds.dust})`);
  });
}
