// A stand-in for a Zcash node (no zcashd or zebrad can be installed here): an HTTP JSON-RPC server on
// 127.0.0.1 that answers the methods payserv's Zcash driver calls, over a chain kept in memory
// (zcash-standin-chain.ts, which holds the rules). Tests and the demo drive it: fund an address, mine blocks
// (coinbase too), reorganise, change the branch id, lose peers, sync, restart on another chain, go down.
//
// zebrad by default, zcashd as an option (`mode`), each with its own methods, shapes and errors, from
// zebra-rpc/src/methods.rs, its snapshots (zebra-rpc/src/methods/tests/snapshots) and server/error.rs:
//  - zebrad does not serve getconnectioncount: -32601 "Method not found" with HTTP 200 (jsonrpsee);
//    zcashd answers an unknown method with HTTP 404 and the same code and text;
//  - getblockchaininfo: zebrad has estimatedheight, headers = blocks and no
//    initial_block_download_complete; zcashd has both, and headers run ahead while it syncs;
//  - getpeerinfo: both (zebrad lists its recently live peers); getnetworkinfo: both, with connections;
//  - getrawtransaction: an unknown txid is -5 "Transaction not found in mempool or best chain" (zebrad)
//    or "No such mempool or blockchain transaction..." (zcashd); zebrad's verbose reply says
//    in_active_chain and has no height or confirmations for a mempool transaction; zebrad takes the
//    verbose flag as a number only;
//  - getblockhash above the tip: zebrad -1 "Provided index is greater than the current tip" (its
//    invalid-params error rewritten to Misc), zcashd -8 "Block height out of range";
//  - sendrawtransaction: the "already have it" answers of each (zcash-standin-chain.ts);
//  - getblock "hash|height" (verbosity): zebrad (methods.rs get_block, get_block_header; zebra-state
//    service.rs ReadRequest::BlockHeader) takes the verbosity as a number only (default 1) and serves only
//    the best chain: an unknown hash, or a block a reorg disconnected, is -5 "block height not in best
//    chain" at verbosity 1 and 2 (a height: -8, same text) and -8 "Block not found" at 0; a string that
//    is neither is -8 "parse error: could not convert the input string to a hash or height"; a
//    verbosity over 2 is -8 "invalid verbosity value"; a negative height counts back from the tip.
//    Its `confirmations` is -1 only for a block that left the best chain between its reads.
//    zcashd (rpc/blockchain.cpp getblock) knows side-chain blocks, with confirmations -1; an unknown
//    hash is -5 "Block not found", a height -8 "Invalid block height parameter" or "Block height out
//    of range", a verbosity (number or bool) outside 0..2 -8 "Verbosity must be in range from 0 to 2".
//
// It checks what it is sent as a node would (signatures, inputs, expiry, ZIP-317 fee, branch id), so a
// payout it accepts is one the network would accept, and one it refuses says why in zcashd's words.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { BRANCHES, branchById } from '../chains/zcash/branch.js';
import { hashToDisplayHex, toHex } from '../chains/zcash/bytes.js';
import { sha256d } from '../chains/zcash/hash.js';
import { NodeRefusal, StandinChain, type StandinDialect, type StandinNetwork } from './zcash-standin-chain.js';
import { blockObject, describeTx, rawBlock, zebradTxFields, type FoundBlock } from './zcash-standin-block.js';
import type { Tx } from '../chains/zcash/tx.js';

export type { StandinDialect, StandinNetwork } from './zcash-standin-chain.js';

/** NU6.3, the network's current upgrade (DESIGN §6). */
export const NU6_3_BRANCH_ID = 0x37a5165b;

export interface ZcashStandinOptions {
  network: StandinNetwork;
  /** The branch of the next block (default NU6.3). */
  branchId?: number;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Whose RPC it serves (default zebrad). */
  mode?: StandinDialect;
  /** How many peers getpeerinfo lists and getnetworkinfo (and zcashd's getconnectioncount) counts (default 8). */
  peers?: number;
  /** Seed of the genesis block: another seed is another chain (default 'stand-in'). */
  genesisSeed?: string;
  /** What getblockchaininfo.chain says (default main or test, from the network). */
  chainName?: 'main' | 'test' | 'regtest';
  /** When both are set, every call needs them as basic auth (zcashd's -rpcuser/-rpcpassword). */
  rpcUser?: string;
  rpcPassword?: string;
  /** Height of the chain's tip at start (default 3,000,000, about where mainnet is). */
  startHeight?: number;
  /** What the coinbase of every block mined pays (default: blocks without a coinbase). */
  miner?: ReadonlyArray<{ address: string; zatoshi: bigint }>;
  /**
   * How a resend of a transaction already in the mempool is answered: zcashd returns its txid (the
   * default); 'txn-already-in-mempool' refuses it as known (-26), as zebrad and some forks do.
   */
  mempoolResend?: 'txid' | 'txn-already-in-mempool';
}

