// The MiningCore adapter (issue 16 item 4) against MiningCore's own tables in a real PostgreSQL, anvil and the
// intake in process: blocks MiningCore confirms over several intervals (mined to the pool on anvil, credited as
// its payout manager does) imported into the signed ledger, payserv's autopay paying them with each miner's own
// threshold, and every payment written back so MiningCore's payments, balance_changes and balances agree with
// the chain and the ledger. Also: a forged block refused and alerted, a MiningCore outage mid write-back.
import type { Hex } from 'viem';
import { beforeEach, expect, it, onTestFinished } from 'vitest';
import { runAutopay } from '../src/autopay/run.js';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { dispatchIntake } from '../src/intake/handlers.js';
import { startIntakeWithPools, type RunningIntakeWithPools } from '../src/cli/intake.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { formatAmount, parseAmount, sub, sum, toBaseUnits, type Amount } from '../src/money/amount.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { parseDecimal28 } from '../src/pools/miningcore/decimal.js';
import { minerPayoutDue } from '../src/pools/miningcore/threshold.js';
import { BALANCE_RESET_USAGE } from '../src/pools/miningcore/usage.js';
import { derivedUserId } from '../src/pools/user-id.js';
import { anvilForFile, balanceOf } from './support/chains.js';
import { describeOncePerSuite } from './support/db.js';
import { amt, coinByTag, ethAddress, newBlockHash } from './support/miners.js';
import { creditConfirmedBlock, miningcoreDbForFile } from './support/miningcore-db.js';
import { type TestPayserv } from './support/payserv.js';
import { adapterPayserv, ethIntakeToml, intakeConfig, keptLog } from './support/pool-adapter.js';

const anvil = anvilForFile();
const mcDb = miningcoreDbForFile();
const POOL_ID = 'eth1';
const POOL = ethAddress();
const FEE = ethAddress();
/** MiningCore's minimumPayment, raised so high no balance reaches it. */
const MINIMUM = '1000000';
/** MiningCore's former minimumPayment: payserv's coin threshold now. */
const SETTINGS: AutopaySettings = { threshold: amt('0.5'), requirePeers: 0, maxPerRun: 100 };

let url: string;
let t: TestPayserv;
let eth: Signed<Coin>;
let intake: RunningIntakeWithPools;
let logs: Array<Record<string, unknown>>;

async function startAdapterIntake(): Promise<RunningIntakeWithPools> {
  const config = await intakeConfig(
    t.ledger.stateDir,
    `${ethIntakeToml(url, POOL, { manualReview: true, timeoutMs: 5000 })}[pools.miningcore]
database_url = "${mcDb.url}"
pool_id = "${POOL_ID}"
coin = "ETH"
interval_s = 3600
fee_address = ["${FEE}"]
minimum_payment = "${MINIMUM}"
`,
  );
  const log = keptLog(logs);
  const running = await startIntakeWithPools(config, log, undefined, t.ledger.db);
  onTestFinished(() => running.stop());
  return running;
}

beforeEach(async () => {
  url = (await anvil()).url;
  await mcDb.empty();
  t = await adapterPayserv(url);
  eth = await coinByTag(t, 'ETH');
  logs = [];
  intake = await startAdapterIntake();
  onTestFinished(() => t.ledger.db.close());
});

const userOf = (address: string) => derivedUserId(`miningcore:${POOL_ID}`, 'ETH', address);

/** A block mined to the pool on anvil and matured, then confirmed and credited by MiningCore (PPLNS and the fee recipient). */
async function mcBlock(credits: Array<[string, string]>, fee: string, o: { hash?: string } = {}): Promise<string> {
  await anvilRpc(url, 'anvil_setCoinbase', [POOL]);
  await mine(url, 1);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; number: Hex };
  await mine(url, eth.confirmations);
  const hash = o.hash ?? b.hash;
  const height = BigInt(b.number);
  await creditConfirmedBlock(mcDb.pool, POOL_ID, { height, hash: hash }, [FEE, fee], credits);
  return hash;
}

const incomeOf = async (hash: string) =>
  t.ledger.db.query("SELECT id FROM finances_proxypool_transactions WHERE block_hash = $1 AND kind = 'block'", [hash.toLowerCase()]);

type Row = { id: number; user_id: number; address: string; amount: string; fee: string; status: string; tx_hash: string | null };
const withdrawalsOf = (userId: number) =>
  t.ledger.db.query<Row>(
    'SELECT id, user_id, address, amount::text, fee::text, status, tx_hash FROM finances_withdrawal_transaction WHERE user_id = $1 ORDER BY id',
    [userId],
  );

const ledgerBalance = async (address: string): Promise<Amount> => {
  const r = (await dispatchIntake(intake.intake, 'Balance.Get', { user: userOf(address), coin: 'ETH' })) as { balance: string };
  return parseAmount(r.balance);
};

