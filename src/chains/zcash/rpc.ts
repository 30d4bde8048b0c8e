// A client for the few node RPCs payserv's Zcash driver uses, spoken zcashd-style (JSON-RPC 1.0 over
// HTTP, basic auth). zebrad first, zcashd second: only methods both serve are called (zebrad has no
// getconnectioncount: peers come from getpeerinfo), and each reply's schema admits both shapes (zebrad's
// getblockchaininfo has estimatedheight and no initial_block_download_complete; its verbose
// getrawtransaction says in_active_chain and leaves height and confirmations out off the best chain).
//
// The node is outside the trust boundary: every reply is checked against a schema, and a reply that
// does not fit is a ZcashRpcBadReply naming the method and the field, never a crash further on.
//
// Three error classes, because the driver must branch on them and never on text:
//  - ZcashRpcError: the node answered with a JSON-RPC error (code and message are the node's);
//  - ZcashRpcUnavailable: no answer (refused, timed out, cut off, not JSON-RPC). Nothing can be concluded
//    from it about a payment: a sendrawtransaction whose reply was lost may have been relayed.
//  - ZcashRpcBadReply: an answer that does not fit the method's schema; as inconclusive as the above.
//
// It never retries: whether a call may be repeated is the driver's decision, made with the chain's help.
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

export { redactUrl } from '../node-http.js';

export class ZcashRpcError extends NodeRpcError {
  override readonly name = 'ZcashRpcError';
}

export class ZcashRpcUnavailable extends NodeRpcUnavailable {
  override readonly name = 'ZcashRpcUnavailable';
}

export class ZcashRpcBadReply extends NodeRpcBadReply {
  override readonly name = 'ZcashRpcBadReply';
}

const ERRORS = { error: ZcashRpcError, unavailable: ZcashRpcUnavailable, badReply: ZcashRpcBadReply };

/** zcashd's RPC error codes that the driver branches on (rpc/protocol.h). */
export const ZCASH_RPC_CODE = {
  /** getrawtransaction: "No such mempool or blockchain transaction"; getblock: no such block (both nodes). */
  INVALID_ADDRESS_OR_KEY: -5,
  /** sendrawtransaction: "TX decode failed". */
  DESERIALIZATION_ERROR: -22,
  /** sendrawtransaction: "Missing inputs", or a refusal without a validation verdict. */
  TRANSACTION_ERROR: -25,
  /** sendrawtransaction: a validation verdict, "<reject code>: <reason>". */
  TRANSACTION_REJECTED: -26,
  /** sendrawtransaction: "transaction already in block chain". */
  TRANSACTION_ALREADY_IN_CHAIN: -27,
  /** The node is starting (loading blocks, verifying): nothing was run. */
  IN_WARMUP: -28,
  /** JSON-RPC's "Method not found" (zebrad: HTTP 200; zcashd: HTTP 404): the node does not serve it. */
  METHOD_NOT_FOUND: -32601,
} as const;

/** ZEC's MAX_MONEY in zatoshi: no amount a node reports can be larger (and it is below 2^53). */
export const ZATOSHI_MAX = 21_000_000n * 100_000_000n;

