import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { Logger } from '../../log/index.js';
import type { PaymentJournal } from '../../journal/journal.js';
import { outpointKey, type StorageTx, type UtxoStorage } from '../storage.js';
import type {
  Attempt,
  Broadcast,
  ChainDriver,
  DecodedTx,
  DriverHealth,
  MissingInput,
  PayOutput,
  Placement,
  Signing,
  StandsBy,
  Verdict,
  Watch,
  WalletFlood,
} from '../driver.js';
import { ChainIdentityError, ChainIntegrityError, NodeUnavailable } from '../driver.js';
import { ChainIdentity } from '../identity.js';
import { conflictingInputs } from '../utxo-conflicts.js';
import { ask, checkNodeIdentity, storedSpends, watchSent } from '../utxo-watch.js';
import { spentByKey, sweepWaits } from '../utxo-sweep.js';
import { equalBytes, fromHex, hashToDisplayHex, toHex } from '../zcash/bytes.js';
import { decodeAddress, scriptAddress, walletAddress } from './address.js';
import type { BtcNetwork } from './network.js';
import {
  BtcNode,
  BtcRpcBadReply,
  BtcRpcUnavailable,
  broadcastOf,
  minedIn,
  type BtcBlockchainInfo,
  type BtcRawTransaction,
  type MempoolFees,
} from './node.js';
import { basisOf, bumpPlan, paysAll, replacementProblem, type Basis } from './bump.js';
import { parseRawTx, txidOf } from './rawtx.js';
import {
  dustThreshold,
  hotWallet,
  inputWeight,
  planPayment,
  planSweep,
  signPayment,
  type HotWallet,
  type Plan,
  type PlanRequest,
  type SignedBtcTx,
  type TxOutput,
  type Utxo,
  type WalletKind,
  vsizeOfWeight,
} from './tx.js';
import {
  CoinbaseCache,
  findSpender,
  FundingCache,
  fundingOutput,
  hotWalletUtxos,
  verifiedTx,
  type FundedOutput,
  type HotUtxo,
  type Spender,
} from './utxos.js';
import { WalletFloodNote } from '../utxo-flood.js';
import { checkInput } from './verify.js';
import { unknownSpendWatch, type BtcSpendWatch } from './spends.js';
import { BtcNodeUnfit, checkNodeFit, type FeeEstimate } from './fit.js';

type WalletUtxos = Awaited<ReturnType<typeof hotWalletUtxos>>;

// The Bitcoin-family driver (Litecoin, Bitcoin, Dogecoin, Bitcoin Cash): transactions built and signed
// in this process (tx.ts, checked by the independent verifier), from the hot wallet's confirmed,
// non-coinbase UTXOs as the node's UTXO set has them (scantxoutset: no node wallet), less what the
// database reserves and the payment journal holds in flight. The node must run with txindex=1
// and serve every RPC the driver calls (fit.ts: asked at start; a node without them stops the start).
//
// Every payment is tried by testmempoolaccept inside the signing transaction, before the write-ahead
// commit: a payment the node would refuse now waits (send_retry), nothing stored. A payment is failed
// only when the chain shows another transaction spending one of its inputs, mined and buried under the
// confirmations (findSpender), and that transaction does not pay the attempt's outputs: one that does (signed
// with the hot wallet's key, a replacement an older restored backup has no record of) is the payment itself,
// recorded sent by it. A node that does not know a transaction, or refuses a broadcast
// (-5, -25, -26), proves nothing. Like the Zcash driver, every verdict and watch reads the node's
// identity (chain, genesis, head not gone back) first, and a `failed` or `gone` reads it again.
// With fee_bump = "rbf", a payment stale in the mempool is replaced (bump.ts): the same inputs and
// outputs, only the change smaller; every attempt read back is held to that rule.

export interface BtcSettings {
  tag: string;
  url: string;
  net: BtcNetwork;
  wallet: WalletKind;
  confirmations?: number | undefined;
  minPeers: number;
  genesisHash?: string | undefined;
  batchMax: number;
  /** Fee rate floor and ceiling, base units per vbyte: an estimate above the ceiling waits (send_retry). */
  feeRateMin: bigint;
  feeRateMax: bigint;
  /** estimatesmartfee's confirmation target, in blocks. */
  feeTargetBlocks: number;
  /** Where the fee rate comes from (fit.ts); unset: the coin's default (defaultFeeEstimate). */
  feeEstimate?: FeeEstimate | undefined;
  /** How many blocks below the tip a failure proof looks for the spender of one of our inputs. */
  spenderScanBlocks: number;
  /**
   * How deep an output of the hot wallet must be before a payment spends it (input_confirmations); unset: the
   * coin's confirmations. A payment spending an output whose funding transaction a reorg undoes can never be mined.
   */
  inputConfirmations?: number | undefined;
  /** How a stale payment is bumped: by replacement (BIP125), or not at all (it waits: the default). */
  feeBump?: FeeBump | undefined;
  /** A payment whose newest attempt has been in the mempool this long is stale: bumped when feeBump is "rbf". */
  replaceAfterMs?: number | undefined;
  timeoutMs: number;
  /** The heaviest transaction built, in weight units: MAX_STANDARD_WEIGHT (tests lower it to stage a split). */
  maxWeight?: number | undefined;
  /** utxo_max: the most outputs of the hot wallet a scan keeps, the largest worth spending (default UTXO_MAX_DEFAULT). */
  utxoMax?: number | undefined;
}

/** "rbf": a stale payment is replaced (BIP125); "none": it waits (a node that refuses replacement, Litecoin's and Dogecoin's default). */
export type FeeBump = 'rbf' | 'none';

export interface BtcDeps {
  storage: UtxoStorage;
  log: Logger;
  journal: PaymentJournal;
  stateDir: string;
}

/**
 * A coin's fee source unless configured: Bitcoin Cash Node's `estimatefee` for Bitcoin Cash (no release serves
 * estimatesmartfee; its estimatefee is the lowest rate its mempool takes now, and BCH blocks are not full), else
 * `estimatesmartfee`.
 */
export const defaultFeeEstimate = (net: BtcNetwork): FeeEstimate => (net.coin === 'BCH' ? 'estimatefee' : 'estimatesmartfee');

