// The open-ethereum-pool adapter at each window between a ledger write and its Redis write, against a real
// Redis, a real database and anvil. A process death is the adapter's Redis connection cut at the exact command
// (test/support/drop-proxy.ts, killed: nothing it still had queued reaches Redis) and the adapter abandoned; the
// restart is a new adapter with nothing in memory; and once the intake executable itself, SIGKILLed at the
// window between Blocks.Credit and its record. Also Redis dropping the connection mid-interval while the
// adapter lives on (it reconnects). Afterwards: one credit per block in the ledger, each payment once in Redis,
// every miner's Redis balances equal to the ledger's and the chain's.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterEach, beforeEach, expect, it, onTestFinished } from 'vitest';
import { runAutopay } from '../src/autopay/run.js';
import { anvilRpc, mine, setAutomine } from '../src/devnet/anvil.js';
import { startIntake, type RunningIntake } from '../src/intake/service.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import type { Logger } from '../src/log/index.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { startOep, type RunningOep } from '../src/pools/oep/adapter.js';
import { oepUserId } from '../src/pools/oep/import.js';
import { blockMember, blocksKey, creditsKey, financesKey, minerKey, paymentsAllKey, paymentsPendingKey } from '../src/pools/oep/keys.js';
import { importedKey, mirroredKey, parseRecord } from '../src/pools/oep/steps.js';
import { verifyAccount } from '../src/verify/account.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf } from './support/chains.js';
import { dropProxy, respCommands, type DropProxy } from './support/drop-proxy.js';
import { amt, coinByTag } from './support/miners.js';
import type { TestPayserv } from './support/payserv.js';
import { processLedger, spawnNode, until, type Child } from './support/spawn.js';
import { emptySeed } from './support/ledger.js';
import { adapterPayserv, clearRedis, ethIntakeToml, intakeConfig, keptLog, oepSettings } from './support/pool-adapter.js';

const anvil = anvilForFile();
/** A process test on a busy shared machine outlasts the default 30 s. */
const SLOW_MS = 120_000;
const REDIS_DB = 11;
const POOL = privateKeyToAccount(generatePrivateKey()).address;
const FEE_LOGIN = `0x${randomBytes(20).toString('hex')}`;
const SETTINGS: AutopaySettings = { threshold: amt('0.5'), requirePeers: 0, maxPerRun: 100 };
/** New per test: anvil is the file's, so addresses of an earlier test hold its payments. */
let logins: string[];
/** Per block (Shannon): the pool fee and 1.98 ETH over three miners. */
const CREDITS = (): Record<string, bigint> => ({
  [FEE_LOGIN]: 20_000_000n,
  [logins[0]!]: 660_000_000n,
  [logins[1]!]: 660_000_000n,
  [logins[2]!]: 660_000_000n,
});

let t: TestPayserv;
let url: string;
let eth: Signed<Coin>;
let redis: Redis;
let prefix: string;
let intake: RunningIntake;
let log: Logger;
const logs: Array<Record<string, unknown>> = [];
/** The adapter "process" running now: its own proxy to Redis. */
let proc: { proxy: DropProxy; oep: RunningOep } | null = null;

/** The intake in this process, on testPayserv's ledger (the tests that cut the adapter's connection). */
function useInProcessIntake(): void {
  beforeEach(async () => {
    url = (await anvil()).url;
    t = await adapterPayserv(url);
    eth = await coinByTag(t, 'ETH');
    prefix = `oep${randomBytes(4).toString('hex')}`;
    logins = Array.from({ length: 3 }, () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase());
    redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB });
    const config = await intakeConfig(t.ledger.stateDir, ethIntakeToml(url, POOL));
    logs.length = 0;
    log = keptLog(logs);
    intake = await startIntake(config, log, t.ledger.db);
  });

  afterEach(async () => {
    await kill();
    await intake.stop();
    await clearRedis(redis, prefix);
    await t.ledger.db.close();
  });
}

