// The chain behind the Zcash node stand-in (zcash-standin.ts): blocks, the UTXO set and a mempool in memory,
// and the acceptance rules of zcashd's AcceptToMemoryPool for transparent transactions, refusing with
// the RPC code and message zcashd would send. Tests and the demo pay through it, so a payout that the
// network would refuse must be refused here too: nothing is taken on trust, every signature is checked
// by verify.ts against the stand-in's own record of what each input spends.
//
// zcashd sources the refusals follow: src/main.cpp (AcceptToMemoryPool, ContextualCheckTransaction,
// ContextualCheckInputs), src/rpc/rawtransaction.cpp (sendrawtransaction), src/consensus/validation.h
// (reject codes). Where this model knowingly differs, the comment at the check says so.
//
// In zebrad's dialect (the default of zcash-standin.ts) sendrawtransaction answers as zebra-rpc does
// (zebra-rpc/src/methods.rs send_raw_transaction; zebrad/src/components/mempool/error.rs, downloads.rs):
// a transaction already in the mempool is refused with -1 "transaction already exists in mempool", one
// queued for download with -1 "transaction dropped because it is already queued for download", one in
// the best chain with -25 "failed to validate tx: <id>, error: transaction is already in state", and
// a verification failure with -25 "failed to validate tx: <id>, error: transaction did not pass
// consensus validation: <reason>", where <reason> is the stand-in's (zcashd-style) wording, not
// zebrad's consensus error text. zebrad prints the id as transaction::Hash("private") (v4) or
// WtxId("private") (v5): it does not log unmined ids.
import { zcashAddressScript } from '../chains/address.js';
import { BRANCHES, branchById } from '../chains/zcash/branch.js';
import { ByteWriter, fromHex, hashToDisplayHex } from '../chains/zcash/bytes.js';
import { conventionalFeeZat } from '../chains/zcash/fee.js';
import { sha256d } from '../chains/zcash/hash.js';
import { hasShielded, MAX_MONEY_ZAT, parseTx, serializeTx, type Tx, type TxV5 } from '../chains/zcash/tx.js';
import { txidOf } from '../chains/zcash/txid.js';
import { verifyTransparentTx } from '../chains/zcash/verify.js';

export type StandinNetwork = 'mainnet' | 'testnet';

/** Which node the stand-in answers as. */
export type StandinDialect = 'zebrad' | 'zcashd';

/** zebrad's texts for a transaction it already has (zebrad/src/components/mempool/error.rs, downloads.rs). */
export const ZEBRAD_TEXT = {
  inMempool: 'transaction already exists in mempool',
  queued: 'transaction dropped because it is already queued for download',
  inState: 'transaction is already in state',
} as const;

/** zcashd's COINBASE_MATURITY: a coinbase output is spendable this many blocks after its own. */
export const COINBASE_MATURITY = 100;

/** A refusal as zcashd words it (`code`, `message`), and what exactly was wrong (`reason`, for people). */
export class NodeRefusal extends Error {
  override readonly name = 'NodeRefusal';

  constructor(
    readonly code: number,
    message: string,
    readonly reason: string,
  ) {
    super(message);
  }
}

/** zcashd's REJECT_* codes (consensus/validation.h) that prefix a -26 message. */
const REJECT = { INVALID: 16, DUPLICATE: 18, NONSTANDARD: 64, INSUFFICIENTFEE: 66, HIGHFEE: 256 } as const;
/** zcashd's TX_EXPIRING_SOON_THRESHOLD: the mempool refuses a transaction that expires within this many blocks. */
export const EXPIRING_SOON_BLOCKS = 3;
/** zcashd's default -maxtxfee (0.1 ZEC): a higher fee is refused unless sendrawtransaction's allowhighfees is set. */
export const ABSURD_FEE_ZAT = 10_000_000n;
const LOCKTIME_THRESHOLD = 500_000_000;
const NULL_TXID = new Uint8Array(32);
const COINBASE_INDEX = 0xffffffff;

const rejected = (reject: number, what: string, reason: string) => new NodeRefusal(-26, `${reject}: ${what}`, reason);

export interface StandinOutput {
  readonly txid: string;
  readonly vout: number;
  readonly value: bigint;
  readonly scriptPubKey: Uint8Array;
  /** Null while its transaction is in the mempool. */
  height: number | null;
  /** The transaction (mined or in the mempool) that spends it. */
  spentBy: string | null;
}

