// payserv's PayServ.* methods against DESIGN §4, in process and without chain drivers (every coin
// follows the "other coins" rows): every method from every withdrawal status, the business declines
// of Process, the automatic-approval policy, and the refusals (unknown id, payouts disabled, SendCoin
// for a coin nobody pays automatically). After every call: the reply, the status it left, the signed
// status entries it added, the account's checkpoint, and a clean `balanceerrors`.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { WITHDRAWAL_STATUSES, type WithdrawalStatus } from '../src/ledger/records.js';
import { parseAmount } from '../src/money/amount.js';
import { formatProblem, problem, PROBLEM_CODES } from '../src/ledger/problem.js';
import { REFUSAL_CODES, type PayoutResult, type RefusalCode, type Reply } from '../src/api/payserv.js';
import type { Payserv } from '../src/payserv/context.js';
import {
  approveWithdrawal,
  checkWithdrawal,
  declineRequest,
  processWithdrawal,
  resendWithdrawal,
  sendCoin,
  sendWithdrawal,
} from '../src/payserv/payouts.js';
import type { CoinPolicy } from '../src/payserv/policy.js';
import { withdrawalLock } from '../src/payserv/locks.js';
import { registerCoin } from '../src/writer/coins.js';
import { retireWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, declineWithdrawal } from '../src/writer/withdrawals.js';
import { amt, newMiner, request, wallet, type Miner } from './support/miners.js';
import { ethBackground, signedState } from './support/ledger.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const SEED = ethBackground(11);

const METHODS = {
  Process: processWithdrawal,
  Decline: declineRequest,
  Approve: approveWithdrawal,
  Resend: resendWithdrawal,
  Check: checkWithdrawal,
  Send: sendWithdrawal,
} as const;
type MethodName = keyof typeof METHODS;
const METHOD_NAMES = Object.keys(METHODS) as MethodName[];

let t: TestPayserv | undefined;
afterEach(async () => {
  await t?.ledger.db.close();
  t = undefined;
});

// ---------------------------------------------------------------------------------------------
// Building withdrawals through the writer

/** Legal paths from processing, each step signed by payserv. */
const PATHS: Record<Exclude<WithdrawalStatus, 'processed' | 'declined'>, WithdrawalStatus[]> = {
  processing: [],
  pending: ['pending'],
  approved: ['pending', 'approved'],
  sending: ['approved', 'sending'],
  sent: ['pending', 'approved', 'sent'],
  send_error: ['approved', 'send_error'],
  send_retry: ['pending', 'send_retry'],
};

/** A withdrawal in each status: the requests moved along legal paths; 'processed' is a declined request, 'declined' its reversal. */
async function oneOfEach(tp: TestPayserv, m: Miner): Promise<Record<WithdrawalStatus, number>> {
  const ids: Partial<Record<WithdrawalStatus, number>> = {};
  for (const [target, path] of Object.entries(PATHS) as [WithdrawalStatus, WithdrawalStatus[]][]) {
    const id = await request(tp, m);
    let at: WithdrawalStatus = 'processing';
    for (const next of path) {
      await tp.ledger.db.transaction((tx) =>
        changeStatus(tx, tp.ledger.signers.payserv, id, at, { status: next, comment: `to ${next} (test)` }),
      );
      at = next;
    }
    ids[target] = id;
  }
  const declined = await request(tp, m);
  const { original, reversal } = await tp.ledger.db.transaction((tx) =>
    declineWithdrawal(tx, tp.ledger.signers.payserv, declined, 'processing', 'declined (test)'),
  );
  ids.processed = original.id;
  ids.declined = reversal.id;
  return ids as Record<WithdrawalStatus, number>;
}

// ---------------------------------------------------------------------------------------------
// What a call left behind

interface Snapshot {
  status: WithdrawalStatus | null;
  statusSeq: number | null;
  /** Signed status entries of the whole ledger. */
  statusRows: number;
  /** Of those, the ones signed with payserv's key. */
  byPayserv: number;
  withdrawals: number;
  /** The account's user checkpoint version (0: none). */
  checkpoint: number;
}

