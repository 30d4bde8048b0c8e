import { join } from 'node:path';
import { readJson, writeJsonAtomic } from '../state/atomic-file.js';
import { ChainIdentityError } from './driver.js';

// Which chain a node is on, checked inside every verdict: a verdict read from another chain (a node
// switched to a foreign chain, restarted on a fresh one with the same chain id, or far behind the
// node asked before) is no evidence about our payments. The chain (chain id, network) comes from the
// configuration; the genesis block is configured or pinned on the payserv host at first sight; the
// highest head seen is kept beside it, so that a head gone back further than the confirmations is
// noticed across restarts too. The pin is host state: the database cannot move it.

/** What a node says about itself, read in the same verdict as the answers it qualifies. */
export interface NodeIdentity {
  /** The chain id (Ethereum) or network name (Zcash), as the node reports it. */
  chain: string;
  /** The genesis block's hash. */
  genesis: string;
  /** The node's head height. */
  head: number;
}

/** Above any height a chain payserv pays on will reach (2^40 blocks: 35,000 years of 1-second blocks). */
const HEAD_MAX = 2 ** 40;

/** Hashes compared as lowercase hex without 0x (Ethereum writes it, Zcash does not). */
const normalHash = (h: string): string => h.toLowerCase().replace(/^0x/, '');

interface Pin {
  chain: string;
  genesis: string;
  head: number;
}

export class ChainIdentity {
  readonly #tag: string;
  readonly #chain: string;
  readonly #configured: string | undefined;
  readonly #path: string | null;
  #pin: Pin | null | undefined;
  #writing: Promise<void> = Promise.resolve();

  /**
   * `genesis`: the configured genesis hash, or undefined to pin the first one seen. `stateDir` null:
   * no pin at all (esman given a bare node URL), the chain and a configured genesis are still checked.
   */
  constructor(stateDir: string | null, tag: string, expected: { chain: string; genesis?: string | undefined }) {
    this.#tag = tag;
    this.#chain = expected.chain;
    this.#configured = expected.genesis === undefined ? undefined : normalHash(expected.genesis);
    this.#path = stateDir === null ? null : join(stateDir, 'chains', `${tag}-${expected.chain}.json`);
  }

  get path(): string | null {
    return this.#path;
  }

  /** The highest head seen (0 before any). */
  get highest(): number {
    return this.#pin?.head ?? 0;
  }

  async #load(): Promise<Pin | null> {
    if (this.#pin !== undefined) return this.#pin;
    if (this.#path === null) return (this.#pin = null);
    const v = (await readJson(this.#path)) as Partial<Pin> | null;
    if (
      v !== null &&
      (typeof v.chain !== 'string' || typeof v.genesis !== 'string' || !Number.isSafeInteger(v.head) || (v.head as number) < 0)
    ) {
      throw new Error(`chain pin ${this.#path} is corrupt (expected {"chain", "genesis", "head"})`);
    }
    this.#pin = v as Pin | null;
    return this.#pin;
  }

  /**
   * Throws ChainIdentityError unless `seen` is the configured chain, its genesis the configured or
   * pinned one, and its head no more than `confirmations` (at least 1) below the highest seen. A good
   * identity is pinned (first sight) and its head remembered.
   */
  async check(seen: NodeIdentity, confirmations: number): Promise<void> {
    const genesis = await this.verify(seen, confirmations);
    const pin = this.#pin;
    if (this.#path === null || (pin && pin.head >= seen.head && pin.genesis === genesis)) return;
    const path = this.#path;
    this.#pin = { chain: this.#chain, genesis, head: Math.max(pin?.head ?? 0, seen.head) };
    const next = this.#pin;
    // Serialised: a slower write of a lower head never lands after a higher one.
    const write = this.#writing.then(() => writeJsonAtomic(path, next));
    this.#writing = write.catch(() => undefined);
    await write;
  }

  /**
   * The checks of `check`, pinning nothing: for a reader beside payserv (esman) that must not move the
   * host's pin. Returns the genesis hash as compared.
   */
  async verify(seen: NodeIdentity, confirmations: number): Promise<string> {
    const fail = (why: string) => new ChainIdentityError(this.#tag, `coin ${this.#tag}: ${why}: nothing it says is taken as evidence`);
    // A height no chain reaches is a broken answer, never a head to remember (it would refuse every honest one after it).
    if (!Number.isSafeInteger(seen.head) || seen.head < 0 || seen.head > HEAD_MAX)
      throw fail(`the node's head ${seen.head} is not a plausible block height`);
    if (seen.chain !== this.#chain) throw fail(`the node is on chain ${seen.chain}, payserv pays on ${this.#chain}`);
    const pin = await this.#load();
    const genesis = normalHash(seen.genesis);
    const want = this.#configured ?? pin?.genesis;
    if (want !== undefined && genesis !== want) {
      const where = this.#configured
        ? 'the configured genesis_hash'
        : `the genesis pinned in ${this.#path} (remove it only when the chain was deliberately replaced)`;
      throw fail(`the node's genesis block is ${genesis}, not ${want} (${where})`);
    }
    const high = pin?.head ?? 0;
    const back = Math.max(confirmations, 1);
    if (seen.head + back < high)
      throw fail(`the node's head ${seen.head} is ${high - seen.head} blocks behind the highest head seen, ${high} (more than ${back})`);
    return genesis;
  }
}