interface StoredTx {
  readonly txid: string;
  readonly hex: string;
  readonly tx: Tx;
  /** The branch its signatures were checked under: an upgrade evicts it from the mempool. */
  readonly branchId: number;
  height: number | null;
  /** How it came to be: a block's coinbase, a test's funding (no real inputs), or a submitted transaction. */
  readonly origin: 'coinbase' | 'funding' | 'submitted';
}

export interface Block {
  readonly height: number;
  readonly hash: string;
  readonly branchId: number;
  readonly txids: readonly string[];
  /** The block below it (all zeros for the genesis block). */
  readonly prev: string;
  /** Unix seconds: a block every 75 s after the stand-in's epoch, as the network targets. */
  readonly time: number;
}

/** A transparent output of a coinbase the stand-in mines: to whom (its script), how much. */
export interface CoinbaseOutput {
  readonly scriptPubKey: Uint8Array;
  readonly value: bigint;
}

export interface ChainOptions {
  network: StandinNetwork;
  branchId: number;
  startHeight: number;
  /** zcashd answers a resend of a mempool transaction with its txid; some nodes refuse it as known (zcashd dialect only). */
  mempoolResend: 'txid' | 'txn-already-in-mempool';
  /** Whose words sendrawtransaction's refusals are in. */
  dialect: StandinDialect;
  /** Makes this chain's genesis block (and every block below startHeight) its own: another seed, another chain. */
  genesisSeed: string;
}

export class StandinChain {
  private tip: Block;
  private readonly blocks = new Map<number, Block>();
  private readonly txs = new Map<string, StoredTx>();
  private readonly outputs = new Map<string, StandinOutput>();
  private branchId: number;
  private fundings = 0;
  /** Blocks connected so far: part of each block's hash, so a block mined again after a reorg is another block. */
  private connected = 0;
  /**
   * Every block ever connected, by hash, with its transactions as mined: a block a reorg disconnected
   * stays here (a side-chain block: zcashd still knows it, zebrad's getblock does not serve it).
   */
  private readonly known = new Map<string, { block: Block; txs: ReadonlyArray<{ txid: string; hex: string; tx: Tx }> }>();
  /** What every block mined from now on pays in its coinbase (none: blocks without a coinbase, as before). */
  private miner: readonly CoinbaseOutput[] = [];
  /** Txids zebrad would say are queued for download (a test's stand-in for a peer that gossiped them). */
  readonly queued = new Set<string>();
  readonly accepted: Array<{ txid: string; tx: Tx }> = [];
  readonly refusals: Array<{ txid: string | null; code: number; message: string; reason: string }> = [];

  constructor(private readonly opts: ChainOptions) {
    this.branchId = opts.branchId;
    const below = this.madeUp(Math.max(opts.startHeight - 1, 0));
    this.tip = {
      height: opts.startHeight,
      hash: opts.startHeight === 0 ? below.hash : blockHash(opts.startHeight, below.hash, [], 0),
      branchId: opts.branchId,
      txids: [],
      prev: opts.startHeight === 0 ? NULL_HASH : below.hash,
      time: blockTime(opts.startHeight),
    };
    this.blocks.set(this.tip.height, this.tip);
    this.known.set(this.tip.hash, { block: this.tip, txs: [] });
  }

  /** The genesis block's hash (getblockhash 0). */
  get genesisHash(): string {
    return (this.block(0) as Block).hash;
  }

  get height(): number {
    return this.tip.height;
  }

  get bestBlock(): Block {
    return this.tip;
  }

  get nextBranchId(): number {
    return this.branchId;
  }

  /** The next block is mined under this branch (a network upgrade at the next height). */
  setBranchId(id: number): void {
    this.branchId = id >>> 0;
  }

  /** The best chain's block at `height`; those below the start are made up from the genesis seed, empty. */
  block(height: number): Block | undefined {
    if (!Number.isInteger(height) || height < 0 || height > this.tip.height) return undefined;
    return this.blocks.get(height) ?? (height < this.opts.startHeight ? this.madeUp(height) : undefined);
  }

