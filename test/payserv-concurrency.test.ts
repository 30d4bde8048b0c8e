// Concurrent payout calls on one withdrawal (DESIGN §1 promise 1: never pay twice). 50 mixed calls
// (Approve, Resend, Decline, Send) race on one pending withdrawal: one call is served, the others are
// told the withdrawal is busy (or, once it moved, that its status is wrong), and the signed status
// history stays one line. On PostgreSQL the same holds for two payserv instances, each with its own
// connection pool and Locks (as two processes would have): the advisory lock holds across them.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCheckpointStore } from '../src/checkpoints/local-store.js';
import { LockKeys } from '../src/data/lock-keys.js';
import type { Db } from '../src/db/db.js';
import { openPostgres } from '../src/db/postgres.js';
import { canMove } from '../src/ledger/status.js';
import type { Coin, Signed, WithdrawalStatus } from '../src/ledger/records.js';
import { createLogger } from '../src/log/index.js';
import { parseAmount } from '../src/money/amount.js';
import type { PayoutResult } from '../src/api/payserv.js';
import type { Payserv } from '../src/payserv/context.js';
import { LockWatch } from '../src/payserv/lock-watch.js';
import { Locks, withdrawalLock } from '../src/payserv/locks.js';
import { approveWithdrawal, declineRequest, resendWithdrawal, sendWithdrawal } from '../src/payserv/payouts.js';
import { ServiceState } from '../src/payserv/state.js';
import { creditBlock } from '../src/writer/blocks.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, requestWithdrawal } from '../src/writer/withdrawals.js';
import { backend, testPgUrl } from './support/backend.js';
import { ethBackground } from './support/ledger.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { prng } from '../src/writer/seed.js';

const SEED = ethBackground(31);

const CALLS = { Approve: approveWithdrawal, Resend: resendWithdrawal, Decline: declineRequest, Send: sendWithdrawal } as const;
type Kind = keyof typeof CALLS;

let t: TestPayserv | undefined;
const extra: Db[] = [];
afterEach(async () => {
  for (const db of extra.splice(0)) await db.close();
  await t?.ledger.db.close();
  t = undefined;
});

// ---------------------------------------------------------------------------------------------

/** n calls, the four kinds in near-equal numbers, shuffled. */
function mixedCalls(n: number, rnd: () => number): Kind[] {
  const kinds = Object.keys(CALLS) as Kind[];
  const out = Array.from({ length: n }, (_, i) => kinds[i % kinds.length] as Kind);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as Kind, out[i] as Kind];
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * n mixed calls, each issued after its own delay within `spreadMs`; the earliest is made a `first`, so
 * the run is known to start with a move (Approve: later Approves, Sends may follow; Decline: all else refused).
 */
function spread(n: number, spreadMs: number, first: Kind, rnd: () => number): { kinds: Kind[]; delays: number[] } {
  const kinds = mixedCalls(n, rnd);
  const delays = kinds.map(() => 5 + Math.floor(rnd() * spreadMs));
  const earliest = delays.indexOf(Math.min(...delays));
  const swap = kinds.findIndex((k) => k === first);
  [kinds[earliest], kinds[swap]] = [first, kinds[earliest] as Kind];
  delays[earliest] = 0;
  return { kinds, delays };
}

interface Account {
  userId: number;
  coin: Signed<Coin>;
  walletId: number;
  address: string;
}

/** A miner with a signed wallet and 20 ETH credited; the ledger checkpointed after. */
async function miner(tp: TestPayserv, userId: number): Promise<Account> {
  const { db, signers } = tp.ledger;
  const coin = [...(await tp.ledger.view()).coins.values()].find((c) => c.tag === 'ETH') as Signed<Coin>;
  const w = await signWallet(
    db,
    signers.admin,
    (await addWallet(db, { userId, coinId: coin.id, address: `0x${randomBytes(20).toString('hex')}` })).id,
  );
  await creditBlock(db, signers.admin, coin, {
    blockHash: `0x${randomBytes(32).toString('hex')}`,
    shares: [{ userId, amount: parseAmount('20') }],
    poolFee: parseAmount('0.1'),
  });
  return { userId, coin, walletId: w.id, address: w.address };
}

