import { createPublicClient, getAddress, http, isAddress, type Hash, type PublicClient, type TransactionReceipt } from 'viem';
import type { BlockClaim, RewardChecker, RewardVerdict } from '../reward.js';

// Whether an Ethereum-family block paid the pool what is about to be credited for it. The block's
// reward to its miner (`miner`, the fee recipient after the merge) is the chain's issuance for that
// height, 1/32 of it per uncle included, and the tips of its transactions (each receipt's gas used times
// its effective price less the block's base fee, which is burnt). The issuance is the operator's to
// state per coin (ETC's eras, none after the merge): the node has no call that says it.

export interface EthRewardSettings {
  tag: string;
  url: string;
  chainId: number;
  /** The address the pool mines to. */
  poolAddress: string;
  /** The issuance of a block at this height, in wei. */
  issuance: (height: bigint) => bigint;
  timeoutMs: number;
}

/** Most transactions read one by one where the node has no eth_getBlockReceipts. */
const RECEIPTS_ONE_BY_ONE_MAX = 2_000;

export class EthRewardChecker implements RewardChecker {
  readonly #client: PublicClient;
  readonly #pool: string;

  constructor(readonly settings: EthRewardSettings) {
    if (!isAddress(settings.poolAddress)) throw new Error(`[coins.${settings.tag}] pool_address ${settings.poolAddress} is not an address`);
    this.#pool = getAddress(settings.poolAddress);
    this.#client = createPublicClient({ cacheTime: 0, transport: http(settings.url, { timeout: settings.timeoutMs, retryCount: 0 }) });
  }

  async check(claim: BlockClaim, confirmations: number): Promise<RewardVerdict> {
    try {
      return await this.#check(claim, BigInt(Math.max(1, confirmations)));
    } catch (e) {
      return { ok: false, code: 'node_unavailable', reason: `${this.settings.tag} node: ${firstLine(e)}` };
    }
  }

  async #check(claim: BlockClaim, confirmations: bigint): Promise<RewardVerdict> {
    const chainId = await this.#client.getChainId();
    if (chainId !== this.settings.chainId)
      return refuse('node_unavailable', `the ${this.settings.tag} node is on chain id ${chainId}, not ${this.settings.chainId}`);
    const hash = claim.hash.toLowerCase() as Hash;
    const block = await this.#client.getBlock({ blockHash: hash }).catch((e: unknown) => {
      if (isNotFound(e)) return null;
      throw e;
    });
    if (!block || block.number === null) return refuse('block_unknown', `the ${this.settings.tag} node does not know block ${hash}`);
    const canonical = await this.#client.getBlock({ blockNumber: block.number });
    if (canonical.hash?.toLowerCase() !== hash)
      return refuse('block_not_canonical', `block ${hash} at height ${block.number} is not on the canonical chain (${canonical.hash} is)`);
    const head = await this.#client.getBlockNumber();
    const depth = head - block.number + 1n;
    if (depth < confirmations)
      return refuse('block_immature', `block ${hash} has ${depth} of the ${confirmations} confirmations ${this.settings.tag} needs`);
    if (getAddress(block.miner) !== this.#pool)
      return refuse('block_wrong_miner', `block ${hash} was mined to ${getAddress(block.miner)}, not the pool's ${this.#pool}`);
    const issuance = this.settings.issuance(block.number);
    const base = issuance + (issuance / 32n) * BigInt(block.uncles.length);
    // The tips are read only when the issuance alone does not cover the income.
    const reward = claim.income <= base ? base : base + (await this.#tips(hash, block.baseFeePerGas ?? 0n, block.transactions.length));
    if (reward < claim.income)
      return refuse('reward_short', `block ${hash} paid the pool ${reward} wei, less than the ${claim.income} wei to be credited`);
    return { ok: true, height: block.number, confirmations: depth, reward };
  }

  async #tips(hash: Hash, baseFee: bigint, count: number): Promise<bigint> {
    const receipts = await this.#receipts(hash, count);
    if (receipts.length !== count) throw new Error(`block ${hash}: ${receipts.length} receipts for ${count} transactions`);
    return receipts.reduce((sum, r) => {
      // A price below the base fee cannot be in this block: the node is not telling the truth.
      if (r.effectiveGasPrice < baseFee) throw new Error(`block ${hash}: a receipt's effective gas price is below the block's base fee`);
      return sum + r.gasUsed * (r.effectiveGasPrice - baseFee);
    }, 0n);
  }

  /** Each transaction's gas used and effective price: eth_getBlockReceipts, or one by one where the node lacks it. */
  async #receipts(hash: Hash, count: number): Promise<Array<Pick<TransactionReceipt, 'gasUsed' | 'effectiveGasPrice'>>> {
    if (count === 0) return [];
    try {
      const raw = (await this.#client.request({ method: 'eth_getBlockReceipts', params: [hash] })) as ReadonlyArray<{
        gasUsed: string;
        effectiveGasPrice: string;
      }> | null;
      if (!raw) throw new Error(`eth_getBlockReceipts ${hash}: no receipts`);
      return raw.map((r) => ({ gasUsed: hexQuantity(r.gasUsed), effectiveGasPrice: hexQuantity(r.effectiveGasPrice) }));
    } catch (e) {
      if (!isMethodMissing(e) || count > RECEIPTS_ONE_BY_ONE_MAX) throw e;
      const block = await this.#client.getBlock({ blockHash: hash });
      return Promise.all(block.transactions.map((t) => this.#client.getTransactionReceipt({ hash: t })));
    }
  }
}

/** A JSON-RPC quantity: 0x and at most 64 hex digits (a node's reply is input like any other). */
function hexQuantity(x: unknown): bigint {
  if (typeof x !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(x))
    throw new Error(`a receipt field is not a quantity: ${String(x).slice(0, 80)}`);
  return BigInt(x);
}

function refuse(code: Exclude<RewardVerdict, { ok: true }>['code'], reason: string): RewardVerdict {
  return { ok: false, code, reason };
}

function firstLine(e: unknown): string {
  return ((e as Error)?.message ?? String(e)).split('\n')[0] as string;
}

function isNotFound(e: unknown): boolean {
  return (e as Error)?.name === 'BlockNotFoundError';
}

function isMethodMissing(e: unknown): boolean {
  return /method not found|does not exist|not supported|-32601/i.test(String((e as Error)?.message ?? e));
}