  private madeUp(height: number): Block {
    const hashAt = (h: number) =>
      hashToDisplayHex(sha256d(new TextEncoder().encode(`stand-in block ${h} of ${this.opts.network} ${this.opts.genesisSeed}`)));
    return {
      height,
      hash: hashAt(height),
      branchId: this.opts.branchId,
      txids: [],
      prev: height === 0 ? NULL_HASH : hashAt(height - 1),
      time: blockTime(height),
    };
  }

  /**
   * A block by hash: on the best chain (`canonical`) or disconnected by a reorg. Of the made-up blocks
   * below the start only the genesis block and the one just below are found by hash.
   */
  blockByHash(hash: string): { block: Block; canonical: boolean; txs: ReadonlyArray<{ txid: string; hex: string; tx: Tx }> } | undefined {
    const k = this.known.get(hash);
    if (k) return { ...k, canonical: this.blocks.get(k.block.height)?.hash === hash };
    for (const h of [0, this.opts.startHeight - 1]) {
      const b = h >= 0 ? this.block(h) : undefined;
      if (b?.hash === hash) return { block: b, canonical: true, txs: [] };
    }
    return undefined;
  }

  /** The coinbase of every block mined from now on (fund() and mine() alike); empty: no coinbase. */
  setMiner(outputs: readonly CoinbaseOutput[]): void {
    for (const o of outputs) if (o.value < 0n || o.value > MAX_MONEY_ZAT) throw new RangeError(`setMiner: ${o.value} zat is out of range`);
    this.miner = outputs.map((o) => ({ scriptPubKey: Uint8Array.from(o.scriptPubKey), value: o.value }));
  }

  mempool(): string[] {
    return [...this.txs.values()].filter((t) => t.height === null).map((t) => t.txid);
  }

  transaction(txid: string): { hex: string; tx: Tx; height: number | null; blockhash: string | null } | null {
    const t = this.txs.get(txid);
    if (!t) return null;
    return { hex: t.hex, tx: t.tx, height: t.height, blockhash: t.height === null ? null : (this.blocks.get(t.height)?.hash ?? null) };
  }

  /**
   * A reorg: the last `depth` blocks are disconnected (their transactions back in the mempool, but
   * coinbase and funding transactions, which are gone with their block), `drop` taken out of the
   * mempool (a double spend won elsewhere), then `depth + 1` new blocks mined on the fork point.
   */
  reorg(depth: number, drop: readonly string[] = []): Block[] {
    if (!Number.isInteger(depth) || depth < 1 || this.tip.height - depth < this.opts.startHeight)
      throw new RangeError(`reorg: ${depth} blocks (1..${this.tip.height - this.opts.startHeight})`);
    for (let i = 0; i < depth; i++) {
      const b = this.tip;
      for (const id of [...b.txids].reverse()) {
        const t = this.txs.get(id);
        if (!t) continue;
        t.height = null;
        t.tx.outputs.forEach((_, vout) => {
          const o = this.outputs.get(outpointKey(id, vout));
          if (o) o.height = null;
        });
        if (t.origin !== 'submitted') this.drop(id);
      }
      this.blocks.delete(b.height);
      this.tip = this.blocks.get(b.height - 1) as Block;
    }
    for (const id of drop) this.drop(id);
    return this.mine(depth + 1);
  }

  /** The scriptPubKey an address pays to; throws for an address of the other network or not transparent. */
  scriptFor(address: string): Uint8Array {
    return zcashAddressScript(this.opts.network, address);
  }

  /** Every output paying this script: mined and in the mempool, spent or not. */
  outputsTo(script: Uint8Array): StandinOutput[] {
    const hex = Buffer.from(script).toString('hex');
    return [...this.outputs.values()].filter((o) => Buffer.from(o.scriptPubKey).toString('hex') === hex);
  }

