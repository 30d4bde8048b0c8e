// The chain's side of a Bitcoin-family hot wallet: its confirmed UTXOs as the node's UTXO set has them,
// the output an outpoint names as its funding transaction's bytes have it (hash-checked: the value a
// signature spends), and the transaction that spent an outpoint (what a failure proof rests on), read from
// its bytes.
import { ByteWriter, displayHexToHash, fromHex, hashToDisplayHex, toHex } from '../zcash/bytes.js';
import { BtcRpcBadReply, type BtcNode } from './node.js';
import { parseRawTx, txidOf, type RawTx } from './rawtx.js';
import { keepWorthSpending, type WalletLeftOut } from '../utxo-flood.js';

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

/** Facts that never change (a txid's coinbase flag, an outpoint's output), remembered across calls: bounded, oldest out first. */
export class BoundedCache<V> {
  private readonly known = new Map<string, V>();
  constructor(private readonly max = 100_000) {}

  get(key: string): V | undefined {
    return this.known.get(key);
  }

  set(key: string, value: V): void {
    if (this.known.size >= this.max) this.known.delete(this.known.keys().next().value as string);
    this.known.set(key, value);
  }
}

/** Whether a txid is a coinbase. */
export class CoinbaseCache extends BoundedCache<boolean> {}

/** An output as its transaction's bytes have it. */
export interface FundedOutput {
  value: bigint;
  script: Uint8Array;
}

/** Outputs read from hash-checked bytes, by outpoint (txid:vout). */
export class FundingCache extends BoundedCache<FundedOutput> {}

/** A transaction's bytes as the node gave them, parsed; BtcRpcBadReply when they do not hash to `txid` (the node lies). */
export function verifiedTx(method: string, txid: string, hex: string): RawTx {
  let tx: RawTx;
  try {
    tx = parseRawTx(fromHex(hex, `${txid}'s bytes`));
  } catch (e) {
    throw new BtcRpcBadReply(method, `the bytes given for ${txid} do not decode: ${(e as Error).message}`);
  }
  if (txidOf(tx) !== txid) throw new BtcRpcBadReply(method, `the bytes given for ${txid} hash to another txid`);
  return tx;
}

/**
 * The output an outpoint names, from its funding transaction's bytes (getrawtransaction, txindex), hash-checked against
 * the txid: its value and script are the chain's, whatever the node's JSON says (the value a BIP143 signature commits to,
 * and the one a legacy signature does not: a node under-reporting it would have payserv burn the difference as fee).
 * Null when the node does not know the transaction or it has no such output.
 */
export async function fundingOutput(
  node: BtcNode,
  outpoint: { txid: string; vout: number },
  cache?: FundingCache,
): Promise<FundedOutput | null> {
  const key = `${outpoint.txid}:${outpoint.vout}`;
  const known = cache?.get(key);
  if (known) return known;
  const t = await node.getRawTransaction(outpoint.txid);
  if (!t) return null;
  const out = verifiedTx('getrawtransaction', outpoint.txid, t.hex).outputs[outpoint.vout];
  if (!out) return null;
  cache?.set(key, out);
  return out;
}

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
  const maturity = o.coinbaseMaturity ?? COINBASE_MATURITY;
  const scan = await node.scanTxOutSet(descriptors);
  const { kept, leftOut } = keepWorthSpending(scan.unspents, {
    value: (u) => u.amount,
    txid: (u) => u.txid,
    dustMax: o.dustMax ?? -1n,
    utxoMax: o.utxoMax,
  });
  const all: HotUtxo[] = [];
  for (const u of kept) {
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
  /**
   * Spent by `txid` (its bytes, hash-checked: input `input` spends the outpoint), mined in `block` on the best chain
   * (the node's word) with `confirmations`. Nothing here says who signed it: a proof of failure checks that (driver.ts).
   */
  | { kind: 'mined'; txid: string; tx: RawTx; input: number; block: { hash: string; height: number }; confirmations: number }
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
  const needle = outpointHex(outpoint);
  const tip = await node.getBlockCount();
  const from = Math.max(0, o.fromHeight);
  const to = Math.min(tip, from + o.blocksMax - 1);
  for (let h = from; h <= to; h++) {
    const block = await node.getBlockWithTxs(await node.getBlockHash(h));
    // Off the best chain by now (a reorg between the two calls): its word proves nothing.
    if (block === null || block.confirmations < 1) continue;
    // The inputs from each transaction's bytes, never from the JSON beside them: only bytes holding the outpoint as
    // serialized (txid in internal order, vout little-endian) can spend it, and only those are parsed and hash-checked.
    for (const t of block.tx) {
      if (!t.hex.includes(needle)) continue;
      const tx = verifiedTx('getblock', t.txid, t.hex);
      const input = tx.inputs.findIndex((i) => hashToDisplayHex(i.prevTxid) === outpoint.txid && i.vout === outpoint.vout);
      if (input >= 0)
        return {
          kind: 'mined',
          txid: t.txid,
          tx,
          input,
          block: { hash: block.hash, height: block.height },
          confirmations: block.confirmations,
        };
    }
  }
  return { kind: 'not-found', scanned: { from, to } };
}

/** An outpoint as a transaction's input serializes it: the txid's bytes reversed, then the index as 4 bytes little-endian. */
function outpointHex(o: { txid: string; vout: number }): string {
  return toHex(new ByteWriter().bytes(displayHexToHash(o.txid)).u32(o.vout).finish());
}
