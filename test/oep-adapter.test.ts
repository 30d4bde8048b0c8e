// The open-ethereum-pool adapter (issue 16 item 3) against a real Redis, a real database and anvil: the
// unlocker's keys written in the pool's exact formats, blocks maturing over several intervals and imported
// through the intake (checked on the chain), payserv's autopay paying on anvil, and every payment mirrored
// into Redis as the pool's payer writes it. At the end the pool's API keys, the ledger and the chain agree;
// a forged block is never imported, a Redis outage in the middle of a mirror loses nothing, and importing
// again credits nothing twice.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { Redis } from 'ioredis';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { runAutopay } from '../src/autopay/run.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { startIntake, type RunningIntake } from '../src/intake/service.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { createLogger } from '../src/log/index.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { startOep, type RunningOep } from '../src/pools/oep/adapter.js';
import { oepUserId } from '../src/pools/oep/import.js';
import {
  blockMember,
  blocksKey,
  creditsKey,
  financesKey,
  minerKey,
  paymentsAllKey,
  paymentsLoginKey,
  paymentsPendingKey,
} from '../src/pools/oep/keys.js';
import { importedKey } from '../src/pools/oep/steps.js';
import { verifyAccount } from '../src/verify/account.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { amt, coinByTag } from './support/miners.js';
import type { TestPayserv } from './support/payserv.js';
import { adapterPayserv, clearRedis, ethIntakeToml, intakeConfig, oepSettings, oepToml } from './support/pool-adapter.js';

const anvil = anvilForFile();
const REDIS_DB = 11;
const POOL = privateKeyToAccount(generatePrivateKey()).address;
const FEE_LOGIN = `0x${randomBytes(20).toString('hex')}`;
const CONFIRMATIONS = 12;
const REWARD_WEI = 2n * 10n ** 18n;
const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };

let t: TestPayserv;
let url: string;
let eth: Signed<Coin>;
let driver: EvmDriver;
let redis: Redis;
let prefix: string;
let intake: RunningIntake;
let oep: RunningOep;
let proxy: FreezableProxy;
const logs: Array<Record<string, unknown>> = [];
/** Called on every log line as it is written (synchronously): the test acts at an exact point of an interval. */
let onLog: ((l: Record<string, unknown>) => void) | null = null;

/** A TCP proxy to Redis that can stop answering (frozen: bytes held both ways) and answer again. */
interface FreezableProxy {
  port: number;
  freeze(): void;
  thaw(): void;
  stop(): Promise<void>;
}

async function freezableProxy(): Promise<FreezableProxy> {
  let frozen = false;
  const held: Array<() => void> = [];
  const sockets = new Set<net.Socket>();
  const relay = (from: net.Socket, to: net.Socket) => from.on('data', (d) => (frozen ? held.push(() => to.write(d)) : to.write(d)));
  const server = net.createServer((client) => {
    const upstream = net.connect(6379, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined).on('close', () => (client.destroy(), upstream.destroy()));
    }
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    port: (server.address() as net.AddressInfo).port,
    freeze: () => void (frozen = true),
    thaw() {
      frozen = false;
      for (const f of held.splice(0)) f();
    },
    stop: () => new Promise<void>((ok) => (sockets.forEach((s) => s.destroy()), server.close(() => ok()))),
  };
}

beforeEach(async () => {
  url = (await anvil()).url;
  t = await adapterPayserv(url, async (deps) => {
    driver = await ethDriver(url, deps);
    return new Map([['ETH', driver]]);
  });
  eth = await coinByTag(t, 'ETH');
  prefix = `oep${randomBytes(4).toString('hex')}`;
  redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB });
  proxy = await freezableProxy();
  const config = await intakeConfig(
    t.ledger.stateDir,
    ethIntakeToml(url, POOL) + oepToml(`redis://127.0.0.1:${proxy.port}/${REDIS_DB}`, prefix, FEE_LOGIN),
  );
  logs.length = 0;
  const log = createLogger('intake', 'info', {
    write: (s: string) => {
      const l = JSON.parse(s) as Record<string, unknown>;
      logs.push(l);
      onLog?.(l);
    },
  });
  intake = await startIntake(config, log, t.ledger.db);
  oep = await startOep(intake.intake, config.pools.oep!, log);
});

afterEach(async () => {
  await oep.stop();
  await intake.stop();
  await proxy.stop();
  await clearRedis(redis, prefix);
  await t.ledger.db.close();
});

/** A block mined to the pool on anvil: its hash and height. */
async function poolBlock(): Promise<{ hash: string; height: bigint }> {
  await anvilRpc(url, 'anvil_setCoinbase', [POOL]);
  await mine(url, 1);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; number: Hex };
  return { hash: b.hash, height: BigInt(b.number) };
}