  /**
   * What zebrad's getaddresstxids lists (zebra-state TransactionIdsByAddresses): the best chain's transactions
   * in blocks `from`..`to` that pay one of `scripts` or spend an output paying one, in chain order, each once; never the mempool.
   */
  txidsTouching(scripts: readonly Uint8Array[], from: number, to: number): string[] {
    const hexes = new Set(scripts.map((s) => Buffer.from(s).toString('hex')));
    const pays = (o: { scriptPubKey: Uint8Array } | undefined) => o !== undefined && hexes.has(Buffer.from(o.scriptPubKey).toString('hex'));
    const heights = [...this.blocks.keys()].filter((h) => h >= from && h <= to).sort((a, b) => a - b);
    const out: string[] = [];
    for (const h of heights) {
      for (const txid of this.blocks.get(h)?.txids ?? []) {
        const t = this.txs.get(txid);
        if (!t) continue;
        const spends = t.tx.inputs.some((i) => pays(this.outputs.get(outpointKey(hashToDisplayHex(i.prevout.txid), i.prevout.index))));
        if (spends || t.tx.outputs.some(pays)) out.push(txid);
      }
    }
    return out;
  }

  /**
   * What getaddressutxos lists: mined and not spent by a mined transaction. Like zcashd's address index
   * it ignores the mempool, so an output a pending payout spends is still listed: a payer must reserve
   * the inputs it spends itself.
   */
  utxosOf(script: Uint8Array): StandinOutput[] {
    return this.outputsTo(script)
      .filter((o) => o.height !== null && !this.spentInChain(o))
      .sort((a, b) => (a.height as number) - (b.height as number));
  }

  /**
   * A transaction paying `zat` to `script`, mined at once in a block of its own. `coinbase`: that block's
   * coinbase (what a pool's mining reward is); otherwise an ordinary transaction from an outside wallet,
   * whose input the stand-in does not model (it spends an outpoint of no transaction it knows).
   */
  fund(script: Uint8Array, zat: bigint, coinbase = false): { txid: string; vout: number } {
    if (zat <= 0n || zat > MAX_MONEY_ZAT) throw new RangeError(`fund: ${zat} zat is out of range`);
    if (coinbase) return { txid: this.mineCoinbase([{ scriptPubKey: script, value: zat }]).txid, vout: 0 };
    return { txid: this.fundOutputs(script, [zat]), vout: 0 };
  }

  /** One transaction from an outside wallet paying each of `zats` to `script` (output i: zats[i]), mined at once in a block of its own. */
  fundOutputs(script: Uint8Array, zats: readonly bigint[]): string {
    if (zats.length === 0 || zats.some((z) => z <= 0n || z > MAX_MONEY_ZAT)) throw new RangeError('fund: an amount out of range');
    const n = ++this.fundings;
    const prevout = { txid: sha256d(new TextEncoder().encode(`stand-in faucet ${this.opts.genesisSeed} ${n}`)), index: 0 };
    const tx = this.v5(
      [prevout],
      zats.map((value) => ({ value, scriptPubKey: script })),
      this.tip.height + 1,
      n,
      0,
    );
    const stored = this.store(tx, Buffer.from(serializeTx(tx)).toString('hex'), this.branchId, 'funding');
    this.connectBlock([stored]);
    return stored.txid;
  }

  /** A block of its own whose coinbase pays `outputs` (a pool's reward, split as a pool may split it). */
  mineCoinbase(outputs: readonly CoinbaseOutput[]): { block: Block; txid: string } {
    if (outputs.length === 0 || outputs.length > 100) throw new RangeError(`mineCoinbase: ${outputs.length} outputs (1..100)`);
    let total = 0n;
    for (const o of outputs) {
      if (o.value < 0n || o.value > MAX_MONEY_ZAT) throw new RangeError(`mineCoinbase: ${o.value} zat is out of range`);
      total += o.value;
    }
    if (total > MAX_MONEY_ZAT) throw new RangeError(`mineCoinbase: ${total} zat in all is out of range`);
    const stored = this.coinbase(outputs);
    return { block: this.connectBlock([stored]), txid: stored.txid };
  }

  /** The coinbase of the next block. */
  private coinbase(outputs: readonly CoinbaseOutput[]): StoredTx {
    const height = this.tip.height + 1;
    // A v5 txid does not cover scriptSigs: the expiry height (a coinbase's must be its block's height,
    // NU5) makes a coinbase's txid unique per height, as on the network.
    const tx = this.v5(
      [{ txid: NULL_TXID, index: COINBASE_INDEX }],
      outputs.map((o) => ({ ...o })),
      height,
      ++this.fundings,
      height,
    );
    return this.store(tx, Buffer.from(serializeTx(tx)).toString('hex'), this.branchId, 'coinbase');
  }