/** A new adapter process: nothing in memory, its own connection to Redis through a fresh proxy. */
async function start(): Promise<{ proxy: DropProxy; oep: RunningOep }> {
  const proxy = await dropProxy(6379, respCommands);
  const c = oepSettings(`redis://127.0.0.1:${proxy.port}/${REDIS_DB}`, prefix, FEE_LOGIN);
  proc = { proxy, oep: await startOep(intake.intake, c, log) };
  return proc;
}

/** The process is gone: its connection cut (if the drop did not already), its interval in flight abandoned. */
async function kill(): Promise<void> {
  if (!proc) return;
  await proc.proxy.kill();
  await proc.oep.stop();
  proc = null;
}

/** A block mined to the pool on anvil, confirmed, and matured by the unlocker with CREDITS. */
async function maturedBlock(): Promise<string> {
  await anvilRpc(url, 'anvil_setCoinbase', [POOL]);
  await mine(url, 1);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; number: Hex };
  await mine(url, 12);
  const height = BigInt(b.number);
  const member = blockMember({
    uncleHeight: 0n,
    orphan: false,
    nonce: '0x5b1d3c0ffee0ab12',
    hash: b.hash,
    timestamp: 1_700_000_000n + height,
    difficulty: 2_000_000n,
    totalShares: 9_000_000n,
    rewardWei: 2n * 10n ** 18n,
  });
  const m = redis.multi().zadd(blocksKey(prefix, 'matured'), height.toString(), member);
  let total = 0n;
  for (const [login, shannon] of Object.entries(CREDITS())) {
    m.hsetnx(creditsKey(prefix, height, b.hash), login, shannon.toString()).hincrby(minerKey(prefix, login), 'balance', shannon.toString());
    total += shannon;
  }
  await m.hincrby(financesKey(prefix), 'balance', total.toString()).exec();
  return b.hash;
}

const incomes = async () =>
  (await t.ledger.db.query<{ n: number }>("SELECT count(*)::int AS n FROM finances_proxypool_transactions WHERE kind = 'block'"))[0]!.n;
const userOf = (login: string) => oepUserId({ prefix, coin: 'ETH' }, login);
const shannonOf = (a: string) => toBaseUnits(parseAmount(a), 18) / 10n ** 9n;
type Sent = { id: number; amount: string; fee: string; tx_hash: string };
const sentOf = (login: string) =>
  t.ledger.db.query<Sent>(
    "SELECT id, amount::text, fee::text, tx_hash FROM finances_withdrawal_transaction WHERE user_id = $1 AND status = 'sent' ORDER BY id",
    [userOf(login)],
  );
const autopay = async (holder: string) => expect((await runAutopay(t.ps, 'ETH', SETTINGS, holder)).outcome).toBe('done');
/** Autopay requests and broadcasts; confirmed, the next run marks the withdrawals sent. */
async function paySent(holder: string): Promise<void> {
  await autopay(holder);
  await mine(url, 12);
  await autopay(`${holder} settle`);
}
const isWrite = (prefixOf: string) => (cmd: string) => cmd.startsWith(prefixOf);
const failed = () => logs.filter((l) => l.msg === 'oep interval failed: retried next interval').length;

