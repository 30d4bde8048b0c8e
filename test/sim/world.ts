// One world of the adversarial harness: a signed ledger in a database of its own, payserv in process
// with both coins paid on-chain (ETH on anvil, ZEC on the node stand-in, each behind an RPC proxy
// that can lose a reply), the pool's miners, the operator's recovery, and the harness's own record of
// every transaction payserv signed (taken at the fault points, where the database attacker cannot
// reach it). No vitest import: the bench builds worlds too.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { advanceAll } from '../../src/verify/advance.js';
import { LocalCheckpointStore } from '../../src/checkpoints/local-store.js';
import { runCheck } from '../../src/checks/run.js';
import { zcashP2pkhAddress } from '../../src/chains/address.js';
import type { ChainDriver } from '../../src/chains/driver.js';
import { anvilRpc, mine, setBalance } from '../../src/devnet/anvil.js';
import { EvmDriver } from '../../src/chains/eth/driver.js';
import { ZcashDriver } from '../../src/chains/zcash/driver.js';
import { startZcashStandin, type ZcashStandin } from '../../src/devnet/zcash-standin.js';
import type { Data } from '../../src/data/data.js';
import type { Db } from '../../src/db/db.js';
import { journalDir, PaymentJournal } from '../../src/journal/journal.js';
import { createHotKey, hotWalletAddress, loadHotKey } from '../../src/keys/hot-wallet.js';
import type { Coin, Signed } from '../../src/ledger/records.js';
import type { Problem } from '../../src/ledger/problem.js';
import { createLogger } from '../../src/log/index.js';
import { add, parseAmount, ZERO, type Amount } from '../../src/money/amount.js';
import { initPki, loadSigner, loadTrust, pkiPaths } from '../../src/esman/pki-files.js';
import { registerCert } from '../../src/writer/certs.js';
import { SIGNER_ROLES } from '../../src/pki/roles.js';
import type { Signer } from '../../src/pki/signer.js';
import type { Trust } from '../../src/pki/trust.js';
import type { AutopaySettings } from '../../src/payserv/policy.js';
import type { Payserv } from '../../src/payserv/context.js';
import type { FaultInfo, FaultPoint, Faults } from '../../src/payserv/faults.js';
import { LockKeys } from '../../src/data/lock-keys.js';
import { LockWatch } from '../../src/payserv/lock-watch.js';
import { Locks } from '../../src/payserv/locks.js';
import type { CoinPolicy } from '../../src/payserv/policy.js';
import { ServiceState } from '../../src/payserv/state.js';
import { loadCoins } from '../../src/store/reads.js';
import { openView, type LedgerView } from '../../src/verify/view.js';
import { creditBlock } from '../../src/writer/blocks.js';
import { seedLedger } from '../../src/writer/seed.js';
import { addWallet, signWallet } from '../../src/writer/wallets.js';
import { requestWithdrawal } from '../../src/writer/withdrawals.js';
import { driverDeps, ETH_SETTINGS, ZEC_SETTINGS } from '../support/chain-settings.js';
import { startRpcProxy, type RpcProxy } from '../support/rpc-proxy.js';

export type Tag = 'ETH' | 'ZEC';
export const TAGS: readonly Tag[] = ['ETH', 'ZEC'];
/** Whose transaction a hash is: Ethereum's are 0x-prefixed, Zcash txids are not. */
export const tagOfHash = (hash: string): Tag => (hash.startsWith('0x') ? 'ETH' : 'ZEC');

/** A ledger with both coins and nobody in it yet: every miner is the harness's. */
const SEED = { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH', 'ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 13 };

