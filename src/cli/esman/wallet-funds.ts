// What a hot wallet's address holds, asked of the coin's node the way payserv's drivers read it: Ethereum's
// eth_getBalance, Zcash's address UTXOs (getaddressutxos), once the node showed it is on the configured
// chain (payserv's own identity check, its pin read, never written). Loaded only by `esman delete` of a hot wallet.
import { createPublicClient, http, type Hex } from 'viem';
import { familyOf, zcashAddressScript } from '../../chains/address.js';
import { ChainIdentityError } from '../../chains/driver.js';
import { ChainIdentity, type NodeIdentity } from '../../chains/identity.js';
import { networkOf, syncing } from '../../chains/zcash/driver.js';
import { estimateTransparentFeeZat } from '../../chains/zcash/fee.js';
import { ZcashRpc } from '../../chains/zcash/rpc.js';
import type { Coin } from '../../ledger/records.js';
import { scrubSecrets } from '../../log/scrub.js';
import { EsmanError } from '../../esman/errors.js';
import { balanceUnknown, type WalletFunds } from '../../esman/wallet-delete.js';

export const NODE_TIMEOUT_MS = 10_000;
/** A plain value transfer: the gas of sweeping an EVM wallet. */
const TRANSFER_GAS = 21_000n;

async function evmFunds(nodeUrl: string, address: string, timeoutMs: number): Promise<WalletFunds> {
  const client = createPublicClient({ transport: http(nodeUrl, { timeout: timeoutMs, retryCount: 0 }) });
  const at = { address: address as Hex };
  // Mined and pending: a sweep still in the mempool may yet be dropped, and a deposit in it may yet arrive.
  const [latest, pending, gasPrice] = await Promise.all([
    client.getBalance({ ...at, blockTag: 'latest' }),
    client.getBalance({ ...at, blockTag: 'pending' }),
    client.getGasPrice(),
  ]);
  return { address, held: latest > pending ? latest : pending, dust: TRANSFER_GAS * gasPrice, unit: 'wei' };
}

async function zcashFunds(nodeUrl: string, address: string, network: Coin['network'], timeoutMs: number): Promise<WalletFunds> {
  const utxos = await new ZcashRpc({ url: nodeUrl, timeoutMs }).getAddressUtxos(address);
  const held = utxos.reduce((a, u) => a + u.satoshis, 0n);
  // Dust: less than the fee of a transaction spending every UTXO to one address.
  const dust = estimateTransparentFeeZat(utxos.length, [zcashAddressScript(network, address)]);
  return { address, held, dust, unit: 'zatoshi' };
}

/** The chain a hot wallet's balance must be read on, as payserv's configuration (or the command line) says it. */
export interface ExpectedChain {
  /** The chain id (Ethereum) or network (Zcash). */
  chain: string;
  /** [coins.TAG] genesis_hash, when configured. */
  genesis?: string | undefined;
  /** payserv's state directory, whose chain pin (genesis, highest head) is read; null: none (a bare --node-url). */
  stateDir: string | null;
  /** How far the node's head may be below the highest head payserv saw. */
  confirmations: number;
}

/** What the node says of its chain, and why its balances are not current (syncing), or null. */
async function evmIdentity(nodeUrl: string, timeoutMs: number): Promise<{ seen: NodeIdentity; stale: string | null }> {
  const client = createPublicClient({ transport: http(nodeUrl, { timeout: timeoutMs, retryCount: 0 }) });
  const [id, genesis, latest, sync] = await Promise.all([
    client.getChainId(),
    client.getBlock({ blockNumber: 0n }),
    client.getBlock({ blockTag: 'latest' }),
    // Not in viem's typed public methods.
    (client.request as (a: { method: string }) => Promise<unknown>)({ method: 'eth_syncing' }),
  ]);
  if (!genesis.hash || latest.number === null) throw new Error('the node serves no genesis block or no latest block number');
  const seen = { chain: String(id), genesis: genesis.hash, head: Number(latest.number) };
  return { seen, stale: sync === false ? null : 'the node is syncing' };
}

async function zcashIdentity(nodeUrl: string, timeoutMs: number): Promise<{ seen: NodeIdentity; stale: string | null }> {
  const rpc = new ZcashRpc({ url: nodeUrl, timeoutMs });
  const [info, genesis] = await Promise.all([rpc.getBlockchainInfo(), rpc.getBlockHash(0)]);
  return { seen: { chain: networkOf(info.chain), genesis, head: info.blocks }, stale: syncing(info) };
}

/**
 * Refuses a node that is not on the expected chain (`wrong_chain`: an empty address on another chain is
 * no proof), and one that cannot say or is syncing (`balance_unknown`). Nothing is pinned.
 */
export async function checkWalletNode(
  name: string,
  tag: string,
  address: string,
  nodeUrl: string,
  expected: ExpectedChain,
  timeoutMs = NODE_TIMEOUT_MS,
): Promise<void> {
  let said: { seen: NodeIdentity; stale: string | null };
  try {
    said = familyOf(tag) === 'evm' ? await evmIdentity(nodeUrl, timeoutMs) : await zcashIdentity(nodeUrl, timeoutMs);
    await new ChainIdentity(expected.stateDir, tag, expected).verify(said.seen, expected.confirmations);
  } catch (e) {
    if (e instanceof ChainIdentityError)
      throw new EsmanError('wrong_chain', `${name}: ${scrubSecrets(e.message)}: nothing deleted; name the node of the wallet's own chain`);
    throw balanceUnknown(name, address, scrubSecrets(why(e)));
  }
  if (said.stale) throw balanceUnknown(name, address, said.stale);
}

/** Each error of the cause chain in a few words (viem: "HTTP request failed", fetch: "fetch failed", the socket: ECONNREFUSED). */
function why(e: unknown): string {
  const said: string[] = [];
  for (let c = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    const code = (c as { code?: unknown }).code;
    const words = typeof code === 'string' ? code : ((c as { shortMessage?: string }).shortMessage ?? c.message.split('\n')[0]!);
    said.push(words.replace(/\.$/, ''));
  }
  return said.join(': ') || String(e);
}

/** The address's funds; a node that cannot answer is `balance_unknown` (named, never with the URL's credentials). */
export async function hotWalletFunds(
  name: string,
  tag: string,
  address: string,
  nodeUrl: string,
  network: Coin['network'],
  timeoutMs = NODE_TIMEOUT_MS,
): Promise<WalletFunds> {
  try {
    switch (familyOf(tag)) {
      case 'evm':
        return await evmFunds(nodeUrl, address, timeoutMs);
      case 'zcash':
        return await zcashFunds(nodeUrl, address, network, timeoutMs);
      case 'manual':
        throw new Error(`esman reads balances of ETH, ETC and ZEC only, not ${tag}`);
    }
  } catch (e) {
    throw balanceUnknown(name, address, scrubSecrets(why(e)));
  }
}