/** Redis as the pool's API reads it, the ledger and the chain, after `blocks` blocks: each payment once, nothing lost. */
async function expectAgreement(blocks: number): Promise<void> {
  expect(await incomes()).toBe(blocks);
  expect(await redis.hlen(importedKey(prefix))).toBe(blocks);
  expect(await redis.zcard(paymentsPendingKey(prefix))).toBe(0);
  let paidTotal = 0n;
  const all = await redis.zrange(paymentsAllKey(prefix), 0, -1);
  for (const login of logins) {
    const sent = await sentOf(login);
    expect(sent.length, login).toBeGreaterThan(0);
    const paid = sent.reduce((s, w) => s + shannonOf(w.amount), 0n);
    paidTotal += paid;
    const credited = BigInt(blocks) * CREDITS()[login]!;
    expect(await redis.hgetall(minerKey(prefix, login)), login).toEqual({
      balance: String(credited - paid),
      pending: '0',
      paid: String(paid),
    });
    const a = await verifyAccount(await t.ledger.view(), userOf(login), eth.id, 'full');
    expect(a.problems).toEqual([]);
    expect(toBaseUnits(sub(a.creditTotal, a.debitTotal), 18)).toBe((credited - paid) * 10n ** 9n);
    for (const w of sent) {
      expect(
        all.filter((m) => m === `${w.tx_hash}:${login}:${shannonOf(w.amount)}`),
        `withdrawal ${w.id}`,
      ).toHaveLength(1);
      expect(parseRecord((await redis.hget(mirroredKey(prefix), String(w.id))) ?? '')).toMatchObject({ stage: 'paid' });
    }
    const onChain = sent.reduce((s, w) => s + toBaseUnits(sub(parseAmount(w.amount), parseAmount(w.fee)), 18), 0n);
    expect(await balanceOf(url, login)).toBe(onChain);
  }
  expect(all).toHaveLength((await Promise.all(logins.map(sentOf))).flat().length);
  expect(await redis.hgetall(financesKey(prefix))).toEqual({
    balance: String(BigInt(blocks) * 2_000_000_000n - paidTotal),
    pending: '0',
    paid: String(paidTotal),
  });
  expect(await t.ledger.check('balanceerrors')).toEqual([]);
}

describePerDataPath('the open-ethereum-pool adapter killed between a ledger write and its Redis write, then restarted', () => {
  useInProcessIntake();
  it('(a) after Blocks.Credit committed, before <coin>:payserv:imported; (b) after payserv recorded a payment sent, before (and after) the mirror step', async () => {
    // (a) The block is credited in the ledger; the process dies as it records the block imported.
    const first = await maturedBlock();
    let p = await start();
    p.proxy.dropAt(isWrite(`hset ${importedKey(prefix)} `), 'request', 'die');
    await p.oep.tick();
    await kill();
    expect(await incomes()).toBe(1);
    expect(await redis.hexists(importedKey(prefix), first)).toBe(0);
    // The restart credits it again: the intake answers already, and only then is it recorded.
    p = await start();
    await p.oep.tick();
    expect(await incomes()).toBe(1);
    expect(logs.filter((l) => l.msg === 'matured block imported' && l.block === first).map((l) => l.already)).toEqual([false, true]);
    expect(await redis.hexists(importedKey(prefix), first)).toBe(1);

    // (b) Paid and recorded sent in the ledger; the process dies as its MULTI moving the first payment to paid
    // goes out: once before Redis ran it (request), once after (reply lost).
    await autopay('request');
    await p.oep.tick();
    expect(await redis.zcard(paymentsPendingKey(prefix))).toBe(3);
    await mine(url, 12);
    await autopay('settle');
    for (const mode of ['reply', 'request'] as const) {
      if (mode === 'request') {
        await maturedBlock();
        await p.oep.tick();
        await paySent('round 2');
      }
      p.proxy.dropAt((cmd) => /^hset \S+:payserv:mirrored \d+ paid:\S+$/.test(cmd), mode, 'die');
      await p.oep.tick();
      expect(p.proxy.dropped()).toBe(1);
      await kill();
      p = await start();
      await p.oep.tick();
    }
    await expectAgreement(2);
  });
});

