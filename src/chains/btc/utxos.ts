// The chain's side of a Bitcoin-family hot wallet: its confirmed UTXOs as the node's UTXO set has them,
// and the transaction that spent an outpoint (what a failure proof rests on).
import type { BtcNode } from './node.js';

/** Blocks before a coinbase output may be spent (consensus on every Bitcoin-family chain). */
export const COINBASE_MATURITY = 100;

export interface HotUtxo {
  txid: string;
  vout: number;
  value: bigint;
  /** The scriptPubKey it pays, hex. */
  script: string;
  height: number;
  confirmations: number;
  coinbase: boolean;
}

export interface HotUtxos {
  tip: { height: number; hash: string };
  /** Confirmed at least `minConfirmations` times; a coinbase output only once mature. */
  spendable: HotUtxo[];
  /**
   * Non-coinbase outputs not yet `minConfirmations` deep (in the UTXO set, so mined at least once): spent only once
   * deep enough, since a reorg that undoes their funding transaction would leave a payment spending them unminable.
   */
  young: HotUtxo[];
  /**
   * Every coinbase output paying the hot wallet, mature or not: the hot wallet must never receive
   * coinbase (a reorg deeper than maturity undoes it, and an immature one cannot be spent). Warn.
   */
  coinbase: HotUtxo[];
  /** What the scan left out (see WalletLeftOut): never spent, never counted spendable. */
  leftOut: WalletLeftOut;
}

/**
 * Outputs of the wallet a scan leaves out: `dust`, not worth spending (each worth no more than the fee its input
 * costs at the floor fee rate: anyone can send them to the public address, and spending them would lose money);
 * `beyond`, worth spending but past the `utxoMax` largest kept (spent once the larger ones are). `txids`: the
 * distinct transactions that made them (the unknown-spend check reads every transaction paying the wallet).
 */
export interface WalletLeftOut {
  dust: { count: number; value: bigint };
  beyond: { count: number; value: bigint };
  txids: string[];
}

/** Whether a txid is a coinbase never changes: remembered across scans (bounded). */
export class CoinbaseCache {
  private readonly known = new Map<string, boolean>();
  constructor(private readonly max = 100_000) {}

  get(txid: string): boolean | undefined {
    return this.known.get(txid);
  }

  set(txid: string, coinbase: boolean): void {
    if (this.known.size >= this.max) this.known.delete(this.known.keys().next().value as string);
    this.known.set(txid, coinbase);
  }
}

/** The default of utxo_max: the most outputs of the hot wallet a scan keeps. */
export const UTXO_MAX_DEFAULT = 50_000;

/**
 * The hot wallet's UTXOs: scantxoutset over its descriptors (`addr(…)` or `raw(script)`), then each
 * output's coinbase flag from gettxout (cached per txid). An output gone between the two calls is spent: left out.
 * Outputs worth no more than `dustMax` are left out, and of the others only the `utxoMax` largest are kept
 * (`leftOut` counts the rest): a flood of small outputs sent to the public address neither stops payouts nor grows
 * what is kept and asked about.
 */
