import { secp256k1 } from '@noble/curves/secp256k1';
import type { Logger } from '../../log/index.js';
import { invariant } from '../../ledger/invariant.js';
import type { Coin } from '../../ledger/records.js';
import { outpointKey, type StorageTx, type UtxoStorage } from '../storage.js';
import { validateAddress, zcashAddressScript, zcashP2pkhAddress, zcashScriptAddress } from '../address.js';
import type {
  Attempt,
  Broadcast,
  ChainDriver,
  DecodedTx,
  DriverHealth,
  PayOutput,
  Placement,
  SignedTx,
  Signing,
  Verdict,
  WalletFlood,
  Watch,
} from '../driver.js';
import { ChainIdentityError, ChainIntegrityError, NodeUnavailable } from '../driver.js';
import { ChainIdentity } from '../identity.js';
import { conflictingInputs } from '../utxo-conflicts.js';
import { ask, checkNodeIdentity, ownStored, storedSpends, watchSent } from '../utxo-watch.js';
import { spentByKey, sweepWaits } from '../utxo-sweep.js';
import { keepWorthSpending, WalletFloodNote } from '../utxo-flood.js';
import type { PaymentJournal } from '../../journal/journal.js';
import { branchFromRpcHex, UnknownBranchError } from './branch.js';
import { buildTransparentTx, DUST_THRESHOLD_ZAT, ZcashBuildError, type BuildInput } from './build.js';
import { fromHex, hashToDisplayHex } from './bytes.js';
import { estimateTransparentFeeZat, MARGINAL_FEE_ZAT } from './fee.js';
import {
  ZcashRpc,
  ZcashRpcBadReply,
  ZcashRpcError,
  ZcashRpcUnavailable,
  type AddressUtxo,
  type BlockchainInfo,
  type RawTransaction,
} from './rpc.js';
import { p2pkhScript, pubkeyHash } from './script.js';
import { signTransparentTx } from './sign.js';
import { UnknownSpendsError } from '../unknown-spends.js';
import { SpendWatch } from './spends.js';
import { parseTx } from './tx.js';
import { txidOf } from './txid.js';

// The Zcash driver, transparent addresses: transactions built and signed in this process (zcashd, which
// signed for the original, has reached end of life), for the consensus branch the node says comes next,
// refused for a branch id not in the known table. Inputs come from the node's view of the hot wallet's
// unspent outputs and are reserved in the database until mined or provably never will be (expired).
//
// zebrad first, zcashd second (rpc.ts): peers from getpeerinfo, syncing from estimatedheight (both) or
// zcashd's initial_block_download_complete and headers. Every verdict, watch and health check reads
// the node's identity first (network, genesis block, head not gone back: src/chains/identity.ts), and
// a `failed` or `gone` re-reads it before it is returned: a node switched to another network or
// restarted on a fresh chain is unreachable, never evidence. Coinbase outputs in the hot wallet are
// never spent (operator rule: the hot wallet never receives coinbase; the node's address index has no
// coinbase flag, so each funding transaction is read once and remembered).

export interface ZcashSettings {
  tag: string;
  url: string;
  network: Coin['network'];
  confirmations?: number | undefined;
  minPeers: number;
  /** The configured genesis block hash; unset: pinned at first sight (src/chains/identity.ts). */
  genesisHash?: string | undefined;
  txVersion: 4 | 5;
  batchMax: number;
  expiryDelta: number;
  feeMax: bigint;
  timeoutMs: number;
  /** utxo_max: the most outputs of the hot wallet a read keeps, the largest worth spending (default UTXO_MAX_DEFAULT). */
  utxoMax?: number | undefined;
}

/**
 * The most a hot-wallet output may be worth and still not be worth spending: the ZIP-317 marginal fee its P2PKH input
 * adds (one logical action, 5,000 zatoshi). Anyone may send such outputs to the public address; they are never spent.
 */
export const ZCASH_DUST_MAX_ZAT = MARGINAL_FEE_ZAT;

const NODE_CHAIN: Record<Coin['network'], readonly string[]> = { mainnet: ['main'], testnet: ['test', 'regtest'] };

/** The configured network a node's getblockchaininfo.chain belongs to (its own name when none). */
export function networkOf(chain: string): string {
  for (const [network, names] of Object.entries(NODE_CHAIN)) if (names.includes(chain)) return network;
  return chain;
}