/** Process approves by itself up to 1 unit; above, the request waits for a manager (so Decline has work). */
const POLICY: CoinPolicy = {
  amountMax: parseAmount('1'),
  userDailyMax: parseAmount('100000'),
  coinDailyMax: parseAmount('1000000'),
  walletAgeHoursMin: 0,
};
/** Autopay pays an account from this much on (the harness's autopay miners only: the others set a higher threshold of their own). */
export const AUTOPAY_THRESHOLD = parseAmount('0.8');
const AUTOPAY: AutopaySettings = { threshold: AUTOPAY_THRESHOLD, requirePeers: 0, maxPerRun: 10 };
/** A miner who asks by hand sets this as their own autopay threshold: autopay leaves their account alone. */
const MANUAL_OWN_THRESHOLD = '1000000';
/** What a miner who asks by hand has earned. */
export const MANUAL_EARNED = parseAmount('6');
/** An Ethereum payment waiting this long is replaced by Check (the harness's clock jumps past it). */
export const REPLACE_AFTER_MS = 5 * 60_000;
const NODE_TIMEOUT_MS = 10_000;
/** [locks] held_max_ms: the configuration's default. */
const LOCK_HELD_MAX_MS = 300_000;
/** Per world: payserv's log lines kept for a failure report. */
const LOG_LINES_KEPT = 300;
export const AUTOPAY_MINERS_PER_COIN = 3;
const FIRST_AUTOPAY_USER = 50_001;
const FIRST_MANUAL_USER = 60_001;

/** The JSON-RPC method each node is sent a transaction with (what a lost reply is lost from). */
export const SEND_METHOD: Record<Tag, string> = { ETH: 'eth_sendRawTransaction', ZEC: 'sendrawtransaction' };

export interface WorldDeps {
  /** A fresh, migrated database, the world's alone; the caller closes it after close(). */
  db: Db;
  /** A fresh, empty state directory. */
  stateDir: string;
  /** An anvil with mining on demand only (shared: every world has a hot wallet of its own). */
  anvilUrl: string;
  /** Another anvil, the same chain id on a fresh chain: where the 'foreign-chain' fault switches the node (absent: no such fault). */
  foreignUrl?: string | undefined;
  /** How the hot wallets are funded (default: plenty). */
  fund?: { ethWei?: bigint; zecOutputs?: bigint[] };
}

export interface Miner {
  userId: number;
  tag: Tag;
  walletId: number;
  address: string;
}

export interface RaisedAlert {
  kind: string;
  reason: string;
}

/** A transaction payserv signed, as the harness saw it at `payment.committed` (hash → its withdrawals). */
export interface Signed1 {
  tag: Tag;
  hash: string;
  withdrawals: readonly number[];
}

/** What a fault point hands the harness's hook, and where it is: the schedule decides what happens there. */
export type FaultHook = (point: FaultPoint, info: FaultInfo) => Promise<void>;

/**
 * payserv's process dies at a fault point: thrown from the hook. payserv may catch it (a fault point
 * inside the write-ahead transaction is), so the world also cuts the dead process off from the database
 * (every later call of its fails with this) and remembers the kill: the harness treats the call as
 * crashed whatever it answered.
 */
export class SimulatedCrash extends Error {
  override name = 'SimulatedCrash';

  constructor(
    readonly point: FaultPoint,
    readonly info: FaultInfo,
  ) {
    super(`payserv killed at ${point}`);
  }
}

export class World {
  readonly db: Db;
  readonly stateDir: string;
  readonly anvilUrl: string;
  readonly foreignUrl: string | undefined;
  readonly zcash: ZcashStandin;
  /** The 'foreign-chain' fault's Zcash node: the same network, another genesis, far ahead. */
  readonly zcashForeign: ZcashStandin;
  readonly proxies: Record<Tag, RpcProxy>;
  readonly trust: Trust;
  readonly signers: { admin: Signer; autopay: Signer; payserv: Signer };
  readonly coins: Record<Tag, Signed<Coin>>;
  readonly hot: Record<Tag, string>;
  readonly autopayMiners: Record<Tag, Miner[]>;
  /** What the harness credited to each account, `user:tag`. */
  readonly credited = new Map<string, Amount>();
  /** Every transaction payserv signed in this world, by hash: the harness's own journal. */
  readonly signed = new Map<string, Signed1>();
  readonly alerts: RaisedAlert[] = [];
  readonly logs: string[] = [];
  ps!: Payserv;
  /** How far the world's clock is ahead of the wall clock (payserv's `now`). */
  skewMs = 0;
  /** The schedule's hook; every fault point reaches it after the harness has recorded the transaction. */
  hook: FaultHook = async () => undefined;
  /** Payserv processes started in this world (the first included). */
  boots = 0;
  /** Where the running payserv was killed (null: it is alive). */
  killed: SimulatedCrash | null = null;
  /** The running process's switch: set, its database calls fail. */
  #life: { killed: SimulatedCrash | null } = { killed: null };
  #nextManual = FIRST_MANUAL_USER;

