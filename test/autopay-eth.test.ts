// Automatic threshold payouts on anvil: a pool over many intervals, and each failure story of the
// source document and DESIGN §1. Every story ends with no payment twice, no payment lost, the chain
// agreeing with the ledger, and resolve settling what the run could not.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine, setBalance } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { AUTOPAY } from '../src/data/ops/autopay.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { add, formatAmount, parseAmount, sub, sum, toBaseUnits, ZERO, type Amount } from '../src/money/amount.js';
import { releaseLock, takeLock } from '../src/autopay/lock.js';
import { resolveCoin } from '../src/autopay/resolve.js';
import { AUTOPAY_COMMENT, runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { verifyAccount } from '../src/verify/account.js';
import { creditBlock } from '../src/writer/blocks.js';
import { requestWithdrawal } from '../src/writer/withdrawals.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver, minedCount } from './support/chains.js';
import { amt, coinByTag, ethAddress, newBlockHash, wallet } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';
import { asAttacker, cutHistory } from './support/attacker.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let proxy: RpcProxy;
let url: string;
let eth: Signed<Coin>;

const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };
const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };
const CONFIRMATIONS = 12;

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  proxy = await startRpcProxy(url);
  t = await testPayserv({
    seed: { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 11 },
    policies: { ETH: GENEROUS },
    drivers: async (deps) => {
      driver = await ethDriver(proxy.url, deps);
      return new Map([['ETH', driver]]);
    },
  });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
  eth = await coinByTag(t, 'ETH');
});

afterEach(async () => {
  await proxy.stop();
  await t.ledger.db.close();
});

interface User {
  id: number;
  address: string;
  credited: Amount;
}

async function users(first: number, n: number): Promise<User[]> {
  const out: User[] = [];
  for (let i = 0; i < n; i++) {
    const w = await wallet(t, first + i, eth, { address: ethAddress() });
    out.push({ id: first + i, address: w.address, credited: ZERO });
  }
  return out;
}

async function credit(shares: Array<{ u: User; amount: Amount }>): Promise<void> {
  await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
    blockHash: newBlockHash(),
    shares: shares.map((s) => ({ userId: s.u.id, amount: s.amount })),
    poolFee: amt('0.01'),
  });
  for (const s of shares) s.u.credited = add(s.u.credited, s.amount);
}

type Row = { id: number; user_id: number; amount: string; fee: string; status: string; tx_hash: string | null; parent_id: number | null };
const withdrawalsOf = async (userId: number) =>
  t.ledger.db.query<Row>(
    'SELECT id, user_id, amount::text, fee::text, status, tx_hash, parent_id FROM finances_withdrawal_transaction WHERE user_id = $1 ORDER BY id',
    [userId],
  );
const lockRow = async () => (await t.ledger.db.query(AUTOPAY.get, [eth.id]))[0] ?? null;
const wei = (a: Amount) => toBaseUnits(a, 18);
const run = (holder: string, s: AutopaySettings = SETTINGS) => runAutopay(t.ps, 'ETH', s, holder);

async function available(u: User): Promise<Amount> {
  const a = await verifyAccount(await t.ledger.view(), u.id, eth.id, 'full');
  expect(a.problems).toEqual([]);
  return sub(a.creditTotal, a.debitTotal);
}

/** The ledger and the chain agree for every user: sent withdrawals = what the address received; nothing is lost. */
async function expectBooksBalance(us: readonly User[]): Promise<void> {
  for (const u of us) {
    const rows = await withdrawalsOf(u.id);
    const sent = rows.filter((r) => r.status === 'sent');
    const onChain = sum(sent.map((r) => sub(parseAmount(r.amount), parseAmount(r.fee))));
    expect(await balanceOf(url, u.address), `user ${u.id}`).toBe(wei(onChain));
    // Nothing lost: what was credited is either paid (sent), still owed (available), or in flight.
    const inFlight = sum(rows.filter((r) => !['sent', 'processed', 'declined'].includes(r.status)).map((r) => parseAmount(r.amount)));
    expect(formatAmount(add(add(sum(sent.map((r) => parseAmount(r.amount))), await available(u)), inFlight)), `user ${u.id}`).toBe(
      formatAmount(u.credited),
    );
    // Never twice: one transaction hash per sent withdrawal, each different.
    expect(new Set(sent.map((r) => r.tx_hash)).size).toBe(sent.length);
  }
  expect(await t.ledger.check('balanceerrors')).toEqual([]);
}

