import { isAbsolute, join } from 'node:path';
import type { Config } from '../config/load.js';
import { chainStorage } from '../data/chain-store.js';
import type { Data, DataTx } from '../data/data.js';
import { CHAINS } from '../data/ops/chains.js';
import type { Logger } from '../log/index.js';
import { access } from 'node:fs/promises';
import { hotKeyPath, loadHotKey, nextHotKeyPath } from '../keys/hot-wallet.js';
import { isSweepable, readSweep, RotatingDriver } from '../payserv/rotation.js';
import { coinChain } from '../chains/coin-chain.js';
import { NodeUnavailable, type ChainDriver } from '../chains/driver.js';
import type { NonceStorage, UtxoStorage } from '../chains/storage.js';
import { EvmDriver } from '../chains/eth/driver.js';
import { ZcashDriver } from '../chains/zcash/driver.js';
import { BtcDriver } from '../chains/btc/driver.js';
import { resolveNetwork } from '../chains/btc/network.js';
import type { PaymentJournal } from '../journal/journal.js';
import type { Trust } from '../pki/trust.js';
import { ownAttempt } from '../payserv/payments/stored.js';

// From payserv's [coins.TAG] tables to running chain drivers: one per coin paid automatically. A coin
// with `auto = false`, or without a table, is paid by an operator.

type CoinSettings = Config<'payserv'>['coins'][string];

export interface DriverDeps {
  db: Data;
  /** The pinned root: which stored attempts are payserv's is read from the signed ledger (ownAttempt). */
  trust: Trust;
  stateDir: string;
  log: Logger;
  /** The host's payment journal: nonces and inputs in flight come from it and the chain, not the database alone. */
  journal: PaymentJournal;
  /** The coin's hot-wallet key (from esman's store); default: its key file in a development state directory. */
  hotKey?: (tag: string, s: CoinSettings) => Promise<Uint8Array>;
  /** A pending rotation's next key (from esman's store); default: STATE/wallets/<TAG>.next.key when it exists. */
  nextHotKey?: ((tag: string) => Uint8Array | undefined) | undefined;
}

const keyFile = (stateDir: string, tag: string, s: CoinSettings) =>
  s.key_file ? (isAbsolute(s.key_file) ? s.key_file : join(stateDir, s.key_file)) : hotKeyPath(stateDir, tag);

/**
 * The drivers' storage in payserv's database: the SQL implementation, checked here against both interfaces, and
 * which stored attempts are payserv's own from the signed ledger under the pinned root (src/payserv/payments/stored.ts).
 */
export function driverStorage(db: Data, trust: Trust): NonceStorage & UtxoStorage {
  const sql = chainStorage(db);
  return { ...sql, ownAttempt: (hash, q) => ownAttempt(sql, trust, hash, (q ?? db) as DataTx) };
}

export function driverFor(tag: string, s: CoinSettings, key: Uint8Array, deps: DriverDeps): ChainDriver {
  // Throws when the configured chain is not the tag's (ETH as "btc").
  coinChain(tag, { [tag]: s });
  const { stateDir, log, journal } = deps;
  const driverDeps = { storage: driverStorage(deps.db, deps.trust), stateDir, log, journal };
  const common = {
    tag,
    url: s.node_url,
    confirmations: s.confirmations,
    minPeers: s.min_peers,
    timeoutMs: s.rpc_timeout_ms,
    genesisHash: s.genesis_hash,
  };
  if (s.chain === 'evm') {
    return new EvmDriver(
      {
        ...common,
        chainId: s.chain_id,
        eip1559: s.eip1559,
        maxFeePerGas: BigInt(s.max_fee_per_gas),
        maxPriorityFeePerGas: BigInt(s.max_priority_fee_per_gas),
        gasLimitMax: BigInt(s.gas_limit_max),
        gasLimitMarginPercent: s.gas_limit_margin_percent,
        replaceAfterMs: s.replace_after_s * 1000,
      },
      key,
      driverDeps,
    );
  }
  if (s.chain === 'btc') {
    const net = resolveNetwork(s.network);
    return new BtcDriver(
      {
        ...common,
        net,
        wallet: s.wallet_type,
        batchMax: s.batch_max,
        feeRateMin: BigInt(s.fee_rate_min),
        feeRateMax: BigInt(s.fee_rate_max),
        feeTargetBlocks: s.fee_target_blocks,
        feeEstimate: s.fee_estimate,
        spenderScanBlocks: s.spender_scan_blocks,
        utxoMax: s.utxo_max,
        inputConfirmations: s.input_confirmations,
        feeBump: s.fee_bump,
        replaceAfterMs: s.replace_after_s * 1000,
      },
      key,
      driverDeps,
    );
  }
  return new ZcashDriver(
    {
      ...common,
      network: s.network,
      txVersion: s.tx_version,
      batchMax: s.batch_max,
      expiryDelta: s.expiry_delta,
      feeMax: BigInt(s.fee_max),
      utxoMax: s.utxo_max,
    },
    key,
    driverDeps,
  );
}

