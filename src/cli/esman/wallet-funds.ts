// What a hot wallet's address holds, asked of the coin's node the way payserv's drivers read it: Ethereum's
// eth_getBalance, Zcash's address UTXOs (getaddressutxos). Loaded only by `esman delete` of a Coin.<TAG>.JSON item.
import { createPublicClient, http, type Hex } from 'viem';
import { familyOf, zcashAddressScript } from '../../chains/address.js';
import { estimateTransparentFeeZat } from '../../chains/zcash/fee.js';
import { ZcashRpc } from '../../chains/zcash/rpc.js';
import type { Coin } from '../../ledger/records.js';
import { scrubSecrets } from '../../log/scrub.js';
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