/** The node's getblockchaininfo.chain for each network a preset names. */
const NODE_CHAIN: Record<BtcNetwork['chain'], string> = { mainnet: 'main', testnet: 'test', regtest: 'regtest' };
/** What a node of this network says in getblockchaininfo.chain. */
export const nodeChainOf = (net: BtcNetwork): string => NODE_CHAIN[net.chain];
/** Headers this far ahead of blocks is still downloading blocks. */
const HEADERS_AHEAD_MAX = 2;

/** The network a node's getblockchaininfo.chain names (main → mainnet), as ChainIdentity compares it; an unknown name as it is. */
export function btcNetworkOf(nodeChain: string): string {
  return Object.entries(NODE_CHAIN).find(([, n]) => n === nodeChain)?.[0] ?? nodeChain;
}

/** Why the node's UTXO set is not current (initial block download, headers ahead of blocks), or null. */
export function btcSyncing(info: BtcBlockchainInfo): string | null {
  if (info.initialblockdownload && info.chain !== 'regtest') return 'the node is in its initial block download';
  if (info.headers > info.blocks + HEADERS_AHEAD_MAX) return `the node is syncing: headers at ${info.headers}, blocks at ${info.blocks}`;
  return null;
}

/** The hot wallet's address for a key on `net` (P2WPKH bech32, or P2PKH / CashAddr). */
export function btcWalletAddress(net: BtcNetwork, kind: WalletKind, privateKey: Uint8Array): string {
  return walletAddress(net, kind, secp256k1.getPublicKey(privateKey, true));
}

/** Satoshis per 1,000 vbytes as base units per vbyte, rounded up. */
const perVbyte = (perKvB: bigint): bigint => (perKvB + 999n) / 1000n;

/** The most outputs of a too heavy request, from the first, that one transaction carries (0: not even one). */
function fitting(request: PlanRequest): number {
  const heavy = (n: number): boolean => planPayment({ ...request, outputs: request.outputs.slice(0, n) }).kind === 'too_heavy';
  let [lo, hi] = [0, request.outputs.length - 1];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (heavy(mid)) hi = mid - 1;
    else lo = mid;
  }
  return lo;
}

const byValueDesc = (a: Utxo, b: Utxo) => (a.value === b.value ? 0 : a.value > b.value ? -1 : 1);

/** The wallet's outputs not yet deep enough to spend, as a reason's tail ('' when none). */
function youngNote(young: readonly HotUtxo[], depth: number): string {
  if (!young.length) return '';
  const value = young.reduce((a, u) => a + u.value, 0n);
  const named = young
    .slice(0, 3)
    .map((u) => `${outpointKey(u)} (${u.confirmations})`)
    .join(', ');
  return ` (${value} more in ${young.length} output(s) under input_confirmations = ${depth}, spendable once that deep: ${named}${young.length > 3 ? ', …' : ''})`;
}

export class BtcDriver implements ChainDriver {
  readonly tag: string;
  readonly address: string;
  readonly maxOutputs: number;
  readonly #s: BtcSettings;
  readonly #key: Uint8Array;
  readonly #wallet: HotWallet;
  readonly #node: BtcNode;
  readonly #storage: UtxoStorage;
  readonly #log: Logger;
  readonly #journal: PaymentJournal;
  readonly #identity: ChainIdentity;
  readonly #coinbase = new CoinbaseCache();
  /** Outputs read from their funding transactions' hash-checked bytes: the values payserv spends and counts. */
  readonly #funding = new FundingCache();
  /** The node runs one scantxoutset at a time (a second is refused, -8): this driver's scans queue here. */
  #scans: Promise<unknown> = Promise.resolve();
  readonly #spends: BtcSpendWatch;
  /** What the node's testmempoolaccept answers, once it was found to serve every RPC the driver calls, and txindex (fit.ts): asked until then. */
  #fit: MempoolFees | null = null;
  readonly #feeEstimate: FeeEstimate;
  /**
   * The signed coin record's confirmations as the last payment signed was told them: the input depth of a call that is
   * not told (spendable, a rotation's sweep). Untold since start: the configured confirmations, else 1.
   */
  #told: number | undefined;
  /** What the last scan left out or could not read (walletFlood). */
  readonly #flood: WalletFloodNote;

