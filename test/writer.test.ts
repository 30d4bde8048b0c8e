// The writer refuses bad input with a clear error and writes nothing; concurrent writers never fork a chain.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { advanceAll } from '../src/verify/advance.js';
import { LocalCheckpointStore } from '../src/checkpoints/local-store.js';
import { runCheck, type CheckArgs, type CheckName } from '../src/checks/run.js';
import type { Db, Queryable } from '../src/db/db.js';
import { formatProblem } from '../src/ledger/problem.js';
import type { Coin, Signed, Withdrawal } from '../src/ledger/records.js';
import { formatAmount, parseAmount, sum, type Amount } from '../src/money/amount.js';
import { PrecisionError } from '../src/money/precision.js';
import { initPki, loadSigner, loadTrust, pkiPaths } from '../src/esman/pki-files.js';
import { registerCert } from '../src/writer/certs.js';
import { SIGNER_ROLES } from '../src/pki/roles.js';
import type { Signer } from '../src/pki/signer.js';
import { openView } from '../src/verify/view.js';
import { creditBlock } from '../src/writer/blocks.js';
import { addCoin, CoinConflict, registerCoin, signCoin } from '../src/writer/coins.js';
import { applyCorrection } from '../src/writer/corrections.js';
import { appendIncome } from '../src/writer/credits.js';
import { lockAccountDebits, lockCoinChains } from '../src/writer/locks.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, declineWithdrawal, requestWithdrawal, WithdrawalStateError } from '../src/writer/withdrawals.js';
import { backend } from './support/backend.js';
import { freshDb } from './support/db.js';

const A = (s: string) => parseAmount(s);
const FEE_USER = 1;
const ALICE = 1001;
const BOB = 1002;

const TABLES = [
  'coins_coin',
  'users_userwallets',
  'finances_proxypool_transactions',
  'finances_user_balance_transaction',
  'finances_withdrawal_transaction',
  'finances_withdrawal_signatures',
  'finances_user_balance_checkpoints',
  'finances_coin_checkpoints',
  'crypto_certs',
];

/** Every row of every ledger table, comparable with toEqual (bytes as hex, times as ISO). */
async function ledgerRows(db: Queryable): Promise<Record<string, unknown[]>> {
  const out: Record<string, unknown[]> = {};
  for (const t of TABLES) {
    const rows = await db.query(`SELECT * FROM ${t} ORDER BY 1, 2`);
    out[t] = rows.map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [
          k,
          v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v instanceof Date ? v.toISOString() : v,
        ]),
      ),
    );
  }
  return out;
}

interface Fixture {
  db: Db;
  admin: Signer;
  autopay: Signer;
  payserv: Signer;
  coin: Signed<Coin>;
  wallet: Record<number, { id: number; address: string }>;
  check(name: CheckName, args?: CheckArgs): Promise<string[]>;
  checkpointAll(): Promise<void>;
}

/** One coin, two miners with signed wallets and one credited block. */
async function populate(db: Db, admin: Signer): Promise<Pick<Fixture, 'coin' | 'wallet'>> {
  const coin = await registerCoin(db, admin, {
    tag: 'ETH',
    name: 'Ethereum',
    network: 'mainnet',
    decimals: 18,
    confirmations: 12,
    withdrawalFee: A('0.0005'),
    minWithdrawal: A('0.01'),
    feeUserId: FEE_USER,
  });
  const wallet: Fixture['wallet'] = {};
  for (const [i, userId] of [ALICE, BOB].entries()) {
    const address = `0x${String(i + 1).repeat(40)}`;
    const w = await addWallet(db, { userId, coinId: coin.id, address });
    await signWallet(db, admin, w.id);
    wallet[userId] = { id: w.id, address };
  }
  await creditBlock(db, admin, coin, {
    blockHash: '0xb1',
    shares: [
      { userId: ALICE, amount: A('5') },
      { userId: BOB, amount: A('3') },
    ],
    poolFee: A('0.08'),
  });
  return { coin, wallet };
}

/**
 * One ledger per describe block (a database costs seconds to make), built like test/support/ledger.ts's
 * testLedger minus the seed, which cannot serve a whole block (its state directory lives for one test only).
 * The tests of a block use it in turn: a refusal must leave it exactly as it was; the rest write only honest rows.
 */
