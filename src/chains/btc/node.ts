// A client for a Bitcoin-Core-style node (bitcoind, litecoind, dogecoind, Bitcoin Cash nodes), the
// RPCs of Bitcoin Core 0.21 that a driver signing locally needs: no node wallet (UTXOs by
// scantxoutset, transactions by txindex). Built like the Zcash client (src/chains/zcash/rpc.ts) on the
// same transport (src/chains/node-http.ts): the node is outside the trust boundary, every reply is
// checked against a schema, and three error classes tell a refusal, no answer, and a bad answer apart.
//
// Amounts: the node writes them as JSON numbers with 8 decimals. The reply is read by a lossless
// parser (./json.ts) and every amount converted from its text to satoshis: never through a float.
import { z } from 'zod';
import {
  callNode,
  nullWhenUnknown,
  NodeRpcBadReply,
  NodeRpcError,
  NodeRpcUnavailable,
  nodeEndpoint,
  type NodeRpcCall,
} from '../node-http.js';
import type { Broadcast } from '../driver.js';
import { numberOf, parseJsonLossless, satoshisOf } from './json.js';

export class BtcRpcError extends NodeRpcError {
  override readonly name = 'BtcRpcError';
}

/** No answer: nothing can be concluded (a sendrawtransaction whose reply was lost may have been relayed). */
export class BtcRpcUnavailable extends NodeRpcUnavailable {
  override readonly name = 'BtcRpcUnavailable';
}

/** An answer that does not fit the method's schema: as inconclusive as no answer. */
export class BtcRpcBadReply extends NodeRpcBadReply {
  override readonly name = 'BtcRpcBadReply';
}

const ERRORS = { error: BtcRpcError, unavailable: BtcRpcUnavailable, badReply: BtcRpcBadReply };

/** Bitcoin Core's RPC error codes the driver branches on (src/rpc/protocol.h). */
export const BTC_RPC_CODE = {
  /** getrawtransaction "No such mempool or blockchain transaction…", getmempoolentry "Transaction not in mempool", getblockheader "Block not found". */
  INVALID_ADDRESS_OR_KEY: -5,
  /** getblockhash "Block height out of range"; scantxoutset "Scan already in progress, use action \"abort\" or \"status\"". */
  INVALID_PARAMETER: -8,
  /** sendrawtransaction "TX decode failed". */
  DESERIALIZATION_ERROR: -22,
  /** RPC_TRANSACTION_ERROR: TransactionError MISSING_INPUTS ("bad-txns-inputs-missingorspent") and MAX_FEE_EXCEEDED. */
  VERIFY_ERROR: -25,
  /** RPC_TRANSACTION_REJECTED: a mempool refusal, the reason as the node words it ("txn-mempool-conflict", "dust"…). */
  VERIFY_REJECTED: -26,
  /** RPC_TRANSACTION_ALREADY_IN_CHAIN: "Transaction already in block chain". */
  VERIFY_ALREADY_IN_CHAIN: -27,
  /** The node is starting: nothing was run. */
  IN_WARMUP: -28,
  METHOD_NOT_FOUND: -32601,
} as const;

/**
 * Bitcoin Core 0.21's words (src/util/error.cpp TransactionErrorString, src/node/transaction.cpp
 * BroadcastTransaction and HandleATMPError, src/validation.cpp reject reasons), as litecoind 0.21 says them.
 */
export const BTC_NODE_TEXT = {
  alreadyInChain: 'Transaction already in block chain',
  /** MISSING_INPUTS: the state's reject reason replaces TransactionErrorString's "Missing inputs". */
  inputsMissingOrSpent: 'bad-txns-inputs-missingorspent',
  mempoolConflict: 'txn-mempool-conflict',
  maxFeeExceeded: 'Fee exceeds maximum configured by user (e.g. -maxtxfee, maxfeerate)',
  decodeFailed: 'TX decode failed',
  noSuchTx: 'No such mempool or blockchain transaction',
  notInMempool: 'Transaction not in mempool',
  blockNotFound: 'Block not found',
} as const;

