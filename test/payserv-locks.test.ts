// payserv's advisory locks against a database attacker (issue 13, item 5). Their keys are derived from
// payserv's key, so the old predictable names (hashtextextended('payserv:withdrawal:ID')) block nothing;
// and a session that does hold one of the real keys (as someone with payserv's key could) is reported
// by Utils.ListLocks naming the lock and the session, and alerted once per episode, as is a lock of
// payserv's own held past [locks] held_max_ms. Payouts stay enabled throughout: it is not an integrity failure.
import { createHmac, hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { advanceUserCheckpoint } from '../src/verify/advance.js';
import { LOCK_KEYS_INFO, LockKeys } from '../src/data/lock-keys.js';
import { listLocks } from '../src/payserv/admin.js';
import type { Payserv } from '../src/payserv/context.js';
import { LOCK_HELD_ALERT, type ReportedLock } from '../src/payserv/lock-watch.js';
import { autopayLock, coinSendLock, withdrawalLock } from '../src/payserv/locks.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { initPki, loadSigner, pkiPaths } from '../src/esman/pki-files.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { backend, describeOncePerSuite, testPgUrl } from './support/backend.js';
import { newMiner, request } from './support/miners.js';
import { ethBackground } from './support/ledger.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { tmpStateDir } from './support/tmp.js';

const SEED = ethBackground(41);
const BUSY = (id: number) => `withdrawal ${id} is being handled by another call; try again`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let t: TestPayserv | undefined;
const attackers: pg.Client[] = [];
afterEach(async () => {
  for (const a of attackers.splice(0)) await a.end().catch(() => undefined);
  await t?.ledger.db.close();
  t = undefined;
});

/** The database attacker: a session of its own on payserv's database, full SQL, none of payserv's keys. */
async function attacker(tp: TestPayserv): Promise<{ sql: pg.Client; pid: number }> {
  const [{ name }] = (await tp.ledger.db.query<{ name: string }>('SELECT current_database() AS name')) as [{ name: string }];
  const url = new URL(testPgUrl());
  url.pathname = `/${name}`;
  const sql = new pg.Client({ connectionString: url.toString(), application_name: 'mallory' });
  await sql.connect();
  attackers.push(sql);
  const pid = (await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
  return { sql, pid };
}

const tryLock = async (sql: pg.Client, keyExpr: string, param: string) =>
  (await sql.query<{ ok: boolean }>(`SELECT pg_try_advisory_lock(${keyExpr}) AS ok`, [param])).rows[0]?.ok;

const alertsOf = (tp: TestPayserv) => tp.alerts.filter((a) => a.kind === LOCK_HELD_ALERT);

/** A pending withdrawal of a fresh miner (Process leaves it pending: no policy). */
async function pendingRequest(tp: TestPayserv, userId: number): Promise<number> {
  const id = await request(tp, await newMiner(tp, userId));
  await tp.ledger.checkpointAll();
  expect(await processWithdrawal(tp.ps, id, 'test')).toMatchObject({ reply: 'PENDING', status: 'pending' });
  return id;
}

// ---------------------------------------------------------------------------------------------

describeOncePerSuite('lock keys', () => {
  it('are HMAC-SHA256(HKDF-SHA256(payserv SIGN key, "payserv advisory lock keys v1"), name), first 8 bytes signed: the same in every process with the key, different with another', async () => {
    const dir = await tmpStateDir();
    await initPki(dir, { rootDays: 3650, leafDays: 825 });
    const payserv = loadSigner(dir, 'payserv');
    const keys = LockKeys.of(payserv);
    expect(LockKeys.of(payserv)).toBe(keys);

    // The documented derivation, computed here from the key file alone.
    const der = Buffer.from(readFileSync(pkiPaths(dir).signerKey('payserv'), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const secret = Buffer.from(hkdfSync('sha256', der, Buffer.alloc(0), Buffer.from(LOCK_KEYS_INFO), 32));
    for (const name of ['withdrawal:1', 'withdrawal:2', 'send:ETH', 'autopay:ETH', 'checkpoint:user:1:1', 'checkpoint:coin:1']) {
      const want = createHmac('sha256', secret).update(name).digest().readBigInt64BE(0);
      expect(keys.key(name), name).toBe(want.toString());
      expect(BigInt(keys.key(name)) >= -(2n ** 63n) && BigInt(keys.key(name)) < 2n ** 63n).toBe(true);
    }
    expect(new Set(['withdrawal:1', 'withdrawal:2', 'send:ETH', 'autopay:ETH'].map((n) => keys.key(n))).size).toBe(4);

    // Another process loading the same key file derives the same keys; another payserv key, other keys.
    expect(LockKeys.of(loadSigner(dir, 'payserv')).key('withdrawal:7')).toBe(keys.key('withdrawal:7'));
    const other = await tmpStateDir();
    await initPki(other, { rootDays: 3650, leafDays: 825 });
    expect(LockKeys.of(loadSigner(other, 'payserv')).key('withdrawal:7')).not.toBe(keys.key('withdrawal:7'));

    // Only payserv's key; and the secret never shows.
    expect(() => LockKeys.of(loadSigner(dir, 'admin'))).toThrow(/derived from the payserv signer, not admin/);
    const shown = `${JSON.stringify({ keys })} ${inspect(keys)}`;
    expect(shown).not.toContain(secret.toString('hex'));
    expect(shown).not.toContain(secret.toString('base64'));
    expect(shown).toMatch(/not shown/);
  });
});

describe.runIf(backend() === 'postgres')('an attacker holding the old predictable lock names', () => {
  it('blocks nothing: Process and Approve go through, and nothing is reported', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 7001);
    const id = await request(tp, m);
    await tp.ledger.checkpointAll();
    const { sql } = await attacker(tp);
    // Everything payserv used to lock by name: the withdrawal, the coin's send and autopay locks, and
    // the account's and the coin's checkpoint (as session locks, so they stay held).
    const names = [
      `withdrawal:${id}`,
      'send:ETH',
      'autopay:ETH',
      `correction:${m.coin.id}`,
      `checkpoint:user:${m.userId}:${m.coin.id}`,
      `checkpoint:coin:${m.coin.id}`,
    ];
    for (const n of names) expect(await tryLock(sql, "hashtextextended('payserv:' || $1, 0)", n), n).toBe(true);

    expect(await processWithdrawal(tp.ps, id, 'test')).toMatchObject({ reply: 'PENDING', status: 'pending' });
    expect(await approveWithdrawal(tp.ps, id, 'test')).toMatchObject({ reply: 'APPROVED', status: 'approved' });
    // Still held by the attacker all along.
    const held = await sql.query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted",
    );
    expect(Number(held.rows[0]?.n)).toBe(names.length);
    expect((await listLocks({ ...tp.ps, autopay: new Map([['ETH', {} as AutopaySettings]]) })).reported).toEqual([]);
    expect(tp.ps.state.enabled).toBe(true);
    expect(tp.alerts).toEqual([]);
    expect(await tp.ledger.check('balanceerrors')).toEqual([]);
  });
});

describe.runIf(backend() === 'postgres')("a session holding one of payserv's real lock keys", () => {
  it('is refused as busy with a warning naming it, reported by ListLocks with its pid, alerted once per episode; payouts stay enabled', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const id = await pendingRequest(tp, 7002);
    const { sql, pid } = await attacker(tp);
    // As if the attacker had payserv's key: the key computed with the secret.
    const key = LockKeys.of(tp.ledger.signers.payserv).key(withdrawalLock(id));
    expect(await tryLock(sql, '$1::bigint', key)).toBe(true);

    // Nothing refused yet: payserv does not know of it (withdrawal locks are looked at once refused).
    expect((await listLocks(tp.ps)).reported).toEqual([]);
    expect(await approveWithdrawal(tp.ps, id, 'test')).toEqual({ reply: 'ERROR', code: 'busy', id, status: null, message: BUSY(id) });
    const warning = tp.logs
      .map((l) => JSON.parse(l) as { level: number; msg: string; lock?: string; pids?: number[] })
      .find((l) => l.lock === withdrawalLock(id));
    expect(warning).toMatchObject({
      level: 40,
      pids: [pid],
      msg: `lock ${withdrawalLock(id)} is held by another database session (pid ${pid}): the call was told to try again`,
    });

    const first = await listLocks(tp.ps);
    expect(first.reported).toEqual([
      expect.objectContaining({
        lock: withdrawalLock(id),
        holder: 'foreign',
        pid,
        over_max: false,
        by: expect.stringMatching(new RegExp(`^database session pid ${pid} \\(ExclusiveLock, application "mallory"\\)$`)),
        backend_start: expect.any(String),
        state_change: expect.any(String),
      } satisfies Partial<ReportedLock>),
    ]);
    expect(alertsOf(tp)).toHaveLength(1);
    expect(alertsOf(tp)[0]?.reason).toBe(
      `lock ${withdrawalLock(id)} is held by database session pid ${pid} (ExclusiveLock, application "mallory"), not by this payserv: every call that needs it answers "try again" until it is released`,
    );
    expect(alertsOf(tp)[0]?.details).toMatchObject({ lock: withdrawalLock(id), pid, pids: [pid] });

    // The same episode: reported again, not alerted again.
    expect((await listLocks(tp.ps)).reported).toHaveLength(1);
    expect(await approveWithdrawal(tp.ps, id, 'test')).toMatchObject({ reply: 'ERROR', code: 'busy' });
    expect((await listLocks(tp.ps)).reported).toHaveLength(1);
    expect(alertsOf(tp)).toHaveLength(1);
    expect(tp.ps.state.enabled).toBe(true);

    // Released: nothing reported, the call is served; taken again and refused: a new episode, a new alert.
    await sql.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
    expect((await listLocks(tp.ps)).reported).toEqual([]);
    expect(tp.ps.locks.refusals().size).toBe(0);
    expect(await tryLock(sql, '$1::bigint', key)).toBe(true);
    expect(await approveWithdrawal(tp.ps, id, 'test')).toMatchObject({ reply: 'ERROR', code: 'busy' });
    expect((await listLocks(tp.ps)).reported).toHaveLength(1);
    expect(alertsOf(tp)).toHaveLength(2);
    await sql.query('SELECT pg_advisory_unlock_all()');
    expect(await approveWithdrawal(tp.ps, id, 'test')).toMatchObject({ reply: 'APPROVED', status: 'approved' });
    expect((await listLocks(tp.ps)).reported).toEqual([]);
    expect(tp.alerts.filter((a) => a.kind !== LOCK_HELD_ALERT)).toEqual([]);
    expect(await tp.ledger.check('balanceerrors')).toEqual([]);
  });

  it("on a coin's send or autopay lock is reported before anyone is refused, and over held_max_ms says so", async () => {
    t = await testPayserv({ seed: SEED, lockHeldMaxMs: 300 });
    const tp = t;
    const ps: Payserv = { ...tp.ps, autopay: new Map([['ETH', {} as AutopaySettings]]) };
    const { sql, pid } = await attacker(tp);
    const keys = LockKeys.of(tp.ledger.signers.payserv);
    expect(await tryLock(sql, '$1::bigint', keys.key(autopayLock('ETH')))).toBe(true);
    // A shared hold blocks payserv's exclusive lock just as well.
    expect(
      (await sql.query<{ ok: boolean }>('SELECT pg_try_advisory_lock_shared($1::bigint) AS ok', [keys.key(coinSendLock('ETH'))])).rows[0]
        ?.ok,
    ).toBe(true);

    const r = await listLocks(ps);
    expect(r.held_max_ms).toBe(300);
    expect(r.reported.map((x) => [x.lock, x.holder, x.pid, x.over_max])).toEqual([
      [coinSendLock('ETH'), 'foreign', pid, false],
      [autopayLock('ETH'), 'foreign', pid, false],
    ]);
    expect(r.reported[0]?.by).toMatch(/ShareLock/);
    expect(alertsOf(tp).map((a) => a.details.lock)).toEqual([coinSendLock('ETH'), autopayLock('ETH')]);

    await sleep(400);
    const later = await listLocks(ps);
    expect(later.reported.map((x) => [x.lock, x.over_max])).toEqual([
      [coinSendLock('ETH'), true],
      [autopayLock('ETH'), true],
    ]);
    expect(later.reported[1]?.held_ms).toBeGreaterThan(300);
    // Still the episode already alerted.
    expect(alertsOf(tp)).toHaveLength(2);
  });

  it('a checkpoint advance waits on the derived checkpoint key, and only on it', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 7003);
    const { sql } = await attacker(tp);
    const key = LockKeys.of(tp.ledger.signers.payserv).key(`checkpoint:user:${m.userId}:${m.coin.id}`);
    expect(await tryLock(sql, '$1::bigint', key)).toBe(true);
    let done = false;
    const advance = advanceUserCheckpoint(tp.ps.db, await tp.ledger.view(), tp.ledger.signers.payserv, m.userId, m.coin.id).finally(
      () => (done = true),
    );
    await sleep(500);
    expect(done).toBe(false);
    await sql.query('SELECT pg_advisory_unlock($1::bigint)', [key]);
    expect(await advance).toMatchObject({ ok: true });
  });
});

