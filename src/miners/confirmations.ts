import { createPublicClient, http, type Hex, type PublicClient } from 'viem';
import { ZcashRpc } from '../chains/zcash/rpc.js';
import type { Config } from '../config/load.js';
import { withCredentials } from '../esman/items.js';

// How many confirmations a payment's transaction has now, asked of the coin's node named in the
// intake's [coins.TAG] (the same node its block-reward check asks). Null: no node for the coin (a Bitcoin-family
// coin's table names none), the node
// does not know the transaction, or it cannot answer now; a miner's page still shows the payment.

export type ConfirmationsOf = (txHash: string) => Promise<number | null>;

type Coins = Config<'intake'>['coins'];
type NodeAuth = ReadonlyMap<string, { user: string; password: string }>;

function ethConfirmations(client: PublicClient): ConfirmationsOf {
  return async (hash) => {
    const receipt = await client.getTransactionReceipt({ hash: hash as Hex }).catch(() => null);
    if (!receipt) return null;
    const head = await client.getBlockNumber();
    return Number(head - receipt.blockNumber + 1n);
  };
}

function zcashConfirmations(rpc: ZcashRpc): ConfirmationsOf {
  return async (hash) => {
    const tx = await rpc.getRawTransaction(hash.replace(/^0x/, '').toLowerCase());
    if (!tx) return null;
    // A transaction off the main chain: zcashd says height -1, zebrad in_active_chain false.
    return tx.in_active_chain === false ? 0 : (tx.confirmations ?? 0);
  };
}

/** Never throws: a node that cannot answer gives null. */
function safe(f: ConfirmationsOf): ConfirmationsOf {
  return (hash) => f(hash).catch(() => null);
}

export function confirmationsByCoin(coins: Coins, auth: NodeAuth): Map<string, ConfirmationsOf> {
  const out = new Map<string, ConfirmationsOf>();
  for (const [tag, c] of Object.entries(coins)) {
    if (c.chain === 'eth') {
      const client = createPublicClient({ cacheTime: 0, transport: http(c.node_url, { timeout: c.timeout_ms, retryCount: 0 }) });
      out.set(tag, safe(ethConfirmations(client)));
    } else if (c.chain === 'zcash') {
      const creds = auth.get(tag);
      out.set(
        tag,
        safe(zcashConfirmations(new ZcashRpc({ url: creds ? withCredentials(c.node_url, creds) : c.node_url, timeoutMs: c.timeout_ms }))),
      );
    }
  }
  return out;
}