/** Largest amount a reply may carry: above any family coin's supply (Dogecoin's, uncapped, is about 1.5×10^19 satoshis). */
export const SATOSHI_MAX = 10n ** 20n;

const HEX64 = /^[0-9a-f]{64}$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;
/**
 * The most UTXOs a scantxoutset reply may list: about what the 64 MiB reply bound holds (litecoind writes about
 * 250 bytes an entry, 190 without its descriptor). Measured with ./json.ts on Node 20: 60,000 entries (15 MB) parse
 * in 0.3 s into 65 MB of heap, 350,000 (88 MB) in 2.2 s into 356 MB. The bytes bound is what bounds memory (the
 * reply is parsed before it is counted); the driver keeps far fewer (utxo_max, the largest outputs worth spending).
 */
export const SCAN_UTXOS_MAX = 300_000;
export const TX_INPUTS_MAX = 10_000;
export const TX_OUTPUTS_MAX = 10_000;
export const BLOCK_TXS_MAX = 50_000;
export const PEERS_MAX = 100_000;

const txid = z.string().regex(HEX64, 'a txid is 64 lowercase hex digits');
const blockHash = z.string().regex(HEX64, 'a block hash is 64 lowercase hex digits');
const height = z.number().int().min(0).max(0x7fffffff);
const hex = (max: number) => z.string().regex(HEX, 'not hex').max(max);
/** An amount in coins as the node writes it (8 decimals) → satoshis, exactly. */
const sats = z.unknown().transform((v, ctx) => {
  const s = satoshisOf(v);
  if (s === null || s > SATOSHI_MAX) {
    ctx.addIssue({ code: 'custom', message: 'not an amount of at most 8 decimals' });
    return z.NEVER;
  }
  return s;
});
/** A float that is not money (verification progress): a number either way. */
const float = z.unknown().transform((v, ctx) => {
  const n = numberOf(v);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: 'not a number' });
    return z.NEVER;
  }
  return n;
});
const addresses = z.array(z.string().min(1).max(128)).max(20).optional();

const blockchainInfo = z.object({
  chain: z.string().min(1).max(32),
  blocks: height,
  headers: height,
  bestblockhash: blockHash,
  initialblockdownload: z.boolean(),
  verificationprogress: float,
  pruned: z.boolean(),
});
export type BtcBlockchainInfo = z.output<typeof blockchainInfo>;

const networkInfo = z.object({
  version: z.number().int().min(0),
  subversion: z.string().max(256),
  connections: z.number().int().min(0).max(PEERS_MAX),
  networkactive: z.boolean().optional(),
  /** Min relay fee, in satoshis per 1,000 vbytes. */
  relayfee: sats,
  // Bitcoin Cash nodes may leave it out.
  incrementalfee: sats.optional(),
});
export type BtcNetworkInfo = z.output<typeof networkInfo>;

/** Bitcoin Core 0.21's listing is about 6,000 characters; a listing far longer is not a node's. */
const HELP_CHARS_MAX = 200_000;

const indexInfo = z.record(z.string().max(64), z.object({ synced: z.boolean(), best_block_height: height }));
export type BtcIndexInfo = z.output<typeof indexInfo>;

// confirmations -1: the block is not on the best chain (invalidated or reorged out).
const blockHeader = z.object({
  hash: blockHash,
  confirmations: z.number().int().min(-1).max(0x7fffffff),
  height,
  time: z.number().int().min(0),
  mediantime: z.number().int().min(0),
  previousblockhash: blockHash.optional(),
});
export type BtcBlockHeader = z.output<typeof blockHeader>;

const scriptPubKey = z.object({ hex: hex(20_000), type: z.string().max(32), addresses });

const txOut = z.object({
  bestblock: blockHash,
  // 0: in the mempool (include_mempool true).
  confirmations: z.number().int().min(0).max(0x7fffffff),
  value: sats,
  scriptPubKey,
  coinbase: z.boolean(),
});
export type BtcTxOut = z.output<typeof txOut>;

