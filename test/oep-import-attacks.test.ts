// The open-ethereum-pool adapter's import against an attacker with write access to the pool's Redis and an
// operator who retires a wallet (issue 16's attack report, F2 F6 F7 F8): a retired login is not registered again
// after a restart, and not paid; a member the intake cannot take ("0x0") is refused alone, alerted, and the
// interval goes on; a forged block writes no wallet; a forged <coin>:payserv:imported entry skips nothing; an
// old block re-listed at another height is refused (the adapter passes the member's height, F1). A retired login
// whose row an attacker with write access to payserv's database moved (another user, or another address) is not
// registered again either, not paid, and alerted (attack16 round 2, F3): the adapter judges signed rows, not columns.
// Real Redis, anvil, the intake in process (wallets reviewed by hand: the adapter signs its own).
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Hex } from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { runAutopay } from '../src/autopay/run.js';
import type { Config } from '../src/config/index.js';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { dispatchIntake } from '../src/intake/handlers.js';
import { startIntake, type RunningIntake } from '../src/intake/service.js';
import type { Logger } from '../src/log/index.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { startOep, type RunningOep } from '../src/pools/oep/adapter.js';
import { oepUserId } from '../src/pools/oep/import.js';
import { blockMember, blocksKey, creditsKey, financesKey, minerKey } from '../src/pools/oep/keys.js';
import { importedKey } from '../src/pools/oep/steps.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf } from './support/chains.js';
import { amt } from './support/miners.js';
import type { TestPayserv } from './support/payserv.js';
import { adapterPayserv, clearRedis, ethIntakeToml, intakeConfig, keptLog, oepToml } from './support/pool-adapter.js';

const anvil = anvilForFile();
const REDIS_DB = 12;
const POOL = privateKeyToAccount(generatePrivateKey()).address;
const FEE_LOGIN = `0x${randomBytes(20).toString('hex')}`;
const CONFIRMATIONS = 12;
const REWARD_WEI = 2n * 10n ** 18n;
const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };

let t: TestPayserv;
let url: string;
let redis: Redis;
let prefix: string;
let intake: RunningIntake;
let oep: RunningOep;
let config: Config<'intake'>;
let log: Logger;
const logs: Array<Record<string, unknown>> = [];

beforeEach(async () => {
  url = (await anvil()).url;
  t = await adapterPayserv(url);
  prefix = `oepatk${randomBytes(4).toString('hex')}`;
  redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB });
  config = await intakeConfig(
    t.ledger.stateDir,
    ethIntakeToml(url, POOL, { manualReview: true }) + oepToml(`redis://127.0.0.1:6379/${REDIS_DB}`, prefix, FEE_LOGIN),
  );
  logs.length = 0;
  log = keptLog(logs);
  intake = await startIntake(config, log, t.ledger.db);
  oep = await startOep(intake.intake, config.pools.oep!, log);
});

afterEach(async () => {
  await oep.stop();
  await intake.stop();
  await clearRedis(redis, prefix);
  await t.ledger.db.close();
});

/** A block mined to the pool on anvil and matured. */
async function poolBlock(): Promise<{ hash: string; height: bigint }> {
  await anvilRpc(url, 'anvil_setCoinbase', [POOL]);
  await mine(url, 1);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; number: Hex };
  await mine(url, CONFIRMATIONS);
  return { hash: b.hash, height: BigInt(b.number) };
}

/** What the unlocker's WriteMaturedBlock leaves: the member, its credits hash, the balances. */
async function matured(height: bigint, hash: string, credits: Record<string, bigint>): Promise<void> {
  const member = blockMember({
    uncleHeight: 0n,
    orphan: false,
    nonce: '0x5b1d3c0ffee0ab12',
    hash,
    timestamp: 1_700_000_000n + height,
    difficulty: 2_000_000n,
    totalShares: 9_000_000n,
    rewardWei: REWARD_WEI,
  });
  const m = redis.multi().zadd(blocksKey(prefix, 'matured'), height.toString(), member);
  let total = 0n;
  for (const [login, shannon] of Object.entries(credits)) {
    m.hsetnx(creditsKey(prefix, height, hash), login, shannon.toString()).hincrby(minerKey(prefix, login), 'balance', shannon.toString());
    total += shannon;
  }
  await m.hincrby(financesKey(prefix), 'balance', total.toString()).exec();
}

const newLogin = () => privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
const LOGIN = newLogin();
const userOf = (login: string) => oepUserId({ prefix, coin: 'ETH' }, login);
const CREDITS = () => ({ [FEE_LOGIN]: 20_000_000n, [LOGIN]: 1_980_000_000n });
const incomeOf = async (hash: string) =>
  t.ledger.db.query<{ id: number }>("SELECT id FROM finances_proxypool_transactions WHERE block_hash = $1 AND kind = 'block'", [
    hash.toLowerCase(),
  ]);
