// How the Zcash node stand-in (zcash-standin.ts) renders its blocks and transactions: getblock at
// verbosity 0, 1 and 2 and getrawtransaction's verbose object, in the shapes zebrad serves them
// (zebra-rpc/src/methods.rs get_block and get_block_header; types/transaction.rs Output and
// ScriptPubKey; snapshots get_block_verbose_hash_verbosity_1@mainnet_10 and _2). Only what a block
// carries in the stand-in is real (its hash, height, transactions, confirmations, neighbours); the
// header's proof of work is made up, so a raw block's header does not hash to the block's hash.
import { zcashScriptAddress } from '../chains/address.js';
import { ByteWriter, fromHex, hashToDisplayHex, toHex } from '../chains/zcash/bytes.js';
import { sha256d } from '../chains/zcash/hash.js';
import type { Tx } from '../chains/zcash/tx.js';
import type { Block, StandinDialect, StandinNetwork } from './zcash-standin-chain.js';

/** A block as getblock finds it: its transactions as mined, and whether it is on the best chain. */
export interface FoundBlock {
  block: Block;
  canonical: boolean;
  txs: ReadonlyArray<{ txid: string; hex: string; tx: Tx }>;
}

export interface BlockView {
  found: FoundBlock;
  tipHeight: number;
  /** The best chain's next block's hash, when there is one. */
  next: string | undefined;
  network: StandinNetwork;
  dialect: StandinDialect;
}

/** getblock "hash" 0: the serialized block (a made-up header, the real transactions). */
export function rawBlock(v: BlockView): string {
  return toHex(serialize(v.found));
}

/** getblock "hash" 1 (txids) or 2 (transaction objects). */
export function blockObject(v: BlockView, verbosity: 1 | 2): Record<string, unknown> {
  const { block, canonical, txs } = v.found;
  // zebrad and zcashd: -1 for a block off the best chain (zebrad's NOT_IN_BEST_CHAIN_CONFIRMATIONS).
  const confirmations = canonical ? v.tipHeight - block.height + 1 : -1;
  const mined = { height: block.height, confirmations, blockhash: block.hash, in_active_chain: canonical };
  return {
    hash: block.hash,
    confirmations,
    size: serialize(v.found).length,
    height: block.height,
    version: 4,
    merkleroot: merkleRoot(txs.map((t) => t.txid)),
    blockcommitments: ZERO32,
    finalsaplingroot: ZERO32,
    tx: verbosity === 1 ? txs.map((t) => t.txid) : txs.map((t) => ({ ...describeTx(t.txid, t.hex, t.tx, v.network), ...mined })),
    time: block.time,
    nonce: ZERO32,
    solution: '00',
    bits: '1f07ffff',
    difficulty: 1,
    ...(v.dialect === 'zebrad' ? { trees: {} } : { chainwork: ZERO32 }),
    ...(block.height > 0 ? { previousblockhash: block.prev } : {}),
    ...(canonical && v.next ? { nextblockhash: v.next } : {}),
  };
}

/**
 * getrawtransaction's verbose fields: each output with `value` (ZEC, a float, as both nodes send it),
 * `valueZat`, `n` and `scriptPubKey` {asm, hex, reqSigs, type, addresses}; zebrad leaves reqSigs and
 * addresses out for a script that pays no address.
 */
export function describeTx(txid: string, hex: string, tx: Tx, network: StandinNetwork): Record<string, unknown> {
  const coinbase = tx.inputs.length === 1 && tx.inputs[0]?.prevout.index === 0xffffffff && tx.inputs[0].prevout.txid.every((b) => b === 0);
  return {
    hex,
    txid,
    overwintered: true,
    version: tx.version,
    versiongroupid: tx.version === 4 ? '892f2085' : '26a7270a',
    locktime: tx.lockTime,
    expiryheight: tx.expiryHeight,
    vin: tx.inputs.map((i) =>
      coinbase
        ? { coinbase: toHex(i.scriptSig), sequence: i.sequence }
        : {
            txid: hashToDisplayHex(i.prevout.txid),
            vout: i.prevout.index,
            scriptSig: { asm: '', hex: toHex(i.scriptSig) },
            sequence: i.sequence,
          },
    ),
    vout: tx.outputs.map((o, n) => ({
      value: Number(o.value) / 1e8,
      valueZat: Number(o.value),
      n,
      scriptPubKey: scriptPubKey(o.scriptPubKey, network),
    })),
  };
}

/**
 * What zebrad's verbose getrawtransaction adds (zebra-rpc/src/methods/types/transaction.rs,
 * TransactionObject::from_transaction) for a transaction without shielded parts, which is every one the
 * stand-in holds (it refuses shielded ones): empty Sapling, Sprout and Orchard parts with zero value
 * balances, its size, and once mined its block's time as `time` and `blocktime`. Left out: `authdigest`
 * (a v5 transaction's ZIP-244 auth digest), which payserv never reads.
 */
export function zebradTxFields(hex: string, blockTime: number | null): Record<string, unknown> {
  return {
    vShieldedSpend: [],
    vShieldedOutput: [],
    vjoinsplit: [],
    orchard: { actions: [], valueBalance: 0, valueBalanceZat: 0 },
    valueBalance: 0,
    valueBalanceZat: 0,
    size: hex.length / 2,
    ...(blockTime === null ? {} : { time: blockTime, blocktime: blockTime }),
  };
}

/** The asm is left empty: payserv reads the hex and the addresses. */
function scriptPubKey(script: Uint8Array, network: StandinNetwork): Record<string, unknown> {
  const address = zcashScriptAddress(network, script);
  if (!address) return { asm: '', hex: toHex(script), type: 'nonstandard' };
  return { asm: '', hex: toHex(script), reqSigs: 1, type: script[0] === 0x76 ? 'pubkeyhash' : 'scripthash', addresses: [address] };
}

const ZERO32 = '0'.repeat(64);

function serialize(found: FoundBlock): Uint8Array {
  const w = new ByteWriter()
    .u32(4)
    .bytes(fromHex(found.block.prev).reverse())
    .bytes(fromHex(merkleRoot(found.txs.map((t) => t.txid))).reverse())
    .bytes(new Uint8Array(32))
    .u32(found.block.time)
    .u32(0x1f07ffff)
    .bytes(new Uint8Array(32))
    .compactSize(0)
    .compactSize(found.txs.length);
  for (const t of found.txs) w.bytes(fromHex(t.hex));
  return w.finish();
}

/** Bitcoin's merkle tree over the txids (internal byte order), the last node paired with itself. */
function merkleRoot(txids: readonly string[]): string {
  if (txids.length === 0) return ZERO32;
  let level = txids.map((id) => fromHex(id).reverse());
  while (level.length > 1) {
    const next: Uint8Array[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const a = level[i] as Uint8Array;
      const b = level[i + 1] ?? a;
      next.push(sha256d(Uint8Array.from([...a, ...b])));
    }
    level = next;
  }
  return hashToDisplayHex(level[0] as Uint8Array);
}