const rawTransaction = z.object({
  txid,
  hash: txid,
  // A block holds at most 4,000,000 weight units: a transaction is at most 4 MB.
  hex: hex(8_000_000).min(2),
  // Bitcoin Cash nodes (no segwit) give only size.
  vsize: z.number().int().min(1).optional(),
  size: z.number().int().min(1),
  vin: z
    .array(
      z.object({
        txid: txid.optional(),
        vout: z.number().int().min(0).max(0xffffffff).optional(),
        coinbase: hex(400).optional(),
        sequence: z.number().int().min(0).max(0xffffffff),
      }),
    )
    .min(1)
    .max(TX_INPUTS_MAX),
  vout: z.array(z.object({ value: sats, n: z.number().int().min(0).max(TX_OUTPUTS_MAX), scriptPubKey })).max(TX_OUTPUTS_MAX),
  // Absent in the mempool. A transaction of a block a reorg left behind is still returned (txindex),
  // with that stale blockhash and confirmations 0: "found" is not "mined".
  blockhash: blockHash.optional(),
  confirmations: z.number().int().min(0).max(0x7fffffff).optional(),
});
export type BtcRawTransaction = z.output<typeof rawTransaction>;

// Bitcoin Cash nodes give size, no vsize, weight or bip125-replaceable.
const mempoolEntry = z.object({
  vsize: z.number().int().min(1).optional(),
  size: z.number().int().min(1).optional(),
  weight: z.number().int().min(1).optional(),
  time: z.number().int().min(0),
  height,
  fees: z.object({ base: sats, modified: sats, ancestor: sats, descendant: sats }),
  depends: z.array(txid).max(TX_INPUTS_MAX),
  spentby: z.array(txid).max(TX_OUTPUTS_MAX),
  'bip125-replaceable': z.boolean().optional(),
});
export type BtcMempoolEntry = z.output<typeof mempoolEntry>;

const mempoolAccept = z
  .array(
    z.object({
      txid,
      allowed: z.boolean(),
      vsize: z.number().int().min(1).optional(),
      fees: z.object({ base: sats }).optional(),
      'reject-reason': z.string().max(500).optional(),
    }),
  )
  .length(1);
/** An allowed transaction's fee and vsize as the node counts them; null from a node whose reply carries none (Bitcoin Cash Node). */
export type BtcMempoolAccept = { txid: string } & (
  { allowed: true; vsize: number | null; fee: bigint | null } | { allowed: false; rejectReason: string }
);

/**
 * Whether the node's testmempoolaccept answers an allowed transaction's fee and vsize (Bitcoin Core 0.21+),
 * or answers only `txid` and `allowed` (Bitcoin Cash Node, every release): told by its help listing (./fit.ts).
 */
export type MempoolFees = 'answered' | 'not-answered';

const scanResult = z.object({
  success: z.boolean(),
  height,
  bestblock: blockHash,
  unspents: z
    .array(z.object({ txid, vout: z.number().int().min(0).max(0xffffffff), scriptPubKey: hex(20_000), amount: sats, height }))
    .max(SCAN_UTXOS_MAX, `more than ${SCAN_UTXOS_MAX} UTXOs`),
  total_amount: sats,
});
export type BtcScan = z.output<typeof scanResult>;

const smartFee = z.object({ feerate: sats.optional(), errors: z.array(z.string().max(500)).max(20).optional(), blocks: z.number().int() });

const blockWithTxs = z.object({
  hash: blockHash,
  height,
  confirmations: z.number().int().min(-1),
  previousblockhash: blockHash.optional(),
  tx: z
    .array(
      // The bytes (verbosity 2 gives each transaction's hex): the inputs are read from them, never from the JSON.
      z.object({ txid, hex: hex(8_000_000).min(2) }),
    )
    .min(1)
    .max(BLOCK_TXS_MAX),
});
export type BtcBlockWithTxs = z.output<typeof blockWithTxs>;

