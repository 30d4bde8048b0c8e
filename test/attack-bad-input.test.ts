// Outside tester. Bad values a database attacker can store where payserv reads numbers: PostgreSQL's
// NUMERIC accepts 'NaN' (and NaN > 0 is true, so CHECK (x > 0) lets it in). Safe outcome: the tamper is
// a problem line in the checks and a fail-stop (or a decline/skip naming it) on the payment path, never
// a crash of the check, an "internal error" with payouts left on, or other users' payouts silently stopped.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, CREDITS, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { amt, coinByTag, ethAddress, newBlockHash, newMiner, request, wallet } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { creditBlock } from '../src/writer/blocks.js';
import { stopsPayouts } from '../src/payserv/invariant.js';

/** A payout call as payserv's RPC server runs it: a thrown error is "ERROR internal", a fail-stop only if it stops payouts. */
async function asServer(
  ps: TestPayserv['ps'],
  f: () => Promise<{ reply: string; message?: string }>,
): Promise<{ reply: string; message?: string; internal?: boolean }> {
  try {
    return await f();
  } catch (e) {
    if (stopsPayouts(e)) await ps.state.failStop(String((e as Error).message), {});
    return { reply: 'ERROR', message: `internal: ${String(e)}`, internal: true };
  }
}

const anvil = anvilForFile();
let t: TestPayserv;
let url: string;
let eth: Signed<Coin>;
const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };
const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 47 },
    drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]),
  });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay }, policies: new Map([['ETH', GENEROUS]]) };
  eth = await coinByTag(t, 'ETH');
});
afterEach(async () => {
  await t.ledger.db.close();
});

const safeCheck = async () => {
  try {
    return { lines: await t.ledger.check('balanceerrors'), threw: null as string | null };
  } catch (e) {
    return { lines: [] as string[], threw: String(e) };
  }
};

describePerDataPath('NaN and other bad numbers stored by the attacker', () => {
  // Was a break (now held): runAutopay throws AmountError ("users_autopay_thresholds of user 9951: not a decimal number:
  // NaN"); nobody is paid (user b, untouched, is owed 2 ETH); the coin's autopay lock is left 'running'
  // by the dead run, every later run is skipped ("locked ... run pscli resolve"), no alert, payserv
  // enabled. One row in a table the pool's site writes wedges autopay for the whole coin.
  it("a user's autopay threshold NaN: the run neither crashes nor stops paying the other users", async () => {
    const a = 9951;
    const b = 9952;
    const wa = await wallet(t, a, eth, { address: ethAddress() });
    const wb = await wallet(t, b, eth, { address: ethAddress() });
    await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
      blockHash: newBlockHash(),
      shares: [
        { userId: a, amount: amt('2') },
        { userId: b, amount: amt('2') },
      ],
      poolFee: amt('0.01'),
    });
    await t.ledger.db.query("INSERT INTO users_autopay_thresholds (user_id, coin_id, threshold) VALUES ($1, $2, 'NaN')", [a, eth.id]);
    const r = await runAutopay(t.ps, 'ETH', SETTINGS, 'run').catch((e: unknown) => ({
      outcome: 'threw',
      reason: String(e),
      paid: null,
      skipped: null,
    }));
    await mine(url, 12);
    console.log(
      'threshold NaN run:',
      r.outcome,
      r.reason,
      JSON.stringify(r.paid),
      JSON.stringify(r.skipped),
      'paid a',
      await balanceOf(url, wa.address),
      'paid b',
      await balanceOf(url, wb.address),
      'enabled',
      t.ps.state.enabled,
    );
    const lock = await t.ledger.db.query('SELECT state, holder, reason FROM payserv_autopay');
    console.log('autopay lock after:', lock, 'alerts', t.alerts);
    const r2 = await runAutopay(t.ps, 'ETH', SETTINGS, 'run 2').catch((e: unknown) => ({ outcome: 'threw', reason: String(e) }));
    console.log('next run:', r2.outcome, r2.reason);
    expect(r.outcome).not.toBe('threw');
    // b is owed and has nothing to do with the tamper: paid, or the run stopped loudly (fail-stop).
    expect((await balanceOf(url, wb.address)) > 0n || !t.ps.state.enabled).toBe(true);
  });

  // Was a break (now held): checkbalanceerrors throws (AmountError: column amount: not a decimal number: "NaN") instead
  // of naming the row (and so reports none of the other problems either); Process answers an internal
  // error with payouts left enabled, no alert (the README: a tampered row stops payouts).
  it('a credit amount set to NaN: the check names it, Process fails-stop (no internal error with payouts on)', async () => {
    const m = await newMiner(t, 9961);
    await t.ledger.checkpointAll();
    await asAttacker(t.ledger.db, [[`UPDATE ${CREDITS} SET amount = 'NaN' WHERE user_id = $1`, [m.userId]]]);
    const c = await safeCheck();
    console.log('credit NaN check:', c);
    const id = (await request(t, m, { amount: '1' }).catch((e: unknown) => {
      console.log('request refused by writer:', String(e));
      return null;
    })) as number | null;
    if (id !== null) {
      const r = await asServer(t.ps, () => processWithdrawal(t.ps, id, 'test'));
      console.log('credit NaN process:', r, 'enabled', t.ps.state.enabled);
      expect(r.reply === 'ERROR' && t.ps.state.enabled).toBe(false);
    }
    expect(c.threw).toBeNull();
    expect(c.lines.length).toBeGreaterThan(0);
  });

  // Was a break (no payment; now held): Approve throws AmountError → "ERROR internal", payouts stay enabled, no alert;
  // the check crashes on the row instead of naming it. Nothing paid.
  it("a pending withdrawal's amount set to NaN: Approve pays nothing and fails-stop", async () => {
    const m = await newMiner(t, 9971);
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('APPROVED');
    await asAttacker(t.ledger.db, [[`UPDATE ${WITHDRAWALS} SET amount = 'NaN' WHERE id = $1`, [id]]]);
    const r = await asServer(t.ps, () => approveWithdrawal(t.ps, id, 'test'));
    await mine(url, 1);
    const c = await safeCheck();
    console.log('withdrawal NaN approve:', r, 'enabled', t.ps.state.enabled, 'paid', await balanceOf(url, m.address), 'check', c);
    expect(await balanceOf(url, m.address)).toBe(0n);
    expect(r.reply === 'ERROR' && t.ps.state.enabled).toBe(false);
    expect(c.threw).toBeNull();
  });

  // Held: Check confirms the payment from the signed bytes, paid once.
  it("an in-flight payment's stored nonce and max_fee set to NaN / huge: Check settles it once, no crash", async () => {
    const m = await newMiner(t, 9981);
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('APPROVED');
    expect((await approveWithdrawal(t.ps, id, 'test')).reply).toBe('SENDING');
    await asAttacker(t.ledger.db, ["UPDATE payserv_chain_txs SET nonce = 'NaN', max_fee = 'NaN'"]);
    await mine(url, 12);
    const r = await checkWithdrawal(t.ps, id, 'test');
    console.log('stored NaN check:', r, 'enabled', t.ps.state.enabled);
    expect(r.reply === 'ERROR' && t.ps.state.enabled).toBe(false);
    expect(await balanceOf(url, m.address)).toBe(999_500_000_000_000_000n);
  });
});