  private v5(prevouts: Tx['inputs'][number]['prevout'][], outputs: Tx['outputs'], height: number, n: number, expiryHeight: number): TxV5 {
    const scriptSig = new ByteWriter().u8(4).u32(height).u8(4).u32(n).finish();
    return {
      version: 5,
      consensusBranchId: this.branchId,
      lockTime: 0,
      expiryHeight,
      inputs: prevouts.map((prevout) => ({ prevout, scriptSig, sequence: 0xffffffff })),
      outputs,
      sapling: null,
      orchard: null,
    };
  }

  /** Mines `n` blocks, each taking the whole mempool (what is still valid at its height). */
  mine(n: number): Block[] {
    if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new RangeError(`mine: ${n} blocks (1..10000)`);
    const mined: Block[] = [];
    for (let i = 0; i < n; i++) mined.push(this.connectBlock());
    return mined;
  }

  /** Forgets a mempool transaction and those spending its outputs (zcashd's removeRecursive). */
  drop(txid: string): boolean {
    const t = this.txs.get(txid);
    if (!t || t.height !== null) return false;
    for (const o of this.outputs.values()) if (o.txid === txid && o.spentBy) this.drop(o.spentBy);
    for (const input of t.tx.inputs) {
      const o = this.outputs.get(outpointKey(hashToDisplayHex(input.prevout.txid), input.prevout.index));
      if (o && o.spentBy === txid) o.spentBy = null;
    }
    t.tx.outputs.forEach((_, vout) => this.outputs.delete(outpointKey(txid, vout)));
    this.txs.delete(txid);
    return true;
  }

  /**
   * sendrawtransaction: the txid when the transaction is (now or already) in the mempool; a NodeRefusal
   * otherwise, with nothing changed.
   */
  submit(hex: string, allowHighFees: boolean): string {
    let txid: string | null = null;
    try {
      let tx: Tx;
      try {
        tx = parseTx(fromHex(hex, 'transaction'));
      } catch (e) {
        throw new NodeRefusal(-22, 'TX decode failed', `cannot decode: ${(e as Error).message}`);
      }
      txid = txidOf(tx);
      const known = this.txs.get(txid);
      if (this.opts.dialect === 'zebrad') {
        const id = tx.version === 5 ? 'WtxId("private")' : 'transaction::Hash("private")';
        // zebrad's order: the mempool's own checks (queue), then its download-and-verify (state first).
        if (known?.height === null) throw new NodeRefusal(-1, ZEBRAD_TEXT.inMempool, `${txid} is already in the mempool`);
        if (this.queued.has(txid)) throw new NodeRefusal(-1, ZEBRAD_TEXT.queued, `${txid} is queued for download`);
        if (known)
          throw new NodeRefusal(
            -25,
            `failed to validate tx: ${id}, error: ${ZEBRAD_TEXT.inState}`,
            `${txid} was mined at height ${known.height}`,
          );
        try {
          const branchId = this.accept(tx, txid, allowHighFees);
          this.store(tx, hex.toLowerCase(), branchId, 'submitted');
        } catch (e) {
          if (!(e instanceof NodeRefusal)) throw e;
          throw new NodeRefusal(
            -25,
            `failed to validate tx: ${id}, error: transaction did not pass consensus validation: ${e.message}`,
            e.reason,
          );
        }
        this.accepted.push({ txid, tx });
        return txid;
      }
      if (known?.height === null) {
        if (this.opts.mempoolResend === 'txid') return txid;
        throw rejected(REJECT.DUPLICATE, 'txn-already-in-mempool', `${txid} is already in the mempool`);
      }
      // zcashd knows a mined transaction by its unspent outputs: once all are spent it validates a
      // resend afresh, and refuses it for its (spent) inputs rather than as already known.
      if (known && tx.outputs.some((_, vout) => !this.spentInChain(this.outputs.get(outpointKey(known.txid, vout))))) {
        throw new NodeRefusal(-27, 'transaction already in block chain', `${txid} was mined at height ${known.height}`);
      }
      const branchId = this.accept(tx, txid, allowHighFees);
      this.store(tx, hex.toLowerCase(), branchId, 'submitted');
      this.accepted.push({ txid, tx });
      return txid;
    } catch (e) {
      if (e instanceof NodeRefusal) this.refusals.push({ txid, code: e.code, message: e.message, reason: e.reason });
      throw e;
    }
  }