/** What the unlocker's WriteMaturedBlock leaves: the block in blocks:matured, its credits hash, the balances. */
async function matured(
  height: bigint,
  hash: string,
  credits: Record<string, bigint>,
  rewardWei = REWARD_WEI,
  uncleHeight = 0n,
): Promise<string> {
  const member = blockMember({
    uncleHeight,
    orphan: false,
    nonce: '0x5b1d3c0ffee0ab12',
    hash,
    timestamp: 1_700_000_000n + height,
    difficulty: 2_000_000n,
    totalShares: 9_000_000n,
    rewardWei,
  });
  const m = redis.multi().zadd(blocksKey(prefix, 'matured'), height.toString(), member);
  let total = 0n;
  for (const [login, shannon] of Object.entries(credits)) {
    m.hsetnx(creditsKey(prefix, height, hash), login, shannon.toString()).hincrby(minerKey(prefix, login), 'balance', shannon.toString());
    total += shannon;
  }
  await m.hincrby(financesKey(prefix), 'balance', total.toString()).exec();
  return member;
}

const logins = Array.from({ length: 3 }, () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase());
const ATTACKER = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
const userOf = (login: string) => oepUserId({ prefix, coin: 'ETH' }, login);
/** Each block: the pool fee (1%) and 1.98 ETH over three miners, rounded as the unlocker does: one Shannon over the reward. */
const CREDITS = (): Record<string, bigint> => ({
  [FEE_LOGIN]: 20_000_000n,
  [logins[0]!]: 660_000_001n,
  [logins[1]!]: 660_000_000n,
  [logins[2]!]: 660_000_000n,
});

async function available(userId: number): Promise<bigint> {
  const a = await verifyAccount(await t.ledger.view(), userId, eth.id, 'full');
  expect(a.problems).toEqual([]);
  return toBaseUnits(sub(a.creditTotal, a.debitTotal), 18);
}

type Row = { id: number; user_id: number; amount: string; fee: string; status: string; tx_hash: string | null; sent_at: string | null };
const sentOf = (userId: number) =>
  t.ledger.db.query<Row>(
    `SELECT w.id, w.user_id, w.amount::text, w.fee::text, w.status, w.tx_hash,
       (SELECT floor(extract(epoch FROM s.created_at))::text FROM finances_withdrawal_signatures s WHERE s.withdrawal_id = w.id AND s.status = 'sent') AS sent_at
     FROM finances_withdrawal_transaction w WHERE w.user_id = $1 AND w.coin_id = $2 AND w.status = 'sent' ORDER BY w.id`,
    [userId, eth.id],
  );
const shannonOf = (a: string) => toBaseUnits(parseAmount(a), 18) / 10n ** 9n;
const incomes = async () =>
  Number(
    (await t.ledger.db.query<{ n: string }>("SELECT count(*)::text AS n FROM finances_proxypool_transactions WHERE kind = 'block'"))[0]!.n,
  );
const autopay = async (holder: string) => expect((await runAutopay(t.ps, 'ETH', SETTINGS, holder)).outcome).toBe('done');