const walletCount = async () => (await t.ledger.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users_userwallets'))[0]!.n;
const creditedOf = async (login: string) =>
  (
    await t.ledger.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM finances_user_balance_transaction WHERE user_id = $1 AND type = 'block'",
      [userOf(login)],
    )
  )[0]!.n;
const restart = async () => {
  await oep.stop();
  oep = await startOep(intake.intake, config.pools.oep!, log);
};

describePerDataPath('the open-ethereum-pool import against a hostile Redis and a retired wallet', () => {
  for (const how of ['deleted', 'inactive'] as const) {
    it(`a login wallet the operator retired (${how}) is not registered again after a restart, nor paid; its credits are still imported`, async () => {
      const b1 = await poolBlock();
      await matured(b1.height, b1.hash, CREDITS());
      await oep.tick();
      const [w1] = await t.ledger.db.query<{ id: number; signed: boolean }>(
        'SELECT id, signature IS NOT NULL AS signed FROM users_userwallets WHERE user_id = $1',
        [userOf(LOGIN)],
      );
      expect(w1?.signed, 'the adapter signs its own wallets under review = "manual"').toBe(true);
      await dispatchIntake(intake.intake, 'Wallets.Retire', { wallet: w1!.id, how });
      await restart();
      const b2 = await poolBlock();
      await matured(b2.height, b2.hash, CREDITS());
      await oep.tick();
      expect(await incomeOf(b2.hash)).toHaveLength(1);
      expect(await creditedOf(LOGIN), 'both blocks credited: nothing lost').toBe(2);
      const wallets = await t.ledger.db.query<{ id: number }>('SELECT id FROM users_userwallets WHERE user_id = $1', [userOf(LOGIN)]);
      expect(
        wallets.map((w) => w.id),
        'no wallet added back',
      ).toEqual([w1!.id]);
      expect(logs.some((l) => l.msg === 'miner wallet retired in the ledger: not registered again' && l.address === LOGIN)).toBe(true);
      await runAutopay(t.ps, 'ETH', SETTINGS, 'after restart');
      await mine(url, CONFIRMATIONS);
      await runAutopay(t.ps, 'ETH', SETTINGS, 'after restart settle');
      expect(await balanceOf(url, LOGIN), 'the retired login paid').toBe(0n);
    });
  }

  it('a forged <coin>:payserv:imported entry skips nothing: the block is credited, and the entry overwritten with its income', async () => {
    const b = await poolBlock();
    await matured(b.height, b.hash, CREDITS());
    await redis.hset(importedKey(prefix), b.hash, '1');
    await oep.tick();
    const [income] = await incomeOf(b.hash);
    expect(income, 'the block the forged entry named is credited').toBeDefined();
    expect(await redis.hget(importedKey(prefix), b.hash)).toBe(String(income!.id));
    // The record is the operator's to read, never the adapter's: deleted, nothing is asked again in this process.
    await redis.del(importedKey(prefix));
    await oep.tick();
    expect(await incomeOf(b.hash)).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'matured block imported' && l.block === b.hash)).toHaveLength(1);
  });

  it('a matured member with the hash "0x0" is refused alone (alerted): later blocks are imported and payments mirrored', async () => {
    const b1 = await poolBlock();
    await matured(b1.height, b1.hash, CREDITS());
    await oep.tick();
    await runAutopay(t.ps, 'ETH', SETTINGS, 'pay');
    await mine(url, CONFIRMATIONS);
    await runAutopay(t.ps, 'ETH', SETTINGS, 'pay settle');
    // A member the pool's own key() can write (a block without a hash), credited under credits:<h>:0x0.
    const stranger = newLogin();
    await matured(b1.height + 1n, '0x0', { [FEE_LOGIN]: 1n, [stranger]: 1n });
    const b2 = await poolBlock();
    await matured(b2.height, b2.hash, CREDITS());
    const wallets = await walletCount();
    for (let i = 0; i < 2; i++) await oep.tick();
    expect(logs.filter((l) => l.msg === 'oep interval failed: retried next interval')).toEqual([]);
    const refused = logs.filter((l) => l.block === '0x0' && l.alert === 'block_refused');
    expect(refused, 'alerted each interval').toHaveLength(2);
    expect(refused[0]).toMatchObject({ level: 50, reason: expect.stringMatching(/block member hash/) });
    expect(await incomeOf(b2.hash)).toHaveLength(1);
    expect(await walletCount(), 'no wallet for the refused member').toBe(wallets);
    const miner = await redis.hgetall(minerKey(prefix, LOGIN));
    expect(BigInt(miner.paid ?? '0'), 'the sent payment mirrored').toBe(1_980_000_000n);
  });

  it('a forged block (unknown to the chain) naming 200 logins is refused, alerted, and writes no wallet', async () => {
    const forged = `0x${'ab'.repeat(32)}`;
    const credits: Record<string, bigint> = { [FEE_LOGIN]: 1n };
    for (let i = 0; i < 200; i++) credits[newLogin()] = 1n;
    await matured(5n, forged, credits);
    const before = await walletCount();
    await oep.tick();
    expect(logs.some((l) => l.alert === 'block_forged' && l.block === forged && l.pool === 'oep')).toBe(true);
    expect(await incomeOf(forged)).toHaveLength(0);
    expect(await walletCount(), 'wallets written for a refused block').toBe(before);
  });

  it('a block the pool mined before, re-listed at a new height with the attacker as its miner, is refused: the adapter passes the height', async () => {
    const old = await poolBlock();
    const thief = newLogin();
    await matured(old.height + 5n, old.hash, { [FEE_LOGIN]: 20_000_000n, [thief]: 1_980_000_000n });
    const before = await walletCount();
    await oep.tick();
    expect(await incomeOf(old.hash)).toHaveLength(0);
    expect(logs.some((l) => l.pool === 'oep' && l.block === old.hash && l.code === 'block_height_mismatch')).toBe(true);
    expect(await walletCount()).toBe(before);
  });
});