describe("payserv's own lock held past held_max_ms", () => {
  it('is reported with its holder and alerted once; released, the episode ends', async () => {
    t = await testPayserv({ seed: SEED, lockHeldMaxMs: 200 });
    const tp = t;
    const name = withdrawalLock(999_999);
    await tp.ps.locks.with(name, 'a slow call by test', async () => {
      expect((await listLocks(tp.ps)).reported).toEqual([]);
      await sleep(300);
      const r = await listLocks(tp.ps);
      expect(r.held).toEqual([expect.objectContaining({ name, holder: 'a slow call by test' })]);
      expect(r.reported).toEqual([
        expect.objectContaining({ lock: name, holder: 'own', pid: null, by: 'a slow call by test', over_max: true }),
      ]);
      expect(r.reported[0]?.held_ms).toBeGreaterThanOrEqual(300);
      await listLocks(tp.ps);
    });
    expect(alertsOf(tp)).toHaveLength(1);
    expect(alertsOf(tp)[0]?.reason).toMatch(
      new RegExp(`^lock ${name} has been held by this payserv \\(a slow call by test\\) for \\d+ s, over \\[locks\\] held_max_ms = 200$`),
    );
    expect((await listLocks(tp.ps)).reported).toEqual([]);
    // Embedded database: one process, nobody else can hold anything.
    if (backend() === 'pglite') expect(await tp.ps.locks.foreignHolders([name, coinSendLock('ETH')])).toEqual([]);
    expect(tp.ps.state.enabled).toBe(true);
  });
});
