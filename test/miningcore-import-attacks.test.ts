// The MiningCore adapter's import against an attacker with write access to MiningCore's database, an operator
// who retires a wallet, and a Zcash pool (issue 16's attack report, F2 F5 F7): a forged block writes no wallet; a
// retired wallet is not registered again after a restart; PPLNS credits finer than a zatoshi are rounded down,
// the dust going to the pool fee, while an amount that is not a number or is negative still refuses the block;
// a pool block named at another height is refused (the adapter passes blocks.blockheight, F1). The second round
// (attack16): a Zcash miner's shielded address does not keep a block out (credited, unpaid, no wallet), and a block
// a lagging node does not show yet is asked again each interval and imported once the node has it.
// MiningCore's own tables in a real PostgreSQL, anvil and the Zcash node stand-in, the intake in process.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Hex } from 'viem';
import { beforeEach, expect, it, onTestFinished } from 'vitest';
import { startIntakeWithPools, type RunningIntakeWithPools } from '../src/cli/intake.js';
import { anvilRpc, mine, setAutomine } from '../src/devnet/anvil.js';
import { dispatchIntake } from '../src/intake/handlers.js';
import { mcTransaction } from '../src/pools/miningcore/context.js';
import { PAYOUT_STATEMENTS } from '../src/pools/miningcore/schema.js';
import { blockRewardUsage } from '../src/pools/miningcore/usage.js';
import { derivedUserId } from '../src/pools/user-id.js';
import { anvilForFile, zcashAddress, zcashStandinForFile } from './support/chains.js';
import { describeOncePerSuite } from './support/db.js';
import { amt, ethAddress, newBlockHash } from './support/miners.js';
import { miningcoreDbForFile } from './support/miningcore-db.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { emptySeed } from './support/ledger.js';
import { ethIntakeToml, GENEROUS, intakeConfig, keptLog } from './support/pool-adapter.js';

const anvil = anvilForFile();
const mcDb = miningcoreDbForFile();
const zcashNode = zcashStandinForFile();
const POOL_ID = 'pool1';
const POOL = ethAddress();
const ZPOOL = zcashAddress();

let url: string;
let t: TestPayserv;
let intake: RunningIntakeWithPools;
let logs: Array<Record<string, unknown>>;

/** The intake with [pools.miningcore] for `coin` (ETH on anvil, or ZEC on the stand-in at `zcashUrl`). */
async function startAdapterIntake(coin: 'ETH' | 'ZEC', fee: string, zcashUrl?: string, ethUrl = url): Promise<RunningIntakeWithPools> {
  const config = await intakeConfig(
    t.ledger.stateDir,
    `${ethIntakeToml(ethUrl, POOL, { manualReview: true, timeoutMs: 5000 })}${zcashUrl ? `[coins.ZEC]\nchain = "zcash"\nfirst_height = 0\nnode_url = "${zcashUrl}"\npool_address = "${ZPOOL}"\ntimeout_ms = 5000\n` : ''}
[pools.miningcore]
database_url = "${mcDb.url}"
pool_id = "${POOL_ID}"
coin = "${coin}"
interval_s = 3600
fee_address = ["${fee}"]
minimum_payment = "1000000"
from_block_id = 1
`,
  );
  const log = keptLog(logs);
  const running = await startIntakeWithPools(config, log, undefined, t.ledger.db);
  onTestFinished(() => running.stop());
  return running;
}

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  await mcDb.empty();
  t = await testPayserv({
    seed: emptySeed(5, ['ETH', 'ZEC']),
    policies: { ETH: GENEROUS },
    drivers: async () => new Map(),
  });
  logs = [];
  onTestFinished(() => t.ledger.db.close());
});

const userOf = (coin: string, address: string) => derivedUserId(`miningcore:${POOL_ID}`, coin, address);

/** A confirmed block and its credits, as MiningCore's UpdatePoolBalancesAsync writes them (one transaction). */
async function mcBlock(height: bigint, hash: string, fee: [string, string], credits: Array<[string, string]>): Promise<void> {
  await mcTransaction(mcDb.pool, async (q) => {
    await q.query(
      `INSERT INTO blocks(poolid, blockheight, networkdifficulty, status, type, confirmationprogress, transactionconfirmationdata, miner, reward, hash, created)
       VALUES($1, $2, 1, 'confirmed', 'block', 1, $3, $4, 2, $3, now())`,
      [POOL_ID, height.toString(), hash, credits[0]![0]],
    );
    await q.query(PAYOUT_STATEMENTS.insertBalanceChange, [POOL_ID, fee[0], fee[1], blockRewardUsage(height), [], new Date()]);
    for (const [address, amount] of credits)
      await q.query(PAYOUT_STATEMENTS.insertBalanceChange, [
        POOL_ID,
        address,
        amount,
        `Reward for 12.5K shares for block ${height}`,
        [],
        new Date(),
      ]);
  });
}