/**
 * How the stand-in misbehaves: 'refuse' closes the port (connection refused), '503' answers every call
 * with HTTP 503 and no JSON, 'hang' never answers, 'lose-reply' runs the call and then cuts the
 * connection before replying (a broadcast whose outcome the caller cannot know).
 */
export type StandinFault = 'refuse' | '503' | 'hang' | 'lose-reply';

export interface StandinOutputView {
  txid: string;
  vout: number;
  value: bigint;
  /** Null while in the mempool. */
  height: number | null;
  spentBy: string | null;
}

export interface ZcashStandin {
  /** The RPC URL, credentials included when set (pass it to ZcashRpc as is). */
  readonly url: string;
  /** The URL without credentials. */
  readonly endpoint: string;
  stop(): Promise<void>;
  height(): number;
  /** A coinbase-like output of `zatoshi` to `address`, mined at once in a block of its own. */
  fund(address: string, zatoshi: bigint): Promise<{ txid: string; vout: number }>;
  /** One transaction from an outside wallet paying each of `zatoshis` to `address` (output i), mined at once in a block of its own. */
  fundMany(address: string, zatoshis: readonly bigint[]): Promise<{ txid: string }>;
  /** Mines `n` blocks, the first taking the mempool; returns the new tip height. */
  mine(n?: number): Promise<number>;
  /** The next block's consensus branch (a network upgrade). */
  setBranchId(id: number): void;
  /**
   * What getblockchaininfo says the next block's branch is, whatever the stand-in enforces: a node on an
   * upgrade newer than the driver's table (null: the truth again).
   */
  announceBranchId(id: number | null): void;
  setPeers(n: number): void;
  /** true is 'refuse'; false is back to normal. */
  setDown(on: boolean | StandinFault): Promise<void>;
  dropFromMempool(txid: string): boolean;
  mempool(): string[];
  /** Transactions accepted into the mempool, parsed, in order. */
  received(): Array<{ txid: string; tx: Tx }>;
  /** Every sendrawtransaction refused: zcashd's code and message, and the plain reason. */
  rejected(): Array<{ txid: string | null; code: number; message: string; reason: string }>;
  /** Whose RPC it serves. */
  readonly mode: StandinDialect;
  /** The genesis block's hash (getblockhash 0). */
  genesisHash(): string;
  /** A coinbase output of `zatoshi` to `address`: the coinbase of a block of its own (a mining reward). */
  mineCoinbase(address: string, zatoshi: bigint): Promise<{ txid: string; vout: number }>;
  /**
   * Disconnects the last `depth` blocks (their transactions back in the mempool, but `drop`), then mines
   * `depth + 1` new ones; returns the new tip height.
   */
  reorg(depth: number, drop?: readonly string[]): Promise<number>;
  /**
   * The node restarted on a fresh chain (a new genesis seed) or another network, on the same port: what
   * the old chain held is gone.
   */
  restart(opts: { network?: StandinNetwork; genesisSeed: string; startHeight?: number; chainName?: 'main' | 'test' | 'regtest' }): void;
  /** The node this many blocks behind the network (0: synced), as each node reports it. */
  setSyncing(behindBlocks: number): void;
  /** sendrawtransaction accepts and answers with another txid than the transaction's (a lying or broken node). */
  lieAboutTxid(on: boolean): void;
  /** zebrad: these bytes are being downloaded from a peer ("already queued for download"). */
  queueForDownload(txid: string): void;
  /**
   * A block of its own whose coinbase pays `outputs` (a block "mined to" those addresses); its hash,
   * height and coinbase txid.
   */
  mineTo(outputs: ReadonlyArray<{ address: string; zatoshi: bigint }>): Promise<{ hash: string; height: number; txid: string }>;
  /** What the coinbase of every block mined from now on pays (empty: no coinbase). */
  setMiner(outputs: ReadonlyArray<{ address: string; zatoshi: bigint }>): void;
  /** The best chain's block hash at `height`. */
  blockHash(height: number): string | undefined;
  /** Sum of the mined outputs paying `address` (spent or not). */
  paidTo(address: string): bigint;
  /** Every output paying `address`, mined or in the mempool. */
  outputsTo(address: string): StandinOutputView[];
}

