import { spentByKey } from '../utxo-sweep.js';
import { fromHex } from './bytes.js';
import type { ZcashRpc } from './rpc.js';
import { parseTx } from './tx.js';
import { FUNDINGS_MAX, UnknownSpendsError } from '../unknown-spends.js';

// Unknown spends from a Zcash hot wallet (README "Unknown spends from the hot wallet"): every transaction of
// the best chain that spends an output of the hot wallet must be one payserv knows (the payment journal, its
// own stored attempts that the signed ledger names, or one this process signed: a rotation's sweep). The node's address index
// (getaddresstxids) lists the transactions touching the address; a spend is one with an input signed with
// the wallet's key (every output of the address is P2PKH to that key). Anything else is a fail-stop.

/** Blocks scanned again below the height checked last: a reorg may have put another transaction there. */
const RESCAN_BLOCKS = 100;
export interface SpendWatchDeps {
  tag: string;
  address: string;
  publicKey: Uint8Array;
  rpc: ZcashRpc;
}

/** Scans the address index from the first block at the first call (after a start or a restore), then from a little below the last height checked. */
export class SpendWatch {
  #checkedTo = 0;
  readonly #fundings = new Set<string>();

  constructor(readonly deps: SpendWatchDeps) {}

  /**
   * Throws UnknownSpendsError when a best-chain transaction up to `tip` spends from the wallet and `ours`
   * (the journal, a stored attempt the signed ledger names, signed by this process) does not know it.
   */
  async check(tip: number, ours: (txid: string) => Promise<boolean>): Promise<void> {
    if (tip < 1) return;
    const from = Math.max(1, Math.min(this.#checkedTo - RESCAN_BLOCKS, tip));
    const txids = await this.deps.rpc.getAddressTxids(this.deps.address, from, tip);
    const unknown: string[] = [];
    for (const txid of txids) {
      if (this.#fundings.has(txid) || (await ours(txid))) continue;
      const spends = await this.#spends(txid);
      if (spends) unknown.push(txid);
      else if (spends === false) {
        if (this.#fundings.size >= FUNDINGS_MAX) this.#fundings.clear();
        this.#fundings.add(txid);
      }
    }
    if (unknown.length) throw new UnknownSpendsError(this.deps.tag, this.deps.address, unknown);
    this.#checkedTo = tip;
  }

  /** Whether the transaction spends an output of the wallet: one of its inputs is signed with the wallet's key. */
  async #spends(txid: string): Promise<boolean | null> {
    const t = await this.deps.rpc.getRawTransaction(txid);
    // Listed by the index but unknown to the node a moment later: a reorg in between; the next check sees it again.
    if (!t) return null;
    const tx = parseTx(fromHex(t.hex, 'getrawtransaction hex'));
    return tx.inputs.some((i) => spentByKey([i], this.deps.publicKey));
  }
}