export interface ZcashRpcOptions {
  /** http(s)://[user:password@]host:port/ — the credentials are sent as basic auth and never shown. */
  url: string;
  /** For one call, from sending it to reading the whole reply. */
  timeoutMs: number;
  /** Largest reply read (default 16 MiB): a broken or hostile node must not fill our memory. */
  responseBytesMax?: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const BRANCH_HEX = /^[0-9a-f]{8}$/;
const HEX = /^(?:[0-9a-fA-F]{2})*$/;

const txid = z.string().regex(HEX64, 'a txid is 64 lowercase hex digits');
const height = z.number().int().min(0).max(0x7fffffff);
const zatoshi = z
  .number()
  .int()
  .min(0)
  .max(Number(ZATOSHI_MAX))
  .transform((n) => BigInt(n));

const blockchainInfo = z.object({
  chain: z.string().min(1).max(32),
  blocks: height,
  headers: height.optional(),
  bestblockhash: z.string().regex(HEX64, 'a block hash is 64 lowercase hex digits'),
  verificationprogress: z.number().min(0).max(1.000001).optional(),
  // zebrad and zcashd: the height the network is estimated to be at (from the tip's time).
  estimatedheight: height.optional(),
  // zcashd only.
  initial_block_download_complete: z.boolean().optional(),
  consensus: z.object({
    chaintip: z.string().regex(BRANCH_HEX, 'a branch id is 8 lowercase hex digits'),
    nextblock: z.string().regex(BRANCH_HEX, 'a branch id is 8 lowercase hex digits'),
  }),
});

export type BlockchainInfo = z.output<typeof blockchainInfo>;

const addressUtxo = z.object({
  address: z.string().min(1).max(128),
  txid,
  outputIndex: z.number().int().min(0).max(0xffffffff),
  script: z.string().regex(HEX, 'script is hex').max(20_000),
  satoshis: zatoshi,
  height,
});

export type AddressUtxo = z.output<typeof addressUtxo>;

/** Most transactions one getaddresstxids reply may list: the blocks asked are fewer than that (src/chains/zcash/spends.ts). */
export const ADDRESS_TXIDS_MAX = 100_000;

/** Most peers a reply may list: more is not a node payserv talks to. */
export const PEERS_MAX = 100_000;

/**
 * Most UTXOs one getaddressutxos reply may list: about what the 16 MiB reply bound holds (zebrad writes about 220 bytes
 * an entry). More is a wallet the driver cannot read (HotWalletUnreadable: payments wait, alerted); it keeps far fewer
 * (utxo_max, the largest outputs worth spending). Neither node pages or caps this reply.
 */
export const ADDRESS_UTXOS_MAX = 60_000;

/** Most inputs listed in one verbose transaction: a standard transaction is at most 100 kB (about 2,400 inputs). */
export const TX_INPUTS_MAX = 10_000;

/** Most outputs listed in one verbose transaction (a coinbase paying a whole pool's miners is far below). */
export const TX_OUTPUTS_MAX = 10_000;

/** Most transactions one getblock reply may list: a 2 MB block holds fewer than 20,000. */
export const BLOCK_TXS_MAX = 20_000;

// getblock "hash|height" 1 (zebra-rpc/src/methods.rs get_block; snapshot get_block_verbose_hash_verbosity_1):
// confirmations is -1 for a block off the best chain (zcashd; zebrad only in a race, see getBlock).
const block = z.object({
  hash: z.string().regex(HEX64, 'a block hash is 64 lowercase hex digits'),
  confirmations: z.number().int().min(-1).max(0x7fffffff),
  height,
  tx: z.array(txid).min(1, 'a block has a coinbase').max(BLOCK_TXS_MAX, `more than ${BLOCK_TXS_MAX} transactions`),
  time: z.number().int().min(0).optional(),
  previousblockhash: z.string().regex(HEX64, 'a block hash is 64 lowercase hex digits').optional(),
});

export type BlockInfo = z.output<typeof block>;

const rawTransaction = z.object({
  hex: z.string().regex(HEX, 'hex is not hex').min(2),
  txid,
  // zcashd reports height -1 and 0 confirmations for a transaction in a block off the main chain;
  // zebrad leaves both out there (and in its mempool) and says in_active_chain: false.
  height: z.number().int().min(-1).max(0x7fffffff).optional(),
  confirmations: z.number().int().min(0).max(0x7fffffff).optional(),
  blockhash: z.string().regex(HEX64, 'a block hash is 64 lowercase hex digits').optional(),
  in_active_chain: z.boolean().optional(),
  // A coinbase transaction's one input is {"coinbase": hex, "sequence"} (zcashd and zebrad alike).
  vin: z
    .array(z.object({ coinbase: z.string().regex(HEX, 'coinbase is hex').max(400).optional() }))
    .max(TX_INPUTS_MAX)
    .optional(),
  // The transparent outputs (zebrad types/transaction.rs Output, ScriptPubKey): value (a float, never
  // read), valueZat, n, scriptPubKey {asm, hex, reqSigs, type, addresses}; reqSigs and addresses are
  // left out for a script that pays no address.
  vout: z
    .array(
      z.object({
        valueZat: zatoshi,
        n: z.number().int().min(0).max(TX_OUTPUTS_MAX),
        scriptPubKey: z.object({
          hex: z.string().regex(HEX, 'scriptPubKey.hex is not hex').max(20_000),
          addresses: z.array(z.string().min(1).max(128)).max(20).optional(),
        }),
      }),
    )
    .max(TX_OUTPUTS_MAX)
    .optional(),
});

export type RawTransaction = z.output<typeof rawTransaction>;

/**
 * What a sendrawtransaction came to, when the node did not refuse it. `already-known` is a success for
 * a payer: the node has these exact bytes (zcashd: -27 for a mined one; zebrad and some zcashd forks
 * also refuse a resend of a mempool transaction where zcashd itself answers with the txid).
 */
export type SendRawResult =
  { kind: 'accepted'; txid: string } | { kind: 'already-known'; where: 'mempool' | 'chain'; code: number; message: string };

/**
 * zebrad's words for "I already have it", exactly (zebrad/src/components/mempool/error.rs and
 * downloads.rs; sendrawtransaction, zebra-rpc/src/methods.rs, answers a refusal by the mempool queue
 * with code -1 and one by verification with -25, "failed to validate tx: <id>, error: <reason>").
 */
export const ZEBRAD_ALREADY = {
  /** MempoolError::InMempool (-1). */
  inMempool: 'transaction already exists in mempool',
  /** MempoolError::AlreadyQueued (-1): a peer or the crawler is fetching these very bytes. */
  queued: 'transaction dropped because it is already queued for download',
  /** TransactionDownloadVerifyError::InState (-25): mined in the best chain. */
  inState: 'transaction is already in state',
} as const;

/** How nodes word "I already have this transaction" (zcashd, zebrad and Bitcoin-lineage forks). */
const ALREADY_IN_MEMPOOL = /txn-already-in-mempool|txn-already-known|already (?:exists )?in (?:the )?mempool|already queued for download/i;
const ALREADY_IN_CHAIN = /already in block ?chain|is committed in block|already in state/i;

/** Non-null when a node's refusal means it already holds this very transaction. */
export function alreadyKnown(err: ZcashRpcError): 'mempool' | 'chain' | null {
  if (err.code === ZCASH_RPC_CODE.TRANSACTION_ALREADY_IN_CHAIN || ALREADY_IN_CHAIN.test(err.nodeMessage)) return 'chain';
  return ALREADY_IN_MEMPOOL.test(err.nodeMessage) ? 'mempool' : null;
}

export class ZcashRpc {
  /** Where the node is, without credentials. */
  readonly endpoint: string;
  private readonly rpc: NodeRpcCall;
  private nextId = 1;