const mcRows = mcDb.rows;

/** MiningCore's three tables against the ledger and the chain, for each miner. */
async function expectAgreement(miners: readonly string[]): Promise<void> {
  for (const address of miners) {
    const sent = (await withdrawalsOf(userOf(address))).filter((w) => w.status === 'sent');
    const payments = await mcRows<{ amount: string; tx: string; coin: string }>(
      'SELECT amount::text, transactionconfirmationdata AS tx, coin FROM payments WHERE poolid = $1 AND address = $2 ORDER BY id',
      [POOL_ID, address],
    );
    // One payments row per sent withdrawal, with its transaction hash and its amount (exact: credits are whole 10^-12).
    expect(payments.map((p) => [p.tx, formatAmount(parseAmount(p.amount)), p.coin]).sort(), address).toEqual(
      sent.map((w) => [w.tx_hash, formatAmount(parseAmount(w.amount)), 'ETH']).sort(),
    );
    const resets = await mcRows<{ n: number }>('SELECT count(*)::int AS n FROM balance_changes WHERE address = $1 AND usage = $2', [
      address,
      BALANCE_RESET_USAGE,
    ]);
    expect(resets[0]!.n).toBe(sent.length);
    const [bal] = await mcRows<{ amount: string }>('SELECT amount::text FROM balances WHERE poolid = $1 AND address = $2', [
      POOL_ID,
      address,
    ]);
    const [changes] = await mcRows<{ s: string }>('SELECT sum(amount)::text AS s FROM balance_changes WHERE poolid = $1 AND address = $2', [
      POOL_ID,
      address,
    ]);
    expect(parseDecimal28(changes!.s, 'sum')).toBe(parseDecimal28(bal!.amount, 'balance'));
    expect(formatAmount(parseAmount(bal!.amount)), address).toBe(formatAmount(await ledgerBalance(address)));
    // The chain paid each sent withdrawal less its fee.
    const onChain = sum(sent.map((w) => sub(parseAmount(w.amount), parseAmount(w.fee))));
    expect(await balanceOf(url, address), address).toBe(toBaseUnits(onChain, 18));
  }
}

const pay = async (holder: string) => {
  const r = await runAutopay(t.ps, 'ETH', SETTINGS, holder);
  expect(r.outcome, r.reason ?? '').toBe('done');
  await mine(url, 12);
  return r;
};

const paymentCount = async () => (await mcRows<{ n: number }>('SELECT count(*)::int AS n FROM payments'))[0]!.n;

