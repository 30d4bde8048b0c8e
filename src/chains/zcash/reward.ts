import { zcashAddressScript } from '../address.js';
import type { BlockClaim, RewardChecker, RewardVerdict } from '../reward.js';
import type { Coin } from '../../ledger/records.js';
import { equalBytes, fromHex, toHex } from './bytes.js';
import { networkOf } from './driver.js';
import type { RawTransaction, ZcashRpc } from './rpc.js';
import { parseTx, type Tx } from './tx.js';
import { txidOf } from './txid.js';

// Whether a Zcash block paid the pool what is about to be credited for it: the block on the node's best
// chain, at least max(the coin's confirmations, coinbase maturity) deep, its coinbase paying the pool's
// transparent address at least the income. The coinbase is read from its own bytes (txid checked), not
// from the node's rendering of them: a node is input like any other, and its JSON must agree with them.

/** A coinbase output is spendable 100 blocks after its own (zcashd's COINBASE_MATURITY, zebrad's MIN_TRANSPARENT_COINBASE_MATURITY). */
export const COINBASE_MATURITY = 100;

export interface ZcashRewardSettings {
  tag: string;
  rpc: ZcashRpc;
  network: Coin['network'];
  /** The transparent address the pool mines to. */
  poolAddress: string;
  /** When set, a node whose genesis block is another is on another chain. */
  genesisHash?: string;
}

export class ZcashRewardChecker implements RewardChecker {
  readonly #pool: Uint8Array;

  constructor(readonly settings: ZcashRewardSettings) {
    try {
      this.#pool = zcashAddressScript(settings.network, settings.poolAddress);
    } catch {
      throw new Error(`[coins.${settings.tag}] pool_address ${settings.poolAddress} is not a transparent ${settings.network} address`);
    }
  }

  async check(claim: BlockClaim, confirmations: number): Promise<RewardVerdict> {
    try {
      return await this.#check(claim, Math.max(1, confirmations, COINBASE_MATURITY));
    } catch (e) {
      return refuse('node_unavailable', `${this.settings.tag} node: ${firstLine(e)}`);
    }
  }

  async #check(claim: BlockClaim, needed: number): Promise<RewardVerdict> {
    const { rpc, tag, network } = this.settings;
    const info = await rpc.getBlockchainInfo();
    if (networkOf(info.chain) !== network) return refuse('node_unavailable', `the ${tag} node is on chain "${info.chain}", not ${network}`);
    const genesis = this.settings.genesisHash;
    if (genesis && (await rpc.getBlockHash(0)) !== genesis)
      return refuse('node_unavailable', `the ${tag} node's genesis block is not ${genesis}: another chain`);
    const hash = claim.hash.toLowerCase();
    if (!/^[0-9a-f]{64}$/.test(hash)) return refuse('block_unknown', `${claim.hash.slice(0, 80)} is not a block hash`);
    const block = await rpc.getBlock(hash);
    if (!block) return refuse('block_unknown', `the ${tag} node does not know block ${hash}`);
    const canonical = block.confirmations === -1 ? null : await rpc.getBlockHash(block.height);
    if (canonical !== hash)
      return refuse(
        'block_not_canonical',
        `block ${hash} at height ${block.height} is not on the best chain (${canonical ?? 'confirmations -1'})`,
      );
    // The node's count and its tip must agree; the smaller is believed (the tip may have moved since).
    const depth = Math.min(block.confirmations, info.blocks - block.height + 1);
    if (depth < needed)
      return refuse('block_immature', `block ${hash} has ${Math.max(depth, 0)} of the ${needed} confirmations ${tag} needs`);
    const coinbase = await this.#coinbase(hash, block.tx[0] as string);
    const paid = coinbase.outputs.filter((o) => equalBytes(o.scriptPubKey, this.#pool));
    if (paid.length === 0)
      return refuse(
        'block_wrong_miner',
        `block ${hash}'s coinbase pays none of its ${coinbase.outputs.length} outputs to the pool's ${this.settings.poolAddress}`,
      );
    const reward = paid.reduce((sum, o) => sum + o.value, 0n);
    if (reward < claim.income)
      return refuse('reward_short', `block ${hash} paid the pool ${reward} zat, less than the ${claim.income} zat to be credited`);
    return { ok: true, height: BigInt(block.height), confirmations: BigInt(depth), reward };
  }

  /** The block's first transaction, from its bytes: a coinbase, of this block, as the node describes it. */
  async #coinbase(hash: string, id: string): Promise<Tx> {
    const raw = await this.settings.rpc.getRawTransaction(id);
    if (!raw) throw new Error(`block ${hash}: the node does not know its first transaction ${id}`);
    if (raw.blockhash !== undefined && raw.blockhash !== hash)
      throw new Error(`transaction ${id} is in block ${raw.blockhash}, not ${hash}`);
    const tx = parseTx(fromHex(raw.hex, 'transaction'));
    if (txidOf(tx) !== id) throw new Error(`the bytes the node sent for ${id} are another transaction`);
    const input = tx.inputs[0];
    if (tx.inputs.length !== 1 || input?.prevout.index !== 0xffffffff || !input.prevout.txid.every((b) => b === 0))
      throw new Error(`block ${hash}: its first transaction ${id} is not a coinbase`);
    agrees(raw, tx);
    return tx;
  }
}

/** The node's outputs, where it lists them, must be the transaction's own. */
function agrees(raw: RawTransaction, tx: Tx): void {
  if (!raw.vout) return;
  const same =
    raw.vout.length === tx.outputs.length &&
    raw.vout.every((o, n) => {
      const own = tx.outputs[n];
      return own !== undefined && o.n === n && o.valueZat === own.value && o.scriptPubKey.hex.toLowerCase() === toHex(own.scriptPubKey);
    });
  if (!same) throw new Error(`the node's outputs of ${raw.txid} are not those of its bytes`);
}

function refuse(code: Exclude<RewardVerdict, { ok: true }>['code'], reason: string): RewardVerdict {
  return { ok: false, code, reason };
}

function firstLine(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).split('\n')[0] as string;
}
