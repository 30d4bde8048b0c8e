import { secp256k1 } from '@noble/curves/secp256k1';
import type { DataTx } from '../../data/data.js';
import { CHAINS } from '../../data/ops/chains.js';
import type { Logger } from '../../log/index.js';
import type { Coin } from '../../ledger/records.js';
import { outpointKey, releaseInputs, reservedOutpoints, reserveInputs } from '../../payments/store.js';
import { validateAddress, zcashAddressScript, zcashP2pkhAddress, zcashScriptAddress } from '../address.js';
import type { Attempt, Broadcast, ChainDriver, DecodedTx, DriverHealth, PayOutput, Signing, Verdict, Watch } from '../driver.js';
import { ChainIntegrityError, NodeUnavailable } from '../driver.js';
import type { PaymentJournal } from '../../journal/journal.js';
import { branchFromRpcHex, UnknownBranchError } from './branch.js';
import { buildTransparentTx, DUST_THRESHOLD_ZAT, type BuildInput } from './build.js';
import { fromHex, hashToDisplayHex } from './bytes.js';
import { estimateTransparentFeeZat } from './fee.js';
import { ZcashRpc, ZcashRpcError, ZcashRpcUnavailable, type AddressUtxo } from './rpc.js';
import { p2pkhScript, pubkeyHash } from './script.js';
import { signTransparentTx } from './sign.js';
import { parseTx } from './tx.js';
import { txidOf } from './txid.js';

// The Zcash driver, transparent addresses: transactions built and signed in this process (zcashd, which
// signed for the original, has reached end of life), for the consensus branch the node says comes next,
// refused for a branch id not in the known table. Inputs come from the node's view of the hot wallet's
// unspent outputs and are reserved in the database until mined or provably never will be (expired).

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
}

/** A node call; a transport failure becomes NodeUnavailable. */
async function ask<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ZcashRpcUnavailable) throw new NodeUnavailable(e.message);
    throw e;
  }
}

const NODE_CHAIN: Record<Coin['network'], readonly string[]> = { mainnet: ['main'], testnet: ['test', 'regtest'] };

export class ZcashDriver implements ChainDriver {
  readonly tag: string;
  readonly address: string;
  readonly maxOutputs: number;
  readonly #s: ZcashSettings;
  readonly #key: Uint8Array;
  readonly #script: Uint8Array;
  readonly #rpc: ZcashRpc;
  readonly #db: DataTx;
  readonly #log: Logger;
  readonly #journal: PaymentJournal;
  #coinId: number | null = null;