/** A block mined to the pool on anvil and matured: its hash and height. */
async function ethPoolBlock(): Promise<{ hash: string; height: bigint }> {
  await anvilRpc(url, 'anvil_setCoinbase', [POOL]);
  await mine(url, 1);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; number: Hex };
  await mine(url, 20);
  return { hash: b.hash, height: BigInt(b.number) };
}

const incomeOf = async (hash: string) =>
  t.ledger.db.query<{ id: number }>("SELECT id FROM finances_proxypool_transactions WHERE block_hash = $1 AND kind = 'block'", [
    `0x${hash.replace(/^0x/, '').toLowerCase()}`,
  ]);
const walletCount = async () => (await t.ledger.db.query<{ n: number }>('SELECT count(*)::int AS n FROM users_userwallets'))[0]!.n;
/** Each credit of the block: user -> amount, the pool fee under the coin's fee user. */
const creditsOf = async (hash: string) =>
  Object.fromEntries(
    (
      await t.ledger.db.query<{ user_id: string; amount: string }>(
        'SELECT user_id::text, amount::text FROM finances_user_balance_transaction WHERE block_hash = $1',
        [`0x${hash.replace(/^0x/, '').toLowerCase()}`],
      )
    ).map((r) => [r.user_id, amt(r.amount)]),
  );