const MOVES = {
  'to another user': 'UPDATE users_userwallets SET user_id = 7 WHERE id = $1',
  'to another address': "UPDATE users_userwallets SET address = '0x' || repeat('77', 20) WHERE id = $1",
  'to another user, its signature stripped':
    'UPDATE users_userwallets SET user_id = 7, signature = NULL, sig_key_id = NULL, signed_at = NULL WHERE id = $1',
} as const;

/**
 * A login of its own (anvil is shared by the file, and other tests pay theirs) credited, its wallet retired `how`
 * by the operator, its row then changed by `sql` (an attacker's UPDATE; DELETE is refused by a trigger), the adapter
 * restarted and a second block of the login imported. The wallets counted before that block.
 */
async function retiredThenMined(how: 'deleted' | 'inactive', sql?: string) {
  const login = newLogin();
  const credits = { [FEE_LOGIN]: 20_000_000n, [login]: 1_980_000_000n };
  const b1 = await poolBlock();
  await matured(b1.height, b1.hash, credits);
  await oep.tick();
  const [w] = await t.ledger.db.query<{ id: number }>('SELECT id FROM users_userwallets WHERE user_id = $1', [userOf(login)]);
  await dispatchIntake(intake.intake, 'Wallets.Retire', { wallet: w!.id, how });
  if (sql) await t.ledger.db.query(sql, [w!.id]);
  await restart();
  const before = await walletCount();
  const b2 = await poolBlock();
  await matured(b2.height, b2.hash, credits);
  await oep.tick();
  await intake.intake.alerts.settled();
  return { login, wallet: w!.id, b2, before };
}

describePerDataPath("a retired wallet's row moved in the ledger database", () => {
  for (const how of ['deleted', 'inactive'] as const) {
    for (const [move, sql] of Object.entries(MOVES)) {
      it(`a login wallet the operator retired (${how}) stays retired when its row is moved ${move}: alerted, never paid`, async () => {
        const { login, wallet, b2, before } = await retiredThenMined(how, sql);
        expect(await incomeOf(b2.hash), 'the block itself is credited').toHaveLength(1);
        expect(await creditedOf(login), "the login's credits recorded").toBe(2);
        expect(await walletCount(), 'no wallet added back').toBe(before);
        const alerts = await t.ledger.db.query<{ kind: string; reason: string }>('SELECT kind, reason FROM payserv_alerts');
        expect(
          alerts.filter((a) => a.kind === 'intake_integrity' && a.reason.includes(login)),
          'alerted',
        ).toHaveLength(1);
        expect(logs.some((l) => l.level === 50 && l.address === login && String(l.msg).includes(`wallet ${wallet}`))).toBe(true);
        await runAutopay(t.ps, 'ETH', SETTINGS, 'after restart');
        await mine(url, CONFIRMATIONS);
        await runAutopay(t.ps, 'ETH', SETTINGS, 'after restart settle');
        expect(await balanceOf(url, login), 'the retired login paid').toBe(0n);
      });
    }
  }

  it('a retired row left as the operator signed it: not registered again, no alert', async () => {
    const { login } = await retiredThenMined('deleted');
    expect(await walletCount()).toBe(1);
    expect(await t.ledger.db.query("SELECT 1 FROM payserv_alerts WHERE kind = 'intake_integrity'")).toEqual([]);
    expect(logs.some((l) => l.msg === 'miner wallet retired in the ledger: not registered again' && l.address === login)).toBe(true);
  });
});