describeOncePerSuite('the MiningCore adapter', () => {
  it('imports confirmed blocks over intervals, payserv pays with per-miner thresholds, payments written back once, the tables agree with the chain', async () => {
    const [a, b, c] = [ethAddress(), ethAddress(), ethAddress()];
    // a: own threshold 1 (lower than b's); b: 5, never reached; c: none, MiningCore's former minimum (payserv's 0.5).
    await mcDb.pool.query(
      'INSERT INTO miner_settings(poolid, address, paymentthreshold, created, updated) VALUES ($1, $2, 1, now(), now()), ($1, $3, 5, now(), now())',
      [POOL_ID, a, b],
    );
    const hashes: string[] = [];
    for (let i = 0; i < 3; i++) {
      hashes.push(
        await mcBlock(
          [
            [a, '0.412345678901'],
            [b, '0.7'],
            [c, '0.300000000001'],
          ],
          '0.01',
        ),
      );
      await intake.miningcore!.tick();
      expect(await incomeOf(hashes[i]!)).toHaveLength(1);
      await pay(`interval ${i}`);
    }
    // MiningCore's payer is idle: every threshold raised to the huge minimum, none of its balances due.
    expect(await mcRows('SELECT DISTINCT paymentthreshold::text AS t FROM miner_settings')).toEqual([{ t: `${MINIMUM}.000000000000` }]);
    for (const r of await mcRows<{ amount: string; t: string }>(
      'SELECT b.amount::text, ms.paymentthreshold::text AS t FROM balances b LEFT JOIN miner_settings ms USING (poolid, address)',
    ))
      expect(minerPayoutDue(parseDecimal28(r.amount, 'b'), r.t ? parseDecimal28(r.t, 't') : null, parseDecimal28(MINIMUM, 'm'))).toBe(
        false,
      );
    // The thresholds went to payserv, where autopay honours them.
    expect(
      await t.ledger.db.query('SELECT user_id::text AS u, threshold::text AS t FROM users_autopay_thresholds ORDER BY threshold'),
    ).toMatchObject([{ u: String(userOf(a)) }, { u: String(userOf(b)) }]);

    // MiningCore's database drops the connection mid write-back: nothing is half written, and the next interval writes it all.
    await pay('settle');
    const before = await paymentCount();
    await mcDb.pool
      .query(`CREATE FUNCTION outage() RETURNS trigger AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$ LANGUAGE plpgsql;
      CREATE TRIGGER outage BEFORE INSERT ON balance_changes FOR EACH ROW EXECUTE FUNCTION outage();`);
    await intake.miningcore!.tick();
    expect(await paymentCount()).toBe(before);
    expect(logs.some((l) => l.step === 'write-back')).toBe(true);
    await mcDb.pool.query('DROP TRIGGER outage ON balance_changes; DROP FUNCTION outage()');
    await intake.miningcore!.tick();
    expect(await paymentCount()).toBeGreaterThan(before);

    const paid = async (address: string) => (await withdrawalsOf(userOf(address))).filter((w) => w.status === 'sent');
    expect((await paid(a)).length).toBeGreaterThan(0);
    expect(await paid(b)).toEqual([]);
    expect((await paid(c)).length).toBeGreaterThan(0);
    expect((await withdrawalsOf(userOf(a))).every((w) => w.status === 'sent')).toBe(true);
    await expectAgreement([a, b, c]);

    // Re-running, in this process and in a new one, writes nothing twice and imports nothing twice.
    const snapshot = async () => ({
      mc: await mcRows(
        'SELECT (SELECT count(*) FROM payments) AS p, (SELECT count(*) FROM balance_changes) AS c, (SELECT sum(amount)::text FROM balances) AS s',
      ),
      ledger: await t.ledger.db.query('SELECT count(*)::int AS n FROM finances_user_balance_transaction'),
    });
    const settled = await snapshot();
    await intake.miningcore!.tick();
    await intake.stop();
    intake = await startAdapterIntake();
    await intake.miningcore!.tick();
    expect(await snapshot()).toEqual(settled);
    await expectAgreement([a, b, c]);
  });

  it('a confirmed block the chain does not know is not imported and is alerted; the blocks around it are', async () => {
    const [a, b] = [ethAddress(), ethAddress()];
    const good1 = await mcBlock([[a, '0.5']], '0.01');
    const forged = await mcBlock([[b, '1.5']], '0.01', { hash: newBlockHash() });
    const good2 = await mcBlock([[a, '0.25']], '0.01');
    await intake.miningcore!.tick();
    expect(await incomeOf(good1)).toHaveLength(1);
    expect(await incomeOf(good2)).toHaveLength(1);
    expect(await incomeOf(forged)).toEqual([]);
    expect(logs.filter((l) => l.alert === 'block_forged' && l.block === forged).length).toBeGreaterThan(0);
    await expect(dispatchIntake(intake.intake, 'Balance.Get', { user: userOf(b), coin: 'ETH' })).rejects.toThrow(/unknown user/);
    expect(formatAmount(await ledgerBalance(a))).toBe('0.75');
  });

  it("a miner's wallet the operator deleted is not added back: its credits are imported, unpaid", async () => {
    const a = ethAddress();
    await mcBlock([[a, '0.5']], '0.01');
    await intake.miningcore!.tick();
    const [w] = await t.ledger.db.query<{ id: number }>('SELECT id FROM users_userwallets WHERE user_id = $1', [userOf(a)]);
    await dispatchIntake(intake.intake, 'Wallets.Retire', { wallet: w!.id, how: 'deleted' });
    await intake.stop();
    intake = await startAdapterIntake();
    await mcBlock([[a, '0.25']], '0.01');
    await intake.miningcore!.tick();
    expect(formatAmount(await ledgerBalance(a))).toBe('0.75');
    expect(await t.ledger.db.query('SELECT id, deleted FROM users_userwallets WHERE user_id = $1', [userOf(a)])).toEqual([
      { id: w!.id, deleted: true },
    ]);
  });

  it('two confirmed blocks at one height cannot be told apart: neither is imported, an error is logged', async () => {
    // The interval run at start is over first: it must not find the block before its twin is written.
    await intake.miningcore!.tick();
    const a = ethAddress();
    const hash = await mcBlock([[a, '0.5']], '0.01');
    const [row] = await mcRows<{ h: string }>('SELECT blockheight::text AS h FROM blocks WHERE hash = $1', [hash]);
    await mcDb.pool.query(
      `INSERT INTO blocks(poolid, blockheight, networkdifficulty, status, type, confirmationprogress, transactionconfirmationdata, reward, hash, created)
       VALUES($1, $2, 1, 'confirmed', 'uncle', 1, $3, 1, $3, now())`,
      [POOL_ID, row!.h, newBlockHash()],
    );
    await intake.miningcore!.tick();
    expect(await incomeOf(hash)).toEqual([]);
    expect(logs.some((l) => l.alert === 'block_refused' && String(l.reason).includes('cannot be told apart'))).toBe(true);
  });
});