describePerDataPath('the open-ethereum-pool adapter', () => {
  it('imports matured blocks over several intervals, mirrors autopay’s payments into Redis as the payer would; Redis, ledger and chain agree', async () => {
    // A block below from_height would be the pool's own history; a forged one (the chain does not know it) sits among the rest.
    const forged = `0x${randomBytes(32).toString('hex')}`;
    const first = await poolBlock();
    const forgedMember = await matured(first.height, forged, { [FEE_LOGIN]: 20_000_000n, [ATTACKER]: 1_980_000_000n });
    // The builders, checked against the pool's literal formats.
    expect(forgedMember).toBe(`0:0:0x5b1d3c0ffee0ab12:${forged}:${1_700_000_000n + first.height}:2000000:9000000:2000000000000000000`);
    expect(creditsKey(prefix, first.height, forged)).toBe(`${prefix}:credits:${first.height}:${forged}`);
    // An uncle (its own hash, the including block's height): skipped with a warning, no chain check for uncles yet.
    const uncle = `0x${randomBytes(32).toString('hex')}`;
    await matured(first.height, uncle, { [ATTACKER]: 1_750_000_000n }, 1_750_000_000n * 10n ** 9n, first.height);
    const blocks = [first];
    let sawPending = false;
    for (let interval = 0; interval < 3; interval++) {
      const b = interval === 0 ? first : await poolBlock();
      if (interval > 0) blocks.push(b);
      await mine(url, CONFIRMATIONS);
      await matured(b.height, b.hash, CREDITS());
      await oep.tick();
      await autopay(`interval ${interval}`);
      if (interval === 1) {
        // The payments in flight reach Redis as pending before they are sent; a Redis outage in the middle of
        // the mirror (frozen after its first step) fails the interval, and the next one applies the rest once.
        await oep.tick();
        const pending = await redis.zrange(paymentsPendingKey(prefix), 0, -1);
        sawPending = pending.length > 0;
        for (const m of pending) expect(m).toMatch(/^0x[0-9a-f]{40}:[1-9]\d*$/);
        await mine(url, CONFIRMATIONS);
        await autopay('settle 1');
        const before = logs.length;
        onLog = (l) => {
          if (l.msg === 'payment mirrored') proxy.freeze();
        };
        await oep.tick();
        onLog = null;
        const during = logs.slice(before);
        expect(during.filter((l) => l.msg === 'payment mirrored')).toHaveLength(1);
        expect(during.some((l) => l.msg === 'oep interval failed: retried next interval')).toBe(true);
        proxy.thaw();
      }
      await oep.tick();
      await mine(url, CONFIRMATIONS);
    }
    await autopay('settle');
    await oep.tick();
    expect(sawPending).toBe(true);

    // Every real block imported once; the forged one never, and alerted.
    expect(await incomes()).toBe(3);
    expect(await redis.hexists(importedKey(prefix), forged)).toBe(0);
    expect(await redis.hexists(importedKey(prefix), uncle)).toBe(0);
    expect(logs.filter((l) => l.uncle === uncle && l.msg === 'uncle not imported: no chain check for uncles yet')).toHaveLength(1);
    expect(logs.some((l) => l.alert === 'block_forged' && l.block === forged)).toBe(true);
    // Refused at every interval (a warning each time), alerted once: one row of the alert sink.
    expect(logs.filter((l) => l.level === 40 && l.alert === 'block_forged' && l.block === forged).length).toBeGreaterThan(1);
    await intake.intake.alerts.settled();
    const forgedAlerts = await t.ledger.db.query(
      "SELECT id FROM payserv_alerts WHERE kind = 'block_forged' AND details->>'block' = lower($1)",
      [forged],
    );
    expect(forgedAlerts).toHaveLength(1);
    // The excess Shannon came off the pool fee: income = 2 ETH exactly per block.
    const [fee] = await t.ledger.db.query<{ s: string }>(
      'SELECT sum(amount)::text AS s FROM finances_user_balance_transaction WHERE user_id = $1',
      [eth.feeUserId],
    );
    expect(shannonOf(fee!.s)).toBe(3n * 19_999_999n);

    // The record is informational: lost, nothing is credited twice (this process remembers what the intake answered).
    expect(await redis.hlen(importedKey(prefix))).toBe(3);
    await redis.del(importedKey(prefix));
    await oep.tick();
    expect(await incomes()).toBe(3);

    // Redis as the pool's API reads it, the ledger and the chain.
    expect(await redis.zcard(paymentsPendingKey(prefix))).toBe(0);
    let paidTotal = 0n;
    const all = await redis.zrange(paymentsAllKey(prefix), 0, -1, 'WITHSCORES');
    const expectedAll: string[] = [];
    for (const login of logins) {
      const sent = await sentOf(userOf(login));
      expect(sent.length).toBeGreaterThan(0);
      const paid = sent.reduce((s, w) => s + shannonOf(w.amount), 0n);
      paidTotal += paid;
      const miner = await redis.hgetall(minerKey(prefix, login));
      const credited = 3n * CREDITS()[login]!;
      expect(miner).toEqual({ balance: String(credited - paid), pending: '0', paid: String(paid) });
      expect(await available(userOf(login))).toBe(BigInt(miner.balance!) * 10n ** 9n);
      const own = await redis.zrange(paymentsLoginKey(prefix, login), 0, -1, 'WITHSCORES');
      const expectedOwn: string[] = [];
      for (const w of sent) {
        expectedOwn.push(`${w.tx_hash}:${shannonOf(w.amount)}`, w.sent_at!);
        expectedAll.push(`${w.tx_hash}:${login}:${shannonOf(w.amount)}`, w.sent_at!);
      }
      expect(pairs(own)).toEqual(pairs(expectedOwn));
      // The chain paid amount - fee of each sent withdrawal; the pool's API shows the amount (the balance it took).
      const onChain = sent.reduce((s, w) => s + toBaseUnits(sub(parseAmount(w.amount), parseAmount(w.fee)), 18), 0n);
      expect(await balanceOf(url, login)).toBe(onChain);
    }
    expect(pairs(all)).toEqual(pairs(expectedAll));
    const fin = await redis.hgetall(financesKey(prefix));
    // The forged block's and the uncle's credits are in Redis too (as a compromised unlocker would write them), never in the ledger.
    expect(fin).toEqual({
      balance: String(3n * 2_000_000_001n + 2_000_000_000n + 1_750_000_000n - paidTotal),
      pending: '0',
      paid: String(paidTotal),
    });
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('refuses to start while the pool’s payer holds its lock or left pending payments of its own', async () => {
    const config = oepSettings(`redis://127.0.0.1:6379/${REDIS_DB}`, prefix, FEE_LOGIN);
    await redis.set(`${prefix}:payments:lock`, `${logins[0]}:5`);
    await expect(startOep(intake.intake, config, createLogger('intake', 'silent'))).rejects.toThrow(/payments:lock is set/);
    await redis.del(`${prefix}:payments:lock`);
    await redis.zadd(paymentsPendingKey(prefix), 1, `${logins[0]}:5`);
    await expect(startOep(intake.intake, config, createLogger('intake', 'silent'))).rejects.toThrow(/did not write/);
  });
});

/** A WITHSCORES reply as sorted "member@score" strings. */
function pairs(flat: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push(`${flat[i]}@${flat[i + 1]}`);
  return out.sort();
}