  constructor(opts: ZcashRpcOptions) {
    const ep = nodeEndpoint(opts.url, 'the Zcash node URL');
    if (!(opts.timeoutMs > 0)) throw new RangeError('timeoutMs must be positive');
    this.endpoint = ep.endpoint;
    const responseBytesMax = opts.responseBytesMax ?? 16 * 1024 * 1024;
    this.rpc = { ep, timeoutMs: opts.timeoutMs, responseBytesMax, errors: ERRORS, parse: JSON.parse };
  }

  getBlockchainInfo(): Promise<BlockchainInfo> {
    return this.call('getblockchaininfo', [], blockchainInfo);
  }

  /** zcashd only (zebrad does not serve it): kept for tests that tell the two apart. */
  getConnectionCount(): Promise<number> {
    return this.call('getconnectioncount', [], z.number().int().min(0).max(PEERS_MAX));
  }

  /**
   * How many peers the node is connected to: getpeerinfo's length (zebrad lists its recently live
   * peers, zcashd its connections), else getnetworkinfo's `connections` where getpeerinfo is not served.
   */
  async getPeerCount(): Promise<number> {
    try {
      return (await this.call('getpeerinfo', [], z.array(z.object({})).max(PEERS_MAX, `more than ${PEERS_MAX} peers`))).length;
    } catch (e) {
      if (!(e instanceof ZcashRpcError) || e.code !== ZCASH_RPC_CODE.METHOD_NOT_FOUND) throw e;
      return (await this.call('getnetworkinfo', [], z.object({ connections: z.number().int().min(0).max(PEERS_MAX) }))).connections;
    }
  }