/**
 * What a broadcast came to. `in-chain` is a success for a payer (the node has these exact bytes mined).
 * Every refusal leaves the outcome unknown: it says the node's mempool holds no such transaction now,
 * never that it was not or will not be mined (a mined transaction whose outputs are all spent is refused
 * as inputs-missing-or-spent, not as in-chain: 0.21 looks for it among unspent outputs only).
 */
export type SendOutcome =
  | { kind: 'accepted'; txid: string }
  | { kind: 'in-chain'; code: number; message: string }
  | { kind: 'refused'; why: SendRefusal; code: number; message: string };

export type SendRefusal =
  /** -26 txn-mempool-conflict: a mempool transaction spends one of its inputs (no BIP125 replacement). */
  | 'mempool-conflict'
  /** -25 bad-txns-inputs-missingorspent: an input is spent by a block's transaction, or unknown, or this one is mined and fully spent. */
  | 'inputs-missing-or-spent'
  /** -25 Fee exceeds maximum…: above the node's maxfeerate. */
  | 'max-fee-exceeded'
  /** -22 TX decode failed. */
  | 'decode-failed'
  /** Any other refusal (-26 dust, min relay fee not met, a script failure…). */
  | 'rejected';

export function sendRefusal(code: number, message: string): SendRefusal {
  if (code === BTC_RPC_CODE.DESERIALIZATION_ERROR) return 'decode-failed';
  if (message.startsWith(BTC_NODE_TEXT.mempoolConflict)) return 'mempool-conflict';
  if (message.startsWith(BTC_NODE_TEXT.inputsMissingOrSpent) || message === 'Missing inputs') return 'inputs-missing-or-spent';
  if (message.startsWith('Fee exceeds maximum')) return 'max-fee-exceeded';
  return 'rejected';
}

export interface BtcNodeOptions {
  /** http(s)://[user:password@]host:port/ — the credentials are sent as basic auth and never shown. */
  url: string;
  /** For one call (scantxoutset reads the whole UTXO set: give it minutes on a mainnet node). */
  timeoutMs: number;
  /** Largest reply read (default 64 MiB: a full block with its transactions). */
  responseBytesMax?: number;
}

export class BtcNode {
  readonly endpoint: string;
  private readonly rpc: NodeRpcCall;
  private nextId = 1;