  /** The checks, in zcashd's order; returns the branch the signatures verified under. */
  private accept(tx: Tx, txid: string, allowHighFees: boolean): number {
    const next = this.tip.height + 1;
    const invalid = (what: string, reason: string) => rejected(REJECT.INVALID, what, reason);

    // CheckTransaction (context-free).
    if (hasShielded(tx))
      throw rejected(REJECT.NONSTANDARD, 'stand-in: shielded components are not supported', 'the stand-in cannot verify shielded proofs');
    if (tx.inputs.length === 0) throw invalid('bad-txns-vin-empty', 'no transparent inputs');
    if (tx.outputs.length === 0) throw invalid('bad-txns-vout-empty', 'no transparent outputs');
    let outZat = 0n;
    for (const [n, o] of tx.outputs.entries()) {
      if (o.value < 0n) throw invalid('bad-txns-vout-negative', `output ${n} is negative`);
      if (o.value > MAX_MONEY_ZAT) throw invalid('bad-txns-vout-toolarge', `output ${n} is over MAX_MONEY`);
      outZat += o.value;
      if (outZat > MAX_MONEY_ZAT) throw invalid('bad-txns-txouttotal-toolarge', 'the outputs total over MAX_MONEY');
    }
    const keys = tx.inputs.map((i) => outpointKey(hashToDisplayHex(i.prevout.txid), i.prevout.index));
    if (new Set(keys).size !== keys.length) throw invalid('bad-txns-inputs-duplicate', 'an outpoint is spent twice');
    if (tx.inputs.some((i) => i.prevout.index === COINBASE_INDEX && i.prevout.txid.every((b) => b === 0))) {
      throw invalid(tx.inputs.length === 1 ? 'coinbase' : 'bad-txns-prevout-null', 'a coinbase input outside a block');
    }
    if (tx.expiryHeight >= LOCKTIME_THRESHOLD) throw invalid('bad-tx-expiry-height-too-high', `expiry height ${tx.expiryHeight}`);

    // ContextualCheckTransaction, against the next block's rules.
    // The reason string for a v5 header naming another branch is ours: zcashd's wording was not at hand.
    if (tx.version === 5 && tx.consensusBranchId !== this.branchId) {
      throw invalid(
        'bad-tx-consensus-branch-id-mismatch',
        `the header says branch ${hex8(tx.consensusBranchId)}${branchName(tx.consensusBranchId)}, the next block's is ${hex8(this.branchId)}${branchName(this.branchId)}`,
      );
    }
    if (tx.expiryHeight !== 0 && next > tx.expiryHeight)
      throw invalid('tx-overwinter-expired', `expiry height ${tx.expiryHeight}, the next block is ${next}`);
    if (tx.expiryHeight !== 0 && next + EXPIRING_SOON_BLOCKS > tx.expiryHeight) {
      throw invalid(
        'tx-expiring-soon',
        `expiry height ${tx.expiryHeight} is within ${EXPIRING_SOON_BLOCKS} blocks of the next block ${next}`,
      );
    }
    if (!isFinal(tx, next)) throw rejected(REJECT.NONSTANDARD, 'non-final', `lock time ${tx.lockTime} is not reached at height ${next}`);

    // The inputs: a conflict with the mempool, then missing, then spent (zcashd's order).
    for (const [n, key] of keys.entries()) {
      const spender = this.outputs.get(key)?.spentBy;
      // zcashd refuses a mempool conflict with an empty message; ours names it.
      if (spender && this.txs.get(spender)?.height === null)
        throw new NodeRefusal(-25, 'txn-mempool-conflict', `input ${n} (${key}) is spent by mempool transaction ${spender}`);
    }
    for (const [n, key] of keys.entries()) {
      const prevTxid = key.slice(0, 64);
      const prev = this.txs.get(prevTxid);
      const pruned =
        prev &&
        prev.height !== null &&
        prev.tx.outputs.every((_, vout) => this.spentInChain(this.outputs.get(outpointKey(prevTxid, vout))));
      if (!prev || pruned)
        throw new NodeRefusal(
          -25,
          'Missing inputs',
          `input ${n} (${key}): ${prev ? 'every output of that transaction is spent' : 'no such transaction'}`,
        );
    }
    for (const [n, key] of keys.entries()) {
      const o = this.outputs.get(key);
      if (!o || o.spentBy)
        throw rejected(
          REJECT.DUPLICATE,
          'bad-txns-inputs-spent',
          `input ${n} (${key}) ${o ? `is spent by ${o.spentBy}` : 'does not exist'}`,
        );
    }
    // A coinbase output: mature after COINBASE_MATURITY blocks, and only ever spent into a shielded pool
    // (zcashd's ContextualCheckInputs and CheckTxInputs; the consensus rule zebrad enforces too).
    for (const [n, key] of keys.entries()) {
      const prev = this.txs.get(key.slice(0, 64)) as StoredTx;
      if (prev.origin !== 'coinbase') continue;
      if (prev.height !== null && next - prev.height < COINBASE_MATURITY)
        throw invalid(
          'bad-txns-premature-spend-of-coinbase',
          `input ${n} (${key}) is a coinbase output of height ${prev.height}, immature at ${next}`,
        );
      if (tx.outputs.length > 0)
        throw invalid(
          'bad-txns-coinbase-spend-has-transparent-outputs',
          `input ${n} (${key}) is a coinbase output, and the transaction has transparent outputs`,
        );
    }

    // Amounts: zcashd's CheckTxInputs, then the ZIP-317 fee and the absurd-fee guard.
    const inZat = keys.reduce((sum, key) => sum + (this.outputs.get(key) as StandinOutput).value, 0n);
    if (inZat < outZat) throw invalid('bad-txns-in-belowout', `inputs ${inZat} zat, outputs ${outZat} zat`);
    const fee = inZat - outZat;
    const conventional = conventionalFeeZat(tx);
    // zcashd admits up to -txunpaidactionlimit (default 50) unpaid actions, but its miners include none
    // (-blockunpaidactionlimit 0): such a payout would never confirm, so the stand-in refuses it outright.
    if (fee < conventional)
      throw rejected(
        REJECT.INSUFFICIENTFEE,
        'tx unpaid action limit exceeded',
        `fee ${fee} zat, the ZIP-317 conventional fee is ${conventional} zat`,
      );
    if (fee > ABSURD_FEE_ZAT && !allowHighFees)
      throw rejected(REJECT.HIGHFEE, 'absurdly-high-fee', `fee ${fee} zat is over ${ABSURD_FEE_ZAT} zat`);

    // Scripts last (the expensive part, as in zcashd).
    const lookup = (id: string, vout: number) => {
      const o = this.outputs.get(outpointKey(id, vout));
      return o && (!o.spentBy || o.spentBy === txid) ? { value: o.value, scriptPubKey: o.scriptPubKey } : undefined;
    };
    const hex = Buffer.from(serializeTx(tx)).toString('hex');
    const check = verifyTransparentTx(hex, lookup, this.branchId);
    if (check.problems.length === 0) return this.branchId;
    // A v4 signature commits to the branch only inside its digest: zcashd retries with the previous
    // epoch's id to tell a stale signer from a bad signature ("old-consensus-branch-id").
    const signedFor =
      tx.version === 4
        ? BRANCHES.find((b) => b.id !== this.branchId && verifyTransparentTx(hex, lookup, b.id).problems.length === 0)
        : undefined;
    const previous = BRANCHES[BRANCHES.findIndex((b) => b.id === this.branchId) - 1];
    if (signedFor && signedFor.id === previous?.id) {
      throw invalid(
        `old-consensus-branch-id (Expected ${hex8(this.branchId)}, found ${hex8(signedFor.id)})`,
        `signed for ${signedFor.name}, the next block's branch is ${hex8(this.branchId)}${branchName(this.branchId)}`,
      );
    }
    const why = signedFor
      ? `signed for ${signedFor.name} (${hex8(signedFor.id)}), the next block's branch is ${hex8(this.branchId)}${branchName(this.branchId)}`
      : check.problems.join('; ');
    throw invalid(
      'mandatory-script-verify-flag-failed (Script evaluated without error but finished with a false/empty top stack element)',
      why,
    );
  }

