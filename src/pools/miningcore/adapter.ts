import pg from 'pg';
import type { Config } from '../../config/load.js';
import type { Intake } from '../../intake/context.js';
import { intakeView, verifiedCoin } from '../../intake/ledger.js';
import type { Logger } from '../../log/index.js';
import { parseAmount } from '../../money/amount.js';
import type { McAdapter } from './context.js';
import { importBlocks } from './import.js';
import { adoptThresholds } from './thresholds.js';
import { writeBackPayments } from './writeback.js';

// The MiningCore adapter, a mode of the intake ([pools.miningcore]): every interval_s, MiningCore's per-miner
// thresholds handed to payserv (first: MiningCore must never pay), its confirmed blocks imported through the
// intake, and payserv's sent payments written back. Each step fails alone, logged, and is retried next interval.

export type MiningcoreSettings = NonNullable<Config<'intake'>['pools']['miningcore']>;

export interface MiningcoreAdapter {
  /** One interval's work now, after any in progress (tests drive it). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** decimal(28,12) units of a configured decimal string. */
const mcUnits = (text: string): bigint => parseAmount(text, 'pools.miningcore.minimum_payment') / 10n ** 8n;

function adapterOf(it: Intake, s: MiningcoreSettings, url: string, log: Logger): McAdapter {
  const mc = new pg.Pool({ connectionString: url, max: 2 });
  // An idle connection MiningCore's server drops must not take the intake down: the next query reconnects.
  mc.on('error', (e) => log.warn({ pool: s.pool_id, reason: e.message }, 'miningcore database connection lost'));
  const from = BigInt(s.from_block_id);
  return {
    it,
    mc,
    poolId: s.pool_id,
    coin: s.coin,
    feeAddresses: new Set(s.fee_address),
    fromBlockId: from,
    minimumPayment: mcUnits(s.minimum_payment),
    log,
    cursor: from > 0n ? from - 1n : 0n,
    recheck: new Set(),
    wallets: new Set(),
    verified: new Map(),
  };
}

async function step(a: McAdapter, name: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (e) {
    a.log.error({ pool: a.poolId, step: name, reason: (e as Error).message }, 'miningcore adapter step failed: retried next interval');
  }
}

async function once(a: McAdapter): Promise<void> {
  const view = await intakeView(a.it, a.it.db);
  const coin = verifiedCoin(view, a.coin);
  await step(a, 'thresholds', () => adoptThresholds(a, coin));
  await step(a, 'import', () => importBlocks(a, coin));
  await step(a, 'write-back', () => writeBackPayments(a, view, coin));
}

export function startMiningcoreAdapter(it: Intake, s: MiningcoreSettings, url: string, log: Logger): MiningcoreAdapter {
  const a = adapterOf(it, s, url, log);
  let chain: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const tick = () => {
    chain = chain.then(() =>
      once(a).catch((e: unknown) => log.error({ pool: a.poolId, reason: (e as Error).message }, 'miningcore adapter interval failed')),
    );
    return chain;
  };
  const loop = () => {
    void tick().then(() => {
      if (!stopped) timer = setTimeout(loop, s.interval_s * 1000);
    });
  };
  log.warn({ pool: a.poolId, coin: a.coin, intervalS: s.interval_s, fromBlockId: s.from_block_id }, 'miningcore adapter started');
  loop();
  return {
    tick,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await chain;
      await a.mc.end();
    },
  };
}