/** Largest request body read (a 2 MB transaction in hex, and room to spare). */
const REQUEST_BYTES_MAX = 8 * 1024 * 1024;

type Handler = (params: unknown[]) => unknown;

export async function startZcashStandin(opts: ZcashStandinOptions): Promise<ZcashStandin> {
  const branchId = opts.branchId ?? NU6_3_BRANCH_ID;
  if (!branchById(branchId)) throw new Error(`stand-in: unknown branch id ${branchId.toString(16)}`);
  const mode: StandinDialect = opts.mode ?? 'zebrad';
  const zebrad = mode === 'zebrad';
  let network = opts.network;
  let chainName = opts.chainName;
  const newChain = (o: { network: StandinNetwork; genesisSeed: string; startHeight: number }) =>
    new StandinChain({ ...o, branchId, mempoolResend: opts.mempoolResend ?? 'txid', dialect: mode });
  let chain = newChain({ network, genesisSeed: opts.genesisSeed ?? 'stand-in', startHeight: opts.startHeight ?? 3_000_000 });
  const coinbaseOf = (outputs: ReadonlyArray<{ address: string; zatoshi: bigint }>) =>
    outputs.map((o) => ({ scriptPubKey: chain.scriptFor(o.address), value: o.zatoshi }));
  chain.setMiner(coinbaseOf(opts.miner ?? []));
  let peers = opts.peers ?? 8;
  let behind = 0;
  let lie = false;
  let announced: number | null = null;
  let fault: StandinFault | null = null;
  let activations = new Map<number, number>([[branchId, chain.height]]);
  const peerList = () =>
    Array.from({ length: peers }, (_, i) =>
      zebrad
        ? {
            addr: `192.0.2.${i + 1}:8233`,
            services: '0000000000000001',
            lastrecv: 1_700_000_000,
            inbound: false,
            banscore: 0,
            subver: '/Zebra:2.1.0/',
            version: 170160,
            connection_state: 'connected',
          }
        : {
            id: i + 1,
            addr: `192.0.2.${i + 1}:8233`,
            services: '0000000000000001',
            lastsend: 1_700_000_000,
            lastrecv: 1_700_000_000,
            bytessent: 0,
            bytesrecv: 0,
            conntime: 1_700_000_000,
            timeoffset: 0,
            pingtime: 0.05,
            version: 170140,
            subver: '/MagicBean:6.2.0/',
            inbound: false,
            startingheight: chain.height,
            banscore: 0,
            synced_headers: chain.height,
            synced_blocks: chain.height,
            inflight: [],
            whitelisted: false,
          },
    );
  const auth =
    opts.rpcUser !== undefined && opts.rpcPassword !== undefined
      ? Buffer.from(`Basic ${Buffer.from(`${opts.rpcUser}:${opts.rpcPassword}`).toString('base64')}`)
      : null;

  const handlers: Record<string, Handler> = {
    getblockchaininfo: () => {
      const tip = chain.bestBlock;
      const upgrades: Record<string, unknown> = {};
      for (const b of BRANCHES) {
        const at = activations.get(b.id);
        if (at !== undefined)
          upgrades[hex8(b.id)] = { name: b.name, activationheight: at, status: at <= tip.height ? 'active' : 'pending', info: '' };
      }
      const name = chainName ?? (network === 'mainnet' ? 'main' : 'test');
      const estimated = tip.height + behind;
      const progress = name === 'regtest' && zebrad ? 1 : tip.height / Math.max(estimated, 1);
      const consensus = { chaintip: hex8(tip.branchId), nextblock: hex8(announced ?? chain.nextBranchId) };
      if (zebrad) {
        // zebrad's shape (snapshots get_blockchain_info@*): headers is its tip, never ahead.
        return {
          chain: name,
          blocks: tip.height,
          headers: tip.height,
          difficulty: 1,
          verificationprogress: progress,
          chainwork: 0,
          pruned: false,
          size_on_disk: 0,
          commitments: 0,
          bestblockhash: tip.hash,
          estimatedheight: estimated,
          chainSupply: { chainValue: 0, chainValueZat: 0, monitored: true },
          valuePools: [],
          upgrades: Object.fromEntries(
            Object.entries(upgrades).map(([k, v]) => [k, { ...(v as Record<string, unknown>), info: undefined }]),
          ),
          consensus,
        };
      }
      return {
        chain: name,
        blocks: tip.height,
        // zcashd downloads headers first: while it syncs they run ahead of its blocks.
        headers: estimated,
        bestblockhash: tip.hash,
        difficulty: 1,
        verificationprogress: progress,
        estimatedheight: estimated,
        chainwork: '0'.repeat(64),
        pruned: false,
        size_on_disk: 0,
        initial_block_download_complete: behind === 0,
        upgrades,
        consensus,
      };
    },
    ...(zebrad ? {} : { getconnectioncount: () => peers }),
    getpeerinfo: () => peerList(),
    getnetworkinfo: () => ({
      version: zebrad ? 100 : 6020050,
      subversion: zebrad ? '/Zebra:2.1.0/' : '/MagicBean:6.2.0/',
      protocolversion: 170160,
      localservices: '0000000000000001',
      timeoffset: 0,
      connections: peers,
      networks: [],
      relayfee: 0.000001,
      localaddresses: [],
      warnings: '',
    }),
    getblockcount: () => chain.height,
    getbestblockhash: () => chain.bestBlock.hash,
    getblockhash: (p) => {
      const h = arg(p, 0, 'number', 'getblockhash height') as number;
      // zebrad: a negative index counts back from the tip (-1 is the tip).
      const b = chain.block(zebrad && h < 0 ? chain.height + h + 1 : h);
      if (!b) {
        if (zebrad) throw new NodeRefusal(-1, 'Provided index is greater than the current tip', `no block at ${h}`);
        throw new NodeRefusal(-8, 'Block height out of range', `no block at ${h}`);
      }
      return b.hash;
    },
    getrawmempool: () => chain.mempool(),
    getaddressutxos: (p) => {
      // zcashd (-insightexplorer) takes {"addresses": [...]} or a single address string.
      const a = p[0];
      const addresses = typeof a === 'string' ? [a] : isRecord(a) && Array.isArray(a.addresses) ? a.addresses : null;
      if (!addresses || !addresses.every((x) => typeof x === 'string'))
        throw new NodeRefusal(-8, 'Addresses is expected to be an array', 'bad params');
      return (addresses as string[]).flatMap((address) => {
        const script = scriptOrRefuse(chain, address);
        return chain.utxosOf(script).map((o) => ({
          address,
          txid: o.txid,
          outputIndex: o.vout,
          script: toHex(o.scriptPubKey),
          satoshis: Number(o.value),
          height: o.height,
        }));
      });
    },
    getaddresstxids: (p) => {
      // zebrad (methods.rs get_address_tx_ids, build_height_range): {addresses, start?, end?}; start clamped
      // to the tip, an end of 0 or none is the tip; start above end is invalid params (rewritten to -1, Misc).
      const a = p[0];
      if (!isRecord(a) || !Array.isArray(a.addresses) || !a.addresses.every((x) => typeof x === 'string'))
        throw new NodeRefusal(-8, 'Addresses is expected to be an array', 'bad params');
      const bound = (v: unknown, name: string): number | undefined => {
        if (v === undefined || v === null) return undefined;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff)
          throw new NodeRefusal(-32602, `invalid type: expected u32 for ${name}`, 'bad params');
        return v;
      };
      const start = Math.min(bound(a.start, 'start') ?? 0, chain.height);
      const e = bound(a.end, 'end');
      const end = e === undefined || e === 0 ? chain.height : Math.min(e, chain.height);
      if (start > end) throw new NodeRefusal(-1, `start Height(${start}) must be less than or equal to end Height(${end})`, 'bad range');
      return chain.txidsTouching(
        (a.addresses as string[]).map((address) => scriptOrRefuse(chain, address)),
        start,
        end,
      );
    },
    sendrawtransaction: (p) => {
      const hex = arg(p, 0, 'string', 'sendrawtransaction "hexstring" ( allowhighfees )') as string;
      const allowHighFees =
        p[1] === undefined ? false : (arg(p, 1, 'boolean', 'sendrawtransaction "hexstring" ( allowhighfees )') as boolean);
      const txid = chain.submit(hex, allowHighFees);
      return lie ? hashToDisplayHex(sha256d(new TextEncoder().encode(`not ${txid}`))) : txid;
    },
    getrawtransaction: (p) => {
      const txid = arg(p, 0, 'string', 'getrawtransaction "txid" ( verbose )') as string;
      if (zebrad) {
        if (!/^[0-9a-fA-F]{64}$/.test(txid))
          throw new NodeRefusal(-5, txid.length === 64 ? 'Invalid character' : 'Invalid string length', 'bad txid');
        // zebrad's verbose is an Option<u8>: a boolean is invalid params, rewritten to -1.
        if (p[1] !== undefined && p[1] !== null && typeof p[1] !== 'number')
          throw new NodeRefusal(-1, 'Invalid params', 'verbose must be a number');
      } else if (!/^[0-9a-fA-F]{64}$/.test(txid)) {
        throw new NodeRefusal(-8, `parameter 1 must be hexadecimal string of length 64 (not '${txid.slice(0, 70)}')`, 'bad txid');
      }
      const verbose = p[1] === undefined ? false : p[1] === true || (typeof p[1] === 'number' && p[1] !== 0);
      const t = chain.transaction(txid.toLowerCase());
      // zebrad looks in its mempool and its state; zcashd with -txindex (which -insightexplorer requires) finds any mined or mempool transaction.
      if (!t) {
        if (zebrad) throw new NodeRefusal(-5, 'Transaction not found in mempool or best chain', `${txid} is unknown`);
        throw new NodeRefusal(
          -5,
          'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.',
          `${txid} is unknown`,
        );
      }
      if (!verbose) return t.hex;
      const mined = t.height === null ? null : { height: t.height, confirmations: chain.height - t.height + 1, blockhash: t.blockhash };
      // zebrad (snapshot getrawtransaction_verbosity=1): in_active_chain always; height, confirmations, blockhash and the block's time only when mined.
      if (zebrad)
        return {
          in_active_chain: mined !== null,
          ...describeTx(txid.toLowerCase(), t.hex, t.tx, network),
          ...zebradTxFields(t.hex, t.height === null ? null : (chain.block(t.height)?.time ?? null)),
          ...(mined ?? {}),
        };
      return { ...describeTx(txid.toLowerCase(), t.hex, t.tx, network), ...(mined ?? {}) };
    },
    getblock: (p) => {
      const { found, verbosity } = zebrad ? zebradBlock(chain, p) : zcashdBlock(chain, p);
      const view = { found, tipHeight: chain.height, next: chain.block(found.block.height + 1)?.hash, network, dialect: mode };
      return verbosity === 0 ? rawBlock(view) : blockObject(view, verbosity);
    },
  };

  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => void serve(req, res));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.keepAliveTimeout = 5_000;

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (fault === 'hang') return; // the socket stays open until the caller gives up or stop()
    if (fault === '503') return void res.writeHead(503, { 'Content-Type': 'text/plain' }).end('Service Unavailable');
    if (auth && !sameSecret(req.headers.authorization, auth)) {
      // zcashd: 401 with an empty body and a basic-auth challenge.
      return void res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="jsonrpc"' }).end();
    }
    if (req.method !== 'POST')
      return void res.writeHead(405, { 'Content-Type': 'text/plain' }).end('JSONRPC server handles only POST requests');
    const body = await readBody(req);
    if (body === null) return void res.writeHead(413).end();
    let request: unknown;
    try {
      request = JSON.parse(body);
    } catch {
      return reply(res, 500, { result: null, error: { code: -32700, message: 'Parse error' }, id: null });
    }
    const replies = Array.isArray(request) ? request.map(callOne) : [callOne(request)];
    if (fault === 'lose-reply') return void res.socket?.destroy();
    if (Array.isArray(request))
      return reply(
        res,
        200,
        replies.map((r) => r.body),
      );
    const only = replies[0] as { status: number; body: unknown };
    reply(res, only.status, only.body);
  }

  function callOne(request: unknown): { status: number; body: unknown } {
    const id = isRecord(request) && 'id' in request ? request.id : null;
    const error = (status: number, code: number, message: string) => ({ status, body: { result: null, error: { code, message }, id } });
    if (!isRecord(request) || typeof request.method !== 'string') return error(400, -32600, 'Invalid Request object');
    if (request.params !== undefined && request.params !== null && !Array.isArray(request.params))
      return error(400, -32600, 'Params must be an array');
    const handler = Object.hasOwn(handlers, request.method) ? handlers[request.method] : undefined;
    // zebrad (jsonrpsee) answers every JSON-RPC error with HTTP 200; zcashd an unknown method with 404.
    if (!handler) return error(zebrad ? 200 : 404, -32601, 'Method not found');
    try {
      return { status: 200, body: { result: handler((request.params as unknown[] | undefined) ?? []), error: null, id } };
    } catch (e) {
      if (e instanceof NodeRefusal) return error(zebrad ? 200 : 500, e.code, e.message);
      return error(zebrad ? 200 : 500, -1, (e as Error).message);
    }
  }

  const port = await listen(server, opts.port ?? 0);
  const endpoint = `http://127.0.0.1:${port}/`;
  const credentials = auth ? `${encodeURIComponent(opts.rpcUser as string)}:${encodeURIComponent(opts.rpcPassword as string)}@` : '';

  const closeServer = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });

  const ofAddress = (address: string) => chain.outputsTo(chain.scriptFor(address));

  return {
    url: `http://${credentials}127.0.0.1:${port}/`,
    endpoint,
    mode,
    stop: closeServer,
    height: () => chain.height,
    genesisHash: () => chain.genesisHash,
    fund: async (address, zatoshi) => chain.fund(chain.scriptFor(address), zatoshi),
    fundMany: async (address, zatoshis) => ({ txid: chain.fundOutputs(chain.scriptFor(address), zatoshis) }),
    mineCoinbase: async (address, zatoshi) => chain.fund(chain.scriptFor(address), zatoshi, true),
    mineTo: async (outputs) => {
      const { block, txid } = chain.mineCoinbase(coinbaseOf(outputs));
      return { hash: block.hash, height: block.height, txid };
    },
    setMiner: (outputs) => chain.setMiner(coinbaseOf(outputs)),
    blockHash: (height) => chain.block(height)?.hash,
    reorg: async (depth, drop = []) => {
      chain.reorg(depth, drop);
      return chain.height;
    },
    restart: (o) => {
      network = o.network ?? network;
      chainName = o.chainName;
      chain = newChain({ network, genesisSeed: o.genesisSeed, startHeight: o.startHeight ?? chain.height });
      activations = new Map<number, number>([[branchId, chain.height]]);
      announced = null;
    },
    setSyncing: (n) => {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`behind: ${n}`);
      behind = n;
    },
    lieAboutTxid: (on) => {
      lie = on;
    },
    queueForDownload: (txid) => {
      chain.queued.add(txid);
    },
    mine: async (n = 1) => {
      chain.mine(n);
      return chain.height;
    },
    setBranchId: (id) => {
      if (!branchById(id)) throw new Error(`stand-in: unknown branch id ${id.toString(16)}`);
      if (!activations.has(id)) activations.set(id, chain.height + 1);
      chain.setBranchId(id);
    },
    announceBranchId: (id) => {
      announced = id;
    },
    setPeers: (n) => {
      if (!Number.isInteger(n) || n < 0) throw new RangeError(`peers: ${n}`);
      peers = n;
    },
    setDown: async (on) => {
      const next = on === true ? 'refuse' : on === false ? null : on;
      if (next === 'refuse') await closeServer();
      else if (!server.listening) await listen(server, port);
      if (next === null || next === 'refuse') for (const s of sockets) s.destroy(); // end hung calls
      fault = next;
    },
    dropFromMempool: (txid) => chain.drop(txid),
    mempool: () => chain.mempool(),
    received: () => chain.accepted.map((a) => ({ ...a })),
    rejected: () => chain.refusals.map((r) => ({ ...r })),
    paidTo: (address) => ofAddress(address).reduce((sum, o) => (o.height === null ? sum : sum + o.value), 0n),
    outputsTo: (address) =>
      ofAddress(address).map((o) => ({ txid: o.txid, vout: o.vout, value: o.value, height: o.height, spentBy: o.spentBy })),
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > REQUEST_BYTES_MAX) {
        resolve(null);
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(null));
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
}

