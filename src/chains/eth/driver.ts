import { invariant } from '../../ledger/invariant.js';
import {
  BaseError,
  createPublicClient,
  getAddress,
  http,
  isAddress,
  keccak256,
  parseTransaction,
  recoverTransactionAddress,
  serializeTransaction,
  type Hex,
  type PublicClient,
  type TransactionSerializable,
} from 'viem';
import { privateKeyToAccount, type PrivateKeyAccount } from 'viem/accounts';
import type { Logger } from '../../log/index.js';
import type { NonceStorage, StorageTx } from '../storage.js';
import type { PaymentJournal } from '../../journal/journal.js';
import type {
  Attempt,
  Broadcast,
  ChainDriver,
  DecodedTx,
  DriverHealth,
  PayOutput,
  Placement,
  Signing,
  SignedTx,
  Verdict,
  Watch,
} from '../driver.js';
import { ChainIdentityError, ChainIntegrityError, NodeUnavailable } from '../driver.js';
import { classifySendError, sendErrorText } from './errors.js';
import { bumpFees, bumpGasPrice, chooseFees, chooseGasPrice, FEE_HISTORY_BLOCKS, FEE_HISTORY_PERCENTILES } from './fees.js';
import { NonceCache } from './nonce-cache.js';
import { ChainIdentity } from '../identity.js';
import { registerWallet } from '../wallet-register.js';

// The Ethereum driver (and any EVM chain: ETC with legacy transactions). Signs locally with the hot
// wallet's key; the node only ever sees signed bytes. The nonce decides everything: each payment gets
// one, durably (database + local cache), and every later attempt of that payment reuses it.

export interface EvmSettings {
  tag: string;
  url: string;
  chainId: number;
  /** Overrides the coin record's confirmations when set. */
  confirmations?: number | undefined;
  minPeers: number;
  /** The configured genesis block hash; unset: pinned at first sight (src/chains/identity.ts). */
  genesisHash?: string | undefined;
  /** false: legacy (type 0) transactions, for chains without EIP-1559. */
  eip1559: boolean;
  maxFeePerGas: bigint;
  maxPriorityFeePerGas: bigint;
  gasLimitMax: bigint;
  /** Added to the estimate for a recipient with code, whose cost may rise before the payment is mined (percent). */
  gasLimitMarginPercent: number;
  replaceAfterMs: number;
  timeoutMs: number;
}

/** What an EVM driver is given besides its settings and key. */
export interface EvmDeps {
  /** The nonce counters and stored attempts (src/data/chain-store.ts in payserv). */
  storage: NonceStorage;
  stateDir: string;
  log: Logger;
  journal: PaymentJournal;
}

/** A viem failure that means "the node could not be asked", not "the node said no". */
function isTransport(e: unknown): boolean {
  const names = new Set<string>();
  if (e instanceof BaseError) e.walk((x) => (names.add((x as Error).name), false));
  else if (e instanceof Error) names.add(e.name);
  return (
    ['HttpRequestError', 'TimeoutError', 'SocketClosedError', 'WebSocketRequestError'].some((n) => names.has(n)) ||
    /fetch failed|ECONNREFUSED|ECONNRESET|socket hang up/i.test(sendErrorText(e))
  );
}

/** Runs a node call; a transport failure becomes NodeUnavailable (no URL credentials in the message). */
async function ask<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (isTransport(e)) throw new NodeUnavailable(`${what}: node unreachable`);
    throw e;
  }
}

const ZERO_FEE = 0n;

/** How far back a head may go, before a verdict says how many confirmations the coin needs (start, health). */
const HEAD_BACK_DEFAULT = 12;

/** A plain transfer to an account without code: the estimate is exact, nothing can make it cost more. */
const TRANSFER_GAS = 21_000n;

/** The chain's answer that a block or state is not served (pruned, not yet synced): nothing is concluded from it. */
const NOT_SERVED = /header not found|missing trie node|unknown block|block not found|state .* not available|historical state/i;

const max = (...xs: bigint[]) => xs.reduce((a, b) => (a > b ? a : b));

/** Whether a mined transaction pays what a signed attempt pays: the same recipient, value and data (the fee fields aside). */
function samePayload(
  a: { to?: string | null | undefined; value?: bigint | undefined; data?: Hex | undefined },
  t: { to: string | null; value: bigint; input: Hex },
): boolean {
  return (
    (a.to ?? '').toLowerCase() === (t.to ?? '').toLowerCase() &&
    (a.value ?? 0n) === t.value &&
    (a.data ?? '0x').toLowerCase() === t.input.toLowerCase()
  );
}

/** A transaction from the hot wallet that payserv has no record of, as far as the node shows it. */
export interface UnknownSpend {
  nonce: string;
  /** `block N` (mined) or `pending` (in the node's mempool). */
  where: string;
  hash?: string;
  to?: string;
  /** wei, a decimal string */
  value?: string;
}

/**
 * The chain shows nonces of the hot wallet that payserv's records (payment journal, nonce cache, its own
 * signed attempts) do not account for: a fail-stop before anything is signed (README "The trust model").
 */
export class UnknownSpendsError extends ChainIntegrityError {
  constructor(
    coin: string,
    address: string,
    readonly known: bigint,
    readonly used: bigint,
    readonly found: readonly UnknownSpend[],
  ) {
    const list = found.length
      ? `: ${found.map((f) => `nonce ${f.nonce} ${f.hash ? `${f.hash} to ${f.to} value ${f.value} wei in ${f.where}` : f.where}`).join('; ')}`
      : '';
    super(
      'hot_wallet',
      `coin ${coin}: the hot wallet ${address} used nonces ${known}..${used - 1n} on the chain, which payserv's records (payment journal, nonce cache, stored payments) do not account for${list}; payouts of ${coin} refused: restore a newer backup, or see README "Unknown spends from the hot wallet"`,
    );
  }
}

