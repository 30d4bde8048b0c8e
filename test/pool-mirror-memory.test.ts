// The oep mirror's steady state (issue 16 follow-up) against a real Redis and a real database: each interval
// verifies only the rows after the point this process verified (withdrawals still open until final), so a
// second interval with nothing new reads only the open rows; a forged row after that point is still caught;
// an old verified row edited afterwards changes nothing mirrored; and after payserv's database is rolled back
// to an older state, a withdrawal issued under an id already mirrored for another is detected, never mirrored.
// MiningCore's write-back continues from the same kind of memory (its own database, PostgreSQL).
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Db } from '../src/db/db.js';
import type { Op } from '../src/db/op.js';
import { Alerts } from '../src/alerts/alerts.js';
import { INTAKE_ALERT, IntakeAlerts } from '../src/intake/alerts.js';
import type { Intake } from '../src/intake/context.js';
import { intakeView } from '../src/intake/ledger.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import type { McAdapter } from '../src/pools/miningcore/context.js';
import { MININGCORE_TABLES_SQL } from '../src/pools/miningcore/schema.js';
import { writeBackPayments } from '../src/pools/miningcore/writeback.js';
import { oepUserId, type OepSettings } from '../src/pools/oep/import.js';
import { minerKey, paymentsLoginKey, paymentsPendingKey, pendingMember } from '../src/pools/oep/keys.js';
import { Mirror } from '../src/pools/oep/mirror.js';
import { mirroredKey, ownPendingKey } from '../src/pools/oep/steps.js';
import { loadCoins } from '../src/store/reads.js';
import { creditBlock } from '../src/writer/blocks.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, requestWithdrawal } from '../src/writer/withdrawals.js';
import { derivedUserId } from '../src/pools/user-id.js';
import { asAttacker, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { createPgDatabase, describeOncePerSuite, type TestDatabase } from './support/db.js';
import { AccountHeads } from '../src/intake/heads.js';
import { testLedger, type TestLedger, emptySeed } from './support/ledger.js';
import { amt, newBlockHash } from './support/miners.js';
import { clearRedis, keptLog } from './support/pool-adapter.js';

const REDIS_DB = 12;
let l: TestLedger;
let eth: Signed<Coin>;
let redis: Redis;
let s: OepSettings;
let it_: Intake;
const logs: Array<Record<string, unknown>> = [];
/** Rows each named operation returned, since the last reset. */
const rows = new Map<string, number>();

/** The ledger's database, counting the rows each named operation returns (what an interval reads). */
function counting(db: Db): Db {
  return {
    kind: db.kind,
    where: db.where,
    async query(q, params) {
      const out = await db.query(q, params);
      const name = typeof q === 'string' ? 'sql' : (q as Op).name;
      rows.set(name, (rows.get(name) ?? 0) + out.length);
      return out as never;
    },
    exec: (sql) => db.exec(sql),
    transaction: (fn) => db.transaction(fn),
    withSession: (fn) => db.withSession(fn),
    close: () => db.close(),
  };
}

beforeEach(async () => {
  l = await testLedger(emptySeed(3));
  const found = (await loadCoins(l.db)).find((c) => c.tag === 'ETH');
  if (!found) throw new Error('no ETH');
  eth = found;
  redis = new Redis({ host: '127.0.0.1', port: 6379, db: REDIS_DB });
  s = { prefix: `mm${randomBytes(4).toString('hex')}`, coin: 'ETH', poolFeeAddress: `0x${'0'.repeat(40)}`, fromHeight: 0n, pageSize: 500 };
  logs.length = 0;
  const log = keptLog(logs);
  it_ = {
    db: counting(l.db),
    stateDir: l.stateDir,
    trust: l.trust,
    signers: { admin: l.signers.admin, autopay: l.signers.autopay },
    checkers: new Map(),
    chains: {},
    creditsPerBlockMax: 1000,
    review: 'auto',
    log,
    alerts: new IntakeAlerts(new Alerts({ db: l.db, log })),
    heads: new AccountHeads(l.stateDir),
  };
});

afterEach(async () => {
  await clearRedis(redis, s.prefix);
  await l.db.close();
});

interface Login {
  login: string;
  userId: number;
  walletId: number;
}

/** n logins registered as the adapter does (the wallet's address derives the user), each credited 20 ETH by one block. */
async function logins(n: number, userOf = (login: string) => oepUserId(s, login)): Promise<Login[]> {
  const out: Login[] = [];
  for (let i = 0; i < n; i++) {
    const login = `0x${randomBytes(20).toString('hex')}`;
    const userId = userOf(login);
    const w = await addWallet(l.db, { userId, coinId: eth.id, address: login });
    await signWallet(l.db, l.signers.admin, w.id);
    out.push({ login, userId, walletId: w.id });
  }
  await creditBlock(l.db, l.signers.admin, eth, {
    blockHash: newBlockHash(),
    shares: out.map((u) => ({ userId: u.userId, amount: amt('20') })),
    poolFee: amt('0.1'),
  });
  return out;
}

/** A request of `amount` ETH for u; sent (with a transaction hash) unless `open`, where it waits as pending. */
async function withdrawal(u: Login, amount: string, open = false): Promise<number> {
  const w = await l.db.transaction((tx) =>
    requestWithdrawal(tx, l.signers.autopay, {
      userId: u.userId,
      coinId: eth.id,
      walletId: u.walletId,
      address: u.login,
      amount: amt(amount),
      fee: eth.withdrawalFee,
    }),
  );
  if (open) await l.db.transaction((tx) => changeStatus(tx, l.signers.payserv, w.id, 'processing', { status: 'pending' }));
  else await send(w.id, 'processing');
  return w.id;
}

/** Approved and sent, in its own transaction unless given one (a Zcash batch pays several withdrawals in one). */
async function send(id: number, from: 'processing' | 'pending', txHash = `0x${randomBytes(32).toString('hex')}`): Promise<void> {
  await l.db.transaction((tx) => changeStatus(tx, l.signers.payserv, id, from, { status: 'approved' }));
  await l.db.transaction((tx) => changeStatus(tx, l.signers.payserv, id, 'approved', { status: 'sent', txHash }));
}

/** One interval: its report and the rows read of each account's credits and withdrawals. */
async function interval(m: Mirror) {
  rows.clear();
  const report = await m.run();
  return { report, credits: rows.get('ledger.accountCreditsPage') ?? 0, withdrawals: rows.get('ledger.accountWithdrawalsPage') ?? 0 };
}

/** What the pool shows for a login: its balances, and its payments list. */
async function shown(login: string) {
  return { miner: await redis.hgetall(minerKey(s.prefix, login)), payments: await redis.zrange(paymentsLoginKey(s.prefix, login), 0, -1) };
}

const stageOf = async (id: number) => (await redis.hget(mirroredKey(s.prefix), String(id)))?.split(':')[0] ?? null;

it('a second interval reads only the open withdrawals; they are followed until final, then nothing is read again', async () => {
  const us = await logins(3);
  const open: number[] = [];
  for (const u of us) {
    await withdrawal(u, '1');
    await withdrawal(u, '2');
    open.push(await withdrawal(u, '1.5', true));
  }
  const m = new Mirror(it_, redis, s, it_.log);
  const first = await interval(m);
  // Start-up: every account from the beginning, once (1 credit and 3 withdrawals each).
  expect(first).toMatchObject({ credits: 3, withdrawals: 9, report: { accounts: 3, skipped: 0, read: 9, steps: 3 * (2 + 2 + 1) } });
  const second = await interval(m);
  // Nothing new: only the open withdrawal of each account (not final yet) is read again; nothing applied.
  expect(second).toMatchObject({ credits: 0, withdrawals: 3, report: { accounts: 3, read: 3, steps: 0 } });
  for (const id of open) await send(id, 'pending');
  const third = await interval(m);
  expect(third).toMatchObject({ credits: 0, withdrawals: 3, report: { read: 3, steps: 3 } });
  for (const id of open) expect(await stageOf(id)).toBe('paid');
  // All final: nothing is read at all.
  expect(await interval(m)).toMatchObject({ credits: 0, withdrawals: 0, report: { accounts: 3, read: 0, steps: 0 } });
  // A new withdrawal: only it is read.
  const next = await withdrawal(us[0]!, '3');
  expect(await interval(m)).toMatchObject({ credits: 0, withdrawals: 1, report: { read: 1, steps: 2 } });
  expect(await stageOf(next)).toBe('paid');
  expect((await shown(us[0]!.login)).payments).toHaveLength(4);
});

it('two payments of one login and amount in flight share one payments:pending member: it stays until the last is final', async () => {
  const [a, b] = await logins(2);
  const member = pendingMember({ login: a!.login, shannon: 500_000_000n });
  const pending = async () => ({
    // Ordered by score (the payments' times, equal or not): compared as a set.
    pool: (await redis.zrange(paymentsPendingKey(s.prefix), 0, -1)).sort(),
    own: await redis.smembers(ownPendingKey(s.prefix)),
    miner: (await shown(a!.login)).miner.pending,
  });
  const first = await withdrawal(a!, '0.5', true);
  const second = await withdrawal(a!, '0.5', true);
  const other = await withdrawal(b!, '0.5', true);
  const m = new Mirror(it_, redis, s, it_.log);
  await interval(m);
  const bMember = pendingMember({ login: b!.login, shannon: 500_000_000n });
  expect(await pending()).toEqual({ pool: [member, bMember].sort(), own: expect.arrayContaining([member, bMember]), miner: '1000000000' });
  // The first paid: the second is still in flight, so the pool's API still lists it.
  await send(first, 'pending');
  expect((await interval(m)).report.steps).toBe(1);
  expect(await stageOf(first)).toBe('paid');
  expect(await pending()).toEqual({ pool: [member, bMember].sort(), own: expect.arrayContaining([member, bMember]), miner: '500000000' });
  // A restarted adapter (memory empty) reads the records again: nothing applied, the member stays.
  expect((await interval(new Mirror(it_, redis, s, it_.log))).report.steps).toBe(0);
  expect((await pending()).pool).toContain(member);
  // The last one final: the member goes, and only it (b's payment is in flight).
  await send(second, 'pending');
  expect((await interval(new Mirror(it_, redis, s, it_.log))).report.steps).toBe(1);
  expect(await pending()).toEqual({ pool: [bMember], own: [bMember], miner: '0' });
  await send(other, 'pending');
  await interval(m);
  expect(await pending()).toEqual({ pool: [], own: [], miner: '0' });
});

it('two payments sharing a member both final by the next interval: each applied once, the member gone after the last', async () => {
  const [a] = await logins(1);
  const ids = [await withdrawal(a!, '0.5', true), await withdrawal(a!, '0.5', true), await withdrawal(a!, '0.25', true)];
  const m = new Mirror(it_, redis, s, it_.log);
  await interval(m);
  expect(await redis.zcard(paymentsPendingKey(s.prefix))).toBe(2);
  await send(ids[1]!, 'pending');
  await send(ids[0]!, 'pending');
  expect((await interval(m)).report.steps).toBe(2);
  expect(await redis.zrange(paymentsPendingKey(s.prefix), 0, -1)).toEqual([pendingMember({ login: a!.login, shannon: 250_000_000n })]);
  expect(await shown(a!.login)).toMatchObject({ miner: { pending: '250000000', paid: '1000000000' }, payments: expect.any(Array) });
  expect((await shown(a!.login)).payments).toHaveLength(2);
});

it('a forged withdrawal inserted after the first interval is caught: the account is not mirrored, nothing shown for it', async () => {
  const [a, b] = await logins(2);
  await withdrawal(a!, '1');
  await withdrawal(b!, '1');
  const m = new Mirror(it_, redis, s, it_.log);
  await interval(m);
  const before = await shown(a!.login);
  // The attacker copies a's sent withdrawal as a new row chained onto it, with its signatures (they sign another id).
  const [head] = await l.db.query<{ id: number }>(`SELECT max(id) AS id FROM ${WITHDRAWALS} WHERE user_id = $1`, [a!.userId]);
  const forged = Number(head!.id) + 1000;
  await asAttacker(l.db, [
    [
      `INSERT INTO ${WITHDRAWALS} (id, user_id, coin_id, wallet_id, address, prev_id, amount, fee, debit_before, parent_id, created_at,
         status, status_seq, tx_hash, tx_fee, comment, updated_at)
       SELECT $2, user_id, coin_id, wallet_id, address, id, amount, fee, debit_before + amount, parent_id, created_at,
         status, status_seq, tx_hash, tx_fee, comment, updated_at FROM ${WITHDRAWALS} WHERE id = $1`,
      [head!.id, forged],
    ],
    [
      `INSERT INTO ${STATUS_SIGNATURES} (withdrawal_id, seq, status, tx_hash, tx_fee, comment, created_at, sig_key_id, signature)
       SELECT $2, seq, status, tx_hash, tx_fee, comment, created_at, sig_key_id, signature FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`,
      [head!.id, forged],
    ],
  ]);
  const r = await interval(m);
  expect(r).toMatchObject({ withdrawals: 1, report: { accounts: 2, skipped: 1, steps: 0 } });
  expect(logs.find((x) => x.msg === 'account not mirrored: it does not verify')).toMatchObject({
    user: a!.userId,
    first: expect.stringMatching(/signature|status/),
  });
  expect(await stageOf(forged)).toBeNull();
  expect(await shown(a!.login)).toEqual(before);
  // Caught every interval until it is resolved, never remembered as verified.
  expect((await interval(m)).report.skipped).toBe(1);
});

it('an old verified withdrawal edited afterwards changes nothing mirrored (a restarted adapter finds the edit)', async () => {
  const [a] = await logins(1);
  const w1 = await withdrawal(a!, '1');
  await withdrawal(a!, '2');
  const m = new Mirror(it_, redis, s, it_.log);
  await interval(m);
  const before = await shown(a!.login);
  // The attacker doubles the first withdrawal's amount and clears its tx hash: already verified, never read again.
  await asAttacker(l.db, [[`UPDATE ${WITHDRAWALS} SET amount = amount * 2, tx_hash = NULL, status = 'approved' WHERE id = $1`, [w1]]]);
  const w3 = await withdrawal(a!, '3');
  const r = await interval(m);
  expect(r).toMatchObject({ withdrawals: 1, report: { skipped: 0, read: 1, steps: 2 } });
  expect(await stageOf(w1)).toBe('paid');
  expect(await stageOf(w3)).toBe('paid');
  const after = await shown(a!.login);
  // What was mirrored for w1 is as it was; only w3's 3 ETH (3e9 Shannon) moved through pending to paid.
  expect(BigInt(after.miner.paid!) - BigInt(before.miner.paid!)).toBe(3_000_000_000n);
  expect(after.miner.pending).toBe(before.miner.pending);
  expect(after.payments.filter((p) => !before.payments.includes(p))).toHaveLength(1);
  // A restarted adapter (empty memory) verifies from the beginning and finds the edit: the account is not mirrored.
  const restarted = await interval(new Mirror(it_, redis, s, it_.log));
  expect(restarted.report).toMatchObject({ skipped: 1, steps: 0 });
  expect(await shown(a!.login)).toEqual(after);
});

it("payserv's database rolled back: a withdrawal re-issued under an id mirrored for another is detected, never mirrored; the old record format is still read", async () => {
  const [a, b] = await logins(2);
  const paid = await withdrawal(a!, '1');
  const m = new Mirror(it_, redis, s, it_.log);
  await interval(m);
  expect(await stageOf(paid)).toBe('paid');
  const aShown = await shown(a!.login);
  // Restored from a backup older than the payment: its rows are gone and the sequence issues its id again.
  await asAttacker(l.db, [
    [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [paid]],
    [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [paid]],
    [`SELECT setval('${WITHDRAWALS}_id_seq', $1, false)`, [paid]],
  ]);
  const reissued = await withdrawal(b!, '2');
  expect(reissued).toBe(paid);
  const bBefore = await shown(b!.login);
  for (const mirror of [m, new Mirror(it_, redis, s, it_.log)]) {
    logs.length = 0;
    const r = await interval(mirror);
    expect(r.report).toMatchObject({ steps: 0 });
    expect(logs.filter((x) => x.alert === INTAKE_ALERT.integrity)).toEqual([
      expect.objectContaining({
        withdrawal: paid,
        recorded: 'paid',
        msg: expect.stringMatching(/records another withdrawal under its id/),
      }),
    ]);
    // Neither login's view changed: b's 2 ETH is not shown as paid, a's payment is not touched.
    expect(await shown(b!.login)).toEqual(bBefore);
    expect(await shown(a!.login)).toEqual(aShown);
  }
  // A record written before fingerprints (the stage alone) is taken as the withdrawal's own and rewritten with it.
  const [c] = await logins(1);
  const legacy = await withdrawal(c!, '1', true);
  await interval(m);
  await redis.hset(mirroredKey(s.prefix), String(legacy), 'pending');
  await send(legacy, 'pending');
  const r = await interval(m);
  expect(r.report.steps).toBeGreaterThanOrEqual(1);
  const record = await redis.hget(mirroredKey(s.prefix), String(legacy));
  expect(record).toMatch(/^paid:[0-9a-f]{64}$/);
  // One already at its stage: a restarted adapter only adds the fingerprint, no step applied again.
  await redis.hset(mirroredKey(s.prefix), String(legacy), 'paid');
  const cShown = await shown(c!.login);
  expect((await interval(new Mirror(it_, redis, s, it_.log))).report.steps).toBe(0);
  expect(await redis.hget(mirroredKey(s.prefix), String(legacy))).toBe(record);
  expect(await shown(c!.login)).toEqual(cShown);
});

describeOncePerSuite("MiningCore's write-back", () => {
  let mcDb: TestDatabase;
  let mc: pg.Pool;
  beforeEach(async () => {
    mcDb = await createPgDatabase();
    mc = new pg.Pool({ connectionString: mcDb.url, max: 2 });
    await mc.query(MININGCORE_TABLES_SQL);
  });
  afterEach(async () => {
    await mc.end();
    await mcDb.drop();
  });
  /** A MiningCore adapter as the intake starts it: a new one is a restarted process (its memory empty). */
  const adapter = (): McAdapter => ({
    it: it_,
    mc,
    poolId: 'pool1',
    coin: 'ETH',
    feeAddresses: new Set(),
    fromBlockId: 0n,
    minimumPayment: 0n,
    log: it_.log,
    cursor: 0n,
    recheck: new Set(),
    wallets: new Set(),
    verified: new Map(),
  });
  it('continues from memory: a quiet interval reads nothing, an edited old row changes nothing written, a re-issued id is still written', async () => {
    const [a, b] = await logins(2, (address) => derivedUserId('miningcore:pool1', 'ETH', address));
    const paid = await withdrawal(a!, '1');
    await withdrawal(a!, '2');
    const a1 = adapter();
    const pass = async (x: McAdapter) => {
      rows.clear();
      await writeBackPayments(x, await intakeView(it_, it_.db), eth);
      return rows.get('ledger.accountWithdrawalsPage') ?? 0;
    };
    const payments = async () =>
      (await mc.query<{ address: string; amount: string }>('SELECT address, amount::text FROM payments ORDER BY id')).rows;
    expect(await pass(a1)).toBe(2);
    expect(await payments()).toEqual([
      { address: a!.login, amount: '1.000000000000' },
      { address: a!.login, amount: '2.000000000000' },
    ]);
    expect(await pass(a1)).toBe(0);
    // An old, written-back withdrawal edited: never read again by this process; a restarted one finds it and writes nothing.
    await asAttacker(l.db, [[`UPDATE ${WITHDRAWALS} SET amount = amount * 2 WHERE id = $1`, [paid]]]);
    await withdrawal(a!, '3');
    expect(await pass(a1)).toBe(1);
    expect(await payments()).toHaveLength(3);
    logs.length = 0;
    await pass(adapter());
    expect(logs.filter((x) => x.alert === INTAKE_ALERT.integrity)).toEqual([expect.objectContaining({ user: a!.userId })]);
    expect(await payments()).toHaveLength(3);
    // Rolled back: a's payment gone from payserv's ledger, its id re-issued to b and paid (another transaction): written.
    await asAttacker(l.db, [
      [`UPDATE ${WITHDRAWALS} SET amount = amount / 2 WHERE id = $1`, [paid]],
      [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id IN (SELECT id FROM ${WITHDRAWALS} WHERE user_id = $1)`, [a!.userId]],
      [`DELETE FROM ${WITHDRAWALS} WHERE user_id = $1`, [a!.userId]],
      [`SELECT setval('${WITHDRAWALS}_id_seq', $1, false)`, [paid]],
    ]);
    expect(await withdrawal(b!, '0.5')).toBe(paid);
    await pass(a1);
    expect((await payments()).at(-1)).toEqual({ address: b!.login, amount: '0.500000000000' });
  });

  it('withdrawals of one miner paid in one transaction (a Zcash batch) are each written once, rows written before the tag included', async () => {
    const pass = async (x: McAdapter) => writeBackPayments(x, await intakeView(it_, it_.db), eth);
    const [a] = await logins(1, (address) => derivedUserId('miningcore:pool1', 'ETH', address));
    await mc.query("INSERT INTO balances(poolid, address, amount, created, updated) VALUES('pool1', $1, 20, now(), now())", [a!.login]);
    const shownFor = async () => ({
      payments: (
        await mc.query<{ amount: string; tx: string }>('SELECT amount::text, transactionconfirmationdata AS tx FROM payments ORDER BY id')
      ).rows,
      resets: (await mc.query<{ amount: string; tags: string[] }>('SELECT amount::text, tags FROM balance_changes ORDER BY id')).rows,
      balance: (await mc.query<{ amount: string }>('SELECT amount::text FROM balances')).rows[0]?.amount,
    });
    const batch = `0x${randomBytes(32).toString('hex')}`;
    // A payout MiningCore's own payer made before the switch: untagged, never taken for one of payserv's.
    await mc.query(
      "INSERT INTO payments(poolid, coin, address, amount, transactionconfirmationdata, created) VALUES('pool1', 'ETH', $1, 1, $2, now())",
      [a!.login, `0x${randomBytes(32).toString('hex')}`],
    );
    await mc.query(
      "INSERT INTO balance_changes(poolid, address, amount, usage, tags, created) VALUES('pool1', $1, -1, 'Balance reset after payment', '{}', now())",
      [a!.login],
    );
    const ids = [await withdrawal(a!, '1', true), await withdrawal(a!, '1', true), await withdrawal(a!, '2', true)];
    for (const id of ids) await send(id, 'pending', batch);
    const a1 = adapter();
    await pass(a1);
    const once = await shownFor();
    expect(once.payments.slice(1)).toEqual([
      { amount: '1.000000000000', tx: batch },
      { amount: '1.000000000000', tx: batch },
      { amount: '2.000000000000', tx: batch },
    ]);
    expect(once.balance).toBe('16.000000000000');
    // Each reset row names its own withdrawal.
    expect(once.resets[0]!.tags).toEqual([]);
    expect(new Set(once.resets.slice(1).map((r) => r.tags[0])).size).toBe(3);
    // Again, and restarted (the process's memory empty, as after a crash after COMMIT without a reply): nothing twice.
    await pass(a1);
    await pass(adapter());
    expect(await shownFor()).toEqual(once);
    // The state the write-back left before the tag (one row per address and hash): only the first written, untagged.
    await mc.query('DELETE FROM payments WHERE id > 2');
    await mc.query('DELETE FROM balance_changes WHERE id > 2');
    await mc.query("UPDATE balance_changes SET tags = '{}' WHERE id = 2");
    await mc.query('UPDATE balances SET amount = 19');
    await pass(adapter());
    const upgraded = await shownFor();
    expect(upgraded.payments).toEqual(once.payments);
    expect(upgraded.balance).toBe('16.000000000000');
    expect(upgraded.resets.map((r) => r.tags[0])).toEqual(once.resets.map((r) => r.tags[0]));
    expect(upgraded.resets[0]!.tags).toEqual([]);
    expect(upgraded.resets[1]!.tags).toEqual([expect.stringMatching(/^payserv:withdrawal:[0-9a-f]{64}$/)]);
    await pass(adapter());
    expect(await shownFor()).toEqual(upgraded);
    // Two adapters at once (the advisory lock): a new batch of two is written once.
    const next = `0x${randomBytes(32).toString('hex')}`;
    for (const id of [await withdrawal(a!, '0.5', true), await withdrawal(a!, '0.5', true)]) await send(id, 'pending', next);
    await Promise.all([pass(adapter()), pass(adapter())]);
    const both = await shownFor();
    expect(both.payments.filter((p) => p.tx === next)).toEqual([
      { amount: '0.500000000000', tx: next },
      { amount: '0.500000000000', tx: next },
    ]);
    expect(both.balance).toBe('15.000000000000');
  });
});