  constructor(opts: BtcNodeOptions) {
    const ep = nodeEndpoint(opts.url, 'the node URL');
    if (!(opts.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    this.endpoint = ep.endpoint;
    const responseBytesMax = opts.responseBytesMax ?? 64 * 1024 * 1024;
    this.rpc = { ep, timeoutMs: opts.timeoutMs, responseBytesMax, errors: ERRORS, parse: parseJsonLossless };
  }

  /** `help` without a command: the node's listing of the methods it serves, by category (see ./fit.ts). */
  help(): Promise<string> {
    return this.call('help', [], z.string().max(HELP_CHARS_MAX));
  }

  /** The node's indexes (0.21+): `txindex` present when it runs with txindex=1, `synced` once built. */
  getIndexInfo(): Promise<BtcIndexInfo> {
    return this.call('getindexinfo', [], indexInfo);
  }

  getBlockchainInfo(): Promise<BtcBlockchainInfo> {
    return this.call('getblockchaininfo', [], blockchainInfo);
  }

  getNetworkInfo(): Promise<BtcNetworkInfo> {
    return this.call('getnetworkinfo', [], networkInfo);
  }

  getBlockCount(): Promise<number> {
    return this.call('getblockcount', [], height);
  }

  /** The best chain's block at `h`; a height above the tip is a BtcRpcError -8. */
  getBlockHash(h: number): Promise<string> {
    if (!Number.isSafeInteger(h) || h < 0 || h > 0x7fffffff) throw new RangeError(`getBlockHash: height ${h}`);
    return this.call('getblockhash', [h], blockHash);
  }

  /** The header (confirmations -1 off the best chain), or null when the node has no such block (-5). */
  getBlockHeader(hash: string): Promise<BtcBlockHeader | null> {
    assertHex64(hash, 'getBlockHeader');
    return nullWhenUnknown(
      this.call(
        'getblockheader',
        [hash, true],
        blockHeader.refine((b) => b.hash === hash, 'another block'),
      ),
    );
  }

  /** The block with its transactions' inputs (verbosity 2), or null when the node does not have it. */
  getBlockWithTxs(hash: string): Promise<BtcBlockWithTxs | null> {
    assertHex64(hash, 'getBlockWithTxs');
    return nullWhenUnknown(
      this.call(
        'getblock',
        [hash, 2],
        blockWithTxs.refine((b) => b.hash === hash, 'another block'),
      ),
    );
  }

  /**
   * The confirmed UTXOs paying these descriptors (`addr(ADDRESS)`, `raw(HEX)`), as of the tip it names.
   * Mempool spends are not seen: the driver's reservations cover its own. One scan at a time per node.
   */
  scanTxOutSet(descriptors: readonly string[]): Promise<BtcScan> {
    if (descriptors.length === 0 || descriptors.length > 100) throw new RangeError('scanTxOutSet: 1 to 100 descriptors');
    return this.call(
      'scantxoutset',
      ['start', descriptors],
      scanResult.refine((r) => r.success, 'the scan did not succeed'),
    );
  }

  /** The output if it is unspent (in the chain; with `includeMempool`, not spent in the mempool either), else null. */
  getTxOut(id: string, vout: number, includeMempool: boolean): Promise<BtcTxOut | null> {
    assertHex64(id, 'getTxOut');
    if (!Number.isSafeInteger(vout) || vout < 0 || vout > 0xffffffff) throw new RangeError(`getTxOut: output index ${vout}`);
    return this.call('gettxout', [id, vout, includeMempool], txOut.nullable());
  }

  /** The transaction (mempool, chain, or a stale block: see blockhash/confirmations), or null when unknown (-5: never a proof of failure). */
  getRawTransaction(id: string): Promise<BtcRawTransaction | null> {
    assertHex64(id, 'getRawTransaction');
    return nullWhenUnknown(
      this.call(
        'getrawtransaction',
        [id, true],
        rawTransaction.refine((t) => t.txid === id, 'another txid'),
      ),
    );
  }

  /** The transaction's mempool entry, or null when it is not in the mempool (-5). */
  getMempoolEntry(id: string): Promise<BtcMempoolEntry | null> {
    assertHex64(id, 'getMempoolEntry');
    return nullWhenUnknown(this.call('getmempoolentry', [id], mempoolEntry));
  }

  /**
   * Would the node take this transaction now (nothing is relayed)? maxfeerate in the node's default unless given
   * (coins per kvB text). `fees`: what the node's kind answers (default 'answered': an allowed reply without fee and
   * vsize is a bad reply); 'not-answered' takes one without them (null), and a reply that does carry them is still read.
   */
  async testMempoolAccept(rawHex: string, opts: { maxFeeRate?: string; fees?: MempoolFees } = {}): Promise<BtcMempoolAccept> {
    assertRawHex(rawHex, 'testMempoolAccept');
    const { maxFeeRate, fees = 'answered' } = opts;
    const [r] = await this.call('testmempoolaccept', maxFeeRate === undefined ? [[rawHex]] : [[rawHex], maxFeeRate], mempoolAccept);
    const a = r as z.output<typeof mempoolAccept>[number];
    if (a.allowed) {
      if (a.vsize !== undefined && a.fees !== undefined) return { txid: a.txid, allowed: true, vsize: a.vsize, fee: a.fees.base };
      if (fees === 'answered' || a.vsize !== undefined || a.fees !== undefined)
        throw new BtcRpcBadReply('testmempoolaccept', 'allowed without vsize or fees');
      return { txid: a.txid, allowed: true, vsize: null, fee: null };
    }
    return { txid: a.txid, allowed: false, rejectReason: a['reject-reason'] ?? '(no reason given)' };
  }

  /** Broadcasts. A node error becomes a SendOutcome; no answer is a BtcRpcUnavailable (the outcome is unknown). */
  async sendRawTransaction(rawHex: string, maxFeeRate?: string): Promise<SendOutcome> {
    assertRawHex(rawHex, 'sendRawTransaction');
    try {
      const id = await this.call('sendrawtransaction', maxFeeRate === undefined ? [rawHex] : [rawHex, maxFeeRate], txid);
      return { kind: 'accepted', txid: id };
    } catch (e) {
      if (!(e instanceof BtcRpcError)) throw e;
      if (e.code === BTC_RPC_CODE.VERIFY_ALREADY_IN_CHAIN) return { kind: 'in-chain', code: e.code, message: e.nodeMessage };
      if (e.code === BTC_RPC_CODE.VERIFY_ERROR || e.code === BTC_RPC_CODE.VERIFY_REJECTED || e.code === BTC_RPC_CODE.DESERIALIZATION_ERROR)
        return { kind: 'refused', why: sendRefusal(e.code, e.nodeMessage), code: e.code, message: e.nodeMessage };
      throw e;
    }
  }

  /** The fee rate for confirmation within `target` blocks in satoshis per 1,000 vbytes, or null when the node has no estimate yet. */
  async estimateSmartFee(
    target: number,
    mode: 'ECONOMICAL' | 'CONSERVATIVE' = 'CONSERVATIVE',
  ): Promise<{ satPerKvB: bigint; blocks: number } | null> {
    if (!Number.isSafeInteger(target) || target < 1 || target > 1008) throw new RangeError(`estimateSmartFee: target ${target}`);
    const r = await this.call('estimatesmartfee', [target, mode], smartFee);
    return r.feerate === undefined ? null : { satPerKvB: r.feerate, blocks: r.blocks };
  }

  /**
   * Bitcoin Cash Node's `estimatefee` (no arguments; every release): the lowest fee rate its mempool takes now
   * (its minimum relay fee, raised while the mempool is full and evicting), in satoshis per 1,000 bytes.
   */
  async estimateFee(): Promise<bigint> {
    return this.call('estimatefee', [], sats);
  }

  close(): void {
    this.rpc.ep.agent.destroy();
  }

  private call<S extends z.ZodType>(method: string, params: unknown[], schema: S): Promise<z.output<S>> {
    return callNode(this.rpc, this.nextId++, method, params, schema);
  }
}

function assertHex64(s: string, what: string): void {
  if (!HEX64.test(s)) throw new RangeError(`${what}: a hash is 64 lowercase hex digits`);
}

function assertRawHex(s: string, what: string): void {
  if (s.length === 0 || !HEX.test(s)) throw new RangeError(`${what}: not a hex string`);
}

/**
 * The driver's reading of a broadcast: taken (`known` when the node already had it mined) or refused.
 * A refusal is never a failure: the payment stays unresolved until the chain proves it (a spender of
 * one of its inputs, buried).
 */
export function broadcastOf(o: SendOutcome): Broadcast {
  if (o.kind === 'accepted') return { ok: true, known: false };
  if (o.kind === 'in-chain') return { ok: true, known: true };
  return { ok: false, reason: `${o.why} (${o.code}: ${o.message})` };
}

/**
 * Where a transaction is mined on the best chain, or null: in the mempool, unknown, or returned from a
 * block a reorg left behind (txindex keeps it: stale blockhash, confirmations 0).
 */
export function minedIn(t: BtcRawTransaction | null): { blockHash: string; confirmations: number } | null {
  if (t?.blockhash === undefined || t.confirmations === undefined || t.confirmations < 1) return null;
  return { blockHash: t.blockhash, confirmations: t.confirmations };
}
