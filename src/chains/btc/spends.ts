import type { PaymentJournal } from '../../journal/journal.js';
import type { Logger } from '../../log/index.js';
import type { DecodedTx } from '../driver.js';
import type { StorageTx, UtxoStorage } from '../storage.js';
import { fromHex, hashToDisplayHex } from '../zcash/bytes.js';
import type { BtcNode } from './node.js';
import { parseRawTx, type RawInput } from './rawtx.js';
import { FUNDINGS_MAX, NAMED_MAX, UnknownSpendsError } from '../unknown-spends.js';
import { ownStored } from '../utxo-watch.js';

// Unknown spends from a Bitcoin-family hot wallet (README "Unknown spends from the hot wallet"). Bitcoin Core
// 0.21 has no address index: what the node can tell is the wallet's unspent outputs (scantxoutset) and any
// transaction by id (txindex=1). A payment from the wallet pays its change back to it; so every unspent output
// of the wallet whose transaction payserv does not know (journal, its stored attempt the signed ledger names)
// is read, and if one of that transaction's inputs was signed with the wallet's key, the wallet was spent by
// someone payserv has no record of: an older backup restored after later payments, or the key used elsewhere.
// Nothing is signed until an operator settles it. A transaction of the key spending only inputs of payserv's own
// attempts is not this check's: it is the conflict Check proves a payment failed by (as a nonce used by someone
// else at payserv's nonce on Ethereum), and a new payment of that withdrawal must conflict with the failed one.

export interface BtcSpendWatchDeps {
  tag: string;
  address: string;
  publicKey: Uint8Array;
  node: BtcNode;
  /** The txids of the wallet's unspent outputs (`scanned`: the caller's scan; else the driver's scantxoutset now). */
  unspentTxids(scanned?: WalletScan): Promise<readonly string[]>;
  /** Whether payserv made the transaction (journal, its stored attempt the signed ledger names, read in `db` when given). */
  ours(txid: string, db?: StorageTx): Promise<boolean>;
  /** The outpoints (`txid:vout`) payserv's own attempts spend, failed or not (the payment journal). */
  ownInputs(): Promise<ReadonlySet<string>>;
  log: Logger;
}

/** What a scan of the wallet's UTXOs says, as far as this check needs it. */
export interface WalletScan {
  spendable: readonly { txid: string }[];
  young: readonly { txid: string }[];
  coinbase: readonly { txid: string }[];
  /** The transactions of outputs the scan left out (not worth spending, past utxo_max): read all the same. */
  leftOut?: { txids: readonly string[] };
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The public key an input was signed with: a P2WPKH witness's second item, or a P2PKH scriptSig's second push. */
function spenderKey(i: RawInput): Uint8Array | null {
  if (i.witness.length > 0) return i.witness.length === 2 ? (i.witness[1] ?? null) : null;
  const s = i.scriptSig;
  const sigLen = s[0] ?? 0;
  const keyAt = 1 + sigLen;
  const keyLen = s[keyAt] ?? 0;
  if (sigLen < 1 || sigLen > 75 || keyLen < 33 || keyLen > 65 || keyAt + 1 + keyLen !== s.length) return null;
  return s.slice(keyAt + 1);
}

export class BtcSpendWatch {
  readonly #fundings = new Set<string>();

  constructor(readonly deps: BtcSpendWatchDeps) {}

  /**
   * Throws UnknownSpendsError when an unspent output of the wallet was made by a spend of it payserv does not know.
   * `scanned`: the wallet's UTXOs the caller just read (a signing scans once, for this and for its inputs).
   */
  async check(db?: StorageTx, scanned?: WalletScan): Promise<void> {
    const unknown: string[] = [];
    let own: ReadonlySet<string> | undefined;
    for (const txid of new Set(await this.deps.unspentTxids(scanned))) {
      if (this.#fundings.has(txid) || (await this.deps.ours(txid, db))) continue;
      own ??= await this.deps.ownInputs();
      const spends = await this.#spends(txid, own);
      if (spends) unknown.push(txid);
      else if (spends === false) {
        if (this.#fundings.size >= FUNDINGS_MAX) this.#fundings.clear();
        this.#fundings.add(txid);
      }
    }
    if (unknown.length === 0) return;
    const e = new UnknownSpendsError(this.deps.tag, this.deps.address, unknown);
    this.deps.log.error({ coin: this.deps.tag, address: this.deps.address, unknown: unknown.slice(0, NAMED_MAX) }, e.message);
    throw e;
  }

  /**
   * Whether the transaction spends the wallet (an input signed with its key) other than by conflicting with payserv's
   * own attempts (all such inputs theirs); null when the node does not have it (a reorg between the calls).
   */
  async #spends(txid: string, own: ReadonlySet<string>): Promise<boolean | null> {
    const t = await this.deps.node.getRawTransaction(txid);
    if (!t) return null;
    const mine = parseRawTx(fromHex(t.hex, 'getrawtransaction hex')).inputs.filter((i) => {
      const k = spenderKey(i);
      return k !== null && same(k, this.deps.publicKey);
    });
    return mine.length > 0 && mine.some((i) => !own.has(`${hashToDisplayHex(i.prevTxid)}:${i.vout}`));
  }
}

/**
 * The watch of a Bitcoin-family driver: payserv's own transactions are the journal's and its stored attempts that the
 * signed ledger names (ownStored: bytes copied from the chain into payserv_chain_txs do not count).
 */
export function unknownSpendWatch(
  driver: { tag: string; address: string; decode(raw: string): DecodedTx },
  publicKey: Uint8Array,
  d: {
    node: BtcNode;
    journal: PaymentJournal;
    storage: UtxoStorage;
    log: Logger;
    scan(): Promise<WalletScan>;
  },
): BtcSpendWatch {
  const ours = async (txid: string, db?: StorageTx): Promise<boolean> =>
    d.journal.get(txid) !== undefined || (await ownStored(d.storage, (raw) => driver.decode(raw), txid, db)) !== null;
  return new BtcSpendWatch({
    tag: driver.tag,
    address: driver.address,
    publicKey,
    node: d.node,
    log: d.log,
    ownInputs: async () => {
      const out = new Set<string>();
      for (const { attempt } of d.journal.entries()) if (attempt.coin === driver.tag) for (const i of attempt.inputs) out.add(i);
      return out;
    },
    ours,
    unspentTxids: async (scanned) => {
      // The journal as it is now: ours and ownInputs read it after this, in the same check.
      await d.journal.refresh();
      const s = scanned ?? (await d.scan());
      return [...s.spendable, ...s.young, ...s.coinbase].map((u) => u.txid).concat(s.leftOut?.txids ?? []);
    },
  });
}