/** A request moved to 'pending' (what Process leaves for a manager). */
async function pending(tp: TestPayserv, a: Account): Promise<number> {
  const { db, signers } = tp.ledger;
  const w = await db.transaction((tx) =>
    requestWithdrawal(tx, signers.autopay, {
      userId: a.userId,
      coinId: a.coin.id,
      walletId: a.walletId,
      address: a.address,
      amount: parseAmount('1'),
      fee: a.coin.withdrawalFee,
    }),
  );
  await db.transaction((tx) =>
    changeStatus(tx, signers.payserv, w.id, 'processing', { status: 'pending', comment: 'waits for a manager' }),
  );
  return w.id;
}

interface Entry {
  seq: number;
  status: WithdrawalStatus;
}

const historyOf = (db: Db, id: number) =>
  db.query<Entry & Record<string, unknown>>(
    'SELECT seq, status FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 ORDER BY seq',
    [id],
  );

const BUSY = (id: number) => `withdrawal ${id} is being handled by another call; try again`;
const WRONG_STATUS = (id: number) => new RegExp(`^withdrawal ${id} is (\\w+); (\\w+) takes `);

type Served = { kind: Kind; r: PayoutResult };

/**
 * What must hold however the calls interleaved: the signed history is one line of legal moves; each
 * move was made by exactly one call whose reply says so; every other call was refused as busy or for
 * the status it found (never by the writer's last-moment check, which would mean two calls were inside
 * the lock at once); and the ledger is clean. Returns the calls that were not refused as busy.
 */
async function expectOneHistory(
  tp: TestPayserv,
  id: number,
  kinds: readonly Kind[],
  results: readonly PayoutResult[],
  before: readonly Entry[],
): Promise<Served[]> {
  const { db } = tp.ledger;
  const after = await historyOf(db, id);
  expect(after.map((e) => e.seq)).toEqual(after.map((_, i) => i));
  expect(after.slice(0, before.length)).toEqual(before);
  const moves = after.slice(before.length);
  for (const [i, e] of after.entries())
    if (i > 0) expect(canMove((after[i - 1] as Entry).status, e.status), `${(after[i - 1] as Entry).status} → ${e.status}`).toBe(true);

  const served: Served[] = [];
  for (const [i, r] of results.entries()) {
    const kind = kinds[i] as Kind;
    expect(r.id).toBe(id);
    if (r.reply === 'ERROR' && r.message === BUSY(id)) continue;
    served.push({ kind, r });
    if (r.reply === 'ERROR') {
      // Refused for the status it found; that status must be one the history went through.
      const m = WRONG_STATUS(id).exec(r.message ?? '');
      expect(m, `${kind}: ${r.message}`).not.toBeNull();
      expect(m?.[2]).toBe(kind);
      expect(after.map((e) => e.status)).toContain(m?.[1]);
      continue;
    }
    const allowed: Record<Kind, string[]> = { Approve: ['APPROVED'], Resend: ['APPROVED'], Decline: ['DECLINED'], Send: ['SENT'] };
    expect(allowed[kind], `${kind} answered ${r.reply}`).toContain(r.reply);
  }
  // One reply per move: DECLINED ↔ processed, SENT ↔ sent; APPROVED ↔ approved (an Approve of an approved withdrawal also answers APPROVED, unchanged).
  const replies = (reply: string) => served.filter((s) => s.r.reply === reply).length;
  const moved = (status: WithdrawalStatus) => moves.filter((e) => e.status === status).length;
  expect(replies('DECLINED')).toBe(moved('processed'));
  expect(replies('SENT')).toBe(moved('sent'));
  expect(moved('approved')).toBeLessThanOrEqual(1);
  expect(replies('APPROVED')).toBeGreaterThanOrEqual(moved('approved'));
  if (replies('APPROVED') > moved('approved')) expect(after.map((e) => e.status)).toContain('approved');
  expect(moves.length).toBe(moved('processed') + moved('sent') + moved('approved'));
  // Declined and paid are exclusive; a decline leaves exactly one reversal.
  expect(moved('processed') * (moved('approved') + moved('sent'))).toBe(0);
  const reversals = await db.query('SELECT id FROM finances_withdrawal_transaction WHERE parent_id = $1', [id]);
  expect(reversals).toHaveLength(moved('processed'));
  const [row] = await db.query<{ status: WithdrawalStatus; status_seq: number }>(
    'SELECT status, status_seq FROM finances_withdrawal_transaction WHERE id = $1',
    [id],
  );
  expect(row).toEqual({ status: (after[after.length - 1] as Entry).status, status_seq: after.length - 1 });

  expect(await tp.ledger.check('balanceerrors')).toEqual([]);
  return served;
}