describeOncePerSuite('the MiningCore import against a hostile database, a retired wallet and a Zcash pool', () => {
  it('a forged confirmed block (unknown to the chain) naming 100 addresses is refused, alerted, and writes no wallet', async () => {
    const fee = ethAddress();
    intake = await startAdapterIntake('ETH', fee);
    const forged = newBlockHash();
    await mcBlock(
      5n,
      forged,
      [fee, '0.02'],
      Array.from({ length: 100 }, () => [ethAddress(), '0.0198'] as [string, string]),
    );
    const before = await walletCount();
    await intake.miningcore!.tick();
    expect(logs.some((l) => l.alert === 'block_forged' && l.block === forged && l.pool === POOL_ID)).toBe(true);
    expect(await incomeOf(forged)).toHaveLength(0);
    expect(await walletCount(), 'wallets written for a refused block').toBe(before);
  });

  it('a miner wallet the operator deleted is not registered again after a restart; its next credits are still imported', async () => {
    const fee = ethAddress();
    const miner = ethAddress();
    intake = await startAdapterIntake('ETH', fee);
    const b1 = await ethPoolBlock();
    await mcBlock(b1.height, b1.hash, [fee, '0.02'], [[miner, '1.98']]);
    await intake.miningcore!.tick();
    expect(await incomeOf(b1.hash)).toHaveLength(1);
    const [w] = await t.ledger.db.query<{ id: number; signed: boolean }>(
      'SELECT id, signature IS NOT NULL AS signed FROM users_userwallets WHERE user_id = $1',
      [userOf('ETH', miner)],
    );
    expect(w?.signed, 'registered and signed once the block is credited').toBe(true);
    await dispatchIntake(intake.intake, 'Wallets.Retire', { wallet: w!.id, how: 'deleted' });
    await intake.stop();
    intake = await startAdapterIntake('ETH', fee);
    const b2 = await ethPoolBlock();
    await mcBlock(b2.height, b2.hash, [fee, '0.02'], [[miner, '1.98']]);
    await intake.miningcore!.tick();
    expect(await incomeOf(b2.hash)).toHaveLength(1);
    const wallets = await t.ledger.db.query<{ id: number }>('SELECT id FROM users_userwallets WHERE user_id = $1', [userOf('ETH', miner)]);
    expect(wallets.map((x) => x.id)).toEqual([w!.id]);
  });

  it('a Zcash pool: PPLNS credits finer than a zatoshi are rounded down, the dust to the pool fee; a NaN or negative credit still refuses the block', async () => {
    const n = await zcashNode();
    const fee = zcashAddress();
    intake = await startAdapterIntake('ZEC', fee, n.url);
    const [a, b, c] = [zcashAddress(), zcashAddress(), zcashAddress()];
    const block = await n.mineTo([{ address: ZPOOL, zatoshi: 250_000_000n }]);
    await n.mine(100);
    // 2.475 ZEC over shares 1:2:4, as MiningCore's decimal division stores it (12 places); the fee 1%.
    await mcBlock(
      BigInt(block.height),
      block.hash,
      [fee, '0.025'],
      [
        [a, '0.353571428571'],
        [b, '0.707142857142'],
        [c, '1.414285714285'],
      ],
    );
    // Two blocks MiningCore never writes: an amount that is not a number, a negative credit.
    const nan = newBlockHash().slice(2);
    const negative = newBlockHash().slice(2);
    await mcBlock(BigInt(block.height) + 1n, nan, [fee, '0.025'], [[a, 'NaN']]);
    await mcBlock(
      BigInt(block.height) + 2n,
      negative,
      [fee, '0.025'],
      [
        [a, '2.5'],
        [b, '-0.05'],
      ],
    );
    await intake.miningcore!.tick();
    expect(await incomeOf(block.hash)).toHaveLength(1);
    const [feeUser] = await t.ledger.db.query<{ fee_user_id: string }>("SELECT fee_user_id::text FROM coins_coin WHERE tag = 'ZEC'");
    // Each miner rounded down to the zatoshi; income = 2.499999999998 rounded down; the pool fee takes the rest.
    expect(await creditsOf(block.hash)).toEqual({
      [String(userOf('ZEC', a))]: amt('0.35357142'),
      [String(userOf('ZEC', b))]: amt('0.70714285'),
      [String(userOf('ZEC', c))]: amt('1.41428571'),
      [feeUser!.fee_user_id]: amt('0.02500001'),
    });
    const imported = logs.find((l) => l.msg === 'miningcore block imported' && l.block === block.hash);
    expect(imported).toMatchObject({ income: '2.49999999', dust: '0.00000001' });
    for (const [hash, why] of [
      [nan, /not a decimal\(28,12\) number/],
      [negative, /not positive/],
    ] as const) {
      expect(await incomeOf(hash)).toHaveLength(0);
      expect(logs.find((l) => l.block === hash && l.alert === 'block_refused')?.reason).toMatch(why);
    }
    expect(await t.ledger.check('balances')).toEqual([]);
  });

  it('a confirmed row naming a block the pool mined, at a height the chain does not have it at, is refused: the adapter passes the height', async () => {
    const fee = ethAddress();
    const thief = ethAddress();
    intake = await startAdapterIntake('ETH', fee);
    const old = await ethPoolBlock();
    await mcBlock(987_654_321n, old.hash, [fee, '0.02'], [[thief, '1.98']]);
    await intake.miningcore!.tick();
    expect(await incomeOf(old.hash)).toHaveLength(0);
    expect(logs.some((l) => l.pool === POOL_ID && l.block === old.hash && l.code === 'block_height_mismatch')).toBe(true);
    expect(await t.ledger.db.query('SELECT id FROM users_userwallets WHERE user_id = $1', [userOf('ETH', thief)])).toHaveLength(0);
  });

  it("a Zcash miner's shielded address does not keep the block out: every miner credited, that one unpaid, no wallet, alerted once", async () => {
    const n = await zcashNode();
    const fee = zcashAddress();
    intake = await startAdapterIntake('ZEC', fee, n.url);
    const [a, b] = [zcashAddress(), zcashAddress()];
    // A Sapling address (the protocol specification's example): MiningCore's z_validateaddress accepts it.
    const shielded = 'zs1z7rejlpsa98s2rrrfkwmaxu53e4ue0ulcrw0h4x5g8jl04tak0d3mm47vdtahatqrlkngh9slya';
    const mined = async (hash: string, height: bigint) =>
      mcBlock(
        height,
        hash,
        [fee, '0.025'],
        [
          [a, '1.2'],
          [b, '1.2'],
          [shielded, '0.075'],
        ],
      );
    const b1 = await n.mineTo([{ address: ZPOOL, zatoshi: 250_000_000n }]);
    const b2 = await n.mineTo([{ address: ZPOOL, zatoshi: 250_000_000n }]);
    await n.mine(100);
    await mined(b1.hash, BigInt(b1.height));
    await mined(b2.hash, BigInt(b2.height));
    // Over-long is not an address MiningCore could have written: that block is still refused.
    const long = newBlockHash().slice(2);
    await mcBlock(BigInt(b2.height) + 1n, long, [fee, '0.025'], [[`zs1${'q'.repeat(140)}`, '2.475']]);
    await intake.miningcore!.tick();
    await intake.miningcore!.tick();
    await intake.intake.alerts.settled();
    for (const block of [b1, b2])
      expect(await creditsOf(block.hash)).toMatchObject({
        [String(userOf('ZEC', a))]: amt('1.2'),
        [String(userOf('ZEC', b))]: amt('1.2'),
        [String(userOf('ZEC', shielded))]: amt('0.075'),
      });
    const walletsOf = async (address: string) =>
      t.ledger.db.query<{ address: string }>('SELECT address FROM users_userwallets WHERE user_id = $1', [userOf('ZEC', address)]);
    expect((await walletsOf(a)).map((w) => w.address)).toEqual([a]);
    expect((await walletsOf(b)).map((w) => w.address)).toEqual([b]);
    expect(await walletsOf(shielded), 'no wallet for an address payserv cannot pay').toHaveLength(0);
    const alerts = logs.filter((l) => (l.alert as { kind?: string } | undefined)?.kind === 'miner_address_unpayable');
    expect(alerts, 'alerted once for two blocks and two intervals').toHaveLength(1);
    expect(alerts[0]!.msg).toMatch(/not a valid ZEC transparent address.*credits imported, unpaid/);
    expect(logs.some((l) => l.alert === 'block_refused' && (l.block === b1.hash || l.block === b2.hash))).toBe(false);
    expect(await incomeOf(long)).toHaveLength(0);
    expect(logs.find((l) => l.alert === 'block_refused' && l.block === long)?.reason).toMatch(/not 1 to 128 characters/);
    expect(await t.ledger.check('balances')).toEqual([]);
  });

  it('a pool block a lagging node does not show yet is asked again each interval, imported once the node has it, alerted once', async () => {
    // The intake's node behind MiningCore's: eth_getBlockByHash answers null while `lagging`.
    let lagging = false;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString();
        const msg = JSON.parse(body) as { id: number; method: string };
        res.setHeader('content-type', 'application/json');
        if (lagging && msg.method === 'eth_getBlockByHash')
          return void res.end(JSON.stringify({ jsonrpc: '2.0', id: msg.id, result: null }));
        void fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
          .then((r) => r.text())
          .then((text) => res.end(text));
      });
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    onTestFinished(() => void server.close());
    const fee = ethAddress();
    const [m1, m2] = [ethAddress(), ethAddress()];
    intake = await startAdapterIntake('ETH', fee, undefined, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    // The adapter's first interval runs at start: let it end before the block exists, or (on a slow host) it sees it too.
    await intake.miningcore!.tick();
    const b1 = await ethPoolBlock();
    await mcBlock(b1.height, b1.hash, [fee, '0.02'], [[m1, '1.98']]);
    lagging = true;
    await intake.miningcore!.tick();
    await intake.miningcore!.tick();
    expect(await incomeOf(b1.hash)).toHaveLength(0);
    expect(logs.filter((l) => l.block === b1.hash && l.code === 'block_unknown' && l.pool === POOL_ID)).toHaveLength(2);
    lagging = false;
    // A later block is imported by the cursor's pass; the lagging one by the recheck, once.
    const b2 = await ethPoolBlock();
    await mcBlock(b2.height, b2.hash, [fee, '0.02'], [[m2, '1.98']]);
    await intake.miningcore!.tick();
    await intake.miningcore!.tick();
    await intake.intake.alerts.settled();
    expect(await incomeOf(b1.hash)).toHaveLength(1);
    expect(await incomeOf(b2.hash)).toHaveLength(1);
    expect(logs.filter((l) => l.msg === 'miningcore block imported' && l.block === b1.hash)).toHaveLength(1);
    expect(await creditsOf(b1.hash)).toMatchObject({ [String(userOf('ETH', m1))]: amt('1.98') });
    expect(await t.ledger.db.query('SELECT id FROM users_userwallets WHERE user_id = $1', [userOf('ETH', m1)])).toHaveLength(1);
    const forgedAlerts = logs.filter((l) => (l.alert as { kind?: string } | undefined)?.kind === 'block_forged');
    expect(forgedAlerts, 'one alert for the block, however often it was asked').toHaveLength(1);
    // Settled: not asked again.
    const asked = logs.filter((l) => l.block === b1.hash).length;
    await intake.miningcore!.tick();
    expect(logs.filter((l) => l.block === b1.hash)).toHaveLength(asked);
  });
});