  private store(tx: Tx, hex: string, branchId: number, origin: StoredTx['origin']): StoredTx {
    const txid = txidOf(tx);
    const stored: StoredTx = { txid, hex, tx, branchId, height: null, origin };
    this.txs.set(txid, stored);
    for (const input of tx.inputs) {
      const o = this.outputs.get(outpointKey(hashToDisplayHex(input.prevout.txid), input.prevout.index));
      if (o) o.spentBy = txid;
    }
    tx.outputs.forEach((o, vout) =>
      this.outputs.set(outpointKey(txid, vout), { txid, vout, value: o.value, scriptPubKey: o.scriptPubKey, height: null, spentBy: null }),
    );
    return stored;
  }

  /**
   * Connects a block of `only` (a funding transaction or a coinbase), or of the mempool when `only` is
   * absent; a block not given its own coinbase gets the miner's, when one is set.
   */
  private connectBlock(only?: StoredTx[]): Block {
    const height = this.tip.height + 1;
    // An upgrade empties the mempool of what was signed for the old branch (zcashd's removeWithoutBranchId).
    for (const t of this.pending()) if (t.branchId !== this.branchId) this.drop(t.txid);
    const included = new Set<string>();
    const pending = only ?? this.pending().filter((t) => t.tx.expiryHeight === 0 || height <= t.tx.expiryHeight);
    const own = pending[0]?.origin === 'coinbase' || this.miner.length === 0 ? [] : [this.coinbase(this.miner)];
    const candidates = [...own, ...pending];
    for (const t of candidates) {
      // In mempool order a parent comes before its child; a child of a parent left out waits with it.
      const parentsIn = t.tx.inputs.every((i) => {
        const parent = this.txs.get(hashToDisplayHex(i.prevout.txid));
        return !parent || parent.height !== null || included.has(parent.txid);
      });
      if (!parentsIn) continue;
      included.add(t.txid);
      t.height = height;
      t.tx.outputs.forEach((_, vout) => ((this.outputs.get(outpointKey(t.txid, vout)) as StandinOutput).height = height));
    }
    const txids = [...included];
    const prev = this.tip.hash;
    this.tip = {
      height,
      hash: blockHash(height, prev, txids, ++this.connected),
      branchId: this.branchId,
      txids,
      prev,
      time: blockTime(height),
    };
    this.blocks.set(height, this.tip);
    const txs = txids.map((id) => {
      const t = this.txs.get(id) as StoredTx;
      return { txid: id, hex: t.hex, tx: t.tx };
    });
    this.known.set(this.tip.hash, { block: this.tip, txs });
    // zcashd's removeExpired on every block: once a block passes a transaction's expiry height, it
    // leaves the mempool (with its children). Until then it lingers, though no next block may take it.
    for (const t of this.pending()) if (t.tx.expiryHeight !== 0 && height > t.tx.expiryHeight) this.drop(t.txid);
    return this.tip;
  }