/** What a run does before a crash: the lock taken, the request made (the debit), Process approving it. */
async function crashedRunUpToApproval(u: User): Promise<{ id: number }> {
  await takeLock(t.ps.db, eth.id, 'crashed run', new Date());
  const wl = (await t.ledger.db.query<{ id: number }>('SELECT id FROM users_userwallets WHERE user_id = $1', [u.id]))[0]!.id;
  const req = await t.ps.db.transaction((tx) =>
    requestWithdrawal(tx, t.ledger.signers.autopay, {
      userId: u.id,
      coinId: eth.id,
      walletId: wl,
      address: u.address,
      amount: amt('2'),
      fee: eth.withdrawalFee,
      comment: `${AUTOPAY_COMMENT}crashed run`,
    }),
  );
  expect((await processWithdrawal(t.ps, req.id, 'crashed run')).reply).toBe('APPROVED');
  return req;
}

describePerDataPath('autopay on anvil', () => {
  it('a pool over many intervals: every balance over its threshold paid exactly once, none under it, the chain equal to the ledger', async () => {
    const us = await users(5001, 10);
    // One user sets a higher threshold; another a lower one, which never lowers the coin's.
    await t.ledger.db.query('INSERT INTO users_autopay_thresholds (user_id, coin_id, threshold) VALUES ($1, $2, 3), ($3, $2, 0.2)', [
      us[0]!.id,
      eth.id,
      us[1]!.id,
    ]);
    const own = (u: User) => (u.id === us[0]!.id ? amt('3') : amt('1'));
    let seed = 7;
    const rnd = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const hot0 = await minedCount(url, driver.address);
    for (let interval = 0; interval < 6; interval++) {
      await credit(us.map((u) => ({ u, amount: parseAmount((0.05 + rnd() * 0.6).toFixed(6)) })));
      const before = new Map(await Promise.all(us.map(async (u) => [u.id, await available(u)] as const)));
      const r = await run(`interval ${interval}`);
      expect(r.outcome, r.reason ?? '').toBe('done');
      // Exactly the users at or over their effective threshold, each for their whole balance.
      const due = us.filter((u) => (before.get(u.id) as Amount) >= own(u));
      const made = (await Promise.all(us.map((u) => withdrawalsOf(u.id))))
        .flat()
        .filter((w) => w.status !== 'sent' || r.paid.withdrawals.includes(w.id));
      expect(r.paid.withdrawals.length).toBe(due.length);
      for (const u of due) {
        const w = made.find((x) => x.user_id === u.id && r.paid.withdrawals.includes(x.id));
        expect(w && formatAmount(parseAmount(w.amount)), `user ${u.id}`).toBe(formatAmount(before.get(u.id) as Amount));
      }
      expect(r.paid.sum).toBe(formatAmount(sum(due.map((u) => before.get(u.id) as Amount))));
      expect(r.belowThreshold).toBe(us.length - due.length);
      expect(r.hotWallet).not.toBeNull();
      await mine(url, CONFIRMATIONS);
    }
    // A last run with no new credits settles the last payments and pays no one again.
    const last = await run('settle');
    expect(last.paid.count).toBe(0);
    const all = (await Promise.all(us.map((u) => withdrawalsOf(u.id)))).flat();
    expect(all.every((w) => w.status === 'sent')).toBe(true);
    for (const w of all) expect(parseAmount(w.amount) >= own(us.find((u) => u.id === w.user_id)!)).toBe(true);
    expect(await minedCount(url, driver.address)).toBe(hot0 + all.length);
    for (const u of us) expect((await available(u)) < own(u)).toBe(true);
    await expectBooksBalance(us);
    expect((await lockRow())?.state).toBe('idle');
  });

  it("a run's payment rolled back to approved after its broadcast (issue 13): the run fails-stop and halts, no later run or resolve pays it again or credits it back", async () => {
    const [u] = await users(5051, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    let cut = false;
    t.ps.faults = {
      async at(point, info) {
        if (cut || point !== 'payment.broadcast') return;
        cut = true;
        const id = info.withdrawals[0]!;
        const [w] = await t.ledger.db.query<{ status_seq: number }>(
          'SELECT status_seq FROM finances_withdrawal_transaction WHERE id = $1',
          [id],
        );
        await asAttacker(t.ledger.db, cutHistory(id, w!.status_seq - 1));
      },
    };
    const r = await run('first');
    expect(r.outcome).toBe('halted');
    expect(t.ps.state.enabled).toBe(false);
    const [w] = await withdrawalsOf(u!.id);
    expect(w?.status).toBe('approved');
    t.ps.faults = undefined;
    // An operator who enables payserv and resolves without finding the edit: the journal refuses both.
    t.ps.state.enable('operator');
    const resolved = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(resolved.resolutions.filter((x) => x.decision === 'credited')).toEqual([]);
    expect(t.ps.state.enabled).toBe(false);
    t.ps.state.enable('operator');
    // The halted coin unlocked by hand, as an operator might: the next run finds autopay's own approved request, and the journal.
    await t.ledger.db.query("UPDATE payserv_autopay SET state = 'idle', holder = '' WHERE coin_id = $1", [eth.id]);
    const second = await run('second');
    expect(second.outcome).toBe('halted');
    expect(second.paid.count).toBe(0);
    expect(t.ps.state.enabled).toBe(false);
    await mine(url, CONFIRMATIONS);
    expect(await balanceOf(url, u!.address)).toBe(wei(sub(amt('2'), eth.withdrawalFee)));
    expect(await minedCount(url, driver.address)).toBe(1);
    expect((await withdrawalsOf(u!.id)).filter((x) => x.parent_id !== null)).toEqual([]);
  });

  it('one runner per coin: a second run while one holds the lock changes nothing', async () => {
    const [u] = await users(5101, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    expect(await takeLock(t.ps.db, eth.id, 'another process', new Date())).toEqual({ taken: true });
    const r = await run('second');
    expect([r.outcome, r.code]).toEqual(['skipped', 'locked']);
    expect(r.reason).toMatch(/locked since .* by another process/);
    expect(await withdrawalsOf(u!.id)).toEqual([]);
    await releaseLock(t.ps.db, eth.id, 'another process', new Date());
    expect((await run('third')).paid.count).toBe(1);
  });

  it('too few peers: nothing is requested, the lock stays free', async () => {
    const [u] = await users(5201, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    const r = await run('peers', { ...SETTINGS, requirePeers: 3 });
    expect([r.outcome, r.code, r.reason]).toEqual(['skipped', 'node_unavailable', 'node not ready: 0 peers, fewer than require_peers = 3']);
    expect(await withdrawalsOf(u!.id)).toEqual([]);
    expect((await lockRow())?.state).toBe('idle');
  });

  it('the send times out after the node accepted it: the coin halts with its lock; resolve finds it paid, once', async () => {
    const us = await users(5301, 2);
    await credit(us.map((u) => ({ u, amount: amt('2') })));
    proxy.dropReplyTo('eth_sendRawTransaction');
    const r = await run('timeout');
    expect(r.outcome).toBe('halted');
    expect(r.reason).toMatch(/outcome unknown/);
    expect(r.paid.count).toBe(0);
    // Halted: the next run pays no one, and says why.
    const again = await run('while halted');
    expect([again.outcome, again.code]).toEqual(['skipped', 'coin_halted']);
    expect(again.reason).toMatch(/halted since .*outcome unknown.*pscli resolve --coin ETH/);
    await mine(url, CONFIRMATIONS);
    // Both requests were approved before paying; the run halted on the first: the second never left.
    const res = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(res.resolutions.map((x) => x.decision)).toEqual(['paid', 'credited']);
    const second = res.resolutions[1]!;
    expect(res.lines).toEqual([
      expect.stringMatching(/^Paid: withdrawal \d+, 2 ETH to 0x[0-9a-f]{40} in 0x[0-9a-f]{64}: recorded sent$/),
      'Will credit back following balances:',
      `Address: ${second.address}, Amount: 2 ETH, withdrawal ${second.withdrawal}`,
      `Credited 2 ETH back to ${second.address}`,
      'Payouts unlocked',
    ]);
    // The other user is paid by the next run; the first is not paid again.
    const next = await run('after resolve');
    expect(next.paid.count).toBe(1);
    await mine(url, CONFIRMATIONS);
    await run('settle');
    await expectBooksBalance(us);
  });

  it('a crash after the debit and before the send: the lock stays; resolve credits it back, the next run pays once', async () => {
    const [u] = await users(5401, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    const req = await crashedRunUpToApproval(u!);
    expect(await available(u!)).toBe(ZERO);

    const held = await run('next');
    expect([held.code, held.reason]).toEqual(['locked', expect.stringMatching(/locked since .* by crashed run/)]);
    const res = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(res.resolutions.map((x) => [x.withdrawal, x.decision])).toEqual([[req.id, 'credited']]);
    expect(res.lines).toEqual([
      'Will credit back following balances:',
      `Address: ${u!.address}, Amount: 2 ETH, withdrawal ${req.id}`,
      `Credited 2 ETH back to ${u!.address}`,
      'Payouts unlocked',
    ]);
    expect(await available(u!)).toBe(amt('2'));
    expect(await balanceOf(url, u!.address)).toBe(0n);
    const next = await run('after resolve');
    expect(next.paid.count).toBe(1);
    await mine(url, CONFIRMATIONS);
    await run('settle');
    await expectBooksBalance([u!]);
    expect(await balanceOf(url, u!.address)).toBe(wei(sub(amt('2'), eth.withdrawalFee)));
  });

  it('a crash after the send and before the run recorded it: resolve finds it on chain, records it paid, never pays again', async () => {
    const [u] = await users(5501, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    const req = await crashedRunUpToApproval(u!);
    // Approve signs, writes ahead and broadcasts; the process dies before anything else (the lock is never released).
    expect((await approveWithdrawal(t.ps, req.id, 'crashed run')).reply).toBe('SENDING');
    const early = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(early.resolutions.map((x) => x.decision)).toEqual(['unknown']);
    expect(early.lines.at(-1)).toBe('Payouts of ETH stay locked: outcomes above are unknown; run resolve again later');
    expect((await run('still locked')).outcome).toBe('skipped');
    await mine(url, CONFIRMATIONS);
    const res = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(res.resolutions.map((x) => x.decision)).toEqual(['paid']);
    expect(res.unlocked).toBe(true);
    expect((await run('after resolve')).paid.count).toBe(0);
    await expectBooksBalance([u!]);
  });

  it('the hot wallet is short once gas is counted: the run stops, nothing is sent; resolve credits it back; funded, the next run pays once', async () => {
    const [u] = await users(5601, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    // Exactly the value, nothing for gas.
    await setBalance(url, driver.address, wei(sub(amt('2'), eth.withdrawalFee)));
    const r = await run('short');
    expect(r.outcome).toBe('stopped');
    expect(r.reason).toMatch(/waits: .*short|cannot cover|insufficient/i);
    expect((await lockRow())?.state).toBe('idle');
    const [w] = await withdrawalsOf(u!.id);
    expect(w?.status).toBe('send_retry');
    expect(await minedCount(url, driver.address)).toBe(0);
    const res = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(res.resolutions.map((x) => x.decision)).toEqual(['credited']);
    expect(await available(u!)).toBe(amt('2'));
    await setBalance(url, driver.address, 10n ** 20n);
    expect((await run('funded')).paid.count).toBe(1);
    await mine(url, CONFIRMATIONS);
    await run('settle');
    await expectBooksBalance([u!]);
  });

  it('the hot wallet short, then funded: the next run resends the same request and pays it once, without resolve', async () => {
    const [u] = await users(5701, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    await setBalance(url, driver.address, wei(sub(amt('2'), eth.withdrawalFee)));
    expect((await run('short')).outcome).toBe('stopped');
    const [w] = await withdrawalsOf(u!.id);
    expect(w?.status).toBe('send_retry');
    // Still short: the next run tries it again and stops again, nothing sent, nothing new requested.
    expect((await run('still short')).outcome).toBe('stopped');
    expect(await withdrawalsOf(u!.id)).toHaveLength(1);
    await setBalance(url, driver.address, 10n ** 20n);
    const r = await run('funded');
    expect([r.outcome, r.paid.withdrawals]).toEqual(['done', [w!.id]]);
    expect(r.paid.sum).toBe('2');
    await mine(url, CONFIRMATIONS);
    expect((await run('settle')).confirmed).toEqual([w!.id]);
    expect(await withdrawalsOf(u!.id)).toHaveLength(1);
    expect(await minedCount(url, driver.address)).toBe(1);
    await expectBooksBalance([u!]);
  });

  it("resolve leaves the pool's own requests alone: only autopay's are credited back before a send", async () => {
    const [u] = await users(5801, 1);
    await credit([{ u: u!, amount: amt('2') }]);
    const wl = (await t.ledger.db.query<{ id: number }>('SELECT id FROM users_userwallets WHERE user_id = $1', [u!.id]))[0]!.id;
    const manual = await t.ps.db.transaction((tx) =>
      requestWithdrawal(tx, t.ledger.signers.autopay, {
        userId: u!.id,
        coinId: eth.id,
        walletId: wl,
        address: u!.address,
        amount: amt('1'),
        fee: eth.withdrawalFee,
        comment: 'from the pool site',
      }),
    );
    expect((await processWithdrawal(t.ps, manual.id, 'backend')).reply).toBe('APPROVED');
    const res = await resolveCoin(t.ps, 'ETH', 'operator');
    expect(res.resolutions.map((x) => [x.withdrawal, x.decision])).toEqual([[manual.id, 'left']]);
    expect(res.lines).toEqual(['No pending payments to resolve']);
    expect((await withdrawalsOf(u!.id)).map((w) => w.status)).toEqual(['approved']);
    expect(await available(u!)).toBe(amt('1'));
  });

  it('a forged balance: the account does not verify, payserv fails-stop, the coin halts, nothing is requested or paid', async () => {
    const us = await users(5901, 2);
    await credit(us.map((u) => ({ u, amount: amt('0.3') })));
    // The attacker raises one credit past the threshold in the database.
    await t.ledger.db.exec(`ALTER TABLE finances_user_balance_transaction DISABLE TRIGGER USER;
      UPDATE finances_user_balance_transaction SET amount = amount + 5 WHERE user_id = ${us[0]!.id};
      ALTER TABLE finances_user_balance_transaction ENABLE TRIGGER USER;`);
    const r = await run('forged');
    expect(r.outcome).toBe('halted');
    expect(r.reason).toMatch(new RegExp(`the account of user ${us[0]!.id} does not verify`));
    expect(t.ps.state.enabled).toBe(false);
    expect(t.alerts.map((a) => a.kind)).toContain('fail_stop');
    expect((await lockRow())?.state).toBe('halted');
    for (const u of us) expect(await withdrawalsOf(u.id)).toEqual([]);
    expect(await minedCount(url, driver.address)).toBe(0);
  });
});