  getBlockCount(): Promise<number> {
    return this.call('getblockcount', [], height);
  }

  /** The hash of the best chain's block at `h` (0: the genesis block). A height above the tip is a ZcashRpcError. */
  getBlockHash(h: number): Promise<string> {
    if (!Number.isSafeInteger(h) || h < 0 || h > 0x7fffffff) throw new RangeError(`getBlockHash: height ${h}`);
    return this.call('getblockhash', [h], z.string().regex(HEX64, 'a block hash is 64 lowercase hex digits'));
  }

  /**
   * The block with this hash (verbosity 1: its txids), or null when the node does not have it: -5 from
   * both nodes ("block height not in best chain" from zebrad, which serves the best chain only, so a
   * block a reorg left behind is unknown to it; "Block not found" from zcashd, which answers such a
   * block with confirmations -1).
   */
  async getBlock(hash: string): Promise<BlockInfo | null> {
    if (!HEX64.test(hash)) throw new RangeError('getBlock: a block hash is 64 lowercase hex digits');
    const schema = block.refine((b) => b.hash === hash, 'the reply is for another block');
    return nullWhenUnknown(this.call('getblock', [hash, 1], schema));
  }

  /** The address's unspent outputs as the node's address index knows them (mined ones only). */
  getAddressUtxos(address: string): Promise<AddressUtxo[]> {
    const schema = z
      .array(addressUtxo)
      .max(ADDRESS_UTXOS_MAX, `more than ${ADDRESS_UTXOS_MAX} UTXOs`)
      .refine((us) => us.every((u) => u.address === address), 'a UTXO of another address');
    return this.call('getaddressutxos', [{ addresses: [address] }], schema);
  }

  /**
   * The best chain's transactions in blocks `start`..`end` that pay the address or spend from it, in chain
   * order (zebrad's address index; zcashd with -insightexplorer). Bounded: more is refused, never cut short.
   */
  getAddressTxids(address: string, start: number, end: number): Promise<string[]> {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 1 || end < start)
      throw new RangeError(`getAddressTxids: blocks ${start}..${end}`);
    const schema = z.array(txid).max(ADDRESS_TXIDS_MAX, `more than ${ADDRESS_TXIDS_MAX} transactions`);
    return this.call('getaddresstxids', [{ addresses: [address], start, end }], schema);
  }

  /**
   * Broadcasts; resolves when the node took the transaction or already had it. A refusal is a
   * ZcashRpcError (the transaction is not in that node's mempool); a lost reply is ZcashRpcUnavailable.
   */
  async sendRawTransaction(hex: string): Promise<SendRawResult> {
    if (!HEX.test(hex) || hex.length === 0) throw new RangeError('sendRawTransaction: not a hex string');
    try {
      const id = await this.call('sendrawtransaction', [hex], txid);
      return { kind: 'accepted', txid: id };
    } catch (err) {
      if (err instanceof ZcashRpcError) {
        const where = alreadyKnown(err);
        if (where) return { kind: 'already-known', where, code: err.code, message: err.nodeMessage };
      }
      throw err;
    }
  }

  /** The transaction as the node knows it (mempool or chain), or null when it knows nothing of it (-5). */
  async getRawTransaction(id: string): Promise<RawTransaction | null> {
    if (!HEX64.test(id)) throw new RangeError('getRawTransaction: a txid is 64 lowercase hex digits');
    const schema = rawTransaction.refine((t) => t.txid === id, 'the reply is for another txid');
    return nullWhenUnknown(this.call('getrawtransaction', [id, 1], schema));
  }

  /** Drops the connections; calls in progress fail as ZcashRpcUnavailable. */
  close(): void {
    this.rpc.ep.agent.destroy();
  }

  private call<S extends z.ZodType>(method: string, params: unknown[], schema: S): Promise<z.output<S>> {
    return callNode(this.rpc, this.nextId++, method, params, schema);
  }
}
