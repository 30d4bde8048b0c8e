// What a hot wallet's address holds, asked of the coin's node the way payserv's drivers read it: Ethereum's
// eth_getBalance, Zcash's address UTXOs (getaddressutxos), a Bitcoin-family coin's UTXO set (scantxoutset),
// once the node showed it is on the configured chain (payserv's own identity check, its pin read, never
// written). Loaded only by `esman delete` of a hot wallet.
import { createPublicClient, http, type Hex } from 'viem';
import { zcashAddressScript } from '../../chains/address.js';
import { addressScript } from '../../chains/btc/address.js';
import { btcNetworkOf, btcSyncing } from '../../chains/btc/driver.js';
import type { BtcNetwork } from '../../chains/btc/network.js';
import { BtcNode } from '../../chains/btc/node.js';
import { dustThreshold, vsizeOfWeight, weightBound } from '../../chains/btc/tx.js';
import { coinChain, type CoinChain, type CoinChains } from '../../chains/coin-chain.js';
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

/**
 * Everything the address holds in the node's UTXO set (coinbase too, mature or not). Dust: less than the
 * network's fee floor for sweeping every UTXO to one such output, plus that output's dust threshold.
 */
async function btcFunds(net: BtcNetwork, wallet: 'p2wpkh' | 'p2pkh', nodeUrl: string, address: string, timeoutMs: number) {
  const scan = await new BtcNode({ url: nodeUrl, timeoutMs }).scanTxOutSet([`addr(${address})`]);
  const held = scan.unspents.reduce((a, u) => a + u.amount, 0n);
  const script = addressScript(net, address);
  const fee = net.minFeeRate * BigInt(vsizeOfWeight(weightBound(wallet, scan.unspents.length, [script])));
  return { address, held, dust: fee + dustThreshold(net, script) - 1n, unit: 'base units' } satisfies WalletFunds;
}

/** What a Bitcoin-family node says of its chain; its UTXO set is not current while it syncs. */
async function btcIdentity(nodeUrl: string, timeoutMs: number): Promise<{ seen: NodeIdentity; stale: string | null }> {
  const node = new BtcNode({ url: nodeUrl, timeoutMs });
  const [info, genesis] = await Promise.all([node.getBlockchainInfo(), node.getBlockHash(0)]);
  return { seen: { chain: btcNetworkOf(info.chain), genesis, head: info.blocks }, stale: btcSyncing(info) };
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
  coins: CoinChains = {},
): Promise<void> {
  let said: { seen: NodeIdentity; stale: string | null };
  try {
    const family = coinChain(tag, coins).family;
    said =
      family === 'evm'
        ? await evmIdentity(nodeUrl, timeoutMs)
        : family === 'btc'
          ? await btcIdentity(nodeUrl, timeoutMs)
          : await zcashIdentity(nodeUrl, timeoutMs);
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
  coins: CoinChains = {},
): Promise<WalletFunds> {
  const chain: CoinChain = coinChain(tag, coins);
  try {
    switch (chain.family) {
      case 'evm':
        return await evmFunds(nodeUrl, address, timeoutMs);
      case 'zcash':
        return await zcashFunds(nodeUrl, address, network, timeoutMs);
      case 'btc':
        return await btcFunds(chain.net, chain.wallet, nodeUrl, address, timeoutMs);
      case 'manual':
        throw new Error(`esman reads balances of ETH, ETC, ZEC and the Bitcoin family (configured chain = "btc") only, not ${tag}`);
    }
  } catch (e) {
    throw balanceUnknown(name, address, scrubSecrets(why(e)));
  }
}