/** A transaction as a block lists it: its signed fields, its hash and its signature, all the node's word until checked. */
type ListedTx = TransactionSerializable & { hash: string; r?: Hex; s?: Hex; v?: bigint; yParity?: number };

export class EvmDriver implements ChainDriver {
  readonly tag: string;
  readonly address: string;
  readonly maxOutputs = 1;
  readonly #s: EvmSettings;
  readonly #account: PrivateKeyAccount;
  readonly #client: PublicClient;
  readonly #cache: NonceCache;
  readonly #log: Logger;
  readonly #storage: NonceStorage;
  readonly #chainKey: string;
  readonly #journal: PaymentJournal;
  readonly #identity: ChainIdentity;
  readonly #stateDir: string;
  /** The coin's confirmations, as the last verdict was told them: how far back a head may go. */
  #headBack: number;

  constructor(settings: EvmSettings, privateKey: Uint8Array, deps: EvmDeps) {
    this.#s = settings;
    this.tag = settings.tag;
    this.#account = privateKeyToAccount(`0x${Buffer.from(privateKey).toString('hex')}`);
    this.address = this.#account.address;
    this.#client = createPublicClient({ transport: http(settings.url, { timeout: settings.timeoutMs, retryCount: 0 }) });
    this.#cache = new NonceCache(deps.stateDir, settings.chainId, this.address);
    this.#log = deps.log;
    this.#storage = deps.storage;
    this.#chainKey = `evm:${settings.chainId}`;
    this.#journal = deps.journal;
    this.#stateDir = deps.stateDir;
    this.#identity = new ChainIdentity(deps.stateDir, settings.tag, { chain: String(settings.chainId), genesis: settings.genesisHash });
    this.#headBack = settings.confirmations ?? HEAD_BACK_DEFAULT;
  }

  validateAddress(address: string): string | null {
    return isAddress(address, { strict: true })
      ? null
      : `not a valid ${this.tag} address (0x + 40 hex digits, EIP-55 checksum if mixed case)`;
  }