  constructor(settings: ZcashSettings, privateKey: Uint8Array, deps: { db: DataTx; log: Logger; journal: PaymentJournal }) {
    this.#s = settings;
    this.tag = settings.tag;
    this.maxOutputs = settings.batchMax;
    this.#key = Uint8Array.from(privateKey);
    const pkh = pubkeyHash(secp256k1.getPublicKey(this.#key, true));
    this.address = zcashP2pkhAddress(settings.network, pkh);
    this.#script = p2pkhScript(pkh);
    this.#rpc = new ZcashRpc({ url: settings.url, timeoutMs: settings.timeoutMs });
    this.#db = deps.db;
    this.#log = deps.log;
    this.#journal = deps.journal;
  }

  validateAddress(address: string): string | null {
    return validateAddress({ tag: 'ZEC', network: this.#s.network }, address);
  }

  async #coin(db: DataTx): Promise<number> {
    if (this.#coinId !== null) return this.#coinId;
    const [r] = await db.query(CHAINS.coinId, [this.tag]);
    if (!r) throw new Error(`coin ${this.tag} is not in coins_coin`);
    return (this.#coinId = r.id);
  }

  async start(): Promise<void> {
    const info = await ask(() => this.#rpc.getBlockchainInfo());
    if (!NODE_CHAIN[this.#s.network].includes(info.chain)) throw new Error(`coin ${this.tag}: the node is on chain "${info.chain}", the configuration says ${this.#s.network}`);
    const branch = branchFromRpcHex(info.consensus.nextblock);
    await this.#coin(this.#db);
    this.#log.info({ coin: this.tag, address: this.address, height: info.blocks, branch: branch.name, txVersion: this.#s.txVersion }, 'zcash driver ready');
  }

  async health(): Promise<DriverHealth> {
    try {
      const [info, peers] = await Promise.all([this.#rpc.getBlockchainInfo(), this.#rpc.getConnectionCount()]);
      if (!NODE_CHAIN[this.#s.network].includes(info.chain)) return { ok: false, reason: `the node is on chain "${info.chain}"` };
      if (info.initial_block_download_complete === false || (info.headers !== undefined && info.headers > info.blocks + 2)) return { ok: false, reason: 'the node is syncing' };
      branchFromRpcHex(info.consensus.nextblock);
      if (peers < this.#s.minPeers) return { ok: false, reason: `the node has ${peers} peers, fewer than ${this.#s.minPeers}`, details: { peers } };
      return { ok: true, details: { peers, height: info.blocks } };
    } catch (e) {
      return { ok: false, reason: e instanceof ZcashRpcUnavailable ? 'node unreachable' : (e as Error).message };
    }
  }

  /**
   * The hot wallet's mined unspent outputs that no payment holds: neither reserved in the database nor
   * spent by an attempt the payment journal holds (a reservation the database lost still counts).
   * `strict` (when signing): a reservation of an unspent output that neither the journal nor one of
   * payserv's own stored transactions explains was made by someone else: tampering.
   */
  async #free(db: DataTx, strict = false): Promise<AddressUtxo[]> {
    const coinId = await this.#coin(db);
    const [utxos, reserved] = await Promise.all([ask(() => this.#rpc.getAddressUtxos(this.address)), reservedOutpoints(db, coinId)]);
    await this.#journal.refresh();
    const inFlight = this.#journal.inputsInFlight(this.tag);
    if (strict) {
      for (const u of utxos) {
        const key = outpointKey({ txid: u.txid, vout: u.outputIndex });
        const by = reserved.get(key);
        if (by !== undefined && !inFlight.has(key) && !(await this.#storedSpends(db, by, key))) {
          throw new ChainIntegrityError('payserv_utxo_reservations', `input ${key} is reserved for ${by}, which neither the payment journal nor a stored transaction of payserv's spends: the reservation was made by someone else`);
        }
      }
    }
    return utxos.filter((u) => {
      const key = outpointKey({ txid: u.txid, vout: u.outputIndex });
      return !reserved.has(key) && !inFlight.has(key);
    });
  }

  /** Whether payserv stored a transaction `hash` that spends `outpoint` (one signed, committed, and perhaps not yet journaled when payserv died). */
  async #storedSpends(db: DataTx, hash: string, outpoint: string): Promise<boolean> {
    const [t] = await db.query(CHAINS.attemptRaw, [hash]);
    if (!t) return false;
    try {
      const d = this.decode(t.raw);
      return d.hash === hash && d.inputs.some((i) => `${i.txid}:${i.vout}` === outpoint);
    } catch {
      return false;
    }
  }

  async spendable(db: DataTx): Promise<bigint> {
    return (await this.#free(db)).reduce((a, u) => a + u.satoshis, 0n);
  }

  async sign(tx: DataTx, outputs: readonly PayOutput[]): Promise<Signing> {
    const info = await ask(() => this.#rpc.getBlockchainInfo());
    let branchId: number;
    try {
      branchId = branchFromRpcHex(info.consensus.nextblock).id;
    } catch (e) {
      if (!(e instanceof UnknownBranchError)) throw e;
      this.#log.error({ coin: this.tag, branch: info.consensus.nextblock }, 'unknown consensus branch id: refusing to sign');
      return { kind: 'wait', reason: `the node's next consensus branch id ${info.consensus.nextblock} is not a known network upgrade: refusing to sign` };
    }
    const outs = outputs.map((o) => ({ scriptPubKey: zcashAddressScript(this.#s.network, o.address), value: o.value }));
    const total = outputs.reduce((a, o) => a + o.value, 0n);
    const free = (await this.#free(tx, true)).sort((a, b) => (a.satoshis === b.satoshis ? 0 : a.satoshis > b.satoshis ? -1 : 1));
    const chosen: AddressUtxo[] = [];
    let have = 0n;
    const feeWith = (n: number) => estimateTransparentFeeZat(n, [...outs.map((o) => o.scriptPubKey), this.#script]);
    for (const u of free) {
      if (have >= total + feeWith(Math.max(chosen.length, 1))) break;
      chosen.push(u);
      have += u.satoshis;
    }
    const fee = feeWith(Math.max(chosen.length, 1));
    if (have < total + fee) {
      const all = free.reduce((a, u) => a + u.satoshis, 0n);
      return { kind: 'short', reason: `hot wallet short: ${all} zatoshi spendable, the payment and its fee need ${total + fee}`, spendable: all, needed: total + feeWith(free.length || 1) };
    }
    if (fee > this.#s.feeMax) return { kind: 'wait', reason: `the fee ${fee} zatoshi is above the configured maximum ${this.#s.feeMax}` };
    const change = have - total - fee;
    const inputs: BuildInput[] = chosen.map((u) => ({ txid: u.txid, vout: u.outputIndex, value: u.satoshis, scriptPubKey: fromHex(u.script, 'utxo script') }));
    const unsigned = buildTransparentTx({
      version: this.#s.txVersion, branchId, inputs, expiryHeight: info.blocks + this.#s.expiryDelta,
      // Change below dust would not be relayed: it goes to the fee.
      outputs: change >= DUST_THRESHOLD_ZAT ? [...outs, { scriptPubKey: this.#script, value: change }] : outs,
    });
    const signed = signTransparentTx(unsigned, unsigned.prevouts, inputs.map(() => this.#key));
    const spent = chosen.map((u) => ({ txid: u.txid, vout: u.outputIndex, value: u.satoshis }));
    await reserveInputs(tx, await this.#coin(tx), signed.txid, spent);
    return { kind: 'signed', tx: { hash: signed.txid, raw: signed.rawHex, maxFee: signed.feeZat, nonce: null, inputs: spent } };
  }

  async committed(): Promise<void> {
    // Inputs were reserved in the payment's own transaction; nothing is kept outside the database.
  }

  async restored(): Promise<void> {
    // Its inputs need no reservation row: the payment journal holds them in flight until the chain decides.
  }

  async broadcast(raw: string): Promise<Broadcast> {
    try {
      const r = await ask(() => this.#rpc.sendRawTransaction(raw));
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
    const needed = Math.max(this.#s.confirmations ?? ctx.confirmations, 1);
    for (const a of attempts) {
      const known = await ask(() => this.#rpc.getRawTransaction(a.hash));
      if (!known) continue;
      const confirmations = known.confirmations ?? 0;
      if (confirmations === 0) return { kind: 'pending', reason: `in the node's mempool (${a.hash})`, rebroadcast: [], stale: false };
      if (confirmations < needed) return { kind: 'mined', hash: a.hash, confirmations, needed };
      return { kind: 'confirmed', hash: a.hash, fee: await this.#feeOf(a.hash), confirmations, block: { blockNumber: known.height ?? 0, blockHash: known.blockhash ?? '' } };
    }
    // Known to no block and no mempool: once the chain is past its expiry height (deep enough), it never can be mined.
    const tip = await ask(() => this.#rpc.getBlockCount());
    const heights = attempts.map((a) => parseTx(fromHex(a.raw, 'stored transaction')).expiryHeight);
    if (heights.every((h) => tip - h + 1 >= needed)) {
      return { kind: 'failed', hash: attempts[attempts.length - 1]?.hash ?? null, fee: 0n,
        proof: `transaction ${attempts.map((a) => a.hash).join(', ')} expired at height ${Math.max(...heights)}; the chain is at ${tip} and the node has it in no block and not in its mempool` };
    }
    return { kind: 'pending', reason: 'not in the node: rebroadcast', rebroadcast: attempts.map((a) => a.hash), stale: false };
  }

  /** What a mined payment cost: its reserved inputs less its outputs. */
  async #feeOf(hash: string): Promise<bigint> {
    const [r] = await this.#db.query(CHAINS.reservedValue, [hash]);
    const [t] = await this.#db.query(CHAINS.attemptRaw, [hash]);
    if (!r?.v || !t) return 0n;
    const out = parseTx(fromHex(t.raw, 'stored transaction')).outputs.reduce((a, o) => a + o.value, 0n);
    return BigInt(r.v) - out;
  }

  async watch(): Promise<Watch> {
    return { kind: 'unknown', reason: 'not watched yet' };
  }

  async replace(): Promise<Signing | null> {
    // A Zcash payment is not replaced: it expires, and only then is it paid anew.
    return null;
  }

  async release(tx: DataTx, hash: string, why: string): Promise<void> {
    const n = await releaseInputs(tx, await this.#coin(tx), hash, why);
    if (n) this.#log.info({ coin: this.tag, tx: hash, inputs: n, reason: why }, 'inputs released');
  }
}

