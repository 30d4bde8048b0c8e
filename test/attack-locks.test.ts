// Outside tester (postgres). payserv's advisory lock keys are HMAC-derived so nobody can name them; but
// (A) the pool writer's per-account debit lock, which payserv takes when autopay writes a request, keeps
// its name-derived key: hashtextextended('payserv:debits:U:C', 0). The attacker holds it for one user.
// (B) a derived key is visible in pg_locks while payserv holds it: the attacker's trigger on the
// checkpoint table copies payserv's own locks (classid/objid) during an advance, and later holds the
// account's checkpoint key while a payment of that account is in progress.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { listLocks } from '../src/payserv/admin.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { backend, testPgUrl } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { amt, coinByTag, ethAddress, newBlockHash, newMiner, request, wallet } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { creditBlock } from '../src/writer/blocks.js';

const anvil = anvilForFile();
const describePg = backend() === 'postgres' && process.env.PAYSERV_TEST_DATA !== 'dbgw' ? describe : describe.skip;
const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };
const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };
let t: TestPayserv | undefined;
const clients: pg.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  await t?.ledger.db.close();
  t = undefined;
});

async function attacker(tp: TestPayserv): Promise<pg.Client> {
  const [{ name }] = (await tp.ledger.db.query<{ name: string }>('SELECT current_database() AS name')) as [{ name: string }];
  const url = new URL(testPgUrl());
  url.pathname = `/${name}`;
  const sql = new pg.Client({ connectionString: url.toString(), application_name: 'mallory' });
  await sql.connect();
  clients.push(sql);
  return sql;
}

async function ethPayserv(url: string): Promise<TestPayserv> {
  const tp = await testPayserv({
    seed: { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 71 },
    policies: { ETH: GENEROUS },
    lockHeldMaxMs: 5_000,
    drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]),
  });
  tp.ps = { ...tp.ps, signers: { ...tp.ps.signers, autopay: tp.ledger.signers.autopay } };
  return tp;
}

describePg('locks a database attacker can still name or learn', { timeout: 180_000 }, () => {
  // Was a break (now held): the run waits on the attacker's lock (hashtextextended('payserv:debits:9201:1', 0), computed
  // from the name) for the statement timeout (30 s here), then throws "canceling statement due to
  // statement timeout"; user V (not attacked, owed 2 ETH) is not paid; the coin's autopay row is left
  // 'running' by the dead run (later runs skipped until resolve); Utils.ListLocks reports nothing
  // (reported: []), no alert, payouts enabled. Re-held every run, autopay of the coin never pays anyone.
  it('(A) the name-derived debit lock of one user held: the other users are still paid, or the lock is reported', async () => {
    const { url } = await anvil();
    await setAutomine(url, true);
    t = await ethPayserv(url);
    const tp = t;
    const eth: Signed<Coin> = await coinByTag(tp, 'ETH');
    const u = 9201;
    const v = 9202;
    const wu = await wallet(tp, u, eth, { address: ethAddress() });
    const wv = await wallet(tp, v, eth, { address: ethAddress() });
    // u has more, so the run (largest balances first) meets u first.
    await creditBlock(tp.ledger.db, tp.ledger.signers.admin, eth, {
      blockHash: newBlockHash(),
      shares: [
        { userId: u, amount: amt('3') },
        { userId: v, amount: amt('2') },
      ],
      poolFee: amt('0.01'),
    });
    await tp.ledger.checkpointAll();
    const sql = await attacker(tp);
    await sql.query("SELECT pg_advisory_lock(hashtextextended('payserv:debits:' || $1::text || ':' || $2::text, 0))", [u, eth.id]);
    const t0 = Date.now();
    const r = await runAutopay(tp.ps, 'ETH', SETTINGS, 'run').catch((e: unknown) => ({ outcome: 'threw', reason: String(e), paid: null }));
    const took = Date.now() - t0;
    await mine(url, 12);
    const locks = await listLocks(tp.ps);
    const lockRow = await tp.ledger.db.query('SELECT state, holder, reason FROM payserv_autopay');
    console.log(
      '(A) run:',
      r.outcome,
      r.reason,
      JSON.stringify(r.paid),
      'took',
      took,
      'ms; paid u',
      await balanceOf(url, wu.address),
      'v',
      await balanceOf(url, wv.address),
      '; locks',
      JSON.stringify(locks).slice(0, 300),
      '; autopay lock',
      lockRow,
      '; alerts',
      tp.alerts.map((a) => `${a.kind}: ${a.reason}`),
      '; enabled',
      tp.ps.state.enabled,
    );
    const reported = locks.reported.length > 0 || tp.alerts.length > 0;
    expect(reported || (await balanceOf(url, wv.address)) > 0n).toBe(true);
  });

  // Held (loudly): the derived key IS learnable from pg_locks (a trigger on the checkpoint table captured
  // it), and holding it makes the next payment's advance time out: a fail-stop after 30 s, paid once.
  // An attacker can thus force a fail-stop at will (operator investigation each time), but nothing is lost.
  it('(B) a checkpoint key learnt from pg_locks, held during a payment: a fail-stop or an alert, never a silent stall', async () => {
    const { url } = await anvil();
    await setAutomine(url, true);
    t = await ethPayserv(url);
    const tp = t;
    const sql = await attacker(tp);
    // The attacker's spy: every write to the checkpoint table records the writing session's advisory locks.
    await sql.query(`CREATE TABLE mallory_locks (classid oid, objid oid, at timestamptz DEFAULT now());
      CREATE FUNCTION mallory_spy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
        INSERT INTO mallory_locks (classid, objid) SELECT classid, objid FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND objsubid = 1;
        RETURN NEW; END $$;
      CREATE TRIGGER mallory_spy AFTER INSERT OR UPDATE ON finances_user_balance_checkpoints FOR EACH ROW EXECUTE FUNCTION mallory_spy();`);
    const m = await newMiner(tp, 9203);
    const id1 = await request(tp, m, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id1, 'test')).reply).toBe('APPROVED');
    const seen = (
      await sql.query<{ classid: number; objid: number }>(
        'SELECT DISTINCT classid::bigint AS classid, objid::bigint AS objid FROM mallory_locks',
      )
    ).rows;
    console.log('(B) keys seen during advances:', seen);
    expect(seen.length).toBeGreaterThan(0);
    // Hold every key seen (the checkpoint key of m's account among them).
    for (const k of seen) await sql.query('SELECT pg_advisory_lock((($1::bigint << 32) | $2::bigint))', [k.classid, k.objid]);
    const t0 = Date.now();
    const a = await approveWithdrawal(tp.ps, id1, 'test');
    const took = Date.now() - t0;
    const locks = await listLocks(tp.ps);
    console.log(
      '(B) approve:',
      a.reply,
      a.message,
      'took',
      took,
      'ms; enabled',
      tp.ps.state.enabled,
      '; alerts',
      tp.alerts.map((x) => `${x.kind}: ${x.reason}`),
      '; locks',
      JSON.stringify(locks).slice(0, 400),
    );
    await mine(url, 1);
    console.log('(B) paid', await balanceOf(url, m.address));
    expect(!tp.ps.state.enabled || tp.alerts.length > 0 || locks.reported.length > 0).toBe(true);
  });
});