export async function hotWalletUtxos(
  node: BtcNode,
  descriptors: readonly string[],
  o: { minConfirmations: number; coinbaseMaturity?: number; cache?: CoinbaseCache; dustMax?: bigint; utxoMax?: number },
): Promise<HotUtxos> {
  if (!Number.isSafeInteger(o.minConfirmations) || o.minConfirmations < 1) throw new RangeError('minConfirmations must be at least 1');
  const utxoMax = o.utxoMax ?? UTXO_MAX_DEFAULT;
  if (!Number.isSafeInteger(utxoMax) || utxoMax < 1) throw new RangeError('utxoMax must be at least 1');
  const maturity = o.coinbaseMaturity ?? COINBASE_MATURITY;
  const scan = await node.scanTxOutSet(descriptors);
  const dustMax = o.dustMax ?? -1n;
  const leftOut: WalletLeftOut = { dust: { count: 0, value: 0n }, beyond: { count: 0, value: 0n }, txids: [] };
  const leftTxids = new Set<string>();
  const leave = (into: { count: number; value: bigint }, u: { txid: string; amount: bigint }) => {
    into.count++;
    into.value += u.amount;
    leftTxids.add(u.txid);
  };
  const worth: typeof scan.unspents = [];
  for (const u of scan.unspents)
    if (u.amount > dustMax) worth.push(u);
    else leave(leftOut.dust, u);
  worth.sort((a, b) => (a.amount === b.amount ? 0 : a.amount > b.amount ? -1 : 1));
  for (const u of worth.slice(utxoMax)) leave(leftOut.beyond, u);
  leftOut.txids = [...leftTxids];
  const all: HotUtxo[] = [];
  for (const u of worth.slice(0, utxoMax)) {
    let coinbase = o.cache?.get(u.txid);
    if (coinbase === undefined) {
      const out = await node.getTxOut(u.txid, u.vout, false);
      if (out === null) continue;
      coinbase = out.coinbase;
      o.cache?.set(u.txid, coinbase);
    }
    const confirmations = scan.height - u.height + 1;
    all.push({ txid: u.txid, vout: u.vout, value: u.amount, script: u.scriptPubKey, height: u.height, confirmations, coinbase });
  }
  // A coinbase output may be spent in a block at depth `maturity`: the next block is that deep when it has maturity confirmations.
  const ok = (u: HotUtxo) => u.confirmations >= o.minConfirmations && (!u.coinbase || u.confirmations >= maturity);
  return {
    tip: { height: scan.height, hash: scan.bestblock },
    spendable: all.filter(ok),
    young: all.filter((u) => !u.coinbase && u.confirmations < o.minConfirmations),
    coinbase: all.filter((u) => u.coinbase),
    leftOut,
  };
}

export type Spender =
  /** Unspent, in the chain and the mempool. */
  | { kind: 'unspent'; confirmations: number }
  /** Spent by a mempool transaction only: no proof of anything. */
  | { kind: 'mempool' }
  /** Spent by `txid`, mined in `block` on the best chain with `confirmations`. */
  | { kind: 'mined'; txid: string; block: { hash: string; height: number }; confirmations: number }
  /** Not in the UTXO set and no spender in the blocks read: unknown (the outpoint may never have existed). */
  | { kind: 'not-found'; scanned: { from: number; to: number } };

/**
 * Who spent an outpoint. Bitcoin Core 0.21 has no spent index: gettxout says whether it is unspent
 * (with and without the mempool); a spender in a block is found by reading the blocks from
 * `fromHeight` (no spender can precede the height the outpoint was created at, or the height our
 * payment was signed at, whichever the caller knows) up to the tip, at most `blocksMax` of them.
 */
export async function findSpender(
  node: BtcNode,
  outpoint: { txid: string; vout: number },
  o: { fromHeight: number; blocksMax: number },
): Promise<Spender> {
  if (!Number.isSafeInteger(o.blocksMax) || o.blocksMax < 1) throw new RangeError('blocksMax must be at least 1');
  const unspent = await node.getTxOut(outpoint.txid, outpoint.vout, true);
  if (unspent !== null) return { kind: 'unspent', confirmations: unspent.confirmations };
  if ((await node.getTxOut(outpoint.txid, outpoint.vout, false)) !== null) return { kind: 'mempool' };
  const tip = await node.getBlockCount();
  const from = Math.max(0, o.fromHeight);
  const to = Math.min(tip, from + o.blocksMax - 1);
  for (let h = from; h <= to; h++) {
    const block = await node.getBlockWithTxs(await node.getBlockHash(h));
    // Off the best chain by now (a reorg between the two calls): its word proves nothing.
    if (block === null || block.confirmations < 1) continue;
    const tx = block.tx.find((t) => t.vin.some((i) => i.txid === outpoint.txid && i.vout === outpoint.vout));
    if (tx) return { kind: 'mined', txid: tx.txid, block: { hash: block.hash, height: block.height }, confirmations: block.confirmations };
  }
  return { kind: 'not-found', scanned: { from, to } };
}