/**
 * A node whose estimated network height is further ahead of its tip than this is syncing. zebrad's
 * estimate comes from the tip's time at 75 s a block (zebra-rpc getblockchaininfo): a quiet half hour
 * on a synced node stays below it, a node catching up does not.
 */
export const SYNC_LAG_BLOCKS_MAX = 24;
/** Without an estimated height: verification progress below this is syncing. */
export const SYNC_PROGRESS_MIN = 0.9999;
/** zcashd: headers this far ahead of blocks is still downloading blocks. */
const HEADERS_AHEAD_MAX = 2;
/** Transactions remembered as signed here (bounded: a payment is also in the journal and the database; a sweep is the newest). */
const OWN_MAX = 100_000;
/** Funding transactions remembered as coinbase or not: past this the memory starts again (bounded). */
const COINBASE_CACHE_MAX = 100_000;

/** Why the node is syncing (null when it is not), from what zebrad or zcashd says in getblockchaininfo. */
export function syncing(info: BlockchainInfo): string | null {
  if (info.initial_block_download_complete === false) return 'the node is in its initial block download';
  if (info.headers !== undefined && info.headers > info.blocks + HEADERS_AHEAD_MAX)
    return `the node is syncing: headers at ${info.headers}, blocks at ${info.blocks}`;
  // A regtest chain has no schedule: its estimate says nothing (zebrad reports progress 1 there).
  if (info.chain === 'regtest') return null;
  if (info.estimatedheight !== undefined) {
    return info.estimatedheight > info.blocks + SYNC_LAG_BLOCKS_MAX
      ? `the node is syncing: at ${info.blocks}, the network is estimated at ${info.estimatedheight}`
      : null;
  }
  if (info.verificationprogress !== undefined && info.verificationprogress < SYNC_PROGRESS_MIN)
    return `the node is syncing: verification progress ${info.verificationprogress}`;
  return null;
}

/** Mined on the node's best chain (zebrad: in_active_chain; zcashd: a height and confirmations). */
function inBestChain(t: RawTransaction): boolean {
  return t.in_active_chain !== false && (t.confirmations ?? 0) > 0 && (t.height ?? 0) >= 0;
}

/** What a Zcash driver is given besides its settings and key. */
export interface ZcashDeps {
  /** The input reservations and stored attempts (src/data/chain-store.ts in payserv). */
  storage: UtxoStorage;
  log: Logger;
  journal: PaymentJournal;
  stateDir: string;
}

export class ZcashDriver implements ChainDriver {
  readonly tag: string;
  readonly address: string;
  readonly maxOutputs: number;
  readonly #s: ZcashSettings;
  readonly #key: Uint8Array;
  readonly #script: Uint8Array;
  readonly #rpc: ZcashRpc;
  readonly #storage: UtxoStorage;
  readonly #log: Logger;
  readonly #journal: PaymentJournal;
  readonly #identity: ChainIdentity;
  /** Funding txid -> whether it is a coinbase transaction (a transaction's inputs never change). */
  readonly #coinbase = new Map<string, boolean>();
  readonly #publicKey: Uint8Array;
  /** Transactions this process signed and committed (payments and a rotation's sweep): spends of the wallet that are payserv's. */
  readonly #own = new Set<string>();
  readonly #spends: SpendWatch;
  /** What the last read of the wallet left out or could not read (walletFlood). */
  readonly #flood: WalletFloodNote;

