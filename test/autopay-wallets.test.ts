// Autopay against the wallet attacks of issue 13 (item 4), paying on anvil: a database attacker brings
// back a wallet the user deleted (the copy of its row signed while it was active) and marks the user's
// current wallet deleted, so that autopay would pay the balance to the removed address. Autopay pays only
// the newest reviewed wallet, and only while its signed state is active; an unsigned deletion, a
// retired wallet come back, or the newest wallet hidden fails-stop payserv and halts the coin before
// anything is requested. Each story ends with the hot wallet and the user's balance as they were.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { AUTOPAY } from '../src/data/ops/autopay.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { sub, type Amount } from '../src/money/amount.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { verifyAccount } from '../src/verify/account.js';
import { creditBlock } from '../src/writer/blocks.js';
import { retireWallet } from '../src/writer/wallets.js';
import { asAttacker, restoreRow, WALLETS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver, minedCount } from './support/chains.js';
import { amt, coinByTag, ethAddress, newBlockHash, wallet } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let eth: Signed<Coin>;

const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };
const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };
const CONFIRMATIONS = 12;
const USER = 7001;

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 17 },
    policies: { ETH: GENEROUS },
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
  eth = await coinByTag(t, 'ETH');
});

afterEach(async () => {
  await t.ledger.db.close();
});

const run = (holder: string) => runAutopay(t.ps, 'ETH', SETTINGS, holder);
const credit = (amount: string) =>
  creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
    blockHash: newBlockHash(),
    shares: [{ userId: USER, amount: amt(amount) }],
    poolFee: amt('0.01'),
  });
const newWallet = () => wallet(t, USER, eth, { address: ethAddress() });
const rowOf = async (id: number) => (await t.ledger.db.query(`SELECT * FROM ${WALLETS} WHERE id = $1`, [id]))[0] as Record<string, unknown>;
const withdrawals = async () =>
  t.ledger.db.query<{ id: number; status: string }>(
    'SELECT id, status FROM finances_withdrawal_transaction WHERE user_id = $1 ORDER BY id',
    [USER],
  );
const lockState = async () => (await t.ledger.db.query(AUTOPAY.get, [eth.id]))[0]?.state;

async function available(): Promise<Amount> {
  const a = await verifyAccount(await t.ledger.view(), USER, eth.id, 'full');
  expect(a.problems).toEqual([]);
  return sub(a.creditTotal, a.debitTotal);
}

/** A run pays the whole balance to `address`, and the payment is confirmed. */
async function paysTo(address: string, holder: string): Promise<void> {
  const before = await balanceOf(url, address);
  const r = await run(holder);
  expect([r.outcome, r.paid.count], r.reason ?? '').toEqual(['done', 1]);
  expect(await balanceOf(url, address)).toBeGreaterThan(before);
  await mine(url, CONFIRMATIONS);
  expect((await run(`${holder}: settle`)).confirmed).toEqual(r.paid.withdrawals);
}

/** The run fails-stop payserv and halts the coin naming `reason`; nothing is requested or paid, the balance stays. */
async function haltsUnpaid(holder: string, reason: RegExp, removed: string): Promise<void> {
  const mined = await minedCount(url, driver.address);
  const hot = await balanceOf(url, driver.address);
  const before = { withdrawals: await withdrawals(), available: await available(), removed: await balanceOf(url, removed) };
  const r = await run(holder);
  expect(r.outcome).toBe('halted');
  expect(r.reason).toMatch(reason);
  expect(r.paid.count).toBe(0);
  expect(t.ps.state.enabled).toBe(false);
  expect(t.ps.state.status().reason).toMatch(reason);
  expect(t.alerts.map((a) => a.kind)).toEqual(['fail_stop', 'coin_halted']);
  expect(await lockState()).toBe('halted');
  expect(await minedCount(url, driver.address)).toBe(mined);
  expect(await balanceOf(url, driver.address)).toBe(hot);
  expect({ withdrawals: await withdrawals(), available: await available(), removed: await balanceOf(url, removed) }).toEqual(before);
}

const userWallet = (id: number) => `the account of user ${USER} does not verify: ${WALLETS} id=${id}: `;