// ---------------------------------------------------------------------------------------------

describe('50 concurrent calls on one pending withdrawal, one payserv', () => {
  it('all issued at once: the call that takes the lock decides, the other 49 are busy', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const a = await miner(tp, 6001);
    // In one process the lock is taken before the first await, so the first call issued is the one served:
    // each race puts a different kind first, the other 49 shuffled behind it.
    const firsts: Kind[] = ['Approve', 'Decline', 'Send', 'Resend'];
    const ids = [];
    for (const _ of firsts) ids.push(await pending(tp, a));
    await tp.ledger.checkpointAll();
    const rnd = prng(1);

    for (const [i, first] of firsts.entries()) {
      const id = ids[i] as number;
      const kinds = [first, ...mixedCalls(49, rnd)];
      const before = await historyOf(tp.ledger.db, id);
      const results = await Promise.all(kinds.map((k, n) => CALLS[k](tp.ps, id, `caller ${n}`)));

      const served = await expectOneHistory(tp, id, kinds, results, before);
      expect(
        served.map((s) => s.kind),
        first,
      ).toEqual([first]);
      const r = (served[0] as Served).r;
      const outcome = {
        Approve: ['APPROVED', 'approved'],
        Decline: ['DECLINED', 'processed'],
        Send: ['ERROR', 'pending'],
        Resend: ['ERROR', 'pending'],
      }[first];
      expect([r.reply, r.status], first).toEqual(outcome);
      expect((await historyOf(tp.ledger.db, id)).length - before.length, first).toBe(r.reply === 'ERROR' ? 0 : 1);
      expect(results.filter((x) => x.reply === 'ERROR' && x.message === BUSY(id))).toHaveLength(49);
    }
    expect(tp.ps.locks.list()).toEqual([]);
    expect(tp.ps.state.enabled).toBe(true);
    expect(tp.alerts).toEqual([]);
  });

  it('spread over time: calls that find it free are served in turn, and the history stays one line', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const a = await miner(tp, 6002);
    const ids = [await pending(tp, a), await pending(tp, a)];
    await tp.ledger.checkpointAll();
    const rnd = prng(2);
    const outcomes = [];

    for (const [i, id] of ids.entries()) {
      const { kinds, delays } = spread(50, 800, i === 0 ? 'Approve' : 'Decline', rnd);
      const before = await historyOf(tp.ledger.db, id);
      const results = await Promise.all(
        kinds.map(async (k, n) => {
          await sleep(delays[n] as number);
          return CALLS[k](tp.ps, id, `caller ${n}`);
        }),
      );
      const served = await expectOneHistory(tp, id, kinds, results, before);
      expect(served.length).toBeGreaterThan(0);
      outcomes.push((await historyOf(tp.ledger.db, id)).map((e) => e.status));
    }
    // The first run went through approved (and possibly on to sent); the second ended declined.
    expect(outcomes[0]?.slice(0, 3)).toEqual(['processing', 'pending', 'approved']);
    expect(outcomes[1]).toEqual(['processing', 'pending', 'processed']);
    expect(tp.ps.state.enabled).toBe(true);
    expect(tp.alerts).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

/** A second payserv on the same database, as another process would be: its own pool, Locks and state; the same host's local store. */
async function secondPayserv(tp: TestPayserv): Promise<Payserv> {
  const [{ name }] = (await tp.ledger.db.query<{ name: string }>('SELECT current_database() AS name')) as [{ name: string }];
  const url = new URL(testPgUrl());
  url.pathname = `/${name}`;
  const db = await openPostgres({ url: url.toString(), poolSize: 4, statementTimeoutMs: 30_000 });
  extra.push(db);
  const log = createLogger('payserv', 'info', { write: () => undefined });
  const alerts = { raise: async (kind: string, reason: string) => void tp.alerts.push({ kind, reason, details: { instance: 'second' } }) };
  const state = new ServiceState(log, alerts);
  state.enable('test');
  // The same payserv key, so the same lock keys: the two serialise as two processes of one payserv would.
  const locks = new Locks(db, LockKeys.of(tp.ledger.signers.payserv), { log });
  return {
    ...tp.ps,
    db,
    locks,
    lockWatch: new LockWatch({ locks, alerts, log, heldMaxMs: 300_000 }),
    state,
    local: new LocalCheckpointStore(tp.ledger.stateDir),
    log,
  };
}

describe.runIf(backend() === 'postgres')('two payserv instances (two Locks, two pools) on one database', () => {
  it('the advisory lock one holds refuses the other', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const a = await miner(tp, 6003);
    const id = await pending(tp, a);
    await tp.ledger.checkpointAll();
    const other = await secondPayserv(tp);
    const before = await historyOf(tp.ledger.db, id);

    await tp.ps.locks.with(withdrawalLock(id), 'the first instance', async () => {
      expect(await other.locks.isHeld(withdrawalLock(id))).toBe(true);
      expect(await other.locks.heldElsewhere()).toBeGreaterThanOrEqual(1);
      for (const kind of Object.keys(CALLS) as Kind[]) {
        expect(await CALLS[kind](other, id, 'second instance'), kind).toEqual({
          reply: 'ERROR',
          code: 'busy',
          id,
          status: null,
          message: BUSY(id),
        });
      }
    });
    expect(await historyOf(tp.ledger.db, id)).toEqual(before);
    // Released: the other instance is served.
    expect(await other.locks.isHeld(withdrawalLock(id))).toBe(false);
    expect(await approveWithdrawal(other, id, 'second instance')).toMatchObject({ reply: 'APPROVED', status: 'approved' });
    expect(await tp.ledger.check('balanceerrors')).toEqual([]);
  });

  it('50 calls split across both, issued at once and spread over time: one line of history', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const a = await miner(tp, 6004);
    const ids = [await pending(tp, a), await pending(tp, a), await pending(tp, a)];
    await tp.ledger.checkpointAll();
    const instances = [tp.ps, await secondPayserv(tp)];
    const rnd = prng(3);

    // At once: each instance's first call gets past its own in-process lock, and the two meet at the
    // advisory lock — an Approve on one, a Decline on the other, so either winner moves the withdrawal.
    for (const id of ids.slice(0, 2)) {
      const kinds: Kind[] = ['Approve', 'Decline', ...mixedCalls(48, rnd)];
      const before = await historyOf(tp.ledger.db, id);
      const results = await Promise.all(kinds.map((k, n) => CALLS[k](instances[n % 2] as Payserv, id, `caller ${n}`)));
      const served = await expectOneHistory(tp, id, kinds, results, before);
      const moves = (await historyOf(tp.ledger.db, id)).slice(before.length).map((e) => e.status);
      expect(moves.length === 1 && ['approved', 'processed'].includes(moves[0] as string), moves.join()).toBe(true);
      // Only the two first calls got as far as the advisory lock; the loser was refused as busy or, if it came after, for the status.
      expect(served.length).toBeLessThanOrEqual(2);
      expect(served.filter((s) => s.r.reply !== 'ERROR')).toHaveLength(1);
    }

    // Spread over time, alternating instances.
    const id = ids[2] as number;
    const { kinds, delays } = spread(50, 800, 'Approve', rnd);
    const before = await historyOf(tp.ledger.db, id);
    const results = await Promise.all(
      kinds.map(async (k, n) => {
        await sleep(delays[n] as number);
        return CALLS[k](instances[n % 2] as Payserv, id, `caller ${n}`);
      }),
    );
    expect((await expectOneHistory(tp, id, kinds, results, before)).length).toBeGreaterThan(0);
    expect((await historyOf(tp.ledger.db, id))[2]?.status).toBe('approved');

    for (const ps of instances) {
      expect(ps.locks.list()).toEqual([]);
      expect(ps.state.enabled).toBe(true);
    }
    expect(tp.alerts).toEqual([]);
  });
});