  constructor(settings: BtcSettings, privateKey: Uint8Array, deps: BtcDeps) {
    const depth = settings.inputConfirmations;
    if (depth !== undefined && (!Number.isSafeInteger(depth) || depth < 1 || depth > settings.spenderScanBlocks))
      throw new RangeError(
        `coin ${settings.tag}: input_confirmations ${depth} is not within 1..spender_scan_blocks (${settings.spenderScanBlocks})`,
      );
    this.#s = settings;
    this.#feeEstimate = settings.feeEstimate ?? defaultFeeEstimate(settings.net);
    this.tag = settings.tag;
    this.maxOutputs = settings.batchMax;
    this.#key = Uint8Array.from(privateKey);
    this.#wallet = hotWallet(settings.net, settings.wallet, secp256k1.getPublicKey(this.#key, true));
    this.address = btcWalletAddress(settings.net, settings.wallet, this.#key);
    this.#node = new BtcNode({ url: settings.url, timeoutMs: settings.timeoutMs });
    this.#storage = deps.storage;
    this.#log = deps.log;
    this.#journal = deps.journal;
    this.#identity = new ChainIdentity(deps.stateDir, settings.tag, { chain: settings.net.chain, genesis: settings.genesisHash });
    this.#flood = new WalletFloodNote({
      tag: this.tag,
      address: this.address,
      log: deps.log,
      utxoMax: settings.utxoMax,
      dustWhy: "its input's fee at the floor fee rate",
    });
    this.#spends = unknownSpendWatch(this, this.#wallet.publicKey, {
      node: this.#node,
      journal: deps.journal,
      storage: deps.storage,
      log: deps.log,
      scan: () => this.#scan(this.#inputDepth()),
    });
  }

  /** The node's identity checked (chain, genesis, head no more than `back` below the highest seen); what getblockchaininfo said. */
  async #checkIdentity(back: number): Promise<BtcBlockchainInfo> {
    // A node that could not be asked at start is asked now: one that lacks a method is not the node to pay with.
    await this.#checkFit().catch((e: unknown) => {
      throw e instanceof BtcNodeUnfit ? new ChainIdentityError(this.tag, e.message) : e;
    });
    return checkNodeIdentity({ tag: this.tag, node: this.#node, identity: this.#identity, networkOf: btcNetworkOf }, back);
  }

  /** BtcNodeUnfit when the node lacks what the driver calls (or txindex); NodeUnavailable when that cannot be told now. */
  async #checkFit(): Promise<MempoolFees> {
    this.#fit ??= (await checkNodeFit(this.#node, this.tag, this.#feeEstimate)).mempoolFees;
    return this.#fit;
  }

  #needed(confirmations: number): number {
    return Math.max(this.#s.confirmations ?? confirmations, 1);
  }

  /**
   * How deep an output must be to be spent: input_confirmations, else the coin's confirmations (`coin`: the signed
   * record's, as a payment tells them; untold, the last a payment told, else 1). Never less than 1.
   */
  #inputDepth(coin?: number): number {
    if (coin !== undefined) this.#told = coin;
    return Math.max(this.#s.inputConfirmations ?? this.#needed(coin ?? this.#told ?? 1), 1);
  }

  validateAddress(address: string): string | null {
    const d = this.#payee(address);
    return 'script' in d ? null : d.reason;
  }

  /**
   * The script paying a withdrawal's address, or why it cannot be paid. Never the hot wallet's own: a
   * payment to it is indistinguishable from change (bump.ts), and a fee bump would take it for change.
   */
  #payee(address: string): { script: Uint8Array } | { reason: string } {
    const d = decodeAddress(this.#s.net, address);
    if (!d.ok) return { reason: d.reason };
    if (equalBytes(d.script, this.#wallet.script)) return { reason: `it is the hot wallet's own address: payserv does not pay itself` };
    return { script: d.script };
  }

  outputProblem(address: string, value: bigint): string | null {
    const d = decodeAddress(this.#s.net, address);
    if (!d.ok) return d.reason;
    const threshold = dustThreshold(this.#s.net, d.script);
    return value < threshold
      ? `${value} base units is below ${this.#s.net.name}'s dust threshold ${threshold} for this address: no node relays the output`
      : null;
  }

  async start(): Promise<void> {
    const seen = await ask(() => this.#node.getBlockchainInfo());
    if (seen.chain !== NODE_CHAIN[this.#s.net.chain])
      throw new Error(
        `coin ${this.tag}: the node is on chain "${seen.chain}", the configuration's network ${this.#s.net.name} is ${this.#s.net.chain}`,
      );
    // Every RPC the driver calls, and txindex: a node without them stops the start (a configuration error).
    await this.#checkFit();
    const info = await this.#checkIdentity(this.#needed(0));
    await this.#storage.reservedOutpoints(this.tag);
    await ask(() => this.#spends.check());
    this.#log.info(
      { coin: this.tag, address: this.address, network: this.#s.net.name, height: info.blocks },
      'bitcoin-family driver ready',
    );
  }

  async health(): Promise<DriverHealth> {
    try {
      const [info, net] = await Promise.all([this.#checkIdentity(this.#needed(0)), ask(() => this.#node.getNetworkInfo())]);
      const syncing = btcSyncing(info);
      if (syncing) return { ok: false, reason: syncing, details: { height: info.blocks } };
      if (net.networkactive === false) return { ok: false, reason: 'the node has its network switched off' };
      if (net.connections < this.#s.minPeers)
        return {
          ok: false,
          reason: `the node has ${net.connections} peers, fewer than ${this.#s.minPeers}`,
          details: { peers: net.connections },
        };
      return { ok: true, details: { peers: net.connections, height: info.blocks } };
    } catch (e) {
      return {
        ok: false,
        reason: e instanceof NodeUnavailable && !(e instanceof ChainIdentityError) ? 'node unreachable' : (e as Error).message,
      };
    }
  }

  /**
   * The hot wallet's confirmed, non-coinbase UTXOs that no payment holds (neither reserved in the
   * database nor spent by an attempt the payment journal holds). `strict` (signing): a reservation that
   * neither the journal nor a stored transaction of payserv's (one the signed ledger names: ownStored) explains is tampering.
   */
  async #free(db: StorageTx, strict = false, scanned?: WalletUtxos): Promise<HotUtxo[]> {
    return (await this.#holdings(db, strict, scanned ?? (await this.#scan(this.#inputDepth())))).free;
  }

  /** The wallet's UTXOs as scanned, with what payments hold and what is free (see #free). */
  async #holdings(
    db: StorageTx,
    strict: boolean,
    scan: WalletUtxos,
  ): Promise<{ scan: WalletUtxos; reserved: Map<string, string>; inFlight: Set<string>; free: HotUtxo[] }> {
    const reserved = await this.#storage.reservedOutpoints(this.tag, db);
    for (const u of scan.coinbase)
      this.#log.warn(
        { coin: this.tag, txid: u.txid, vout: u.vout, value: u.value.toString() },
        'the hot wallet holds a coinbase output: never spent by payserv (operator rule: the hot wallet never receives coinbase)',
      );
    await this.#journal.refresh();
    const inFlight = this.#journal.inputsInFlight(this.tag);
    if (strict) {
      for (const u of scan.spendable) {
        const key = outpointKey(u);
        const by = reserved.get(key);
        if (by !== undefined && !inFlight.has(key) && !(await this.#storedSpends(db, by, key)))
          throw new ChainIntegrityError(
            'payserv_utxo_reservations',
            `input ${key} is reserved for ${by}, which neither the payment journal nor a stored transaction of payserv's (one its signed ledger names) spends: the reservation was made by someone else`,
          );
      }
    }
    const free = scan.spendable.filter((u) => !u.coinbase && !reserved.has(outpointKey(u)) && !inFlight.has(outpointKey(u)));
    return { scan, reserved, inFlight, free };
  }

  /** The floor fee rate: never less, whatever the node estimates (fee_rate_min, or the network's minimum above it). */
  #floorRate(): bigint {
    return this.#s.feeRateMin > this.#s.net.minFeeRate ? this.#s.feeRateMin : this.#s.net.minFeeRate;
  }

  /** The most an output may be worth and still not be worth spending: the fee of its input at the floor fee rate. */
  #dustMax(): bigint {
    return this.#floorRate() * BigInt(vsizeOfWeight(inputWeight(this.#s.wallet)));
  }

  /** What a scan left out, as a reason's tail ('' when nothing). */
  #leftOut(scan: WalletUtxos): string {
    return this.#flood.note(scan.leftOut, this.#dustMax());
  }

  walletFlood(): WalletFlood | null {
    return this.#flood.current;
  }

  /**
   * The hot wallet's UTXOs, spendable from `depth` confirmations (#inputDepth), one scan at a time: those not worth
   * spending left out, and of the others the utxo_max largest kept (what is left out is noted for walletFlood).
   * A wallet the node's reply cannot carry is HotWalletUnreadable: payments wait, never throw.
   */
  #scan(depth: number): Promise<WalletUtxos> {
    const dustMax = this.#dustMax();
    const utxoMax = this.#s.utxoMax;
    const run = async () => {
      const w = await ask(() =>
        hotWalletUtxos(this.#node, [`raw(${toHex(this.#wallet.script)})`], {
          minConfirmations: depth,
          coinbaseMaturity: this.#s.net.coinbaseMaturity,
          cache: this.#coinbase,
          dustMax,
          ...(utxoMax === undefined ? {} : { utxoMax }),
        }).catch((e: unknown) => {
          throw this.#unreadable(e);
        }),
      );
      this.#flood.read(w.leftOut, dustMax, w.spendable.length + w.young.length + w.coinbase.length);
      return w;
    };
    const next = this.#scans.then(run, run);
    this.#scans = next.catch(() => undefined);
    return next;
  }

  /**
   * A scantxoutset reply past the client's bounds (more entries than SCAN_UTXOS_MAX, more bytes than the reply bound:
   * node-http's "reply larger than") or not a scan's is the wallet unreadable: noted for walletFlood, payments wait.
   */
  #unreadable(e: unknown): unknown {
    const scan = (e instanceof BtcRpcBadReply || e instanceof BtcRpcUnavailable) && e.method === 'scantxoutset';
    if (!scan || (e instanceof BtcRpcUnavailable && !/reply larger than \d+ bytes/.test(e.message))) return e;
    return this.#flood.unreadable('scantxoutset', (e as Error).message);
  }

  #storedSpends(db: StorageTx, hash: string, outpoint: string): Promise<boolean> {
    return storedSpends(this.#storage, (raw) => this.decode(raw), db, hash, outpoint);
  }

  async spendable(db: StorageTx): Promise<bigint> {
    return (await this.#free(db)).reduce((a, u) => a + u.value, 0n);
  }

  /** The fee source's estimate (base units per vbyte, rounded up: a fraction below it would still be below), or null (none: the floor). */
  async #estimate(): Promise<bigint | null> {
    switch (this.#feeEstimate) {
      case 'floor':
        return null;
      case 'estimatefee':
        return perVbyte(await ask(() => this.#node.estimateFee()));
      case 'estimatesmartfee': {
        const est = await ask(() => this.#node.estimateSmartFee(this.#s.feeTargetBlocks));
        return est === null ? null : perVbyte(est.satPerKvB);
      }
    }
  }

  /** The fee rate to pay (base units per vbyte): the node's estimate within floor and ceiling, or why the payment waits. */
  async #feeRate(): Promise<{ rate: bigint } | { wait: string }> {
    const estimated = await this.#estimate();
    if (estimated !== null && estimated > this.#s.feeRateMax)
      return {
        wait: `the node estimates ${estimated} per vbyte ${this.#feeEstimate === 'estimatesmartfee' ? `for ${this.#s.feeTargetBlocks} blocks` : 'to enter its mempool now (estimatefee)'}, above the configured fee_rate_max ${this.#s.feeRateMax}`,
      };
    const floor = this.#floorRate();
    return { rate: estimated !== null && estimated > floor ? estimated : floor };
  }

  async sign(tx: StorageTx, outputs: readonly PayOutput[], ctx: { confirmations: number }): Promise<Signing> {
    await this.#checkIdentity(this.#needed(0));
    const depth = this.#inputDepth(ctx.confirmations);
    const outs: TxOutput[] = [];
    for (const o of outputs) {
      const d = this.#payee(o.address);
      if ('reason' in d)
        return { kind: 'refused', reason: `withdrawal ${o.withdrawalId}: address ${o.address.slice(0, 100)}: ${d.reason}` };
      outs.push({ script: d.script, value: o.value });
    }
    // Dust is one output's fault: those are kept out (send_error), the others paid.
    const dust = outputs.filter((o, i) => o.value < dustThreshold(this.#s.net, (outs[i] as TxOutput).script));
    if (dust.length)
      return {
        kind: 'refused',
        reason: dust.map((o) => `withdrawal ${o.withdrawalId}: ${this.outputProblem(o.address, o.value)}`).join('; '),
        withdrawals: dust.map((o) => o.withdrawalId),
      };
    const fee = await this.#feeRate();
    if ('wait' in fee) return { kind: 'wait', reason: fee.wait };
    // One scan of the wallet for both: the unknown-spend check and the inputs (a scan reads the whole UTXO set).
    const scanned = await this.#scan(depth);
    await ask(() => this.#spends.check(tx, scanned));
    const free = (await this.#free(tx, true, scanned)).map((u) => ({ txid: u.txid, vout: u.vout, value: u.value })).sort(byValueDesc);
    const required = conflictingInputs(free, outputs, (u) => u);
    if ('refused' in required) return { kind: 'refused', reason: required.refused };
    const request: PlanRequest = {
      net: this.#s.net,
      wallet: this.#wallet,
      utxos: free,
      required: required.inputs,
      outputs: outs,
      feeRate: fee.rate,
      maxWeight: this.#s.maxWeight,
    };
    const plan = planPayment(request);
    switch (plan.kind) {
      case 'short':
        return {
          kind: 'short',
          reason: `hot wallet short: ${free.reduce((a, u) => a + u.value, 0n)} spendable, the payment and its fee need ${plan.needed}${youngNote(scanned.young, depth)}${this.#leftOut(scanned)}`,
          spendable: free.reduce((a, u) => a + u.value, 0n),
          needed: plan.needed,
        };
      case 'dust':
        return {
          kind: 'refused',
          reason: `withdrawal ${outputs[plan.index]?.withdrawalId}: ${plan.value} is below the network's dust threshold ${plan.threshold} for its address: no node relays it`,
        };
      case 'too_heavy': {
        const fits = fitting(request);
        const reason = `the transaction would weigh ${plan.weight}, above ${plan.max}`;
        return fits ? { kind: 'wait', reason: `${reason}: split`, fits } : { kind: 'wait', reason: `${reason} with one output` };
      }
      case 'ok':
        break;
    }
    const s = await this.#signNow(plan);
    if (s.kind === 'signed') await this.#storage.reserveInputs(tx, this.tag, s.tx.hash, s.tx.inputs);
    return s;
  }

  /** Signs the plan and asks the node whether it would take it now (before anything is stored: a refusal waits). */
  async #signNow(plan: Extract<Plan, { kind: 'ok' }>): Promise<Signing> {
    const lie = await this.#valuesLie(plan.inputs);
    if (lie) return { kind: 'wait', reason: lie };
    const signed = signPayment(this.#s.net, this.#wallet, plan, this.#key);
    const refused = await this.#accepted(signed);
    if (refused) return refused;
    const spent = signed.inputs.map((u) => ({ txid: u.txid, vout: u.vout, value: u.value }));
    return { kind: 'signed', tx: { hash: signed.txid, raw: signed.rawHex, maxFee: signed.fee, nonce: null, inputs: spent } };
  }

  /**
   * Why the inputs' values, as the node's UTXO set gave them, are not their funding transactions' (hash-checked bytes),
   * or null. The fee is the inputs less the outputs: a value under-reported is burnt as fee (a legacy P2PKH signature
   * does not commit to it), one over-reported makes a transaction no node takes. Every input is checked, whatever its kind.
   */
  async #valuesLie(inputs: readonly Utxo[]): Promise<string | null> {
    for (const u of inputs) {
      const out = await this.#funded(u);
      const why = !out
        ? `the node does not know its funding transaction`
        : !equalBytes(out.script, this.#wallet.script)
          ? `its funding transaction's bytes do not pay it to the hot wallet`
          : out.value !== u.value
            ? `the node's UTXO set gives it ${u.value}, its funding transaction's bytes ${out.value}`
            : null;
      if (why) {
        this.#log.error({ coin: this.tag, input: outpointKey(u), reason: why }, 'the node contradicts the chain: nothing signed');
        return `not signed: input ${outpointKey(u)}: ${why} (the node's word contradicts the chain's bytes)`;
      }
    }
    return null;
  }

  /** An outpoint's output from its funding transaction's hash-checked bytes (cached), or null when the node does not know it. */
  #funded(o: { txid: string; vout: number }): Promise<FundedOutput | null> {
    return ask(() => fundingOutput(this.#node, o, this.#funding));
  }

  /** Would the node take it now? Asked before anything is stored: a refusal (null: none) leaves nothing to decide. */
  async #accepted(signed: SignedBtcTx): Promise<Signing | null> {
    const fees = await this.#checkFit();
    const test = await ask(() => this.#node.testMempoolAccept(signed.rawHex, { fees }));
    if (test.txid !== signed.txid)
      throw new ChainIntegrityError(
        'payserv_chain_txs',
        `coin ${this.tag}: testmempoolaccept named txid ${test.txid} for transaction ${signed.txid}`,
      );
    if (!test.allowed) return { kind: 'wait', reason: `the node would refuse ${signed.txid} now: ${test.rejectReason}` };
    // A node whose testmempoolaccept answers no fee (fit.ts: Bitcoin Cash Node's form) leaves the driver's own, from the inputs' values.
    if (test.fee !== null && test.fee !== signed.fee)
      throw new ChainIntegrityError(
        'payserv_chain_txs',
        `coin ${this.tag}: the node counts a fee of ${test.fee} for ${signed.txid}, the inputs as read pay ${signed.fee}: its UTXO view contradicts itself`,
      );
    return null;
  }

  /**
   * A rotation's sweep (src/payserv/rotation.ts): every confirmed, non-coinbase output of this wallet to one
   * output at `to`, less the fee; signed only once no payment holds an unspent output (those in flight settle
   * first), and tried by testmempoolaccept like a payment. Nothing is reserved: the old wallet signs no payout
   * during a rotation, and the host's record holds the bytes.
   */
  async signSweep(tx: StorageTx, to: string): Promise<Signing> {
    await this.#checkIdentity(this.#needed(0));
    await ask(() => this.#spends.check(tx));
    const dest = decodeAddress(this.#s.net, to);
    if (!dest.ok) return { kind: 'refused', reason: `the next wallet's address ${to.slice(0, 100)}: ${dest.reason}` };
    const fee = await this.#feeRate();
    if ('wait' in fee) return { kind: 'wait', reason: fee.wait };
    const depth = this.#inputDepth();
    const h = await this.#holdings(tx, true, await this.#scan(depth));
    const waits = sweepWaits(this.address, h.scan.spendable, h.reserved, h.inFlight);
    if (waits) return waits;
    // An output not yet deep enough is swept once it is, with the others: never left behind in the old wallet.
    if (h.scan.young.length)
      return { kind: 'wait', reason: `the sweep waits for the old wallet's outputs${youngNote(h.scan.young, depth)}` };
    const utxos = h.free.map((u) => ({ txid: u.txid, vout: u.vout, value: u.value }));
    const left = this.#leftOut(h.scan);
    const plan = planSweep({ net: this.#s.net, wallet: this.#wallet, utxos, to: dest.script, feeRate: fee.rate });
    switch (plan.kind) {
      case 'short':
        return {
          kind: 'short',
          reason: `the old wallet holds ${plan.spendable} spendable, the sweep's fee and a relayable output need ${plan.needed}${left}`,
          spendable: plan.spendable,
          needed: plan.needed,
        };
      case 'too_heavy':
        return { kind: 'wait', reason: `the sweep of ${utxos.length} inputs would weigh ${plan.weight}, above ${plan.max}` };
      case 'dust':
        return { kind: 'wait', reason: `the sweep's output ${plan.value} is below dust ${plan.threshold}` };
      case 'ok':
        break;
    }
    const signed = await this.#signNow(plan);
    // What the sweep leaves in the old wallet (outputs not worth their fee): said in the rotation's report.
    return signed.kind === 'signed' && left ? { ...signed, note: `the sweep leaves in ${this.address}${left}` } : signed;
  }

  /** Whether every input of the bytes is spent with this wallet's key (a rotated coin asks which wallet signed an attempt). */
  async signedBy(raw: string): Promise<boolean> {
    try {
      return spentByKey(parseRawTx(fromHex(raw, 'stored transaction')).inputs, this.#wallet.publicKey);
    } catch {
      return false;
    }
  }

  async committed(): Promise<void> {
    // Inputs were reserved in the payment's own transaction.
  }

  async restored(): Promise<void> {
    // The payment journal holds a restored payment's inputs in flight until the chain decides.
  }

  async broadcast(raw: string): Promise<Broadcast> {
    const ours = this.decode(raw).hash;
    const r = await ask(() => this.#node.sendRawTransaction(raw));
    // A node naming another txid for our bytes is not the chain payserv reasons about: a fail-stop.
    if (r.kind === 'accepted' && r.txid !== ours)
      throw new ChainIntegrityError(
        'payserv_chain_txs',
        `coin ${this.tag}: the node accepted transaction ${ours} and answered with txid ${r.txid}`,
      );
    return broadcastOf(r);
  }

  decode(raw: string): DecodedTx {
    const tx = parseRawTx(fromHex(raw, 'stored transaction'));
    return {
      hash: txidOf(tx),
      outputs: tx.outputs.map((o) => ({ address: scriptAddress(this.#s.net, o.script) ?? '', value: o.value })),
      nonce: null,
      inputs: tx.inputs.map((i) => ({ txid: hashToDisplayHex(i.prevTxid), vout: i.vout })),
    };
  }

  /** Where a transaction is mined on the best chain (its block's header says so), or null. */
  async #minedAt(t: BtcRawTransaction | null): Promise<{ block: Placement; confirmations: number } | null> {
    const m = minedIn(t);
    if (!m) return null;
    const header = await ask(() => this.#node.getBlockHeader(m.blockHash));
    if (!header || header.confirmations < 1) return null;
    return { block: { blockNumber: header.height, blockHash: header.hash }, confirmations: header.confirmations };
  }

  async verdict(attempts: readonly Attempt[], ctx: { now: Date; confirmations: number }): Promise<Verdict> {
    const needed = this.#needed(ctx.confirmations);
    await this.#checkIdentity(needed);
    this.#sameBasis(attempts);
    const unknown: string[] = [];
    let waiting: string | null = null;
    let lastKnown = -1;
    for (const [i, a] of attempts.entries()) {
      const t = await ask(() => this.#node.getRawTransaction(a.hash));
      if (!t) {
        unknown.push(a.hash);
        continue;
      }
      const at = await this.#minedAt(t);
      if (!at) {
        lastKnown = i;
        waiting = t.blockhash ? `${a.hash} is in block ${t.blockhash}, off the node's best chain` : `${a.hash} is in the node's mempool`;
        continue;
      }
      if (at.confirmations < needed) return { kind: 'mined', hash: a.hash, confirmations: at.confirmations, needed };
      await this.#checkIdentity(needed);
      // The fee from the chain's own values: the database's reservations are nobody's signature.
      return { kind: 'confirmed', hash: a.hash, fee: await this.#chainFee(t), confirmations: at.confirmations, block: at.block };
    }
    if (waiting) {
      // Attempts conflict: the node holds at most one. Only a newer one it does not know is sent again (it outbids the one it holds).
      const newer = unknown.filter((h) => attempts.findIndex((a) => a.hash === h) > lastKnown);
      const latest = attempts[attempts.length - 1];
      const stale =
        this.#s.feeBump === 'rbf' &&
        lastKnown === attempts.length - 1 &&
        !!latest &&
        ctx.now.getTime() - latest.signedAt.getTime() >= (this.#s.replaceAfterMs ?? 0);
      return { kind: 'pending', reason: waiting, rebroadcast: newer, stale };
    }
    // Mined nowhere, in no mempool: failed only if another transaction spending an input of every attempt is buried deep enough.
    const proof = await this.#conflictProof(attempts, needed);
    if ('pending' in proof)
      return {
        kind: 'pending',
        reason: proof.pending,
        rebroadcast: unknown,
        stale: false,
        ...(proof.unfunded ? { unfunded: proof.unfunded } : {}),
      };
    if ('paidBy' in proof) return this.#paidByOther(attempts, proof.paidBy, needed);
    await this.#checkIdentity(needed);
    return {
      kind: 'failed',
      hash: attempts[attempts.length - 1]?.hash ?? null,
      fee: 0n,
      by: 'conflict',
      proof: proof.proof,
      evidence: { hash: proof.spender.txid, block: proof.spender.block, expect: 'mined' },
    };
  }

  /** For every attempt, a mined transaction not ours spending one of its inputs, at least `needed` deep; or why not. */
  async #conflictProof(
    attempts: readonly Attempt[],
    needed: number,
  ): Promise<
    | { proof: string; spender: { txid: string; block: Placement } }
    | { pending: string; unfunded?: MissingInput[] }
    | { paidBy: BtcRawTransaction }
  > {
    const ours = new Set(attempts.map((a) => a.hash));
    const payees = basisOf(attempts[0]?.raw ?? '', this.#wallet).payees;
    const tip = await ask(() => this.#node.getBlockCount());
    const from = Math.max(0, tip - this.#s.spenderScanBlocks + 1);
    const found: Array<{ attempt: string; input: string; txid: string; block: Placement; confirmations: number }> = [];
    const unfunded: MissingInput[] = [];
    for (const a of attempts) {
      let hit: (typeof found)[number] | null = null;
      let missing: MissingInput | null = null;
      for (const i of this.decode(a.raw).inputs) {
        const s = await ask(() => findSpender(this.#node, i, { fromHeight: from, blocksMax: this.#s.spenderScanBlocks }));
        if (s.kind === 'not-found' && !missing) missing = await this.#unfunded(a.hash, i);
        if (s.kind !== 'mined' || ours.has(s.txid)) continue;
        await this.#signedByWallet(s, i);
        // A spender that pays our outputs is the payment (our own replacement a restored record lost), never proof of failure.
        const other = await this.#paying(s.txid, payees);
        if (other) return { paidBy: other };
        hit = {
          attempt: a.hash,
          input: outpointKey(i),
          txid: s.txid,
          block: { blockNumber: s.block.height, blockHash: s.block.hash },
          confirmations: s.confirmations,
        };
        if (s.confirmations >= needed) break;
      }
      if (!hit && missing) {
        unfunded.push(missing);
        continue;
      }
      if (!hit) return { pending: `${a.hash} is unknown to the node and no mined transaction spends its inputs: rebroadcast` };
      if (hit.confirmations < needed)
        return {
          pending: `input ${hit.input} of ${a.hash} is spent by ${hit.txid}, mined ${hit.confirmations} of ${needed} confirmations deep: waiting`,
        };
      found.push(hit);
    }
    if (unfunded.length)
      return {
        pending: unfunded
          .map(
            (m) =>
              `${m.attempt} is unknown to the node and its input ${m.input} exists nowhere: funding transaction ${m.funding} is ${m.where} (a reorg deeper than input_confirmations undid it?)`,
          )
          .join('; ')
          .concat(
            ': the payment cannot be mined as it is, yet no transaction spending its inputs proves it failed: it stays sending (alerted: input_missing)',
          ),
        unfunded,
      };
    const last = found[found.length - 1];
    if (!last) return { pending: 'no attempt to judge' };
    return {
      proof: found
        .map(
          (f) =>
            `input ${f.input} of ${f.attempt} is spent by ${f.txid}, mined in block ${f.block.blockHash} at ${f.block.blockNumber} (${f.confirmations} confirmations)`,
        )
        .join('; ')
        .concat('; chain identity checked'),
      spender: { txid: last.txid, block: last.block },
    };
  }

  /**
   * A mined spender of our input counts (as proof of failure, or as the payment made by a transaction we have no record
   * of) only when its input spending the outpoint carries a valid signature of the hot wallet's key over its bytes
   * (checked by the independent verifier; the spent value and script from the funding transaction's bytes). Only that
   * key spends the wallet's outputs: a genuine conflict is always so signed, and no node can forge one. Else the node
   * lies: BtcRpcBadReply, nothing decided.
   */
  async #signedByWallet(s: Extract<Spender, { kind: 'mined' }>, outpoint: { txid: string; vout: number }): Promise<void> {
    const spent = await this.#funded(outpoint);
    const why = !spent
      ? `the node does not know funding transaction ${outpoint.txid}`
      : !equalBytes(spent.script, this.#wallet.script)
        ? `the funding transaction's bytes do not pay ${outpointKey(outpoint)} to the hot wallet`
        : checkInput(this.#s.net, s.tx, s.input, spent);
    if (why === null) return;
    this.#log.error(
      { coin: this.tag, tx: s.txid, input: outpointKey(outpoint), block: s.block.hash, reason: why },
      'the node shows a spender of our input the hot wallet never signed: a lying node, no proof of anything',
    );
    throw new BtcRpcBadReply(
      'getblock',
      `the node shows ${s.txid}, in block ${s.block.hash}, spending input ${outpointKey(outpoint)}, yet it is not signed by the hot wallet's key (${why}): no proof of failure`,
    );
  }

  /**
   * An input found nowhere (not in the UTXO set, no spender in the blocks read) whose funding transaction is not on the
   * node's best chain (unknown, in the mempool, or in a block a reorg left behind): the input does not exist now. Null
   * when the funding transaction is mined (the input was spent before the blocks read, or never existed: absence, nothing more).
   */
  async #unfunded(attempt: string, input: { txid: string; vout: number }): Promise<MissingInput | null> {
    const f = await ask(() => this.#node.getRawTransaction(input.txid));
    if (await this.#minedAt(f)) return null;
    const where = !f
      ? 'unknown to the node'
      : f.blockhash
        ? `in block ${f.blockhash}, off the node's best chain`
        : "in the node's mempool, mined nowhere";
    return { attempt, input: outpointKey(input), funding: input.txid, where };
  }

  /**
   * The payment made by a transaction of the hot wallet's key that payserv has no attempt of, yet pays every
   * output of ours: mined (or confirmed once `needed` deep) as that transaction, its fee read from the chain.
   */
  async #paidByOther(attempts: readonly Attempt[], t: BtcRawTransaction, needed: number): Promise<Verdict> {
    const at = await this.#minedAt(t);
    if (!at)
      return {
        kind: 'pending',
        reason: `${t.txid}, which pays this payment's outputs, is off the node's best chain`,
        rebroadcast: [],
        stale: false,
      };
    this.#log.warn(
      { coin: this.tag, tx: t.txid, attempts: attempts.map((a) => a.hash), confirmations: at.confirmations },
      'a transaction of the hot wallet payserv has no record of paid this payment (an older backup restored?): recorded as the payment',
    );
    if (at.confirmations < needed) return { kind: 'mined', hash: t.txid, confirmations: at.confirmations, needed };
    await this.#checkIdentity(needed);
    return { kind: 'confirmed', hash: t.txid, fee: await this.#chainFee(t), confirmations: at.confirmations, block: at.block };
  }

  /** The transaction `txid` as the node has it (its bytes hashing to it) when it pays every one of `payees`, else null. */
  async #paying(txid: string, payees: readonly TxOutput[]): Promise<BtcRawTransaction | null> {
    const t = await ask(() => this.#node.getRawTransaction(txid));
    if (!t) return null;
    verifiedTx('getrawtransaction', txid, t.hex);
    return paysAll(basisOf(t.hex, this.#wallet), payees) ? t : null;
  }

  /**
   * The sent payment `hash` mined as another transaction (a reorg that mined its own replacement instead): one spending
   * an input of it, signed by the hot wallet's key and paying every one of its payees (Check's rule, #conflictProof),
   * mined on the best chain. Its bytes from payserv's own attempts or the node, taken only when they hash to `hash`.
   * Looked for in `seen` first (once found, the watch row follows the block it is in), then among the
   * spender_scan_blocks below the tip.
   */
  async #standsBy(hash: string, seen: Placement | null): Promise<(StandsBy & { tx: BtcRawTransaction }) | null> {
    const raw = (await this.#storage.ownAttempt(hash)) ?? (await ask(() => this.#node.getRawTransaction(hash)))?.hex ?? null;
    let basis: Basis;
    try {
      if (raw === null || txidOf(parseRawTx(fromHex(raw, 'watched transaction'))) !== hash) return null;
      basis = basisOf(raw, this.#wallet);
    } catch {
      return null;
    }
    const tip = await ask(() => this.#node.getBlockCount());
    const windows = [{ fromHeight: Math.max(0, tip - this.#s.spenderScanBlocks + 1), blocksMax: this.#s.spenderScanBlocks }];
    if (seen) windows.unshift({ fromHeight: seen.blockNumber, blocksMax: 1 });
    for (const w of windows)
      for (const i of basis.inputs) {
        const s = await ask(() => findSpender(this.#node, i, w));
        if (s.kind !== 'mined' || s.txid === hash) continue;
        const t = await this.#paying(s.txid, basis.payees);
        if (!t) continue;
        await this.#signedByWallet(s, i);
        const inputs = await this.#walletInputs(basis.inputs);
        const sent = basis.payees.reduce((a, o) => a + o.value, basis.change ?? 0n);
        const was = 'utxos' in inputs ? inputs.utxos.reduce((a, u) => a + u.value, 0n) - sent : null;
        return { hash: t.txid, tx: t, feeDelta: was === null ? null : (await this.#chainFee(t)) - was };
      }
    return null;
  }

  /** A transaction's fee from the chain's bytes alone: its inputs' values (their funding transactions' bytes, txindex) less its outputs. */
  async #chainFee(t: BtcRawTransaction): Promise<bigint> {
    const tx = verifiedTx('getrawtransaction', t.txid, t.hex);
    let fee = -tx.outputs.reduce((a, o) => a + o.value, 0n);
    for (const i of tx.inputs) {
      const o = { txid: hashToDisplayHex(i.prevTxid), vout: i.vout };
      const out = await this.#funded(o);
      if (!out) throw new BtcRpcBadReply('getrawtransaction', `the node does not know input ${outpointKey(o)} of ${t.txid}`);
      fee += out.value;
    }
    if (fee < 0n) throw new BtcRpcBadReply('getrawtransaction', `${t.txid} pays more than its inputs hold`);
    return fee;
  }

  /** Every later attempt of a payment spends its inputs and pays its outputs, only the change smaller: else no attempt is trusted. */
  #sameBasis(attempts: readonly Attempt[]): void {
    const [first, ...later] = attempts;
    if (!first) return;
    const base = basisOf(first.raw, this.#wallet);
    for (const a of later) {
      const why = replacementProblem(base, basisOf(a.raw, this.#wallet));
      if (why)
        throw new ChainIntegrityError(
          'payserv_chain_txs',
          `coin ${this.tag}: stored attempt ${a.hash} replaces payment ${first.hash}, yet ${why}`,
        );
    }
  }

  watch(hash: string, seen: Placement | null, ctx: { finality: number }): Promise<Watch> {
    return watchSent(
      {
        node: this.#node,
        checkIdentity: (back) => this.#checkIdentity(back),
        located: (t) => this.#minedAt(t),
        standsBy: (h, at) => this.#standsBy(h, at),
      },
      hash,
      seen,
      ctx.finality,
    );
  }

  /**
   * A replacement of the stale attempt `latest` (BIP125, bump.ts): its inputs (values read from the chain)
   * and outputs, the change smaller by the higher fee, within fee_rate_max. Tried by testmempoolaccept
   * before anything is stored: a node that refuses replacement (Litecoin's default) leaves the payment waiting.
   */
  async replace(_tx: StorageTx, latest: Attempt): Promise<Signing | null> {
    if (this.#s.feeBump !== 'rbf') return null;
    await this.#checkIdentity(this.#needed(0));
    const old = basisOf(latest.raw, this.#wallet);
    const [inputs, net, estimate] = await Promise.all([
      this.#walletInputs(old.inputs),
      ask(() => this.#node.getNetworkInfo()),
      this.#estimate(),
    ]);
    if ('missing' in inputs) return { kind: 'wait', reason: `not replaced: ${inputs.missing}` };
    const plan = bumpPlan({
      net: this.#s.net,
      wallet: this.#wallet,
      old,
      inputs: inputs.utxos,
      incremental: net.incrementalfee === undefined ? this.#s.net.minFeeRate : perVbyte(net.incrementalfee),
      estimate: estimate ?? 0n,
      ceiling: this.#s.feeRateMax,
    });
    if ('wait' in plan) return { kind: 'wait', reason: plan.wait, atCap: plan.atCap };
    const signed = signPayment(this.#s.net, this.#wallet, plan, this.#key);
    const why = replacementProblem(old, basisOf(signed.rawHex, this.#wallet));
    if (why) throw new ChainIntegrityError('payserv_chain_txs', `coin ${this.tag}: the replacement of ${latest.hash} built: ${why}`);
    const refused = await this.#accepted(signed);
    if (refused) return refused;
    this.#log.info(
      { coin: this.tag, replaced: latest.hash, tx: signed.txid, fee: signed.fee.toString(), vsize: signed.vsize },
      'replacement signed (BIP125)',
    );
    return { kind: 'signed', tx: { hash: signed.txid, raw: signed.rawHex, maxFee: signed.fee, nonce: null, inputs: signed.inputs } };
  }

  /** The inputs with their values, each an output of the hot wallet's script as its funding transaction's bytes have it. */
  async #walletInputs(outpoints: readonly { txid: string; vout: number }[]): Promise<{ utxos: Utxo[] } | { missing: string }> {
    const utxos: Utxo[] = [];
    for (const o of outpoints) {
      const out = await this.#funded(o);
      if (!out) return { missing: `the node does not know input ${outpointKey(o)}` };
      if (!equalBytes(out.script, this.#wallet.script)) return { missing: `input ${outpointKey(o)} is not an output of the hot wallet` };
      utxos.push({ txid: o.txid, vout: o.vout, value: out.value });
    }
    return { utxos };
  }

  async release(tx: StorageTx, hash: string, why: string): Promise<void> {
    const n = await this.#storage.releaseInputs(tx, this.tag, hash, why);
    if (n) this.#log.info({ coin: this.tag, tx: hash, inputs: n, reason: why }, 'inputs released');
  }
}