  private pending(): StoredTx[] {
    return [...this.txs.values()].filter((t) => t.height === null);
  }

  private spentInChain(o: StandinOutput | undefined): boolean {
    return !o || (o.spentBy !== null && this.txs.get(o.spentBy)?.height !== null);
  }
}

const NULL_HASH = '0'.repeat(64);

/** The stand-in's clock: block 0 at 2016-10-28 (Zcash's launch), one block every 75 s. */
function blockTime(height: number): number {
  return 1_477_641_360 + height * 75;
}

function outpointKey(txid: string, vout: number): string {
  return `${txid}:${vout}`;
}

function hex8(id: number): string {
  return (id >>> 0).toString(16).padStart(8, '0');
}

function branchName(id: number): string {
  const b = branchById(id);
  return b ? ` (${b.name})` : '';
}

function isFinal(tx: Tx, height: number): boolean {
  if (tx.lockTime === 0 || tx.inputs.every((i) => i.sequence === 0xffffffff)) return true;
  return tx.lockTime < (tx.lockTime < LOCKTIME_THRESHOLD ? height : Math.floor(Date.now() / 1000));
}

function blockHash(height: number, prev: string, txids: readonly string[], nonce: number): string {
  return hashToDisplayHex(sha256d(new TextEncoder().encode(`${height}:${prev}:${txids.join(',')}:${nonce}`)));
}