function sameSecret(given: string | undefined, want: Buffer): boolean {
  const g = Buffer.from(given ?? '');
  return g.length === want.length && timingSafeEqual(g, want);
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** zcashd's RPCTypeCheck refusal (-3), or its help text (-1) when the parameter is missing. */
function arg(params: unknown[], i: number, type: 'string' | 'number' | 'boolean', usage: string): unknown {
  const v = params[i];
  if (v === undefined) throw new NodeRefusal(-1, usage, `parameter ${i + 1} is missing`);
  if (typeof v !== type)
    throw new NodeRefusal(
      -3,
      `Expected type ${type === 'number' ? 'int' : type === 'boolean' ? 'bool' : 'str'}, got ${v === null ? 'null' : typeof v}`,
      `parameter ${i + 1}`,
    );
  return v;
}

function scriptOrRefuse(chain: StandinChain, address: string): Uint8Array {
  try {
    return chain.scriptFor(address);
  } catch {
    throw new NodeRefusal(-5, 'Invalid address', `${address} is not a transparent address of this network`);
  }
}

function hex8(id: number): string {
  return (id >>> 0).toString(16).padStart(8, '0');
}

type Verbosity = 0 | 1 | 2;

/** zebrad's getblock: the best chain only (see the header). */
function zebradBlock(chain: StandinChain, p: unknown[]): { found: FoundBlock; verbosity: Verbosity } {
  const [ref, v] = p;
  // hash_or_height: String, verbosity: Option<u8>: anything else fails to deserialize (invalid params, rewritten to -1).
  if (typeof ref !== 'string' || (v !== undefined && v !== null && !(Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 255)))
    throw new NodeRefusal(-1, 'Invalid params', 'getblock takes a string and a u8');
  const verbosity = (v ?? 1) as number;
  let hash: string | null = null;
  let height: number | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(ref)) hash = ref.toLowerCase();
  else if (/^\d{1,10}$/.test(ref) && Number(ref) <= 0x7fffffff) height = Number(ref);
  else if (/^-\d{1,10}$/.test(ref) && chain.height + Number(ref) + 1 >= 0) height = chain.height + Number(ref) + 1;
  else throw new NodeRefusal(-8, 'parse error: could not convert the input string to a hash or height', `${ref.slice(0, 70)}`);
  if (verbosity > 2) throw new NodeRefusal(-8, 'invalid verbosity value', `verbosity ${verbosity}`);
  const atHeight = hash === null ? chain.block(height as number) : undefined;
  // A block below the stand-in's start is made up: on the best chain, empty.
  const byHash = chain.blockByHash(hash ?? atHeight?.hash ?? '') ?? (atHeight && { block: atHeight, canonical: true, txs: [] });
  const found = byHash?.canonical ? byHash : undefined;
  if (!found) {
    if (verbosity === 0) throw new NodeRefusal(-8, 'Block not found', `${ref} is not on the best chain`);
    throw new NodeRefusal(hash === null ? -8 : -5, 'block height not in best chain', `${ref} is not on the best chain`);
  }
  return { found, verbosity: verbosity as Verbosity };
}