/** Builds and starts the driver of every coin paid automatically; a node that is not the configured chain stops payserv's start. */
export async function startDrivers(coins: Config<'payserv'>['coins'], deps: DriverDeps): Promise<Map<string, ChainDriver>> {
  const drivers = new Map<string, ChainDriver>();
  for (const [tag, s] of Object.entries(coins)) {
    if (!s.auto) continue;
    const key = await (deps.hotKey ? deps.hotKey(tag, s) : loadHotKey(deps.stateDir, tag, keyFile(deps.stateDir, tag, s)));
    const d = await withRotation(tag, s, driverFor(tag, s, key, deps), deps);
    key.fill(0);
    try {
      await d.start();
    } catch (e) {
      // A wrong chain or a rolled-back nonce store stops the start; a node that is down only holds this coin's payouts.
      if (!(e instanceof NodeUnavailable)) throw e;
      deps.log.error({ coin: tag, err: e.message }, 'node unreachable at start: payouts of this coin wait until it answers');
    }
    drivers.set(tag, d);
    // As the original did: a start with payments in flight is worth the operator's eye.
    const [sending] = await deps.db.query(CHAINS.sendingCount, [tag]);
    if (sending && sending.n > 0)
      deps.log.warn({ coin: tag, sending: sending.n }, 'started with withdrawals in sending: Check settles each from the chain');
  }
  return drivers;
}

/** The next key of a pending rotation, or undefined. */
async function nextKey(tag: string, deps: DriverDeps): Promise<Uint8Array | undefined> {
  if (deps.nextHotKey) return deps.nextHotKey(tag);
  const path = nextHotKeyPath(deps.stateDir, tag);
  const exists = await access(path).then(
    () => true,
    () => false,
  );
  return exists ? loadHotKey(deps.stateDir, tag, path) : undefined;
}

/**
 * A coin with a rotation pending (src/payserv/rotation.ts): both wallets' drivers behind one, switched
 * to the new wallet at once when the host's sweep record says the sweep is final (every chain's driver sweeps).
 */
async function withRotation(tag: string, s: CoinSettings, current: ChainDriver, deps: DriverDeps): Promise<ChainDriver> {
  const key = await nextKey(tag, deps);
  if (!key) return current;
  try {
    const next = driverFor(tag, s, key, deps);
    if (!isSweepable(current) || !isSweepable(next))
      throw new Error(`coin ${tag}: a hot-wallet rotation is pending, but a ${s.chain} wallet cannot be swept: remove the next key`);
    if (next.address === current.address) throw new Error(`coin ${tag}: the rotation's next key is the current key`);
    const d = new RotatingDriver(current, next, {
      stateDir: deps.stateDir,
      confirmations: s.confirmations ?? 1,
      finality: s.finality_depth,
    });
    const r = await readSweep(d);
    if (r?.phase === 'final') d.activate();
    // The sweep is payserv's own (its record is on this host): a restart after it was recorded but before
    // the nonce cache was raised (Ethereum), or a spend of the old wallet's outputs (UTXO chains), is not a stranger's.
    if (r?.attempt) {
      const { raw, hash } = r.attempt;
      await current.committed({ hash, raw, maxFee: 0n, nonce: current.decode(raw).nonce, inputs: [] });
    }
    deps.log.warn(
      { coin: tag, from: current.address, to: next.address, phase: r?.phase ?? 'waiting' },
      r?.phase === 'final'
        ? 'hot wallet rotated: payouts come from the new wallet'
        : 'hot wallet rotation pending: payouts wait for the sweep',
    );
    return d;
  } finally {
    key.fill(0);
  }
}