describePerDataPath('the open-ethereum-pool adapter when Redis drops the connection mid-interval', () => {
  useInProcessIntake();
  it('each write dropped before and after Redis ran it: the next interval completes, nothing applied twice, nothing lost', async () => {
    const p = await start();
    // Each interval drops its connection at one write (the adapter lives on and reconnects), then a clean interval.
    const drops: Array<[RegExp, 'request' | 'reply']> = [
      [/^hset \S+:payserv:imported /, 'reply'],
      [/^hgetall \S+:credits:/, 'request'],
      [/^hset \S+:payserv:mirrored \d+ pending:\S+$/, 'reply'],
      [/^hset \S+:payserv:mirrored \d+ pending:\S+$/, 'request'],
      [/^hset \S+:payserv:mirrored \d+ paid:\S+$/, 'reply'],
      [/^hset \S+:payserv:mirrored \d+ paid:\S+$/, 'request'],
    ];
    const interval = async (i: number) => {
      const [re, mode] = drops[i]!;
      const [before, dropsBefore] = [failed(), p.proxy.dropped()];
      p.proxy.dropAt((cmd) => re.test(cmd), mode);
      await p.oep.tick();
      expect(p.proxy.dropped(), `${re} ${mode}`).toBe(dropsBefore + 1);
      // The command whose outcome is unknown fails the interval; it is never sent again blind (a resent MULTI would move a payment twice).
      expect(failed(), `${re} ${mode}`).toBe(before + 1);
      await p.oep.tick();
      expect(failed(), `${re} ${mode}: the next interval completes`).toBe(before + 1);
    };
    for (const round of [0, 1]) {
      await maturedBlock();
      await interval(round);
      await autopay(`round ${round}`);
      await interval(2 + round);
      await mine(url, 12);
      await autopay(`round ${round} settle`);
      await interval(4 + round);
    }
    await expectAgreement(2);
  });
});

describePerDataPath('the intake executable with [pools.oep], SIGKILLed', () => {
  it(
    'after a block’s Blocks.Credit committed, before <coin>:payserv:imported: restarted, it records the block, credited once',
    async () => {
      url = (await anvil()).url;
      await setAutomine(url, true);
      prefix = `oep${randomBytes(4).toString('hex')}`;
      logins = Array.from({ length: 3 }, () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase());
      redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB });
      onTestFinished(() => clearRedis(redis, prefix));
      const l = await processLedger(emptySeed(5));
      const hash = await maturedBlock();
      const run = async (arm?: (p: DropProxy) => void): Promise<{ proxy: DropProxy; child: Child }> => {
        const proxy = await dropProxy(6379, respCommands);
        onTestFinished(() => proxy.kill());
        arm?.(proxy);
        const file = join(l.stateDir, 'intake.toml');
        writeFileSync(
          file,
          [
            '[rpc]\nport = 0\n[database]\nembedded = true',
            `[coins.ETH]\nchain = "eth"\nfirst_height = 0\nnode_url = "${url}"\nchain_id = 31337\npool_address = "${POOL}"\nissuance = "2"`,
            `[pools.oep]\nredis_url = "redis://127.0.0.1:${proxy.port}/${REDIS_DB}"\nprefix = "${prefix}"\ncoin = "ETH"\ninterval_s = 1`,
            `pool_fee_address = "${FEE_LOGIN}"\nfrom_height = 0\ntimeout_ms = 1000\n`,
          ].join('\n'),
        );
        const child = spawnNode(['bin/intake.mjs', '--config', file], { PAYSERV_STATE_DIR: l.stateDir, DATABASE_URL: l.databaseUrl });
        return { proxy, child };
      };
      const blockIncomes = () =>
        l.withDb(
          async (db) =>
            (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM finances_proxypool_transactions WHERE kind = 'block'"))[0]!.n,
        );

      // The first process stops as its HSET of payserv:imported goes out, and is SIGKILLed there.
      const first = await run((p) => p.dropAt(isWrite(`hset ${importedKey(prefix)} `), 'request', 'die'));
      await until('the write of payserv:imported', () => first.proxy.dropped() === 1, SLOW_MS);
      await first.child.kill();
      expect(first.child.exit()?.signal).toBe('SIGKILL');
      expect(first.child.stderr()).toContain('"msg":"matured block imported"');
      expect(await blockIncomes()).toBe(1);
      expect(await redis.hexists(importedKey(prefix), hash)).toBe(0);

      // Restarted: the intake answers already, and the block is recorded; still one credit.
      const second = await run();
      await until('the block recorded imported', async () => (await redis.hexists(importedKey(prefix), hash)) === 1, SLOW_MS);
      expect(await second.child.stop('SIGTERM', 30_000)).toBe(0);
      expect(second.child.stderr()).toContain('"already":true');
      expect(await blockIncomes()).toBe(1);
    },
    SLOW_MS,
  );
});