  private constructor(
    deps: WorldDeps,
    parts: {
      zcash: ZcashStandin;
      zcashForeign: ZcashStandin;
      proxies: Record<Tag, RpcProxy>;
      trust: Trust;
      signers: World['signers'];
      coins: World['coins'];
      hot: World['hot'];
      autopayMiners: World['autopayMiners'];
    },
  ) {
    this.db = deps.db;
    this.stateDir = deps.stateDir;
    this.anvilUrl = deps.anvilUrl;
    this.foreignUrl = deps.foreignUrl;
    this.zcash = parts.zcash;
    this.zcashForeign = parts.zcashForeign;
    this.proxies = parts.proxies;
    this.trust = parts.trust;
    this.signers = parts.signers;
    this.coins = parts.coins;
    this.hot = parts.hot;
    this.autopayMiners = parts.autopayMiners;
  }

  static async create(deps: WorldDeps): Promise<World> {
    const { db, stateDir } = deps;
    await initPki(stateDir, { rootDays: 3650, leafDays: 825 });
    const trust = loadTrust(stateDir);
    for (const role of SIGNER_ROLES) await registerCert(db, trust, readFileSync(pkiPaths(stateDir).signerCert(role), 'utf8'));
    const signers = {
      admin: loadSigner(stateDir, 'admin'),
      autopay: loadSigner(stateDir, 'autopay'),
      payserv: loadSigner(stateDir, 'payserv'),
    };
    await seedLedger(db, signers, SEED);
    const all = await loadCoins(db);
    const coinOf = (tag: Tag) => {
      const c = all.find((x) => x.tag === tag);
      if (!c) throw new Error(`the seed made no ${tag} coin`);
      return c;
    };
    const coins = { ETH: coinOf('ETH'), ZEC: coinOf('ZEC') };
    await advanceAll(db, await openView(db, trust, new LocalCheckpointStore(stateDir)), signers.payserv);

    const zcash = await startZcashStandin({ network: 'mainnet' });
    // Another Zcash chain on the same network, 1000 blocks ahead: every payment of ours looks long expired there.
    const zcashForeign = await startZcashStandin({ network: 'mainnet', genesisSeed: 'sim foreign', startHeight: zcash.height() + 1000 });
    const proxies = { ETH: await startRpcProxy(deps.anvilUrl), ZEC: await startRpcProxy(zcash.url) };
    await createHotKey(stateDir, 'ETH');
    await createHotKey(stateDir, 'ZEC');
    const hot = {
      ETH: hotWalletAddress('ETH', await loadHotKey(stateDir, 'ETH')),
      ZEC: hotWalletAddress('ZEC', await loadHotKey(stateDir, 'ZEC')),
    };
    await setBalance(deps.anvilUrl, hot.ETH, deps.fund?.ethWei ?? 10n ** 22n);
    if (deps.foreignUrl) {
      // There the hot wallet is funded and far ahead in nonces: a verdict read from it would see every nonce used.
      await setBalance(deps.foreignUrl, hot.ETH, 10n ** 22n);
      await anvilRpc(deps.foreignUrl, 'anvil_setNonce', [hot.ETH, '0x400']);
      await mine(deps.foreignUrl, 40);
    }
    for (const z of deps.fund?.zecOutputs ?? [2_000_000_000n, 2_000_000_000n, 2_000_000_000n, 2_000_000_000n]) await zcash.fund(hot.ZEC, z);
    for (let i = 0; i < 4; i++) await zcashForeign.fund(hot.ZEC, 2_000_000_000n);

    const autopayMiners: World['autopayMiners'] = { ETH: [], ZEC: [] };
    const w = new World(deps, { zcash, zcashForeign, proxies, trust, signers, coins, hot, autopayMiners });
    for (const tag of TAGS) {
      for (let i = 0; i < AUTOPAY_MINERS_PER_COIN; i++) autopayMiners[tag].push(await w.#miner(FIRST_AUTOPAY_USER + i, tag));
    }
    w.ps = await w.boot();
    w.ps.state.enable('sim: first start');
    return w;
  }

  /** Stops the world's node stand-in and proxies, closes the payment journal; the database is the caller's. */
  async close(): Promise<void> {
    await PaymentJournal.closeAll();
    await this.proxies.ETH.stop();
    await this.proxies.ZEC.stop();
    await this.zcash.stop();
    await this.zcashForeign.stop();
  }

  now(): Date {
    return new Date(Date.now() + this.skewMs);
  }

  /**
   * payserv starting on this host: the journal read from its file, the drivers started against the
   * nodes (they compare the nonce stores), a new state (disabled) and new locks. Throws as payserv's
   * start would.
   */
  async boot(): Promise<Payserv> {
    this.boots++;
    const log = createLogger('payserv', 'info', {
      write: (s: string) => {
        this.logs.push(s);
        if (this.logs.length > LOG_LINES_KEPT) this.logs.splice(0, this.logs.length - LOG_LINES_KEPT);
      },
    });
    const journal = await PaymentJournal.open(journalDir(this.stateDir));
    const db = this.#process();
    const deps = driverDeps({ db, trust: this.trust, stateDir: this.stateDir, log, journal });
    const eth = new EvmDriver(
      ETH_SETTINGS(this.proxies.ETH.url, { replaceAfterMs: REPLACE_AFTER_MS, timeoutMs: NODE_TIMEOUT_MS }),
      await loadHotKey(this.stateDir, 'ETH'),
      deps,
    );
    const zec = new ZcashDriver(
      ZEC_SETTINGS(this.proxies.ZEC.url, { timeoutMs: NODE_TIMEOUT_MS }),
      await loadHotKey(this.stateDir, 'ZEC'),
      deps,
    );
    await eth.start();
    await zec.start();
    const sink = { raise: async (kind: string, reason: string) => void this.alerts.push({ kind, reason }) };
    const state = new ServiceState(log, sink);
    const faults: Faults = { at: (point, info) => this.#at(point, info) };
    // Lock keys derived from the payserv key, as payserv derives them.
    const locks = new Locks(db, LockKeys.of(this.signers.payserv), { log });
    return {
      db,
      trust: loadTrust(this.stateDir),
      local: new LocalCheckpointStore(this.stateDir),
      journal,
      signers: { ...this.signers },
      drivers: new Map<string, ChainDriver>([
        ['ETH', eth],
        ['ZEC', zec],
      ]),
      policies: new Map([
        ['ETH', POLICY],
        ['ZEC', POLICY],
      ]),
      autopay: new Map([
        ['ETH', AUTOPAY],
        ['ZEC', AUTOPAY],
      ]),
      state,
      locks,
      lockWatch: new LockWatch({ locks, alerts: sink, log, heldMaxMs: LOCK_HELD_MAX_MS }),
      log,
      now: () => this.now(),
      faults,
    };
  }

  /**
   * The database as one payserv process sees it: once that process is killed, every call of its fails
   * (a dead process writes nothing more). Its open transaction, if any, rolls back with the throw.
   */
  #process(): Data {
    const db = this.db;
    const life: { killed: SimulatedCrash | null } = { killed: null };
    this.#life = life;
    const gone = () => life.killed !== null;
    const dead = () => Promise.reject(life.killed as SimulatedCrash);
    return {
      kind: db.kind,
      where: db.where,
      query: (op, params) => (gone() ? dead() : db.query(op, params)),
      transaction: (fn) => (gone() ? dead() : db.transaction(fn)),
      withSession: (fn) => (gone() ? dead() : db.withSession(fn)),
      close: async () => undefined,
    };
  }

  /** Kills the running payserv at a fault point: the caller throws what this returns. */
  kill(point: FaultPoint, info: FaultInfo): SimulatedCrash {
    this.killed = new SimulatedCrash(point, info);
    this.#life.killed = this.killed;
    return this.killed;
  }

  async #at(point: FaultPoint, info: FaultInfo): Promise<void> {
    // First the harness's own record: the transaction exists from its journal record on, whatever follows.
    // No database read here: the first fault point is inside payserv's write-ahead transaction.
    if (info.hash && point.startsWith('payment.') && !this.signed.has(info.hash)) {
      this.signed.set(info.hash, { tag: tagOfHash(info.hash), hash: info.hash, withdrawals: [...info.withdrawals] });
    }
    await this.hook(point, info);
  }