async function snapshot(tp: TestPayserv, id: number, m: Pick<Miner, 'userId' | 'coin'>): Promise<Snapshot> {
  const { db } = tp.ledger;
  const [w] = await db.query<{ status: WithdrawalStatus; status_seq: number }>(
    'SELECT status, status_seq FROM finances_withdrawal_transaction WHERE id = $1',
    [id],
  );
  const [c] = await db.query<{ rows: number; by_payserv: number; withdrawals: number }>(
    `SELECT (SELECT count(*) FROM finances_withdrawal_signatures)::int AS rows,
       (SELECT count(*) FROM finances_withdrawal_signatures WHERE sig_key_id = $1)::int AS by_payserv,
       (SELECT count(*) FROM finances_withdrawal_transaction)::int AS withdrawals`,
    [tp.ledger.signers.payserv.keyId],
  );
  const [cp] = await db.query<{ version: number }>(
    'SELECT version FROM finances_user_balance_checkpoints WHERE user_id = $1 AND coin_id = $2',
    [m.userId, m.coin.id],
  );
  return {
    status: w?.status ?? null,
    statusSeq: w?.status_seq ?? null,
    statusRows: c?.rows ?? -1,
    byPayserv: c?.by_payserv ?? -1,
    withdrawals: c?.withdrawals ?? -1,
    checkpoint: cp?.version ?? 0,
  };
}

// ---------------------------------------------------------------------------------------------
// The contract (DESIGN §4, "other coins" rows)

interface Outcome {
  reply: Reply;
  /** Every ERROR and DECLINED names one (README "Refusal codes"); PENDING names the policy. */
  code?: RefusalCode;
  status: WithdrawalStatus;
  /** Signed status entries added: 1 per change; a decline adds its own and the reversal's first. */
  rows: number;
}

function expected(method: MethodName, from: WithdrawalStatus): Outcome {
  const refused: Outcome = { reply: 'ERROR', code: 'wrong_status', status: from, rows: 0 };
  switch (method) {
    case 'Process':
      // No policy configured for the coin: the request waits for a manager.
      return from === 'processing' ? { reply: 'PENDING', code: 'policy', status: 'pending', rows: 1 } : refused;
    case 'Decline':
      return from === 'pending' ? { reply: 'DECLINED', code: 'manager_declined', status: 'processed', rows: 2 } : refused;
    case 'Approve':
      if (from === 'pending') return { reply: 'APPROVED', status: 'approved', rows: 1 };
      return from === 'approved' ? { reply: 'APPROVED', status: 'approved', rows: 0 } : refused;
    case 'Resend':
      return from === 'send_error' || from === 'send_retry' ? { reply: 'APPROVED', status: 'approved', rows: 1 } : refused;
    case 'Check':
      return from === 'sending' ? { reply: 'SENT', status: 'sent', rows: 1 } : refused;
    case 'Send':
      return ['approved', 'sending', 'send_error'].includes(from) ? { reply: 'SENT', status: 'sent', rows: 1 } : refused;
  }
}

/** What the method table says each method takes, as the refusal names it. */
const TAKES: Record<MethodName, string> = {
  Process: 'processing',
  Decline: 'pending',
  Approve: 'pending or approved',
  Resend: 'send_error or send_retry',
  Check: 'sending',
  Send: 'approved or sending or send_error',
};