  /**
   * The node must be the configured chain (chain id, genesis) with the configured fee mode; the nonce
   * stores must agree (a database behind the local cache was rolled back).
   */
  async start(): Promise<void> {
    // Registered before the node is asked: a backup taken while it is down still names this wallet.
    const past = await registerWallet(this.#stateDir, this.tag, this.address);
    const id = await ask('eth_chainId', () => this.#client.getChainId());
    if (id !== this.#s.chainId) throw new Error(`coin ${this.tag}: the node is chain ${id}, the configuration says ${this.#s.chainId}`);
    await this.#chainNow(this.#headBack);
    await this.#checkFeeMode();
    const [db, local, counts] = await Promise.all([
      this.#storage.readNonce(this.#chainKey, this.address),
      this.#cache.read(),
      this.#chainCounts(),
    ]);
    const pending = counts.pending;
    if (local !== null && (db ?? 0n) < local) {
      throw new Error(
        `coin ${this.tag}: the database's next nonce ${db ?? 'none'} is behind the local cache's ${local} (${this.#cache.path}): the database was rolled back`,
      );
    }
    // The database's counter only excuses here (it is advanced with every stored attempt): a raised one
    // hides nothing for long, since every payment checks again against payserv's own signed attempts.
    await this.#journal.refresh();
    await this.#refuseUnknownSpends(max(local ?? 0n, db ?? 0n, this.#journal.nextNonce(this.tag, this.address) ?? 0n), counts);
    await this.#refusePastWalletSpends(past);
    this.#log.info(
      { coin: this.tag, address: this.address, chainId: id, nextNonce: (db ?? 0n).toString(), pendingCount: pending },
      'ethereum driver ready',
    );
  }

  /** EIP-1559 configured on a chain without a base fee (or legacy on one with it) is refused: its transactions would be refused, or overpay. */
  async #checkFeeMode(): Promise<void> {
    const latest = await ask('eth_getBlockByNumber', () => this.#client.getBlock({ blockTag: 'latest' }));
    const baseFee = latest.baseFeePerGas !== null && latest.baseFeePerGas !== undefined;
    if (this.#s.eip1559 && !baseFee) {
      throw new Error(
        `coin ${this.tag}: eip1559 = true, but the node's blocks carry no base fee (a chain without EIP-1559, such as ETC): set eip1559 = false in [coins.${this.tag}]`,
      );
    }
    if (!this.#s.eip1559 && baseFee) {
      throw new Error(
        `coin ${this.tag}: eip1559 = false, but the node's chain has a base fee (EIP-1559 is active): set eip1559 = true in [coins.${this.tag}]`,
      );
    }
  }

  /** Throws ChainIdentityError when the node is not the chain payserv pays on (health's callers treat it as unreachable, and alert). */
  async health(): Promise<DriverHealth> {
    try {
      const [syncing, peers] = await Promise.all([
        this.#raw('eth_syncing'),
        this.#client.request({ method: 'net_peerCount' }).then(
          (h) => Number(BigInt(h)),
          () => 0,
        ),
      ]);
      // Another chain id, genesis, or a head gone back: ChainIdentityError (alerted as node_identity).
      await this.#chainNow(this.#headBack);
      if (syncing !== false) return { ok: false, reason: 'the node is syncing' };
      if (peers < this.#s.minPeers)
        return { ok: false, reason: `the node has ${peers} peers, fewer than ${this.#s.minPeers}`, details: { peers } };
      return { ok: true, details: { peers } };
    } catch (e) {
      if (e instanceof ChainIdentityError) throw e;
      return {
        ok: false,
        reason: isTransport(e) || e instanceof NodeUnavailable ? 'node unreachable' : (sendErrorText(e).split('\n')[0] ?? 'node error'),
      };
    }
  }

  /**
   * The chain as the node shows it now: chain id, genesis block and head, checked against the
   * configuration and the host's pin (src/chains/identity.ts). Every verdict asks it: an answer from
   * another chain, or from far behind the head seen before, is no evidence about our payments.
   */
  async #chainNow(back: number): Promise<bigint> {
    // The head as a block, not a bare number: a number no block stands behind (one back end's answer) is no head.
    const [id, genesis, latest] = await Promise.all([
      ask('eth_chainId', () => this.#client.getChainId()),
      this.#blockAt(0n),
      ask('eth_getBlockByNumber', () => this.#client.getBlock({ blockTag: 'latest' })),
    ]);
    if (!genesis?.hash)
      throw new ChainIdentityError(this.tag, `coin ${this.tag}: the node serves no genesis block: nothing it says is taken as evidence`);
    if (latest.number === null || !latest.hash)
      throw new ChainIdentityError(
        this.tag,
        `coin ${this.tag}: the node's latest block has no number or hash: nothing it says is taken as evidence`,
      );
    await this.#identity.check({ chain: String(id), genesis: genesis.hash, head: Number(latest.number) }, back);
    return latest.number;
  }

  /** A method viem's typed client does not list. */
  #raw(method: string, params: unknown[] = []): Promise<unknown> {
    return (this.#client.request as (a: { method: string; params: unknown[] }) => Promise<unknown>)({ method, params });
  }

  async spendable(): Promise<bigint> {
    return ask('eth_getBalance', () => this.#client.getBalance({ address: this.address as Hex, blockTag: 'pending' }));
  }

  async #fees(): Promise<{ kind: 'wait'; reason: string } | { kind: 'ok'; fields: Partial<TransactionSerializable>; perGas: bigint }> {
    if (!this.#s.eip1559) {
      const price = await ask('eth_gasPrice', () => this.#client.getGasPrice());
      const c = chooseGasPrice(price, { gasPrice: this.#s.maxFeePerGas });
      return c.kind === 'wait' ? c : { kind: 'ok', fields: { type: 'legacy', gasPrice: c.gasPrice }, perGas: c.gasPrice };
    }
    const h = await ask('eth_feeHistory', () =>
      this.#client.getFeeHistory({ blockCount: FEE_HISTORY_BLOCKS, rewardPercentiles: [...FEE_HISTORY_PERCENTILES], blockTag: 'latest' }),
    );
    const c = chooseFees(
      { baseFeePerGas: h.baseFeePerGas, reward: h.reward ?? [] },
      { maxFeePerGas: this.#s.maxFeePerGas, priorityFeePerGas: this.#s.maxPriorityFeePerGas },
    );
    return c.kind === 'wait'
      ? c
      : {
          kind: 'ok',
          fields: { type: 'eip1559', maxFeePerGas: c.maxFeePerGas, maxPriorityFeePerGas: c.maxPriorityFeePerGas },
          perGas: c.maxFeePerGas,
        };
  }

  async sign(tx: StorageTx, outputs: readonly PayOutput[]): Promise<Signing> {
    const [out] = outputs;
    invariant(out && outputs.length === 1, 'an Ethereum transaction pays exactly one output');
    // Fees, balance and the pending nonce read from another chain would sign a nonce gap on ours.
    await this.#chainNow(this.#headBack);
    const to = getAddress(out.address);
    const fees = await this.#fees();
    if (fees.kind === 'wait') return fees;
    let gas: bigint;
    try {
      gas = await ask('eth_estimateGas', () => this.#client.estimateGas({ account: this.address as Hex, to, value: out.value }));
    } catch (e) {
      if (e instanceof NodeUnavailable) throw e;
      const text = sendErrorText(e).toLowerCase();
      if (text.includes('insufficient funds')) return this.#short(out.value, ZERO_FEE);
      return {
        kind: 'refused',
        reason: `the recipient ${to} rejects the payment (eth_estimateGas: ${text.split('\n')[0]?.slice(0, 200)})`,
      };
    }
    if (gas > this.#s.gasLimitMax)
      return { kind: 'refused', reason: `paying ${to} needs ${gas} gas, more than the configured ${this.#s.gasLimitMax}` };
    gas = await this.#withMargin(to, gas);
    const maxFee = gas * fees.perGas;
    const balance = await this.spendable();
    if (balance < out.value + maxFee) return this.#short(out.value + maxFee, balance);
    const nonce = await this.#allocateNonce(tx);
    return {
      kind: 'signed',
      tx: await this.#signAt(
        { ...fees.fields, chainId: this.#s.chainId, nonce: Number(nonce), to, value: out.value, gas } as TransactionSerializable,
        maxFee,
      ),
    };
  }

  /**
   * A recipient with code may cost more when the payment is mined than when it was estimated (its state
   * changed in between): the configured margin on top, within gas_limit_max. A plain account costs
   * exactly the transfer. Unused gas is not charged.
   */
  async #withMargin(to: Hex, estimate: bigint): Promise<bigint> {
    if (estimate <= TRANSFER_GAS) return estimate;
    const code = await ask('eth_getCode', () => this.#client.getCode({ address: to }));
    if (!code || code === '0x') return estimate;
    const withMargin = estimate + (estimate * BigInt(this.#s.gasLimitMarginPercent) + 99n) / 100n;
    return withMargin < this.#s.gasLimitMax ? withMargin : this.#s.gasLimitMax;
  }

  #short(needed: bigint, spendable: bigint): Signing {
    return {
      kind: 'short',
      reason: `hot wallet short: it holds ${spendable} wei, the payment and its gas need up to ${needed} wei`,
      spendable,
      needed,
    };
  }

  /**
   * The next nonce, from the chain and the host: the node's pending count, the payment journal's and
   * the local cache's next nonce, and payserv's own signed transactions stored at or above them (signed
   * and committed, perhaps not yet journaled when payserv died). The database's counter is only checked
   * against them: behind the host's memory it was rolled back, ahead of everything that explains it it
   * was raised (every payment would wait behind a nonce gap): both are tampering.
   */
  async #allocateNonce(tx: StorageTx): Promise<bigint> {
    const db = (await this.#storage.lockNonce(tx, this.#chainKey, this.address)) ?? 0n;
    await this.#journal.refresh();
    const remembered = max((await this.#cache.read()) ?? 0n, this.#journal.nextNonce(this.tag, this.address) ?? 0n);
    if (db < remembered) {
      throw new ChainIntegrityError(
        'payserv_nonces',
        `the next nonce of ${this.address} is ${db} in the database, behind the ${remembered} the payserv host remembers (payment journal, nonce cache): the database was rolled back`,
      );
    }
    const counts = await this.#chainCounts();
    const pending = counts.pending;
    // The count and the chain's identity in one reading: a node switched meanwhile proves nothing.
    await this.#chainNow(this.#headBack);
    const stored = await this.#storedNext(tx, remembered);
    // Nothing is signed while the chain shows spends from this wallet that payserv never made.
    await this.#refuseUnknownSpends(max(remembered, stored), counts);
    await this.#refusePastWalletSpends(await registerWallet(this.#stateDir, this.tag, this.address));
    const explained = max(pending, remembered, stored);
    if (db > explained) {
      throw new ChainIntegrityError(
        'payserv_nonces',
        `the next nonce of ${this.address} is ${db} in the database, but the chain (pending ${pending}), the payment journal and payserv's own stored transactions account for ${explained}: raised by someone else`,
      );
    }
    await this.#storage.storeNonce(tx, this.#chainKey, this.address, explained + 1n);
    return explained;
  }

  /** The hot wallet's transaction count at the latest block and with the node's mempool (pending). */
  async #chainCounts(address = this.address): Promise<{ latest: bigint; pending: bigint }> {
    const [latest, pending] = await Promise.all(
      (['latest', 'pending'] as const).map(async (blockTag) =>
        BigInt(await ask('eth_getTransactionCount', () => this.#client.getTransactionCount({ address: address as Hex, blockTag }))),
      ),
    );
    return { latest: latest as bigint, pending: pending as bigint };
  }

  /**
   * Nonces the chain shows used by this wallet (mined or pending) at or above `known`, the next nonce
   * payserv's records account for (journal, cache, its own signed attempts): transactions from our key
   * that payserv never made. An older backup restored (payments made after it are on the chain, in
   * neither part), the host's state rolled back with the database, or the key used elsewhere: the
   * withdrawals paid meanwhile look unpaid, so nothing is signed until an operator settles it.
   */
  async #refuseUnknownSpends(known: bigint, counts: { latest: bigint; pending: bigint }, address = this.address): Promise<void> {
    const used = max(counts.latest, counts.pending);
    if (used <= known) return;
    const found = await this.#describeNonces(known, used, counts.latest, address).catch(() => []);
    const e = new UnknownSpendsError(this.tag, address, known, used, found);
    this.#log.error({ coin: this.tag, address, known: known.toString(), used: used.toString(), found }, e.message);
    throw e;
  }

  /**
   * The same comparison for every other wallet this coin was paid from on this host (src/chains/wallet-register.ts),
   * against the host's records of it (journal, nonce cache): after a rotation, an older backup's withdrawals paid
   * meanwhile were paid from the old wallet, which the current key no longer names.
   */
  async #refusePastWalletSpends(past: readonly string[]): Promise<void> {
    if (past.length === 0) return;
    await this.#journal.refresh();
    for (const address of past) {
      const cached = await new NonceCache(this.#stateDir, this.#s.chainId, address).read();
      const known = max(cached ?? 0n, this.#journal.nextNonce(this.tag, address) ?? 0n);
      await this.#refuseUnknownSpends(known, await this.#chainCounts(address), address);
    }
  }

  /** The transactions that used nonces [from, to) (at most 10; mined ones found by a search of the count over blocks). */
  async #describeNonces(from: bigint, to: bigint, latest: bigint, address: string): Promise<UnknownSpend[]> {
    const out: UnknownSpend[] = [];
    const head = await ask('eth_blockNumber', () => this.#client.getBlockNumber());
    for (let n = from; n < to && n < from + 10n; n++) {
      if (n >= latest) {
        out.push({ nonce: n.toString(), where: 'pending' });
        continue;
      }
      const hi = await this.#blockUsing(n, head, address);
      const block = await ask('eth_getBlockByNumber', () => this.#client.getBlock({ blockNumber: hi, includeTransactions: true }));
      const t = block.transactions.find((x) => x.from.toLowerCase() === address.toLowerCase() && BigInt(x.nonce) === n);
      out.push(
        t
          ? { nonce: n.toString(), where: `block ${hi}`, hash: t.hash, to: t.to ?? '(contract creation)', value: t.value.toString() }
          : { nonce: n.toString(), where: `block ${hi}` },
      );
    }
    return out;
  }

  /**
   * One past the highest nonce (from `from` on) of payserv's own stored attempts; 0 when none. Bytes this key
   * signed prove nothing alone (a mined transaction's bytes are public: copied in after an older backup is
   * restored, they would hide the later payment): the signed ledger must name the attempt (ownAttempt).
   */
  async #storedNext(tx: StorageTx, from: bigint): Promise<bigint> {
    const rows = await this.#storage.attemptsFromNonce(tx, this.tag, from);
    // Highest nonce first: the first of ours found is the answer, one ledger check in the common case.
    for (const a of rows.sort((x, y) => (x.nonce < y.nonce ? 1 : x.nonce > y.nonce ? -1 : 0))) {
      const signed = await this.#fromUs(a.raw).catch(() => false);
      if (!signed || this.decode(a.raw).hash !== a.hash) continue;
      if ((await this.#storage.ownAttempt(a.hash, tx)) === a.raw) return a.nonce + 1n;
    }
    return 0n;
  }

  async #signAt(t: TransactionSerializable, maxFee: bigint): Promise<SignedTx> {
    const raw = await this.#account.signTransaction(t);
    return { hash: keccak256(raw), raw, maxFee, nonce: BigInt(t.nonce ?? 0), inputs: [] };
  }

  async committed(signed: SignedTx): Promise<void> {
    if (signed.nonce !== null) await this.#cache.raise(signed.nonce + 1n);
  }

  async restored(tx: StorageTx, raw: string): Promise<void> {
    const { nonce } = this.decode(raw);
    if (nonce === null) return;
    const db = (await this.#storage.lockNonce(tx, this.#chainKey, this.address)) ?? 0n;
    if (db <= nonce) await this.#storage.storeNonce(tx, this.#chainKey, this.address, nonce + 1n);
  }

  async broadcast(raw: string): Promise<Broadcast> {
    try {
      await ask('eth_sendRawTransaction', () => this.#client.request({ method: 'eth_sendRawTransaction', params: [raw as Hex] }));
      return { ok: true, known: false };
    } catch (e) {
      if (e instanceof NodeUnavailable) throw e;
      const cls = classifySendError(e);
      if (cls === 'known') return { ok: true, known: true };
      // "nonce too low" may mean this very payment (or its replacement) was mined: only Check decides.
      return { ok: false, reason: `${cls}: ${sendErrorText(e).split('\n')[0]?.slice(0, 200)}` };
    }
  }

  decode(raw: string): DecodedTx {
    if (!/^0x[0-9a-f]+$/.test(raw)) throw new Error('not a hex transaction');
    const t = parseTransaction(raw as Hex);
    if (t.chainId !== this.#s.chainId) throw new Error(`signed for chain ${t.chainId}, not ${this.#s.chainId}`);
    if (!t.to || t.nonce === undefined) throw new Error('no recipient or nonce');
    return { hash: keccak256(raw as Hex), outputs: [{ address: t.to, value: t.value ?? 0n }], nonce: BigInt(t.nonce), inputs: [] };
  }

  /**
   * Whether a transaction as a block lists it (the node's JSON: `from` is its word) is signed by the hot wallet's key: its
   * signed fields serialized again must hash to its hash, and the signature over them recover this address. Only that
   * key uses the wallet's nonces: a genuine conflict is always so signed, and no node can forge one.
   */
  async #signedByUs(t: ListedTx): Promise<boolean> {
    try {
      const { r, s, v, yParity } = t;
      if (!r || !s) return false;
      const sig = yParity !== undefined ? { r, s, yParity, ...(v === undefined ? {} : { v }) } : v !== undefined ? { r, s, v } : null;
      if (!sig) return false;
      const raw = serializeTransaction(t, sig);
      return keccak256(raw).toLowerCase() === t.hash.toLowerCase() && (await this.#fromUs(raw));
    } catch {
      return false;
    }
  }

  /** The sender of stored bytes must be this hot wallet (checked where bytes are trusted for a replacement). */
  async #fromUs(raw: string): Promise<boolean> {
    const from = await recoverTransactionAddress({ serializedTransaction: raw as Hex & `0x02${string}` });
    return from.toLowerCase() === this.address.toLowerCase();
  }

  async verdict(attempts: readonly Attempt[], ctx: { now: Date; confirmations: number }): Promise<Verdict> {
    const needed = this.#s.confirmations ?? ctx.confirmations;
    this.#headBack = needed;
    const nonces = new Set(attempts.map((a) => this.decode(a.raw).nonce));
    invariant(nonces.size === 1, `the attempts of one payment carry different nonces: ${[...nonces].join(', ')}`);
    const nonce = [...nonces][0] as bigint;
    for (const a of attempts) invariant(await this.#fromUs(a.raw), `transaction ${a.hash} is not signed by the hot wallet ${this.address}`);
    const head = await this.#chainNow(needed);
    for (const a of attempts) {
      const r = await this.#receipt(a.hash);
      if (!r) continue;
      const confirmations = Number(head - r.blockNumber + 1n);
      if (confirmations < needed) return { kind: 'mined', hash: a.hash, confirmations, needed };
      const block = { blockNumber: Number(r.blockNumber), blockHash: r.blockHash };
      // A receipt is evidence only from our chain: its block is the one there at that height, and the
      // identity is asked again after it (a node switched between the readings proves nothing).
      if (!(await this.#canonical(block)))
        return this.#unknown(
          `the receipt of ${a.hash} names block ${block.blockNumber} (${block.blockHash}), which is not the node's block at that height: the outcome is unknown`,
        );
      await this.#chainNow(needed);
      const fee = r.gasUsed * r.effectiveGasPrice;
      if (r.status === 'success') return { kind: 'confirmed', hash: a.hash, fee, confirmations, block };
      return {
        kind: 'failed',
        hash: a.hash,
        fee,
        by: 'reverted',
        evidence: { hash: a.hash, block, expect: 'reverted' },
        proof: `transaction ${a.hash} reverted in block ${r.blockNumber} (${r.blockHash}, receipt status 0), ${confirmations} confirmations, on chain ${this.#s.chainId}`,
      };
    }
    const known = await Promise.all(attempts.map((a) => this.#transaction(a.hash)));
    // A null receipt is not "not mined": a node beyond its receipt index, or rebuilding it, says null for mined transactions.
    const inBlock = known.find((t) => t?.blockNumber !== null && t?.blockNumber !== undefined);
    if (inBlock)
      return this.#unknown(
        `transaction ${inBlock.hash} is in block ${BigInt(inBlock.blockNumber as string)} but the node serves no receipt for it: the outcome is unknown`,
      );
    const depth = head - BigInt(Math.max(needed, 1)) + 1n;
    const usedBy = depth >= 0n ? await this.#nonceAt(depth).catch((e: unknown) => this.#notServed(e)) : 0n;
    if (usedBy === null)
      return this.#unknown(
        `the node does not serve the state of block ${depth}, its own head less the confirmations: the outcome is unknown`,
      );
    if (usedBy > nonce) return this.#consumedBy(nonce, depth, attempts, needed);
    const rebroadcast = attempts.filter((_, i) => !known[i]).map((a) => a.hash);
    const latest = attempts[attempts.length - 1];
    const stale = !!latest && ctx.now.getTime() - latest.signedAt.getTime() >= this.#s.replaceAfterMs;
    return {
      kind: 'pending',
      reason: `not mined yet (nonce ${nonce}${rebroadcast.length ? `; ${rebroadcast.length} attempt(s) unknown to the node, rebroadcast` : ''})`,
      rebroadcast,
      stale,
    };
  }

  /** Pending with nothing to do: the chain has not said, and nothing is concluded, rebroadcast or replaced. */
  #unknown(reason: string): Verdict {
    return { kind: 'pending', reason, rebroadcast: [], stale: false };
  }

  /** Null for a block or state the node does not serve (a lagging or pruned node): nothing is concluded from it. Rethrows anything else. */
  #notServed(e: unknown): null {
    if (e instanceof NodeUnavailable || !NOT_SERVED.test(sendErrorText(e))) throw e;
    return null;
  }

  /** The node's block at height `n`; null when it has none. */
  #blockAt(n: bigint) {
    return ask('eth_getBlockByNumber', () =>
      this.#client.getBlock({ blockNumber: n }).catch((e: unknown) => {
        if ((e as Error).name === 'BlockNotFoundError') return null;
        throw e;
      }),
    );
  }

  /** Whether `p` is the node's block at its height (a block it does not serve is not). */
  async #canonical(p: Placement): Promise<boolean> {
    const b = await this.#blockAt(BigInt(p.blockNumber)).catch((e: unknown) => this.#notServed(e));
    return !!b?.hash && b.hash.toLowerCase() === p.blockHash.toLowerCase();
  }

  async #receipt(hash: string) {
    return ask('eth_getTransactionReceipt', () =>
      this.#client.getTransactionReceipt({ hash: hash as Hex }).catch((e: unknown) => {
        if ((e as Error).name === 'TransactionReceiptNotFoundError') return null;
        throw e;
      }),
    );
  }

  async #transaction(hash: string): Promise<{ hash: string; blockNumber?: string | null } | null> {
    const t = await ask('eth_getTransactionByHash', () =>
      this.#client.request({ method: 'eth_getTransactionByHash', params: [hash as Hex] }),
    );
    return (t as { hash: string; blockNumber?: string | null } | null) ?? null;
  }

  /** The hot wallet's transaction count after block `n`: how many of its nonces that block's state has used. */
  async #nonceAt(n: bigint, address = this.address): Promise<bigint> {
    return BigInt(
      await ask('eth_getTransactionCount', () => this.#client.getTransactionCount({ address: address as Hex, blockNumber: n })),
    );
  }

  /** The first block at or below `upTo` whose state has used `nonce` (a binary search of the hot wallet's count over the blocks). */
  async #blockUsing(nonce: bigint, upTo: bigint, address = this.address): Promise<bigint> {
    let lo = -1n;
    let hi = upTo;
    while (hi - lo > 1n) {
      const mid = (lo + hi) / 2n;
      if ((await this.#nonceAt(mid, address)) > nonce) hi = mid;
      else lo = mid;
    }
    return hi;
  }

  /**
   * Our nonce is used by block `depth` and no attempt has a receipt: the proof of failure is the
   * transaction that used it, found in its block (a binary search of the hot wallet's count over the
   * blocks) and shown to be none of ours. Ours found there is mined with its receipt missing: unknown.
   * A state the node does not serve (pruned history) proves nothing: unknown.
   */
  async #consumedBy(nonce: bigint, depth: bigint, attempts: readonly Attempt[], needed: number): Promise<Verdict> {
    let hi: bigint;
    try {
      hi = await this.#blockUsing(nonce, depth);
    } catch (e) {
      this.#notServed(e);
      return this.#unknown(
        `nonce ${nonce} of ${this.address} is used by block ${depth}, and the node does not serve the older state that would show by which transaction: the outcome is unknown`,
      );
    }
    const block = await ask('eth_getBlockByNumber', () => this.#client.getBlock({ blockNumber: hi, includeTransactions: true }));
    const used = block.transactions.find((t) => t.from.toLowerCase() === this.address.toLowerCase() && BigInt(t.nonce) === nonce);
    if (!used)
      return this.#unknown(
        `nonce ${nonce} of ${this.address} is used by block ${hi}, which holds no transaction of it with that nonce: the node contradicts itself, the outcome is unknown`,
      );
    const ours = attempts.find((a) => a.hash.toLowerCase() === used.hash.toLowerCase());
    if (ours)
      return this.#unknown(`transaction ${ours.hash} is in block ${hi} but the node serves no receipt for it: the outcome is unknown`);
    // Its sender from its signature, never from the block's JSON: a transaction the hot wallet did not sign proves nothing.
    if (!(await this.#signedByUs(used as unknown as ListedTx))) {
      this.#log.error(
        { coin: this.tag, tx: used.hash, nonce: nonce.toString(), block: block.hash },
        "the node shows a transaction using the hot wallet's nonce that its key never signed: a lying node, no proof of anything",
      );
      return this.#unknown(
        `the node shows ${used.hash} in block ${hi} using nonce ${nonce} of ${this.address}, yet it is not signed by the hot wallet's key: no proof of failure, the outcome is unknown`,
      );
    }
    // The hot wallet's key signed it: one paying what our attempts pay (a fee bump whose record a restored host lost) is
    // the payment itself, never the proof that it failed.
    if (attempts.some((a) => samePayload(parseTransaction(a.raw as Hex), used))) {
      const paid = await this.#paidBy(used.hash, hi, block.hash, needed);
      if (paid) return paid;
    }
    // The proof and the chain's identity in one verdict: the identity is asked again after the proof was read.
    await this.#chainNow(needed);
    return {
      kind: 'failed',
      hash: null,
      fee: 0n,
      by: 'nonce',
      evidence: { hash: used.hash, block: { blockNumber: Number(hi), blockHash: block.hash }, expect: 'mined' },
      proof: `nonce ${nonce} of ${this.address} was used by transaction ${used.hash} in block ${hi} (${block.hash}) on chain ${this.#s.chainId}, which is none of ${attempts.map((a) => a.hash).join(', ')}`,
    };
  }

  /**
   * A transaction of the hot wallet that no record of payserv holds, paying what the payment pays, mined in block `n`:
   * the payment, once its receipt (status success) is there; null when it reverted (then it proves the failure).
   */
  async #paidBy(hash: string, n: bigint, blockHash: string, needed: number): Promise<Verdict | null> {
    const r = await this.#receipt(hash);
    if (!r || r.blockNumber !== n || r.blockHash.toLowerCase() !== blockHash.toLowerCase())
      return this.#unknown(
        `transaction ${hash} in block ${n} pays this payment, and the node serves no receipt of it there: the outcome is unknown`,
      );
    if (r.status !== 'success') return null;
    const head = await this.#chainNow(needed);
    const confirmations = Number(head - n + 1n);
    this.#log.warn(
      { coin: this.tag, tx: hash, block: Number(n) },
      'a transaction of the hot wallet that payserv has no record of pays this payment (a restored backup older than a fee bump?): it is the payment',
    );
    return { kind: 'confirmed', hash, fee: r.gasUsed * r.effectiveGasPrice, confirmations, block: { blockNumber: Number(n), blockHash } };
  }

  async watch(hash: string, seen: Placement | null, ctx: { finality: number }): Promise<Watch> {
    const head = await this.#chainNow(this.#headBack);
    // A node that errs on the receipt (geth rebuilding its index) tells nothing either way: read on as without one.
    const r = await this.#receipt(hash).catch((e: unknown) => {
      if (e instanceof NodeUnavailable) throw e;
      return null;
    });
    if (r) {
      const block = { blockNumber: Number(r.blockNumber), blockHash: r.blockHash };
      if (!(await this.#canonical(block)))
        return {
          kind: 'unknown',
          reason: `the receipt of ${hash} names block ${block.blockNumber} (${block.blockHash}), which is not the node's block at that height`,
        };
      await this.#chainNow(this.#headBack);
      const confirmations = Number(head - r.blockNumber + 1n);
      return { kind: confirmations >= ctx.finality ? 'final' : 'settling', confirmations, block, reverted: r.status !== 'success' };
    }
    if (!seen) return { kind: 'unknown', reason: `the node has no receipt of ${hash}, and no block was recorded for it` };
    const t = await this.#transaction(hash);
    if (t?.blockNumber)
      return { kind: 'unknown', reason: `${hash} is in block ${BigInt(t.blockNumber)} but the node serves no receipt for it` };
    // In no block: the payment may stand by another transaction of it mined at its nonce (its replacement, after a reorg).
    const by = await this.#standsBy(hash, head);
    if (by) {
      await this.#chainNow(this.#headBack);
      const confirmations = Number(head - BigInt(by.block.blockNumber) + 1n);
      return {
        kind: confirmations >= ctx.finality ? 'final' : 'settling',
        confirmations,
        block: by.block,
        reverted: false,
        standsBy: { hash: by.hash, feeDelta: null },
      };
    }
    if (BigInt(seen.blockNumber) > head)
      return { kind: 'unknown', reason: `the node's head ${head} is below block ${seen.blockNumber}, where ${hash} was mined` };
    const now = await this.#blockAt(BigInt(seen.blockNumber));
    if (!now?.hash) return { kind: 'unknown', reason: `the node does not serve block ${seen.blockNumber}, where ${hash} was mined` };
    if (now.hash.toLowerCase() === seen.blockHash.toLowerCase())
      return { kind: 'unknown', reason: `block ${seen.blockNumber} still holds ${hash}, but the node serves no receipt for it` };
    await this.#chainNow(this.#headBack);
    return {
      kind: 'gone',
      proof: `transaction ${hash} was mined in block ${seen.blockNumber} (${seen.blockHash}); on chain ${this.#s.chainId} that block is now ${now.hash}, and the node has the transaction in no block (${t ? 'back in its mempool' : 'unknown to it'})`,
    };
  }

  /**
   * The sent payment `hash`, in no block, mined as another transaction of the hot wallet at its nonce paying what it
   * pays (to, value, data: its own replacement, after a reorg that mined the replacement instead; issue 18, finding 4),
   * with a success receipt in the node's block at that height. Null when its stored bytes are missing or not ours, the
   * nonce is unused, the transaction that used it pays otherwise or reverted (the payment is undone: gone), or the node
   * does not serve the state that would show which transaction used it. The fee difference is not known: the watched
   * transaction never ran on this chain.
   */
  async #standsBy(hash: string, head: bigint): Promise<{ hash: string; block: Placement } | null> {
    const raw = await this.#storage.ownAttempt(hash);
    if (!raw || keccak256(raw as Hex).toLowerCase() !== hash.toLowerCase() || !(await this.#fromUs(raw))) return null;
    const p = parseTransaction(raw as Hex);
    if (p.nonce === undefined) return null;
    const nonce = BigInt(p.nonce);
    let n: bigint;
    try {
      if ((await this.#nonceAt(head)) <= nonce) return null;
      n = await this.#blockUsing(nonce, head);
    } catch (e) {
      this.#notServed(e);
      return null;
    }
    const block = await ask('eth_getBlockByNumber', () => this.#client.getBlock({ blockNumber: n, includeTransactions: true }));
    const used = block.transactions.find((x) => x.from.toLowerCase() === this.address.toLowerCase() && BigInt(x.nonce) === nonce);
    if (!used || used.hash.toLowerCase() === hash.toLowerCase() || !samePayload(p, used)) return null;
    const r = await this.#receipt(used.hash);
    if (!r || r.status !== 'success' || r.blockNumber !== n || r.blockHash.toLowerCase() !== block.hash.toLowerCase()) return null;
    return { hash: used.hash, block: { blockNumber: Number(n), blockHash: block.hash } };
  }

  /**
   * A replacement for a stale attempt, signed in the configured fee mode (a type-2 transaction a legacy
   * chain refused is replaced by a legacy one): every fee field above the old one by geth's replacement
   * floor. A replacement the cap does not allow waits, and says so (atCap: the payment is stuck until fees fall).
   */
  async replace(_tx: StorageTx, latest: Attempt): Promise<Signing | null> {
    invariant(await this.#fromUs(latest.raw), `transaction ${latest.hash} is not signed by the hot wallet ${this.address}`);
    const t = parseTransaction(latest.raw as Hex);
    const base = { chainId: this.#s.chainId, nonce: t.nonce, to: t.to, value: t.value, gas: t.gas } as const;
    invariant(t.gas !== undefined, `transaction ${latest.hash} has no gas limit`);
    // What the old transaction bid, as geth compares it: a legacy gas price is both its fee cap and its tip.
    const prev =
      t.type === 'eip1559'
        ? { maxFeePerGas: t.maxFeePerGas ?? 0n, maxPriorityFeePerGas: t.maxPriorityFeePerGas ?? 0n }
        : { maxFeePerGas: t.gasPrice ?? 0n, maxPriorityFeePerGas: t.gasPrice ?? 0n };
    if (!this.#s.eip1559) {
      const now = await ask('eth_gasPrice', () => this.#client.getGasPrice());
      const c = bumpGasPrice(prev.maxFeePerGas, { gasPrice: this.#s.maxFeePerGas }, now);
      if (c.kind === 'wait') return { ...c, atCap: true };
      return {
        kind: 'signed',
        tx: await this.#signAt({ ...base, type: 'legacy', gasPrice: c.gasPrice } as TransactionSerializable, t.gas * c.gasPrice),
      };
    }
    const h = await ask('eth_feeHistory', () =>
      this.#client.getFeeHistory({ blockCount: FEE_HISTORY_BLOCKS, rewardPercentiles: [...FEE_HISTORY_PERCENTILES], blockTag: 'latest' }),
    );
    const c = bumpFees(
      prev,
      { maxFeePerGas: this.#s.maxFeePerGas, priorityFeePerGas: this.#s.maxPriorityFeePerGas },
      { baseFeePerGas: h.baseFeePerGas, reward: h.reward ?? [] },
    );
    if (c.kind === 'wait') return { ...c, atCap: true };
    const signed = await this.#signAt(
      { ...base, type: 'eip1559', maxFeePerGas: c.maxFeePerGas, maxPriorityFeePerGas: c.maxPriorityFeePerGas } as TransactionSerializable,
      t.gas * c.maxFeePerGas,
    );
    return { kind: 'signed', tx: signed };
  }

  /**
   * A hot-wallet rotation's sweep (src/payserv/rotation.ts): the whole balance less the fee reserve to
   * `to`, a plain account (21,000 gas). Only when every nonce this wallet ever used (the node's pending
   * count, the payment journal, the nonce cache) is mined: nothing of ours is in flight to reserve, so
   * the balance at the latest block is all there is. Never above the configured fee cap.
   */
  async signSweep(tx: StorageTx, to: string): Promise<Signing> {
    await this.#chainNow(this.#headBack);
    const dest = getAddress(to);
    await this.#journal.refresh();
    const remembered = max((await this.#cache.read()) ?? 0n, this.#journal.nextNonce(this.tag, this.address) ?? 0n);
    const [pending, latest] = (
      await Promise.all(
        (['pending', 'latest'] as const).map((blockTag) =>
          ask('eth_getTransactionCount', () => this.#client.getTransactionCount({ address: this.address as Hex, blockTag })),
        ),
      )
    ).map(BigInt) as [bigint, bigint];
    if (latest < max(pending, remembered))
      return {
        kind: 'wait',
        reason: `payments from ${this.address} are in flight (nonces up to ${max(pending, remembered) - 1n}, mined up to ${latest - 1n})`,
      };
    const fees = await this.#fees();
    if (fees.kind === 'wait') return fees;
    const maxFee = TRANSFER_GAS * fees.perGas;
    const balance = await ask('eth_getBalance', () => this.#client.getBalance({ address: this.address as Hex, blockTag: 'latest' }));
    if (balance <= maxFee) return this.#short(maxFee + 1n, balance);
    const nonce = await this.#allocateNonce(tx);
    const signed = await this.#signAt(
      {
        ...fees.fields,
        chainId: this.#s.chainId,
        nonce: Number(nonce),
        to: dest,
        value: balance - maxFee,
        gas: TRANSFER_GAS,
      } as TransactionSerializable,
      maxFee,
    );
    return { kind: 'signed', tx: signed };
  }

  /** Whether this hot wallet signed the bytes (a rotated coin's driver asks which wallet a stored attempt is from). */
  signedBy(raw: string): Promise<boolean> {
    return this.#fromUs(raw).catch(() => false);
  }

  async release(): Promise<void> {
    // A nonce is never given back: the next payment takes the next one, and a failed payment's nonce was used.
  }
}