/** zcashd's getblock: any block it has seen, side chains too. */
function zcashdBlock(chain: StandinChain, p: unknown[]): { found: FoundBlock; verbosity: Verbosity } {
  let ref = arg(p, 0, 'string', 'getblock "hash|height" ( verbosity )') as string;
  if (ref.length < 64) {
    if (!/^\d+$/.test(ref)) throw new NodeRefusal(-8, 'Invalid block height parameter', ref.slice(0, 70));
    const b = chain.block(Number(ref));
    if (!b) throw new NodeRefusal(-8, 'Block height out of range', `no block at ${ref}`);
    ref = b.hash;
    // A block below the stand-in's start is made up: on the best chain, empty.
    if (!chain.blockByHash(ref)) return { found: { block: b, canonical: true, txs: [] }, verbosity: zcashdVerbosity(p[1]) };
  }
  const verbosity = zcashdVerbosity(p[1]);
  const found = chain.blockByHash(ref.toLowerCase());
  if (!found) throw new NodeRefusal(-5, 'Block not found', `${ref.slice(0, 70)} is unknown`);
  return { found, verbosity };
}

/** zcashd: a number, or a bool (true is 1); checked before the block is looked up. */
function zcashdVerbosity(v: unknown): Verbosity {
  const verbosity = v === undefined ? 1 : typeof v === 'number' ? Math.trunc(v) : typeof v === 'boolean' ? Number(v) : NaN;
  if (Number.isNaN(verbosity)) throw new NodeRefusal(-1, 'JSON value is not a boolean as expected', 'verbosity');
  if (verbosity < 0 || verbosity > 2) throw new NodeRefusal(-8, 'Verbosity must be in range from 0 to 2', `verbosity ${verbosity}`);
  return verbosity as Verbosity;
}