describe('every method from every status', () => {
  it.each(METHOD_NAMES)('%s', async (method) => {
    t = await testPayserv({ seed: SEED });
    const m = await newMiner(t, 5001);
    const ids = await oneOfEach(t, m);
    await t.ledger.checkpointAll();
    expect(await t.ledger.check('balanceerrors')).toEqual([]);

    for (const from of WITHDRAWAL_STATUSES) {
      const id = ids[from];
      const want = expected(method, from);
      const label = `${method}(${from})`;
      const before = await snapshot(t, id, m);
      expect(before.status, label).toBe(from);

      const r = await METHODS[method](t.ps, id, 'test');
      const after = await snapshot(t, id, m);
      const changed = after.status !== from;

      expect
        .soft({ reply: r.reply, code: r.code, id: r.id, status: r.status }, label)
        .toEqual({ reply: want.reply, code: want.code, id, status: want.status });
      expect.soft(after.status, label).toBe(want.status);
      expect.soft(after.statusRows - before.statusRows, `${label}: signed status entries added`).toBe(want.rows);
      expect.soft(after.byPayserv - before.byPayserv, `${label}: entries signed by payserv`).toBe(want.rows);
      expect.soft(after.statusSeq, `${label}: status_seq`).toBe((before.statusSeq ?? 0) + (changed ? 1 : 0));
      // A decline appends exactly one row: the reversal; nothing else adds a withdrawal row.
      expect.soft(after.withdrawals - before.withdrawals, `${label}: withdrawal rows added`).toBe(want.reply === 'DECLINED' ? 1 : 0);
      expect.soft(after.checkpoint, `${label}: user checkpoint version`).toBe(before.checkpoint + (changed ? 1 : 0));
      if (want.reply === 'ERROR') {
        expect.soft(r.message, label).toBe(`withdrawal ${id} is ${from}; ${method} takes ${TAKES[method]}`);
      }
      if (want.reply === 'DECLINED') {
        const [rev] = await t.ledger.db.query<{ amount: string; status: string; status_seq: number }>(
          'SELECT amount::text AS amount, status, status_seq FROM finances_withdrawal_transaction WHERE parent_id = $1',
          [id],
        );
        expect
          .soft(rev && { amount: parseAmount(rev.amount), status: rev.status, seq: rev.status_seq }, `${label}: reversal row`)
          .toEqual({ amount: -amt('1'), status: 'declined', seq: 0 });
      }
      expect.soft(await t.ledger.check('balanceerrors'), `${label}: balanceerrors`).toEqual([]);
    }
    expect(t.ps.state.enabled).toBe(true);
    expect(t.alerts).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------

/** Asserts a Process call declined the request: the original 'processed', a reversal row, both signed, the checkpoint moved, the ledger clean. */
async function expectDeclined(
  tp: TestPayserv,
  m: Pick<Miner, 'userId' | 'coin'>,
  id: number,
  code: RefusalCode,
  why: RegExp,
  checkSays: string[] = [],
): Promise<void> {
  const before = await snapshot(tp, id, m);
  const r = await processWithdrawal(tp.ps, id, 'test');
  const after = await snapshot(tp, id, m);
  expect({ reply: r.reply, code: r.code, status: r.status }).toEqual({ reply: 'DECLINED', code, status: 'processed' });
  expect(r.message).toMatch(why);
  expect(after.status).toBe('processed');
  expect(after.statusRows - before.statusRows).toBe(2);
  expect(after.byPayserv - before.byPayserv).toBe(2);
  expect(after.withdrawals - before.withdrawals).toBe(1);
  expect(after.checkpoint).toBe(before.checkpoint + 1);
  const [rev] = await tp.ledger.db.query<{ comment: string }>(
    `SELECT comment FROM finances_withdrawal_transaction WHERE parent_id = $1 AND status = 'declined'`,
    [id],
  );
  expect(rev?.comment).toMatch(why);
  expect(await tp.ledger.check('balanceerrors')).toEqual(checkSays);
}

describe('Process declines a request it cannot pay (a business failure: no fail-stop)', () => {
  it('for each reason, one request each', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 5001, '20');
    const other = await newMiner(tp, 5002, '3');
    const doge = await registerCoin(tp.ledger.db, tp.ledger.signers.admin, {
      tag: 'DOGE',
      name: 'Dogecoin',
      network: 'mainnet',
      decimals: 8,
      confirmations: 40,
      withdrawalFee: amt('1'),
      minWithdrawal: amt('10'),
      feeUserId: 1,
    });
    await tp.ledger.checkpointAll();

    // The balance: 20 credited, 25 asked.
    await expectDeclined(
      tp,
      m,
      await request(tp, m, { amount: '25' }),
      'balance_short',
      /balance short: credits 20 ETH, debits with this request 25/,
    );
    // The balance counts earlier requests: 15 pending + 6 asked > 20.
    const pending = await request(tp, m, { amount: '15' });
    expect((await processWithdrawal(tp.ps, pending, 'test')).reply).toBe('PENDING');
    await expectDeclined(
      tp,
      m,
      await request(tp, m, { amount: '6' }),
      'balance_short',
      /balance short: credits 20 ETH, debits with this request 21/,
    );
    expect((await declineRequest(tp.ps, pending, 'test')).reply).toBe('DECLINED');
    // The coin's rules.
    await expectDeclined(tp, m, await request(tp, m, { amount: '0.001' }), 'below_minimum', /amount 0\.001 is below the minimum 0\.01 ETH/);
    await expectDeclined(tp, m, await request(tp, m, { fee: amt('0.0001') }), 'below_fee', /fee 0\.0001 is below the coin's fee 0\.0005/);
    // The wallet.
    await expectDeclined(tp, m, await request(tp, m, { walletId: 987_654_321 }), 'invalid_wallet', /wallet 987654321 does not exist/);
    const unsigned = await wallet(tp, m.userId, m.coin, { signed: false });
    await expectDeclined(
      tp,
      m,
      await request(tp, m, { walletId: unsigned.id, address: unsigned.address }),
      'wallet_not_reviewed',
      /has not been reviewed and signed yet/,
    );
    await expectDeclined(
      tp,
      m,
      await request(tp, m, { walletId: other.walletId, address: other.address }),
      'invalid_wallet',
      new RegExp(`is not a ETH wallet of user ${m.userId}`),
    );
    const dogeWallet = await wallet(tp, m.userId, doge, { address: 'DH5yaieqoZN36fDVciNyRueRGvGLR3mr7L' });
    await expectDeclined(
      tp,
      m,
      await request(tp, m, { walletId: dogeWallet.id, address: dogeWallet.address }),
      'invalid_wallet',
      new RegExp(`is not a ETH wallet of user ${m.userId}`),
    );
    // Deleted and deactivated by the site, then reviewed and signed as such by an admin.
    for (const [flag, word] of [
      ['deleted = true', 'deleted'],
      ['active = false', 'inactive'],
    ] as const) {
      const w = await wallet(tp, m.userId, m.coin, { signed: false });
      await tp.ledger.db.query(`UPDATE users_userwallets SET ${flag} WHERE id = $1`, [w.id]);
      await signWallet(tp.ledger.db, tp.ledger.signers.admin, w.id);
      await expectDeclined(
        tp,
        m,
        await request(tp, m, { walletId: w.id, address: w.address }),
        'wallet_deleted',
        new RegExp(`wallet ${w.id} is ${word}`),
      );
    }
    // Reviewed and signed, then deleted or deactivated by the pool after the request (retireWallet: the flag and the
    // admin's signature of it): declined, not a fail-stop. (The flag flipped without that signature is tampering:
    // test/payserv-wallets.test.ts.)
    for (const how of ['deleted', 'inactive'] as const) {
      const w = await wallet(tp, m.userId, m.coin, {});
      const req = await request(tp, m, { walletId: w.id, address: w.address });
      await retireWallet(tp.ledger.db, tp.ledger.signers.admin, w.id, how);
      await expectDeclined(tp, m, req, 'wallet_deleted', new RegExp(`wallet ${w.id} is ${how}`));
      expect(tp.ps.state.enabled).toBe(true);
    }
    // An address that is no address of the coin, signed by a careless review: declined, and the operator's check names the wallet.
    const bad = await wallet(tp, m.userId, m.coin, { address: '0xnot-an-address' });
    await expectDeclined(
      tp,
      m,
      await request(tp, m, { walletId: bad.id, address: bad.address }),
      'invalid_address',
      /address 0xnot-an-address: not a valid ETH address/,
      [`users_userwallets id=${bad.id}: not a valid ETH address (0x + 40 hex digits, EIP-55 checksum if mixed case) [address]`],
    );
    // Last: the coin itself made inactive (registerCoin re-signs it as reviewed).
    const queued = await request(tp, m);
    const c = m.coin;
    await registerCoin(tp.ledger.db, tp.ledger.signers.admin, {
      tag: c.tag,
      name: c.name,
      network: c.network,
      decimals: c.decimals,
      confirmations: c.confirmations,
      withdrawalFee: c.withdrawalFee,
      minWithdrawal: c.minWithdrawal,
      feeUserId: c.feeUserId,
      active: false,
    });
    await expectDeclined(tp, m, queued, 'coin_inactive', /coin ETH is not active/, [
      `users_userwallets id=${bad.id}: not a valid ETH address (0x + 40 hex digits, EIP-55 checksum if mixed case) [address]`,
    ]);

    expect(tp.ps.state.enabled).toBe(true);
    expect(tp.alerts).toEqual([]);
  });
});

describe('Process approves by policy, or leaves the request pending for a manager', () => {
  const GENEROUS: CoinPolicy = { amountMax: amt('100'), userDailyMax: amt('1000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };

  it('approves under a generous policy and waits when each rule blocks', async () => {
    t = await testPayserv({ seed: SEED, policies: { ETH: GENEROUS } });
    const tp = t;
    const m = await newMiner(tp, 5001, '20');
    const n = await newMiner(tp, 5002, '20');
    await tp.ledger.checkpointAll();
    const under = (p: Partial<CoinPolicy>): Payserv => ({ ...tp.ps, policies: new Map([['ETH', { ...GENEROUS, ...p }]]) });

    const processed = async (ps: Payserv, who: Miner, amount = '1'): Promise<PayoutResult> => {
      const id = await request(tp, who, { amount });
      const before = await snapshot(tp, id, who);
      const r = await processWithdrawal(ps, id, 'test');
      const after = await snapshot(tp, id, who);
      expect(after.status).toBe(r.status);
      expect(after.statusRows - before.statusRows).toBe(1);
      expect(after.byPayserv - before.byPayserv).toBe(1);
      expect(after.checkpoint).toBe(before.checkpoint + 1);
      expect(await tp.ledger.check('balanceerrors')).toEqual([]);
      return r;
    };

    const approved = await processed(tp.ps, m);
    expect(approved).toMatchObject({ reply: 'APPROVED', status: 'approved' });
    expect(approved.message).toBeUndefined();

    const waits = async (ps: Payserv, who: Miner, why: RegExp) => {
      const r = await processed(ps, who);
      expect({ reply: r.reply, code: r.code, status: r.status }).toEqual({ reply: 'PENDING', code: 'policy', status: 'pending' });
      expect(r.message).toMatch(/^waits for a manager: /);
      expect(r.message).toMatch(why);
      const [w] = await tp.ledger.db.query<{ comment: string }>('SELECT comment FROM finances_withdrawal_transaction WHERE id = $1', [
        r.id,
      ]);
      expect(w?.comment).toBe(r.message);
    };
    // No rule for the coin at all.
    await waits({ ...tp.ps, policies: new Map() }, m, /no automatic approval is configured for this coin/);
    await waits(under({ amountMax: amt('0.5') }), m, /amount 1 is above 0\.5/);
    // m already has 1 approved within 24 h (pending requests do not count).
    await waits(under({ userDailyMax: amt('1.5') }), m, /the user's 24 h total 2 would pass 1\.5/);
    // n has nothing approved, but the coin has m's 1.
    await waits(under({ coinDailyMax: amt('1.5') }), n, /the coin's 24 h total 2 would pass 1\.5/);
    await waits(under({ walletAgeHoursMin: 24 }), n, /the wallet was reviewed 0\.0 h ago, less than 24 h/);
    // Exactly at the limits: approved.
    expect((await processed(under({ amountMax: amt('1'), userDailyMax: amt('2'), coinDailyMax: amt('3') }), n)).reply).toBe('APPROVED');

    expect(tp.alerts).toEqual([]);
  });
});

describe('refusals', () => {
  it('unknown ids, disabled payouts and SendCoin without a chain driver answer ERROR and change nothing', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 5001);
    const ids = await oneOfEach(tp, m);
    await tp.ledger.checkpointAll();
    const start = await signedState(tp.ledger.db);

    // An id that does not exist.
    const [{ next }] = (await tp.ledger.db.query<{ next: number }>(
      'SELECT max(id)::bigint + 1000 AS next FROM finances_withdrawal_transaction',
    )) as [{ next: number }];
    for (const method of METHOD_NAMES) {
      const r = await METHODS[method](tp.ps, next, 'test');
      expect(r, method).toEqual({ reply: 'ERROR', code: 'unknown_id', id: next, status: null, message: `unknown withdrawal id ${next}` });
    }
    expect(await signedState(tp.ledger.db)).toEqual(start);

    // Payouts disabled by an operator: every method refuses before looking at anything, with the reason.
    tp.ps.state.disable('operator', 'maintenance window');
    const takes: Record<MethodName, WithdrawalStatus> = {
      Process: 'processing',
      Decline: 'pending',
      Approve: 'pending',
      Resend: 'send_error',
      Check: 'sending',
      Send: 'approved',
    };
    for (const method of METHOD_NAMES) {
      const r = await METHODS[method](tp.ps, ids[takes[method]], 'test');
      expect(r, method).toEqual({
        reply: 'ERROR',
        code: 'disabled',
        id: ids[takes[method]],
        status: null,
        message: 'payouts are disabled: maintenance window',
      });
    }
    expect(await sendCoin(tp.ps, 'ETH', 'test')).toEqual({
      reply: 'ERROR',
      code: 'disabled',
      coin: 'ETH',
      results: [],
      message: 'payouts are disabled: maintenance window',
    });
    expect(await signedState(tp.ledger.db)).toEqual(start);
    expect(tp.alerts).toEqual([]);

    // Disabled by a fail-stop: the same refusals, coded fail_stop (an operator investigates before enabling).
    await tp.ps.state.failStop('test: a tampered row', {});
    for (const method of METHOD_NAMES) {
      const r = await METHODS[method](tp.ps, ids[takes[method]], 'test');
      expect({ reply: r.reply, code: r.code, status: r.status }, method).toEqual({ reply: 'ERROR', code: 'fail_stop', status: null });
    }
    expect(await sendCoin(tp.ps, 'ETH', 'test')).toMatchObject({ reply: 'ERROR', code: 'fail_stop' });
    expect(await signedState(tp.ledger.db)).toEqual(start);
    tp.alerts.length = 0;

    // Enabled again, but another call holds the withdrawal: busy, nothing changed.
    tp.ps.state.enable('operator');
    for (const method of METHOD_NAMES) {
      const id = ids[takes[method]];
      const r = await tp.ps.locks.with(withdrawalLock(id), 'another call (test)', () => METHODS[method](tp.ps, id, 'test'));
      expect({ reply: r.reply, code: r.code, status: r.status }, method).toEqual({ reply: 'ERROR', code: 'busy', status: null });
    }
    expect(await signedState(tp.ledger.db)).toEqual(start);

    // Free again: the same calls go through.
    expect((await processWithdrawal(tp.ps, ids.processing, 'test')).reply).toBe('PENDING');

    // SendCoin: no coin here has a driver, so an operator pays and marks each one sent.
    const none = await sendCoin(tp.ps, 'eth', 'test');
    expect(none).toMatchObject({ reply: 'ERROR', code: 'no_driver', results: [] });
    expect(none.message).toBe('coin ETH has no chain driver: it is paid by an operator, then marked sent with Send');
    expect(await sendCoin(tp.ps, 'NOPE', 'test')).toMatchObject({ reply: 'ERROR', code: 'unknown_coin', message: 'unknown coin NOPE' });
    expect(await snapshot(tp, ids.approved, m)).toMatchObject({ status: 'approved' });
    expect(await tp.ledger.check('balanceerrors')).toEqual([]);
  });
});

describe('refusal codes', () => {
  it('are lower_snake_case, each documented in the README table', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(REFUSAL_CODES)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(readme, code).toContain(`| \`${code}\` |`);
    }
  });

  it('and the ledger problem codes too; a problem line ends with its code', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const code of Object.keys(PROBLEM_CODES)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(readme, code).toContain(`| \`${code}\` |`);
    }
    expect(formatProblem(problem('coins_coin', 3, 'signature', 'coin ETH: signature does not match the record'))).toBe(
      'coins_coin id=3: coin ETH: signature does not match the record [signature]',
    );
  });
});