async function sharedFixture(): Promise<Fixture & { dispose(): Promise<void> }> {
  const stateDir = await mkdtemp(join(tmpdir(), 'payserv-writer-'));
  await initPki(stateDir, { rootDays: 3650, leafDays: 825 });
  const db = await freshDb();
  const trust = loadTrust(stateDir);
  for (const role of SIGNER_ROLES) await registerCert(db, trust, readFileSync(pkiPaths(stateDir).signerCert(role), 'utf8'));
  const [admin, autopay, payserv] = (['admin', 'autopay', 'payserv'] as const).map((r) => loadSigner(stateDir, r)) as [
    Signer,
    Signer,
    Signer,
  ];
  const local = new LocalCheckpointStore(stateDir);
  const check = async (name: CheckName, args: CheckArgs = {}) => {
    const out: string[] = [];
    await runCheck(await openView(db, trust, local), name, args, (p) => out.push(formatProblem(p)));
    return out;
  };
  const checkpointAll = async () => void (await advanceAll(db, await openView(db, trust, local), payserv));
  return {
    db,
    admin,
    autopay,
    payserv,
    ...(await populate(db, admin)),
    check,
    checkpointAll,
    dispose: async () => {
      await db.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

/** Registers a shared fixture for the enclosing describe block; call the returned function inside its tests. */
function sharedPerBlock(): () => Promise<Fixture> {
  let shared: Awaited<ReturnType<typeof sharedFixture>> | undefined;
  beforeAll(async () => {
    shared = await sharedFixture();
  });
  afterAll(async () => shared?.dispose());
  return async () => {
    if (!shared) throw new Error('the shared fixture was not built');
    return shared;
  };
}

const request = (f: Fixture, userId: number, amount: Amount, signer: Signer = f.autopay, fee: Amount = A('0.0005')) =>
  f.db.transaction((tx) =>
    requestWithdrawal(tx, signer, {
      userId,
      coinId: f.coin.id,
      walletId: f.wallet[userId]!.id,
      address: f.wallet[userId]!.address,
      amount,
      fee,
    }),
  );

/** Runs `fn`, expects it to throw `error`, and the ledger to be exactly as before. */
async function refusedWithoutTrace(db: Db, fn: () => Promise<unknown>, error: RegExp | (new (...a: never[]) => Error)): Promise<void> {
  const before = await ledgerRows(db);
  await expect(fn()).rejects.toThrow(error as RegExp);
  expect(await ledgerRows(db)).toEqual(before);
}

describe(`writer refusals (${backend()})`, () => {
  const fixture = sharedPerBlock();

  it('refuses a bad block: no shares, a user twice, a non-positive credit, the fee user as a miner, a block credited twice, an unknown coin', async () => {
    const f = await fixture();
    const block =
      (shares: Array<{ userId: number; amount: Amount }>, poolFee = A('0'), blockHash = '0xb2', coin: Coin = f.coin) =>
      () =>
        creditBlock(f.db, f.admin, coin, { blockHash, shares, poolFee });
    await refusedWithoutTrace(f.db, block([]), /a block needs 1 to \d+ credits, got 0/);
    await refusedWithoutTrace(
      f.db,
      block([
        { userId: ALICE, amount: A('1') },
        { userId: ALICE, amount: A('2') },
      ]),
      /credits each user at most once/,
    );
    await refusedWithoutTrace(
      f.db,
      block([
        { userId: ALICE, amount: A('1') },
        { userId: BOB, amount: A('-0.5') },
      ]),
      /credit to user 1002 must be positive/,
    );
    await refusedWithoutTrace(f.db, block([{ userId: ALICE, amount: A('0') }]), /credit to user 1001 must be positive/);
    await refusedWithoutTrace(
      f.db,
      block([
        { userId: ALICE, amount: A('1') },
        { userId: FEE_USER, amount: A('1') },
      ]),
      /fee user 1 cannot also be a miner/,
    );
    await refusedWithoutTrace(f.db, block([{ userId: ALICE, amount: A('1') }], A('0.01'), '0xb1'), /duplicate key|unique/i);
    await refusedWithoutTrace(
      f.db,
      block([{ userId: ALICE, amount: A('1') }], A('0'), '0xb3', { ...f.coin, id: 999 }),
      /unknown coin id 999/,
    );
    // A correction of zero, and a correction credit inside block income (or the reverse), are refused too.
    await refusedWithoutTrace(
      f.db,
      () => applyCorrection(f.db, f.payserv, { userId: ALICE, coinId: f.coin.id, amount: A('0') }),
      /correction of zero/,
    );
    await refusedWithoutTrace(
      f.db,
      () =>
        f.db.transaction((tx) =>
          appendIncome(tx, f.admin, {
            coinId: f.coin.id,
            blockHash: '0xb4',
            kind: 'block',
            shares: [{ userId: ALICE, amount: A('1'), type: 'correction' }],
            at: new Date(),
          }),
        ),
      /a correction credit cannot belong to block income/,
    );
    await refusedWithoutTrace(
      f.db,
      () =>
        f.db.transaction((tx) =>
          appendIncome(tx, f.payserv, {
            coinId: f.coin.id,
            blockHash: 'correction:x',
            kind: 'correction',
            shares: [{ userId: ALICE, amount: A('1'), type: 'block' }],
            at: new Date(),
          }),
        ),
      /a block credit cannot belong to correction income/,
    );
    expect(await f.check('balanceerrors')).toEqual([]);
  });

  // A negative fee must be refused, not dropped: `pscli ledger block --pool-fee -1` would credit the block without it.
  it('refuses a negative pool fee instead of silently crediting the block without it', async () => {
    const f = await fixture();
    await refusedWithoutTrace(
      f.db,
      () => creditBlock(f.db, f.admin, f.coin, { blockHash: '0xb5', shares: [{ userId: ALICE, amount: A('1') }], poolFee: A('-0.01') }),
      /fee|positive/,
    );
  });

  // An amount finer than its coin's decimals could never be paid: signed into the ledger, it would block payouts.
  it('refuses an amount finer than the coin (credits, pool fee, corrections, requests, coin fee and minimum), naming it; nothing written', async () => {
    const f = await fixture();
    const fine = A('0.0000000000000000001'); // 19 decimals of an 18-decimal coin
    const refusedFine = (fn: () => Promise<unknown>, what: RegExp) => refusedWithoutTrace(f.db, fn, what);
    const block = (shares: Array<{ userId: number; amount: Amount }>, poolFee: Amount) => () =>
      creditBlock(f.db, f.admin, f.coin, { blockHash: '0xf1', shares, poolFee });
    await refusedFine(
      block([{ userId: ALICE, amount: A('1.0000000000000000001') }], A('0')),
      /block credit to user 1001 1\.0000000000000000001 has more than ETH's 18 decimal places/,
    );
    await refusedFine(
      block([{ userId: ALICE, amount: A('1') }], fine),
      /fee credit to user 1 0\.0000000000000000001 has more than ETH's 18/,
    );
    await refusedFine(
      () => applyCorrection(f.db, f.payserv, { userId: ALICE, coinId: f.coin.id, amount: fine }),
      /correction credit to user 1001 0\.0000000000000000001 has more than ETH's 18/,
    );
    await refusedFine(
      () => request(f, ALICE, A('0.0100000000000000001'), f.autopay, A('0.0005')),
      /withdrawal amount 0\.0100000000000000001 .*ETH's 18/,
    );
    await refusedFine(
      () => request(f, ALICE, A('0.02'), f.autopay, A('0.0005000000000000001')),
      /withdrawal fee 0\.0005000000000000001 .*ETH's 18/,
    );
    const coin = { tag: 'WHOLE', name: 'Whole', network: 'mainnet' as const, decimals: 0, confirmations: 1, feeUserId: FEE_USER };
    await refusedFine(
      () => addCoin(f.db, f.admin, { ...coin, withdrawalFee: A('0.5'), minWithdrawal: A('1') }),
      /withdrawal fee 0\.5 has more than WHOLE's 0/,
    );
    await refusedFine(
      () => addCoin(f.db, f.admin, { ...coin, withdrawalFee: A('1'), minWithdrawal: A('0.1') }),
      /minimum withdrawal 0\.1 .*WHOLE's 0/,
    );
    const typed = await request(f, ALICE, A('0.0100000000000000001'), f.autopay, A('0.0005')).catch((e: unknown) => e);
    expect(typed).toBeInstanceOf(PrecisionError);
    expect((typed as PrecisionError).code).toBe('bad_amount');
    // Exactly the coin's decimals is fine.
    await request(f, ALICE, A('0.010000000000000001'), f.autopay, A('0.0005'));
    await addCoin(f.db, f.admin, { ...coin, withdrawalFee: A('1'), minWithdrawal: A('2') });
    expect(await f.check('balanceerrors')).toEqual([]);
  });

  it('refuses a withdrawal with fee > amount, a non-positive amount or a negative fee', async () => {
    const f = await fixture();
    const msg = /a withdrawal needs amount > 0 and 0 <= fee <= amount/;
    await refusedWithoutTrace(f.db, () => request(f, ALICE, A('0.001'), f.autopay, A('0.002')), msg);
    await refusedWithoutTrace(f.db, () => request(f, ALICE, A('0'), f.autopay, A('0')), msg);
    await refusedWithoutTrace(f.db, () => request(f, ALICE, A('-1'), f.autopay, A('0')), msg);
    await refusedWithoutTrace(f.db, () => request(f, ALICE, A('1'), f.autopay, A('-0.0005')), msg);
    // The boundary itself is fine: fee == amount, and fee 0.
    await request(f, ALICE, A('0.5'), f.autopay, A('0.5'));
    await request(f, ALICE, A('0.5'), f.autopay, A('0'));
    expect(await f.check('balanceerrors')).toEqual([]);
  });

  it('a status change from the wrong expected status is a WithdrawalStateError and changes nothing', async () => {
    const f = await fixture();
    const w = await request(f, ALICE, A('1'));
    const change = (expect: Withdrawal['status'], status: Withdrawal['status']) => () =>
      f.db.transaction((tx) => changeStatus(tx, f.payserv, w.id, expect, { status, comment: 'x' }));
    await refusedWithoutTrace(f.db, change('approved', 'sending'), WithdrawalStateError);
    await refusedWithoutTrace(f.db, change('approved', 'sending'), /withdrawal \d+ is processing, not approved/);
    await refusedWithoutTrace(f.db, change('pending', 'approved'), WithdrawalStateError);
    await refusedWithoutTrace(
      f.db,
      () => f.db.transaction((tx) => declineWithdrawal(tx, f.payserv, w.id, 'pending', 'no')),
      WithdrawalStateError,
    );
    await refusedWithoutTrace(
      f.db,
      () => f.db.transaction((tx) => changeStatus(tx, f.payserv, 999_999, 'processing', { status: 'approved' })),
      /unknown withdrawal id 999999/,
    );
    // After the row has moved on, a caller who decided from the old status is refused too.
    await f.db.transaction((tx) => changeStatus(tx, f.payserv, w.id, 'processing', { status: 'approved' }));
    await refusedWithoutTrace(f.db, change('processing', 'approved'), /is approved, not processing/);
    expect(await f.check('balanceerrors')).toEqual([]);
  });

  it('refuses illegal moves (sent → approved, processing → sent, sending → processed, anything → declined)', async () => {
    const f = await fixture();
    const w = await request(f, ALICE, A('1'));
    const move =
      (from: Withdrawal['status'], to: Withdrawal['status'], extra: object = {}) =>
      () =>
        f.db.transaction((tx) => changeStatus(tx, f.payserv, w.id, from, { status: to, ...extra }));
    await refusedWithoutTrace(f.db, move('processing', 'sent'), /processing → sent is not allowed/);
    await refusedWithoutTrace(f.db, move('processing', 'declined'), WithdrawalStateError);
    await move('processing', 'approved')();
    await move('approved', 'sending', { txHash: '0xt1' })();
    // A payment on its way is never credited back.
    await refusedWithoutTrace(f.db, move('sending', 'processed'), /sending → processed is not allowed/);
    await refusedWithoutTrace(
      f.db,
      () => f.db.transaction((tx) => declineWithdrawal(tx, f.payserv, w.id, 'sending', 'too late')),
      WithdrawalStateError,
    );
    await move('sending', 'sent')();
    for (const to of ['approved', 'sending', 'send_error', 'processed', 'sent'] as const) {
      await refusedWithoutTrace(f.db, move('sent', to), new RegExp(`sent → ${to} is not allowed`));
    }
    const rows = await f.db.query<{ status: string; status_seq: number; tx_hash: string }>(
      'SELECT status, status_seq, tx_hash FROM finances_withdrawal_transaction WHERE id = $1',
      [w.id],
    );
    expect(rows).toEqual([{ status: 'sent', status_seq: 3, tx_hash: '0xt1' }]);
    expect(await f.check('balanceerrors')).toEqual([]);
  });

  it('refuses a signer of the wrong role for credits, corrections, requests and status changes', async () => {
    const f = await fixture();
    const shares = [{ userId: ALICE, amount: A('1') }];
    for (const s of [f.autopay, f.payserv]) {
      await refusedWithoutTrace(
        f.db,
        () => creditBlock(f.db, s, f.coin, { blockHash: '0xb9', shares, poolFee: A('0.01') }),
        new RegExp(`must be signed by role admin, not ${s.role}`),
      );
    }
    for (const s of [f.admin, f.autopay]) {
      await refusedWithoutTrace(
        f.db,
        () => applyCorrection(f.db, s, { userId: ALICE, coinId: f.coin.id, amount: A('0.1') }),
        new RegExp(`must be signed by role payserv, not ${s.role}`),
      );
    }
    for (const s of [f.admin, f.payserv]) {
      await refusedWithoutTrace(f.db, () => request(f, ALICE, A('1'), s), new RegExp(`must be signed by role autopay, not ${s.role}`));
    }
    const w = await request(f, ALICE, A('1'));
    for (const s of [f.admin, f.autopay]) {
      await refusedWithoutTrace(
        f.db,
        () => f.db.transaction((tx) => changeStatus(tx, s, w.id, 'processing', { status: 'approved' })),
        new RegExp(`signed by role payserv, not ${s.role}`),
      );
      await refusedWithoutTrace(f.db, () => f.db.transaction((tx) => declineWithdrawal(tx, s, w.id, 'processing', 'no')), /payserv/);
    }
    expect(await f.check('balanceerrors')).toEqual([]);
  });
});

describe(`signing the catalog (${backend()})`, () => {
  const fixture = sharedPerBlock();

  // Only admin signs the catalog (src/ledger/roles.ts). Without the writer's own refusal, a coin or wallet signed by
  // another role would be written and only later flagged, and re-registering a coin would replace a good signature.
  it('a tag registered again: the same values are "already registered", other values a conflict naming them; nothing written', async () => {
    const f = await fixture();
    const c = f.coin;
    const same = { ...c };
    const before = await ledgerRows(f.db);
    const again = await addCoin(f.db, f.admin, same);
    expect(again.added).toBe(false);
    expect(again.coin).toEqual(c);
    expect(await ledgerRows(f.db)).toEqual(before);
    const evil = { ...same, name: 'Evil', decimals: 6, withdrawalFee: A('50'), feeUserId: 7 };
    const refused = await addCoin(f.db, f.admin, evil).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CoinConflict);
    expect((refused as CoinConflict).code).toBe('conflict');
    expect((refused as CoinConflict).differences).toEqual([
      'name: "Ethereum", not "Evil"',
      'decimals: 18, not 6',
      'withdrawal fee: "0.0005", not "50"',
      'fee user: 1, not 7',
    ]);
    expect(await ledgerRows(f.db)).toEqual(before);
  });

  it('checkcoins reports a coin whose fee or minimum is finer than its decimals, and the admin does not sign it', async () => {
    const f = await fixture();
    const { withdrawalFee, ...coin } = f.coin;
    // Decimals edited in the database under a signed fee of 0.0005 (older data, or an edit): 2 decimals cannot hold it.
    await f.db.query('UPDATE coins_coin SET decimals = 2 WHERE id = $1', [coin.id]);
    try {
      await refusedWithoutTrace(f.db, () => signCoin(f.db, f.admin, { ...coin, withdrawalFee, decimals: 2 }), PrecisionError);
      expect(await f.check('coins')).toContain(
        `coins_coin id=${coin.id}: coin ETH: withdrawal fee 0.0005 has more than ETH's 2 decimal places [precision]`,
      );
    } finally {
      await f.db.query('UPDATE coins_coin SET decimals = $2 WHERE id = $1', [coin.id, coin.decimals]);
    }
    expect(await f.check('coins')).toEqual([]);
  });

  it('refuses a coin signed by a role other than admin, writing nothing', async () => {
    const f = await fixture();
    await refusedWithoutTrace(
      f.db,
      () =>
        registerCoin(f.db, f.payserv, {
          tag: 'ETH',
          name: 'Ethereum',
          network: 'mainnet',
          decimals: 18,
          confirmations: 12,
          withdrawalFee: A('0.0005'),
          minWithdrawal: A('0.01'),
          feeUserId: FEE_USER,
        }),
      /admin/,
    );
  });

  it('refuses a wallet signed by a role other than admin, writing nothing', async () => {
    const f = await fixture();
    const w = await addWallet(f.db, { userId: BOB, coinId: f.coin.id, address: `0x${'9'.repeat(40)}` });
    await refusedWithoutTrace(f.db, () => signWallet(f.db, f.autopay, w.id), /admin/);
  });
});

/** The debit chain of one account, checked link by link. */
async function expectUnforkedDebits(db: Queryable, userId: number, coinId: number): Promise<Array<{ id: number; amount: Amount }>> {
  const rows = await db.query<{ id: number; prev_id: number; amount: string; debit_before: string }>(
    'SELECT id, prev_id, amount::text AS amount, debit_before::text AS debit_before FROM finances_withdrawal_transaction WHERE user_id = $1 AND coin_id = $2 ORDER BY id',
    [userId, coinId],
  );
  let prev = 0;
  let total = 0n as Amount;
  for (const r of rows) {
    expect(r.prev_id, `withdrawal ${r.id}`).toBe(prev);
    expect(formatAmount(A(r.debit_before)), `withdrawal ${r.id}`).toBe(formatAmount(total));
    prev = r.id;
    total = (total + A(r.amount)) as Amount;
  }
  expect(new Set(rows.map((r) => r.prev_id)).size).toBe(rows.length);
  return rows.map((r) => ({ id: r.id, amount: A(r.amount) }));
}

describe(`concurrent writers (${backend()})`, () => {
  const fixture = sharedPerBlock();

  it('10 concurrent requests for one account, each in its own transaction, make one clean, unforked debit chain', async () => {
    const f = await fixture();
    const amounts = Array.from({ length: 10 }, (_, i) => A(`0.${String(i + 1).padStart(2, '0')}`));
    const made = await Promise.all(amounts.map((a) => request(f, ALICE, a)));
    expect(new Set(made.map((w) => w.id)).size).toBe(10);
    const chain = await expectUnforkedDebits(f.db, ALICE, f.coin.id);
    expect(chain.map((r) => formatAmount(r.amount)).sort()).toEqual(amounts.map(formatAmount).sort());
    expect(await f.check('balanceerrors')).toEqual([]);
    expect(await f.check('balance', { userId: ALICE, coinId: f.coin.id })).toEqual([]);
    await f.checkpointAll();
    expect(await f.check('balanceerrors')).toEqual([]);
  });

  it('concurrent requests and declines on one account keep the debit chain whole, reversals included', async () => {
    const f = await fixture();
    const first = [];
    for (const a of ['0.1', '0.2', '0.3']) first.push(await request(f, BOB, A(a)));
    await Promise.all([
      ...first.map((w) => f.db.transaction((tx) => declineWithdrawal(tx, f.payserv, w.id, 'processing', 'declined concurrently'))),
      ...['0.4', '0.5', '0.6', '0.7'].map((a) => request(f, BOB, A(a))),
    ]);
    const chain = await expectUnforkedDebits(f.db, BOB, f.coin.id);
    expect(chain.length).toBe(3 + 3 + 4);
    expect(formatAmount(sum(chain.map((r) => r.amount)))).toBe('2.2');
    expect(await f.check('balanceerrors')).toEqual([]);
    await f.checkpointAll();
    expect(await f.check('balanceerrors')).toEqual([]);
  });

  it('concurrent blocks and corrections on one coin make one unforked pool chain', async () => {
    const f = await fixture();
    const [{ n: before }] = (await f.db.query<{ n: number }>(
      'SELECT count(*)::bigint AS n FROM finances_proxypool_transactions WHERE coin_id = $1',
      [f.coin.id],
    )) as [{ n: number }];
    await Promise.all([
      ...[1, 2, 3, 4, 5].map((i) =>
        creditBlock(f.db, f.admin, f.coin, {
          blockHash: `0xc${i}`,
          shares: [
            { userId: ALICE, amount: A(`0.${i}`) },
            { userId: BOB, amount: A(`0.0${i}`) },
          ],
          poolFee: A('0.001'),
        }),
      ),
      ...[1, 2, 3].map((i) => applyCorrection(f.db, f.payserv, { userId: i % 2 ? ALICE : BOB, coinId: f.coin.id, amount: A(`-0.00${i}`) })),
    ]);
    const income = await f.db.query<{ id: number; prev_id: number }>(
      'SELECT id, prev_id FROM finances_proxypool_transactions WHERE coin_id = $1 ORDER BY id',
      [f.coin.id],
    );
    expect(income.length).toBe(before + 5 + 3);
    income.forEach((r, i) => expect(r.prev_id).toBe(i === 0 ? 0 : income[i - 1]!.id));
    expect(await f.check('balanceerrors')).toEqual([]);
    await f.checkpointAll();
    expect(await f.check('balanceerrors')).toEqual([]);
  });
});

/** Resolves once another session of this database waits for a lock: the interleaving is forced, not hoped for. */
async function someoneWaitsForALock(db: Queryable): Promise<void> {
  for (const deadline = Date.now() + 10_000; Date.now() < deadline;) {
    const [r] = await db.query<{ n: number }>(
      "SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (r && r.n > 0) return;
    await new Promise((res) => setTimeout(res, 5));
  }
  throw new Error('no session waited for the lock');
}

/**
 * Holds a lock in its own transaction until released, then writes in that same transaction (as a concurrent
 * writer that got the lock first would); returns once the lock is held.
 */
async function holdLock(db: Db, lock: (tx: Queryable) => Promise<void>, write: (tx: Queryable) => Promise<unknown>) {
  let locked!: () => void;
  let release!: () => void;
  const isLocked = new Promise<void>((r) => (locked = r));
  const released = new Promise<void>((r) => (release = r));
  const done = db.transaction(async (tx) => {
    await lock(tx);
    locked();
    await released;
    await write(tx);
  });
  await isLocked;
  return { release, done };
}

// Chains never go back in time (src/ledger/chain.ts), so a writer that waited for a chain lock must stamp its rows
// after it got the lock, never before (src/writer/locks.ts stampAfter). These force the interleaving on a real server.
// Postgres only: PGlite runs one transaction at a time, so nobody ever waits inside one.
const onPostgres = backend() === 'postgres' ? it : it.skip;

describe(`chain timestamps under concurrent writers (${backend()})`, () => {
  const fixture = sharedPerBlock();

  onPostgres('a block that waited for the coin lock is stamped after the rows written while it waited', async () => {
    const f = await fixture();
    const first = await holdLock(
      f.db,
      async (tx) => void (await lockCoinChains(tx, f.coin.id)),
      (tx) =>
        appendIncome(tx, f.admin, {
          coinId: f.coin.id,
          blockHash: '0xd1',
          kind: 'block',
          shares: [{ userId: ALICE, amount: A('1'), type: 'block' }],
          at: new Date(),
        }),
    );
    const waiting = creditBlock(f.db, f.admin, f.coin, { blockHash: '0xd2', shares: [{ userId: ALICE, amount: A('2') }], poolFee: A('0') });
    await someoneWaitsForALock(f.db);
    await new Promise((res) => setTimeout(res, 5));
    first.release();
    await Promise.all([first.done, waiting]);
    expect(await f.check('proxypool', { coinId: f.coin.id })).toEqual([]);
    expect(await f.check('balance', { userId: ALICE, coinId: f.coin.id })).toEqual([]);
  });

  onPostgres('a decline that waited for the account lock is stamped after the rows written while it waited', async () => {
    const f = await fixture();
    const w = await request(f, BOB, A('0.1'));
    const first = await holdLock(
      f.db,
      (tx) => lockAccountDebits(tx, BOB, f.coin.id),
      (tx) =>
        requestWithdrawal(tx, f.autopay, {
          userId: BOB,
          coinId: f.coin.id,
          walletId: f.wallet[BOB]!.id,
          address: f.wallet[BOB]!.address,
          amount: A('0.2'),
          fee: A('0'),
        }),
    );
    const waiting = f.db.transaction((tx) =>
      declineWithdrawal(tx, f.payserv, w.id, 'processing', 'declined while another request was written'),
    );
    await someoneWaitsForALock(f.db);
    await new Promise((res) => setTimeout(res, 5));
    first.release();
    await Promise.all([first.done, waiting]);
    expect(await f.check('balance', { userId: BOB, coinId: f.coin.id })).toEqual([]);
  });
});