  constructor(settings: ZcashSettings, privateKey: Uint8Array, deps: ZcashDeps) {
    this.#s = settings;
    this.tag = settings.tag;
    this.maxOutputs = settings.batchMax;
    this.#key = Uint8Array.from(privateKey);
    this.#publicKey = secp256k1.getPublicKey(this.#key, true);
    const pkh = pubkeyHash(this.#publicKey);
    this.address = zcashP2pkhAddress(settings.network, pkh);
    this.#script = p2pkhScript(pkh);
    this.#rpc = new ZcashRpc({ url: settings.url, timeoutMs: settings.timeoutMs });
    this.#storage = deps.storage;
    this.#log = deps.log;
    this.#journal = deps.journal;
    this.#identity = new ChainIdentity(deps.stateDir, settings.tag, { chain: settings.network, genesis: settings.genesisHash });
    this.#flood = new WalletFloodNote({
      tag: this.tag,
      address: this.address,
      log: deps.log,
      utxoMax: settings.utxoMax,
      dustWhy: 'the ZIP-317 marginal fee of its input',
    });
    this.#spends = new SpendWatch({
      tag: this.tag,
      address: this.address,
      publicKey: this.#publicKey,
      rpc: this.#rpc,
    });
  }

  /** Whether payserv made a transaction: journaled, signed by this process, or its stored attempt the signed ledger names (ownStored). */
  async #ours(txid: string, db?: StorageTx): Promise<boolean> {
    if (this.#own.has(txid) || this.#journal.get(txid)) return true;
    return (await ownStored(this.#storage, (raw) => this.decode(raw), txid, db)) !== null;
  }

  /** Every spend of the hot wallet on the chain up to `tip` is payserv's, or UnknownSpendsError (src/chains/unknown-spends.ts). */
  async #refuseUnknownSpends(tip: number, db?: StorageTx): Promise<void> {
    await this.#journal.refresh();
    try {
      await this.#spends.check(tip, (txid) => this.#ours(txid, db));
    } catch (e) {
      if (e instanceof UnknownSpendsError)
        this.#log.error({ coin: this.tag, address: this.address, unknown: e.found.slice(0, 10) }, 'unknown spends from the hot wallet');
      throw e;
    }
  }

  /** The node's identity checked (checkNodeIdentity); what getblockchaininfo said. */
  #checkIdentity(back: number): Promise<BlockchainInfo> {
    return checkNodeIdentity({ tag: this.tag, node: this.#rpc, identity: this.#identity, networkOf }, back);
  }

  /** The confirmations a payment needs (at least 1). */
  #needed(confirmations: number): number {
    return Math.max(this.#s.confirmations ?? confirmations, 1);
  }

  validateAddress(address: string): string | null {
    return validateAddress({ tag: 'ZEC', network: this.#s.network }, address);
  }

  async start(): Promise<void> {
    const seen = await ask(() => this.#rpc.getBlockchainInfo());
    // Another network is a configuration mistake: it stops the start (a foreign genesis or a head gone back waits, unreachable).
    if (!NODE_CHAIN[this.#s.network].includes(seen.chain))
      throw new Error(`coin ${this.tag}: the node is on chain "${seen.chain}", the configuration says ${this.#s.network}`);
    const info = await this.#checkIdentity(this.#needed(0));
    const branch = branchFromRpcHex(info.consensus.nextblock);
    // The coin must be known to the storage (its reservations are read by tag): an unknown one stops the start.
    await this.#storage.reservedOutpoints(this.tag);
    await ask(() => this.#refuseUnknownSpends(info.blocks));
    this.#log.info(
      { coin: this.tag, address: this.address, height: info.blocks, branch: branch.name, txVersion: this.#s.txVersion },
      'zcash driver ready',
    );
  }

  async health(): Promise<DriverHealth> {
    try {
      const [info, peers] = await Promise.all([this.#checkIdentity(this.#needed(0)), this.#rpc.getPeerCount()]);
      const sync = syncing(info);
      if (sync)
        return {
          ok: false,
          reason: sync,
          details: { height: info.blocks, ...(info.estimatedheight === undefined ? {} : { estimatedHeight: info.estimatedheight }) },
        };
      branchFromRpcHex(info.consensus.nextblock);
      if (peers < this.#s.minPeers)
        return { ok: false, reason: `the node has ${peers} peers, fewer than ${this.#s.minPeers}`, details: { peers } };
      return { ok: true, details: { peers, height: info.blocks } };
    } catch (e) {
      return {
        ok: false,
        reason:
          e instanceof ZcashRpcUnavailable || (e instanceof NodeUnavailable && !(e instanceof ChainIdentityError))
            ? 'node unreachable'
            : (e as Error).message,
      };
    }
  }

  /**
   * The hot wallet's mined unspent outputs that no payment holds: neither reserved in the database nor
   * spent by an attempt the payment journal holds (a reservation the database lost still counts).
   * `strict` (when signing): a reservation of an unspent output that neither the journal nor one of
   * payserv's own stored transactions explains was made by someone else: tampering.
   */
  async #free(db: StorageTx, strict = false): Promise<AddressUtxo[]> {
    return (await this.#holdings(db, strict)).free;
  }

  walletFlood(): WalletFlood | null {
    return this.#flood.current;
  }

  /**
   * Every unspent output of the wallet as the node lists them. A reply past the client's bounds (more entries than
   * ADDRESS_UTXOS_MAX, more bytes than the reply bound: a flood of small outputs) is HotWalletUnreadable: noted for
   * walletFlood, payments wait (send_retry), never a throw out of them.
   */
  async #allUtxos(): Promise<AddressUtxo[]> {
    return ask(() =>
      this.#rpc.getAddressUtxos(this.address).catch((e: unknown) => {
        const tooBig = e instanceof ZcashRpcBadReply || (e instanceof ZcashRpcUnavailable && /reply larger than \d+ bytes/.test(e.message));
        throw tooBig ? this.#flood.unreadable('getaddressutxos', e.message) : e;
      }),
    );
  }

  /**
   * The outputs a payment or a sweep may spend: those worth more than their input's marginal fee, the utxo_max largest
   * (what is left out is noted for walletFlood); `leftOut`, as a reason's tail.
   */
  async #kept(): Promise<{ utxos: AddressUtxo[]; leftOut: string }> {
    const { kept, leftOut } = keepWorthSpending(await this.#allUtxos(), {
      value: (u) => u.satoshis,
      txid: (u) => u.txid,
      dustMax: ZCASH_DUST_MAX_ZAT,
      utxoMax: this.#s.utxoMax,
    });
    this.#flood.read(leftOut, ZCASH_DUST_MAX_ZAT, kept.length);
    return { utxos: kept, leftOut: this.#flood.note(leftOut, ZCASH_DUST_MAX_ZAT) };
  }

  /** The wallet's kept unspent outputs (#kept), with what payments hold and what is free (see #free). */
  async #holdings(
    db: StorageTx,
    strict: boolean,
  ): Promise<{ utxos: AddressUtxo[]; reserved: Map<string, string>; inFlight: Set<string>; free: AddressUtxo[]; leftOut: string }> {
    const [{ utxos, leftOut }, reserved] = await Promise.all([this.#kept(), this.#storage.reservedOutpoints(this.tag, db)]);
    await this.#journal.refresh();
    const inFlight = this.#journal.inputsInFlight(this.tag);
    if (strict) {
      for (const u of utxos) {
        const key = outpointKey({ txid: u.txid, vout: u.outputIndex });
        const by = reserved.get(key);
        if (by !== undefined && !inFlight.has(key) && !(await this.#storedSpends(db, by, key))) {
          throw new ChainIntegrityError(
            'payserv_utxo_reservations',
            `input ${key} is reserved for ${by}, which neither the payment journal nor a stored transaction of payserv's (one its signed ledger names) spends: the reservation was made by someone else`,
          );
        }
      }
    }
    const unheld = utxos.filter((u) => {
      const key = outpointKey({ txid: u.txid, vout: u.outputIndex });
      return !reserved.has(key) && !inFlight.has(key);
    });
    const free: AddressUtxo[] = [];
    for (const u of unheld) if (!(await this.#isCoinbase(u))) free.push(u);
    return { utxos, reserved, inFlight, free, leftOut };
  }

  /**
   * Whether an unspent output was made by a coinbase transaction: the network refuses a transparent
   * spend of one (it must mature and go to a shielded pool), so it is never chosen. The address index
   * has no coinbase flag: the funding transaction's first input says, read once per txid.
   */
  async #isCoinbase(u: AddressUtxo): Promise<boolean> {
    const cached = this.#coinbase.get(u.txid);
    if (cached !== undefined) return cached;
    const t = await ask(() => this.#rpc.getRawTransaction(u.txid));
    if (!t)
      throw new NodeUnavailable(
        `the node lists output ${u.txid}:${u.outputIndex} of the hot wallet but does not know its transaction: cannot tell whether it is coinbase`,
      );
    if (!t.vin) throw new ZcashRpcBadReply('getrawtransaction', `getrawtransaction ${u.txid}: no vin: cannot tell whether it is coinbase`);
    const coinbase = t.vin[0]?.coinbase !== undefined;
    if (this.#coinbase.size >= COINBASE_CACHE_MAX) this.#coinbase.clear();
    this.#coinbase.set(u.txid, coinbase);
    if (coinbase) {
      this.#log.warn(
        { coin: this.tag, txid: u.txid, vout: u.outputIndex, value: u.satoshis.toString() },
        'the hot wallet holds a coinbase output: never spent by payserv (operator rule: the hot wallet never receives coinbase)',
      );
    }
    return coinbase;
  }

  /** Whether payserv stored a transaction `hash` that spends `outpoint` (one signed, committed, and perhaps not yet journaled when payserv died). */
  #storedSpends(db: StorageTx, hash: string, outpoint: string): Promise<boolean> {
    return storedSpends(this.#storage, (raw) => this.decode(raw), db, hash, outpoint);
  }

  async spendable(db: StorageTx): Promise<bigint> {
    return (await this.#free(db)).reduce((a, u) => a + u.satoshis, 0n);
  }

  /** The node's identity checked and the consensus branch to sign for, or why signing waits. */
  async #signingBranch(): Promise<{ info: BlockchainInfo; branchId: number } | Extract<Signing, { kind: 'wait' }>> {
    // Inputs read from another chain would be spent nowhere real: the identity first, as in a verdict.
    const info = await this.#checkIdentity(this.#needed(0));
    try {
      return { info, branchId: branchFromRpcHex(info.consensus.nextblock).id };
    } catch (e) {
      if (!(e instanceof UnknownBranchError)) throw e;
      this.#log.error({ coin: this.tag, branch: info.consensus.nextblock }, 'unknown consensus branch id: refusing to sign');
      return {
        kind: 'wait',
        reason: `the node's next consensus branch id ${info.consensus.nextblock} is not a known network upgrade: refusing to sign`,
      };
    }
  }

  async sign(tx: StorageTx, outputs: readonly PayOutput[]): Promise<Signing> {
    const at = await this.#signingBranch();
    if ('kind' in at) return at;
    const { info, branchId } = at;
    await ask(() => this.#refuseUnknownSpends(info.blocks, tx));
    const outs = outputs.map((o) => ({ scriptPubKey: zcashAddressScript(this.#s.network, o.address), value: o.value }));
    const total = outputs.reduce((a, o) => a + o.value, 0n);
    const held = await this.#holdings(tx, true);
    const free = held.free.sort((a, b) => (a.satoshis === b.satoshis ? 0 : a.satoshis > b.satoshis ? -1 : 1));
    const conflicting = conflictingInputs(free, outputs, (u) => ({ txid: u.txid, vout: u.outputIndex }));
    if ('refused' in conflicting) return { kind: 'refused', reason: conflicting.refused };
    const chosen: AddressUtxo[] = [...conflicting.inputs];
    let have = chosen.reduce((a, u) => a + u.satoshis, 0n);
    // The fee of the outputs actually built: with the change output, or without it when it is dropped.
    const feeWithChange = (n: number) => estimateTransparentFeeZat(n, [...outs.map((o) => o.scriptPubKey), this.#script]);
    const feeNoChange = (n: number) =>
      estimateTransparentFeeZat(
        n,
        outs.map((o) => o.scriptPubKey),
      );
    // Enough once the outputs and the fee without change are covered: what is left is change, or dust given to the fee.
    for (const u of free) {
      if (chosen.includes(u)) continue;
      if (chosen.length > 0 && have >= total + feeNoChange(chosen.length)) break;
      chosen.push(u);
      have += u.satoshis;
    }
    const n = Math.max(chosen.length, 1);
    if (have < total + feeNoChange(n)) {
      const all = free.reduce((a, u) => a + u.satoshis, 0n);
      return {
        kind: 'short',
        reason: `hot wallet short: ${all} zatoshi spendable, the payment and its fee need ${total + feeNoChange(n)}${held.leftOut}`,
        spendable: all,
        needed: total + feeNoChange(free.length || 1),
      };
    }
    const change = have - total - feeWithChange(n);
    // Change below dust would not be relayed: it is dropped, and the transaction pays what is left as its fee
    // (at least the fee of the outputs it has, which is what a node asks of it).
    const withChange = change >= DUST_THRESHOLD_ZAT;
    const fee = withChange ? feeWithChange(n) : have - total;
    if (fee > this.#s.feeMax) return { kind: 'wait', reason: `the fee ${fee} zatoshi is above the configured maximum ${this.#s.feeMax}` };
    const inputs: BuildInput[] = chosen.map((u) => ({
      txid: u.txid,
      vout: u.outputIndex,
      value: u.satoshis,
      scriptPubKey: fromHex(u.script, 'utxo script'),
    }));
    const unsigned = buildTransparentTx({
      version: this.#s.txVersion,
      branchId,
      inputs,
      expiryHeight: info.blocks + this.#s.expiryDelta,
      outputs: withChange ? [...outs, { scriptPubKey: this.#script, value: change }] : outs,
    });
    const signed = signTransparentTx(
      unsigned,
      unsigned.prevouts,
      inputs.map(() => this.#key),
    );
    // The recorded maxFee is what the transaction really pays: inputs less outputs, as signed.
    invariant(signed.feeZat === fee, `signed ${signed.txid} pays ${signed.feeZat} zatoshi in fees, the selection computed ${fee}`);
    const spent = chosen.map((u) => ({ txid: u.txid, vout: u.outputIndex, value: u.satoshis }));
    await this.#storage.reserveInputs(tx, this.tag, signed.txid, spent);
    return { kind: 'signed', tx: { hash: signed.txid, raw: signed.rawHex, maxFee: signed.feeZat, nonce: null, inputs: spent } };
  }

  /**
   * A rotation's sweep (src/payserv/rotation.ts): every free output of this wallet to one output at `to`, less
   * the ZIP-317 fee; signed only once no payment holds an unspent output (those in flight settle first).
   * Nothing is reserved: the old wallet signs no payout during a rotation, and the host's record holds the bytes.
   */
  async signSweep(tx: StorageTx, to: string): Promise<Signing> {
    const at = await this.#signingBranch();
    if ('kind' in at) return at;
    await ask(() => this.#refuseUnknownSpends(at.info.blocks, tx));
    const dest = zcashAddressScript(this.#s.network, to);
    const h = await this.#holdings(tx, true);
    const waits = sweepWaits(
      this.address,
      h.utxos.map((u) => ({ txid: u.txid, vout: u.outputIndex })),
      h.reserved,
      h.inFlight,
    );
    if (waits) return waits;
    const have = h.free.reduce((a, u) => a + u.satoshis, 0n);
    const fee = estimateTransparentFeeZat(Math.max(h.free.length, 1), [dest]);
    if (h.free.length === 0 || have - fee < DUST_THRESHOLD_ZAT)
      return {
        kind: 'short',
        reason: `the old wallet holds ${have} zatoshi spendable, the sweep's fee is ${fee}${h.leftOut}`,
        spendable: have,
        needed: fee,
      };
    if (fee > this.#s.feeMax)
      return {
        kind: 'wait',
        reason: `the sweep of ${h.free.length} inputs costs ${fee} zatoshi, above the configured fee_max ${this.#s.feeMax}`,
      };
    const inputs: BuildInput[] = h.free.map((u) => ({
      txid: u.txid,
      vout: u.outputIndex,
      value: u.satoshis,
      scriptPubKey: fromHex(u.script, 'utxo script'),
    }));
    let unsigned: ReturnType<typeof buildTransparentTx>;
    try {
      unsigned = buildTransparentTx({
        version: this.#s.txVersion,
        branchId: at.branchId,
        inputs,
        expiryHeight: at.info.blocks + this.#s.expiryDelta,
        outputs: [{ scriptPubKey: dest, value: have - fee }],
      });
    } catch (e) {
      if (e instanceof ZcashBuildError) return { kind: 'wait', reason: `the sweep cannot be built: ${e.message}` };
      throw e;
    }
    const signed = signTransparentTx(
      unsigned,
      unsigned.prevouts,
      inputs.map(() => this.#key),
    );
    invariant(signed.feeZat === fee, `signed sweep ${signed.txid} pays ${signed.feeZat} zatoshi in fees, not ${fee}`);
    const spent = h.free.map((u) => ({ txid: u.txid, vout: u.outputIndex, value: u.satoshis }));
    const swept = { hash: signed.txid, raw: signed.rawHex, maxFee: fee, nonce: null, inputs: spent };
    // What the sweep leaves in the old wallet (outputs not worth their fee, or past utxo_max): said in the rotation's report.
    return h.leftOut
      ? { kind: 'signed', tx: swept, note: `the sweep leaves in ${this.address}${h.leftOut}` }
      : { kind: 'signed', tx: swept };
  }

  /** Whether every input of the bytes is spent with this wallet's key (a rotated coin asks which wallet signed an attempt). */
  async signedBy(raw: string): Promise<boolean> {
    try {
      return spentByKey(parseTx(fromHex(raw, 'stored transaction')).inputs, this.#publicKey);
    } catch {
      return false;
    }
  }

  async committed(signed: SignedTx): Promise<void> {
    // Inputs were reserved in the payment's own transaction. Remembered for the unknown-spends check: a
    // rotation's sweep is in no journal and no stored attempt (its record is on the host, src/payserv/rotation.ts).
    if (this.#own.size >= OWN_MAX) this.#own.delete(this.#own.values().next().value as string);
    this.#own.add(signed.hash);
  }

  async restored(): Promise<void> {
    // Its inputs need no reservation row: the payment journal holds them in flight until the chain decides.
  }

  async broadcast(raw: string): Promise<Broadcast> {
    const ours = txidOf(parseTx(fromHex(raw, 'stored transaction')));
    try {
      const r = await ask(() => this.#rpc.sendRawTransaction(raw));
      // A node that names another transaction for our bytes is not the chain payserv reasons about:
      // every later verdict would ask it about the wrong txid. A fail-stop, never a retry.
      if (r.kind === 'accepted' && r.txid !== ours) {
        throw new ChainIntegrityError(
          'payserv_chain_txs',
          `coin ${this.tag}: the node accepted transaction ${ours} and answered with txid ${r.txid}`,
        );
      }
      return { ok: true, known: r.kind === 'already-known' };
    } catch (e) {
      if (e instanceof ZcashRpcError) return { ok: false, reason: `${e.code}: ${e.nodeMessage}` };
      throw e;
    }
  }

  decode(raw: string): DecodedTx {
    const tx = parseTx(fromHex(raw, 'stored transaction'));
    return {
      hash: txidOf(tx),
      outputs: tx.outputs.map((o) => ({ address: zcashScriptAddress(this.#s.network, o.scriptPubKey) ?? '', value: o.value })),
      nonce: null,
      inputs: tx.inputs.map((i) => ({ txid: hashToDisplayHex(i.prevout.txid), vout: i.prevout.index })),
    };
  }

  async verdict(attempts: readonly Attempt[], ctx: { now: Date; confirmations: number }): Promise<Verdict> {
    const needed = this.#needed(ctx.confirmations);
    await this.#checkIdentity(needed);
    for (const a of attempts) {
      const known = await ask(() => this.#rpc.getRawTransaction(a.hash));
      if (!known) continue;
      if (!inBestChain(known)) {
        const where = known.blockhash ? `in block ${known.blockhash}, off the node's best chain` : "in the node's mempool";
        return { kind: 'pending', reason: `${where} (${a.hash})`, rebroadcast: [], stale: false };
      }
      const confirmations = known.confirmations ?? 0;
      if (confirmations < needed) return { kind: 'mined', hash: a.hash, confirmations, needed };
      const block = await this.#placement(known);
      // Evidence only from our chain: the block it names is the node's block at that height, and the identity holds after.
      if (!(await this.#canonical(block)))
        return {
          kind: 'pending',
          reason: `${a.hash} is said to be in block ${block.blockHash} at ${block.blockNumber}, which is not the node's block at that height: the outcome is unknown`,
          rebroadcast: [],
          stale: false,
        };
      await this.#checkIdentity(needed);
      return { kind: 'confirmed', hash: a.hash, fee: await this.#feeOf(a), confirmations, block };
    }
    // Known to no block and no mempool. A node that cannot find a transaction is no proof (zcashd without
    // -txindex, a back end rebuilding its index): failed only once the chain is past every attempt's expiry
    // height (deep enough) AND each attempt still has an input unspent on the chain, which a mined attempt
    // would have spent. The tip is read after the inputs, with the identity checked again. Every unspent output is
    // read, none left out (an attempt's inputs are among them, whatever a flood sent since): a wallet the node cannot
    // list in one reply is HotWalletUnreadable, the outcome unknown.
    const unspent = new Set((await this.#allUtxos()).map((u) => outpointKey({ txid: u.txid, vout: u.outputIndex })));
    const tip = (await this.#checkIdentity(needed)).blocks;
    const heights = attempts.map((a) => parseTx(fromHex(a.raw, 'stored transaction')).expiryHeight);
    if (heights.every((h) => tip - h + 1 >= needed)) {
      const spent = attempts.find((a) => !this.decode(a.raw).inputs.some((i) => unspent.has(outpointKey(i))));
      if (spent)
        return {
          kind: 'pending',
          reason: `transaction ${spent.hash} is past its expiry, but every input it spends is spent on the chain: it may have been mined, and a node that cannot find it is no proof; the outcome is unknown`,
          rebroadcast: [],
          stale: false,
        };
      return {
        kind: 'failed',
        hash: attempts[attempts.length - 1]?.hash ?? null,
        fee: 0n,
        by: 'expiry',
        proof: `transaction ${attempts.map((a) => a.hash).join(', ')} expired at height ${Math.max(...heights)}; the chain is at ${tip}, the node has it in no block and not in its mempool, and an input of each attempt is still unspent (chain identity checked)`,
      };
    }
    return { kind: 'pending', reason: 'not in the node: rebroadcast', rebroadcast: attempts.map((a) => a.hash), stale: false };
  }

  /** Where a transaction of the best chain was mined, from the node (its block hash read by height if the reply lacks it). */
  async #placement(t: RawTransaction): Promise<Placement> {
    let height = t.height;
    if (height === undefined || height < 0) {
      // Only the confirmations: the block is the tip's, that many back.
      const tip = await ask(() => this.#rpc.getBlockCount());
      height = tip - (t.confirmations ?? 1) + 1;
    }
    const h = height;
    const blockHash =
      t.blockhash !== undefined && t.height !== undefined && t.height >= 0 ? t.blockhash : await ask(() => this.#rpc.getBlockHash(h));
    return { blockNumber: height, blockHash };
  }

  /** Whether `p` is the node's block at its height (a back end on a stale branch names others). */
  async #canonical(p: Placement): Promise<boolean> {
    const at = await ask(() => this.#rpc.getBlockHash(p.blockNumber)).catch((e: unknown) => {
      if (e instanceof ZcashRpcError) return null;
      throw e;
    });
    return at !== null && at.toLowerCase() === p.blockHash.toLowerCase().replace(/^0x/, '');
  }

  /**
   * What a mined payment cost, from the chain alone: the values of the outputs it spends, each read from its
   * transaction's bytes as the node serves them (getrawtransaction; bytes that hash to another txid are refused,
   * so the node cannot name another value either), less its outputs. The database's reservations are nobody's
   * signature: their values are not read.
   */
  async #feeOf(a: Attempt): Promise<bigint> {
    const tx = parseTx(fromHex(a.raw, 'stored transaction'));
    let fee = -tx.outputs.reduce((s, o) => s + o.value, 0n);
    for (const i of this.decode(a.raw).inputs) {
      const prev = await ask(() => this.#rpc.getRawTransaction(i.txid));
      if (!prev)
        throw new ZcashRpcBadReply('getrawtransaction', `the node does not know ${i.txid}, whose output ${i.vout} ${a.hash} spends`);
      const spent = parseTx(fromHex(prev.hex, 'getrawtransaction hex'));
      if (txidOf(spent) !== i.txid) throw new ZcashRpcBadReply('getrawtransaction', `the bytes given for ${i.txid} hash to another txid`);
      const out = spent.outputs[i.vout];
      if (!out) throw new ZcashRpcBadReply('getrawtransaction', `${i.txid} has no output ${i.vout}, which ${a.hash} spends`);
      fee += out.value;
    }
    if (fee < 0n) throw new ZcashRpcBadReply('getrawtransaction', `${a.hash} pays more than its inputs hold`);
    return fee;
  }

  watch(hash: string, seen: Placement | null, ctx: { finality: number }): Promise<Watch> {
    return watchSent(
      {
        node: this.#rpc,
        checkIdentity: (back) => this.#checkIdentity(back),
        // On the best chain, in the node's block at the height it names (a back end on a stale branch names others).
        located: async (t) => {
          if (!t || !inBestChain(t)) return null;
          const block = await this.#placement(t);
          if (!(await this.#canonical(block)))
            return {
              unknown: `${hash} is said to be in block ${block.blockHash} at ${block.blockNumber}, which is not the node's block at that height`,
            };
          return { block, confirmations: t.confirmations ?? 0 };
        },
        goneNote: (again) => ` (${again ? (again.blockhash ? 'off the best chain' : 'back in the mempool') : 'unknown to the node'})`,
      },
      hash,
      seen,
      ctx.finality,
    );
  }

  async replace(): Promise<Signing | null> {
    // A Zcash payment is not replaced: it expires, and only then is it paid anew.
    return null;
  }

  async release(tx: StorageTx, hash: string, why: string): Promise<void> {
    const n = await this.#storage.releaseInputs(tx, this.tag, hash, why);
    if (n) this.#log.info({ coin: this.tag, tx: hash, inputs: n, reason: why }, 'inputs released');
  }
}
