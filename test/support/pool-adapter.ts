// What the pool adapters' tests (open-ethereum-pool, MiningCore) set up alike: payserv paying ETH on anvil from
// an empty ledger, the intake's configuration written into the state directory, its log kept, the pool's Redis emptied.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { loadConfig, type Config } from '../../src/config/index.js';
import { createLogger, type Logger } from '../../src/log/index.js';
import type { OepConfig } from '../../src/pools/oep/adapter.js';
import { emptySeed } from './ledger.js';
import { amt } from './miners.js';
import { ethPayserv, type TestPayserv, type TestPayservOptions } from './payserv.js';

/** Policies no test amount reaches. */
export const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };

/**
 * payserv paying ETH on anvil at `url` (automine on) from an empty ledger, generous policies, with autopay's
 * signer in hand as the autopay runner signs its requests; `drivers` replaces the ETH driver on `url`.
 */
export async function adapterPayserv(url: string, drivers?: TestPayservOptions['drivers']): Promise<TestPayserv> {
  const t = await ethPayserv(url, { seed: emptySeed(5), policies: { ETH: GENEROUS }, ...(drivers ? { drivers } : {}) });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
  return t;
}

/** intake.toml's head: the RPC port, ETH on anvil at `url` mining to `pool`; wallets reviewed by hand if asked. */
export function ethIntakeToml(url: string, pool: string, o: { manualReview?: boolean; timeoutMs?: number } = {}): string {
  return [
    '[rpc]',
    'port = 0',
    ...(o.manualReview ? ['[wallets]', 'review = "manual"'] : []),
    '[coins.ETH]',
    'chain = "eth"',
    'first_height = 0',
    `node_url = "${url}"`,
    'chain_id = 31337',
    `pool_address = "${pool}"`,
    'issuance = "2"',
    ...(o.timeoutMs === undefined ? [] : [`timeout_ms = ${o.timeoutMs}`]),
    '',
  ].join('\n');
}

/** `text` written as intake.toml into `stateDir` and loaded as the intake loads it there. */
export async function intakeConfig(stateDir: string, text: string): Promise<Config<'intake'>> {
  const file = join(stateDir, 'intake.toml');
  writeFileSync(file, text);
  return loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: stateDir } });
}

/** The intake's logger at info, each line parsed into `logs`. */
export const keptLog = (logs: Array<Record<string, unknown>>): Logger =>
  createLogger('intake', 'info', { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });

/** The test's keys (under `prefix`) deleted from the pool's Redis, and the connection closed. */
export async function clearRedis(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
}

/** The open-ethereum-pool adapter's settings in the tests: ETH, its Redis at `redisUrl`, keys under `prefix`. */
const oepBase = (redisUrl: string, prefix: string, feeLogin: string) => ({
  redis_url: redisUrl,
  prefix,
  coin: 'ETH',
  interval_s: 3600,
  pool_fee_address: feeLogin,
  from_height: 0,
  timeout_ms: 1000,
});

/** The adapter's settings as startOep takes them, reading 10 entries a page. */
export const oepSettings = (redisUrl: string, prefix: string, feeLogin: string): OepConfig => ({
  ...oepBase(redisUrl, prefix, feeLogin),
  page_size: 10,
});

/** The same as intake.toml's [pools.oep] section (the page size left to its default). */
export const oepToml = (redisUrl: string, prefix: string, feeLogin: string): string =>
  ['[pools.oep]', ...Object.entries(oepBase(redisUrl, prefix, feeLogin)).map(([k, v]) => `${k} = ${JSON.stringify(v)}`), ''].join('\n');
