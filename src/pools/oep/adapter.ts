// The open-ethereum-pool adapter, a mode of the intake ([pools.oep]): each interval it imports the unlocker's
// matured blocks into the signed ledger and mirrors payserv's payments into the pool's Redis. The pool's own
// payouts module must be off: at start (and every interval) the payer's lock must be unset and
// <coin>:payments:pending hold only the adapter's own entries, else it refuses to run.

import { Redis } from 'ioredis';
import type { Config } from '../../config/load.js';
import type { Intake } from '../../intake/context.js';
import type { Logger } from '../../log/index.js';
import { checkCoin, paymentsLockKey, paymentsPendingKey } from './keys.js';
import { Importer, type OepSettings } from './import.js';
import { Mirror } from './mirror.js';
import { ownPendingKey } from './steps.js';

export type OepConfig = NonNullable<Config<'intake'>['pools']['oep']>;

export interface RunningOep {
  /** One interval now (tests; the loop runs them on its own). */
  tick(): Promise<void>;
  stop(): Promise<void>;
}

/** Refuses while the pool's payer may be running: its lock taken, or pending payments the adapter did not write. */
export async function checkPayoutsOff(redis: Redis, prefix: string): Promise<void> {
  const lock = await redis.get(paymentsLockKey(prefix));
  if (lock !== null)
    throw new Error(
      `${paymentsLockKey(prefix)} is set (${JSON.stringify(lock.slice(0, 80))}): the pool's payouts module is running or halted; turn it off and resolve it first`,
    );
  const own = new Set(await redis.smembers(ownPendingKey(prefix)));
  const foreign = (await redis.zrange(paymentsPendingKey(prefix), 0, -1)).filter((m) => !own.has(m));
  if (foreign.length > 0)
    throw new Error(
      `${paymentsPendingKey(prefix)} holds ${foreign.length} payment(s) the adapter did not write (e.g. ${JSON.stringify(foreign[0]?.slice(0, 80))}): resolve the pool's payouts first`,
    );
}

export async function startOep(it: Intake, c: OepConfig, log: Logger): Promise<RunningOep> {
  const s: OepSettings = {
    prefix: checkCoin(c.prefix),
    coin: c.coin,
    poolFeeAddress: c.pool_fee_address.toLowerCase(),
    fromHeight: BigInt(c.from_height),
    pageSize: c.page_size,
  };
  // Fail fast: a command Redis does not answer fails the interval, which is retried; never an unbounded queue.
  // A command the connection dropped under is never resent blind on the next connection: Redis may have run it
  // (a mirror step's MULTI, resent without its WATCH, would move a payment twice); the next interval reads again.
  const redis = new Redis(c.redis_url, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    commandTimeout: c.timeout_ms,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await checkPayoutsOff(redis, s.prefix);
  } catch (e) {
    redis.disconnect();
    throw new Error(`[pools.oep]: ${(e as Error).message}`);
  }
  const importer = new Importer(it, redis, s, log);
  const mirror = new Mirror(it, redis, s, log);
  let running: Promise<void> = Promise.resolve();
  const interval = async () => {
    try {
      await checkPayoutsOff(redis, s.prefix);
      const imported = await importer.run();
      const mirrored = await mirror.run();
      log.info({ pool: 'oep', prefix: s.prefix, coin: s.coin, ...imported, ...mirrored }, 'oep interval');
    } catch (e) {
      log.error({ pool: 'oep', prefix: s.prefix, reason: (e as Error).message }, 'oep interval failed: retried next interval');
    }
  };
  const tick = () => (running = running.then(interval));
  const timer = setInterval(() => void tick(), c.interval_s * 1000);
  log.warn({ pool: 'oep', prefix: s.prefix, coin: s.coin, fromHeight: c.from_height, intervalS: c.interval_s }, 'oep adapter started');
  return {
    tick,
    async stop() {
      clearInterval(timer);
      await running;
      redis.disconnect();
      log.warn({ pool: 'oep' }, 'oep adapter stopped');
    },
  };
}