describePerDataPath('autopay and deleted wallets', () => {
  it('the attack: the deleted wallet restored to its signed active copy, the current one marked deleted: fail-stop, nothing paid', async () => {
    const old = await newWallet();
    const whileActive = await rowOf(old.id);
    await retireWallet(t.ledger.db, t.ledger.signers.admin, old.id, 'deleted');
    const current = await newWallet();
    await credit('2');
    await paysTo(current.address, 'before');
    await credit('3');
    await asAttacker(t.ledger.db, [
      restoreRow(WALLETS, whileActive, ['id']),
      [`UPDATE ${WALLETS} SET deleted = true WHERE id = $1`, [current.id]],
    ]);
    await haltsUnpaid(
      'attacked',
      new RegExp(`${userWallet(current.id)}signature does not match the record \\(marked deleted without the pool's signed deletion\\?\\)`),
      old.address,
    );
    expect(await available()).toBe(amt('3'));
    // The operator's checks name both: the unsigned deletion, and the wallet payserv saw deleted come back.
    expect((await t.ledger.problems('wallets')).map((p) => [p.row, p.code]).sort()).toEqual(
      [
        [`id=${current.id}`, 'signature'],
        [`id=${old.id}`, 'wallet_revived'],
      ].sort(),
    );
  });

  it('the same attack on a payserv that never saw these wallets: the unsigned deletion alone stops it', async () => {
    const old = await newWallet();
    const whileActive = await rowOf(old.id);
    await retireWallet(t.ledger.db, t.ledger.signers.admin, old.id, 'deleted');
    const current = await newWallet();
    await credit('3');
    await asAttacker(t.ledger.db, [
      restoreRow(WALLETS, whileActive, ['id']),
      [`UPDATE ${WALLETS} SET deleted = true WHERE id = $1`, [current.id]],
    ]);
    await haltsUnpaid('attacked', new RegExp(`${userWallet(current.id)}signature does not match the record`), old.address);
  });

  it('both wallets deleted under signature, the older one restored unseen: only the newest is ever paid, so no one is', async () => {
    const old = await newWallet();
    const whileActive = await rowOf(old.id);
    await retireWallet(t.ledger.db, t.ledger.signers.admin, old.id, 'deleted');
    const current = await newWallet();
    await retireWallet(t.ledger.db, t.ledger.signers.admin, current.id, 'deleted');
    await credit('3');
    await asAttacker(t.ledger.db, [restoreRow(WALLETS, whileActive, ['id'])]);
    const mined = await minedCount(url, driver.address);
    const r = await run('restored unseen');
    expect([r.outcome, r.paid.count]).toEqual(['done', 0]);
    expect(r.skipped).toEqual([
      { userId: USER, reason: `no signed wallet: the newest reviewed one (${current.id}) is deleted, and autopay pays only the newest` },
    ]);
    expect(t.ps.state.enabled).toBe(true);
    expect(await minedCount(url, driver.address)).toBe(mined);
    expect(await balanceOf(url, old.address)).toBe(0n);
    expect(await available()).toBe(amt('3'));
  });

  it('a signed deletion of the current wallet: skipped, no fail-stop; the deletion rolled back: fail-stop, nothing paid', async () => {
    const w = await newWallet();
    await credit('2');
    await paysTo(w.address, 'first');
    const whileActive = await rowOf(w.id);
    await retireWallet(t.ledger.db, t.ledger.signers.admin, w.id, 'deleted');
    await credit('2');
    const skipped = await run('deleted');
    expect([skipped.outcome, skipped.paid.count]).toEqual(['done', 0]);
    expect(skipped.skipped).toEqual([
      { userId: USER, reason: `no signed wallet: the newest reviewed one (${w.id}) is deleted, and autopay pays only the newest` },
    ]);
    expect([t.ps.state.enabled, t.alerts]).toEqual([true, []]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);

    await asAttacker(t.ledger.db, [restoreRow(WALLETS, whileActive, ['id'])]);
    await haltsUnpaid(
      'revived',
      new RegExp(
        `${userWallet(w.id)}payserv saw this wallet retired \\(deleted or inactive\\) under the pool's signature; it is active again`,
      ),
      w.address,
    );
  });

  it("the newest wallet's row deleted: the older one is not paid instead", async () => {
    const old = await newWallet();
    const current = await newWallet();
    await credit('2');
    await paysTo(current.address, 'first');
    await credit('2');
    await asAttacker(t.ledger.db, [[`DELETE FROM ${WALLETS} WHERE id = $1`, [current.id]]]);
    await haltsUnpaid(
      'hidden',
      new RegExp(
        `${userWallet(current.id)}payserv saw this wallet as the newest reviewed wallet of user=${USER} coin=${eth.id}; it is no longer one \\(the newest now: id=${old.id}\\)`,
      ),
      old.address,
    );
  });
});