  tagOf(coinId: number): Tag | null {
    return TAGS.find((t) => this.coins[t].id === coinId) ?? null;
  }

  /** payserv killed (or stopped): its journal closed, its in-memory state gone; a new process comes up disabled. */
  async restart(): Promise<void> {
    // The old process is gone, killed or stopped: nothing of it reaches the database any more.
    this.#life.killed ??= new SimulatedCrash('status.committed', { withdrawals: [] });
    await PaymentJournal.closeAll();
    this.killed = null;
    this.ps = await this.boot();
  }

  view(): Promise<LedgerView> {
    return openView(this.db, this.trust, new LocalCheckpointStore(this.stateDir));
  }

  /** `pscli checkbalanceerrors` on the payserv host: every problem (the journal cross-check included). */
  async checks(): Promise<Problem[]> {
    const out: Problem[] = [];
    await runCheck(await this.view(), 'balanceerrors', {}, (p) => out.push(p));
    return out;
  }

  // ── The pool ──

  async #miner(userId: number, tag: Tag): Promise<Miner> {
    const coin = this.coins[tag];
    const address = tag === 'ETH' ? `0x${randomBytes(20).toString('hex')}` : zcashP2pkhAddress('mainnet', randomBytes(20));
    const w = await signWallet(this.db, this.signers.admin, (await addWallet(this.db, { userId, coinId: coin.id, address })).id);
    return { userId, tag, walletId: w.id, address: w.address };
  }

  /** A block of `tag` crediting each share, signed by admin; the harness remembers what each account earned. */
  async credit(tag: Tag, shares: ReadonlyArray<{ userId: number; amount: Amount }>): Promise<void> {
    await creditBlock(this.db, this.signers.admin, this.coins[tag], {
      blockHash: `0x${randomBytes(32).toString('hex')}`,
      shares,
      poolFee: parseAmount('0.001'),
    });
    for (const s of shares) {
      const k = `${s.userId}:${tag}`;
      this.credited.set(k, add(this.credited.get(k) ?? ZERO, s.amount));
    }
  }

  /** A miner who asks by hand: a reviewed wallet (a fresh address), MANUAL_EARNED credited, autopay kept away. */
  async manualMiner(tag: Tag): Promise<Miner> {
    const m = await this.#miner(this.#nextManual++, tag);
    await this.db.query('INSERT INTO users_autopay_thresholds (user_id, coin_id, threshold) VALUES ($1, $2, $3)', [
      m.userId,
      this.coins[tag].id,
      MANUAL_OWN_THRESHOLD,
    ]);
    await this.credit(tag, [{ userId: m.userId, amount: MANUAL_EARNED }]);
    return m;
  }

  /** A request as the pool's back end makes it (signed by the autopay role). */
  async request(m: Miner, amount: Amount): Promise<number> {
    const coin = this.coins[m.tag];
    const w = await this.db.transaction((tx) =>
      requestWithdrawal(tx, this.signers.autopay, {
        userId: m.userId,
        coinId: coin.id,
        walletId: m.walletId,
        address: m.address,
        amount,
        fee: coin.withdrawalFee,
      }),
    );
    return w.id;
  }
}
