// payserv against a database attacker (DESIGN §1 promise 3, the tamper catalogue of the ledger issue):
// each tamper is applied, as in test/tamper.test.ts (triggers disabled, raw SQL, no private key
// that should be accepted), to the account of a withdrawal waiting in 'processing', to its coin, its
// wallet or the certificates. Process must then fail-stop: reply ERROR, disable payouts with a reason
// naming the table and row, raise a 'fail_stop' alert, and change nothing at all.
//
// Every case has its own coin and miners, so the cases are independent and share one ledger: a tamper
// of one coin's pool or of one account is invisible to the verification of another's.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { advanceUserCheckpoint } from '../src/verify/advance.js';
import type { Db } from '../src/db/db.js';
import { userKey } from '../src/ledger/problem.js';
import type { Coin, Credit, Signed } from '../src/ledger/records.js';
import { createRoot, issueCert } from '../src/pki/issue.js';
import { Signer } from '../src/pki/signer.js';
import type { PayoutResult } from '../src/api/payserv.js';
import {
  approveWithdrawal,
  checkWithdrawal,
  declineRequest,
  processWithdrawal,
  resendWithdrawal,
  sendCoin,
  sendWithdrawal,
} from '../src/payserv/payouts.js';
import { lastCreditOf } from '../src/store/reads.js';
import { creditBlock } from '../src/writer/blocks.js';
import { registerCoin } from '../src/writer/coins.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, declineWithdrawal, requestWithdrawal } from '../src/writer/withdrawals.js';
import {
  asAttacker,
  COIN_CHECKPOINTS,
  COINS,
  CREDITS,
  dropUniqueConstraints,
  INCOME,
  insertCert,
  insertCredit,
  newBlockHash,
  restoreRow,
  signedBy,
  STATUS_SIGNATURES,
  USER_CHECKPOINTS,
  WALLETS,
  WITHDRAWALS,
} from './support/attacker.js';
import { ethBackground, signedState } from './support/ledger.js';
import { amt } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const SEED = ethBackground(23);

let t: TestPayserv | undefined;
afterEach(async () => {
  await t?.ledger.db.close();
  t = undefined;
});

// ---------------------------------------------------------------------------------------------
// The victim: a withdrawal in 'processing' with rows on both sides of its account's checkpoint

interface Victim {
  label: string;
  coin: Signed<Coin>;
  user: number;
  other: number;
  wallet: { id: number; address: string };
  otherWallet: { id: number; address: string };
  /** The user's credits of blocks A (covered by the checkpoint), B and C (after it); the other miner's credit of C. */
  credit: { a: number; b: number; c: number; otherC: number };
  income: { a: number; b: number; c: number };
  blockC: string;
  /** A declined request covered by the checkpoint, and its reversal (the checkpoint's last withdrawal). */
  w0: number;
  r0: number;
  /** A declined request after the checkpoint, and its reversal. */
  w1: number;
  r1: number;
  /** The request under attack, in 'processing'. */
  w: number;
  /** The other miner's clean withdrawals: one pending, one approved. */
  otherPending: number;
  otherApproved: number;
}

/** A coin of its own (no driver: paid by an operator), two miners with signed wallets, one block, a declined request. */
async function victimBeforeCheckpoint(
  tp: TestPayserv,
  n: number,
): Promise<
  Omit<Victim, 'credit' | 'income' | 'blockC' | 'w1' | 'r1' | 'w' | 'otherPending' | 'otherApproved'> & {
    creditA: number;
    incomeA: number;
  }
> {
  const { db, signers } = tp.ledger;
  const coin = await registerCoin(db, signers.admin, {
    tag: `TC${n}`,
    name: `tamper coin ${n}`,
    network: 'mainnet',
    decimals: 8,
    confirmations: 6,
    withdrawalFee: amt('0.001'),
    minWithdrawal: amt('0.01'),
    feeUserId: 1,
  });
  const user = 8000 + 2 * n;
  const other = user + 1;
  const wallets = [];
  for (const u of [user, other]) {
    const w = await addWallet(db, { userId: u, coinId: coin.id, address: `tc${n}-${u}-${randomBytes(8).toString('hex')}` });
    wallets.push(await signWallet(db, signers.admin, w.id));
  }
  const [wallet, otherWallet] = wallets.map((w) => ({ id: w.id, address: w.address })) as [Victim['wallet'], Victim['wallet']];
  const a = await creditBlock(db, signers.admin, coin, {
    blockHash: newBlockHash(),
    shares: [
      { userId: user, amount: amt('3') },
      { userId: other, amount: amt('2') },
    ],
    poolFee: amt('0.05'),
  });
  const w0 = await ask(tp, coin, user, wallet, '1');
  const { reversal } = await db.transaction((tx) =>
    declineWithdrawal(tx, signers.payserv, w0, 'processing', 'declined before the checkpoint'),
  );
  return {
    label: `coin ${coin.tag}`,
    coin,
    user,
    other,
    wallet,
    otherWallet,
    w0,
    r0: reversal.id,
    creditA: creditOf(a.credits, user),
    incomeA: a.income.id,
  };
}

async function victimAfterCheckpoint(tp: TestPayserv, v: Awaited<ReturnType<typeof victimBeforeCheckpoint>>): Promise<Victim> {
  const { db, signers } = tp.ledger;
  const block = (u: string, o: string) =>
    creditBlock(db, signers.admin, v.coin, {
      blockHash: newBlockHash(),
      shares: [
        { userId: v.user, amount: amt(u) },
        { userId: v.other, amount: amt(o) },
      ],
      poolFee: amt('0.03'),
    });
  const b = await block('2', '1');
  const c = await block('1.5', '1');
  const w1 = await ask(tp, v.coin, v.user, v.wallet, '0.5');
  const { reversal } = await db.transaction((tx) =>
    declineWithdrawal(tx, signers.payserv, w1, 'processing', 'declined after the checkpoint'),
  );
  const w = await ask(tp, v.coin, v.user, v.wallet, '2');
  const otherPending = await ask(tp, v.coin, v.other, v.otherWallet, '0.5');
  const otherApproved = await ask(tp, v.coin, v.other, v.otherWallet, '0.5');
  await db.transaction((tx) => changeStatus(tx, signers.payserv, otherPending, 'processing', { status: 'pending', comment: 'waits' }));
  await db.transaction((tx) => changeStatus(tx, signers.payserv, otherApproved, 'processing', { status: 'approved', comment: 'approved' }));
  return {
    label: v.label,
    coin: v.coin,
    user: v.user,
    other: v.other,
    wallet: v.wallet,
    otherWallet: v.otherWallet,
    w0: v.w0,
    r0: v.r0,
    credit: { a: v.creditA, b: creditOf(b.credits, v.user), c: creditOf(c.credits, v.user), otherC: creditOf(c.credits, v.other) },
    income: { a: v.incomeA, b: b.income.id, c: c.income.id },
    blockC: c.income.blockHash,
    w1,
    r1: reversal.id,
    w,
    otherPending,
    otherApproved,
  };
}

function creditOf(credits: readonly Credit[], userId: number): number {
  const c = credits.find((x) => x.userId === userId);
  if (!c) throw new Error(`no credit of user ${userId}`);
  return c.id;
}

async function ask(tp: TestPayserv, coin: Coin, userId: number, wallet: { id: number; address: string }, amount: string): Promise<number> {
  const w = await tp.ledger.db.transaction((tx) =>
    requestWithdrawal(tx, tp.ledger.signers.autopay, {
      userId,
      coinId: coin.id,
      walletId: wallet.id,
      address: wallet.address,
      amount: amt(amount),
      fee: coin.withdrawalFee,
    }),
  );
  return w.id;
}

/** Victims for n cases: built, checkpointed (block A and the first decline covered), then more rows after the checkpoint. */
async function victims(tp: TestPayserv, n: number): Promise<Victim[]> {
  const before = [];
  for (let i = 1; i <= n; i++) before.push(await victimBeforeCheckpoint(tp, i));
  await tp.ledger.checkpointAll();
  const out = [];
  for (const v of before) out.push(await victimAfterCheckpoint(tp, v));
  expect(await tp.ledger.check('balanceerrors')).toEqual([]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The attacker (as in test/tamper.test.ts)

async function nextCredit(db: Db, v: Victim, blockHash: string): Promise<Credit> {
  const head = await lastCreditOf(db, v.user, v.coin.id);
  if (!head) throw new Error('the victim has no credits');
  const [{ id }] = (await db.query<{ id: number }>(`SELECT nextval('${CREDITS}_id_seq') AS id`)) as [{ id: number }];
  return {
    id,
    userId: v.user,
    coinId: v.coin.id,
    prevId: head.id,
    blockHash,
    type: 'block',
    amount: amt('0.5'),
    balanceBefore: head.end,
    createdAt: new Date(),
  };
}

interface Tamper {
  name: string;
  /** Applies the tamper (and, for a rollback, the honest step before it). */
  apply(tp: TestPayserv, v: Victim): Promise<unknown>;
  /** The table the fail-stop must name, and the rows any of which it may name. */
  names(v: Victim): { table: string; rows: string[] };
}

const id = (n: number) => `id=${n}`;
const account = (v: Victim) => userKey(v.user, v.coin.id);

const TAMPERS: Tamper[] = [
  {
    name: "a credit's amount",
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`UPDATE ${CREDITS} SET amount = amount + 1 WHERE id = $1`, [v.credit.b]]]),
    names: (v) => ({ table: CREDITS, rows: [id(v.credit.b), id(v.credit.c)] }),
  },
  {
    name: "a credit's running balance",
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`UPDATE ${CREDITS} SET balance_before = balance_before + 1 WHERE id = $1`, [v.credit.b]]]),
    names: (v) => ({ table: CREDITS, rows: [id(v.credit.b), id(v.credit.c)] }),
  },
  {
    name: 'an unsigned credit inserted',
    async apply(tp, v) {
      const forged = await nextCredit(tp.ledger.db, v, v.blockC);
      await asAttacker(tp.ledger.db, [
        `ALTER TABLE ${CREDITS} ALTER COLUMN signature DROP NOT NULL`,
        `ALTER TABLE ${CREDITS} ALTER COLUMN sig_key_id DROP NOT NULL`,
        insertCredit(forged, { keyId: null, signature: null }),
      ]);
    },
    names: () => ({ table: CREDITS, rows: ['forged'] }),
  },
  {
    name: 'a credit signed by the wrong role (autopay)',
    async apply(tp, v) {
      const forged = await nextCredit(tp.ledger.db, v, v.blockC);
      await asAttacker(tp.ledger.db, [insertCredit(forged, signedBy(tp.ledger.signers.autopay, forged))]);
    },
    names: () => ({ table: CREDITS, rows: ['forged'] }),
  },
  {
    name: 'a credit deleted in the middle',
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`DELETE FROM ${CREDITS} WHERE id = $1`, [v.credit.b]]]),
    names: (v) => ({ table: CREDITS, rows: [id(v.credit.c)] }),
  },
  {
    // Nothing in the account links to the last credit: the pool income of its block no longer adds up.
    name: 'the last credit deleted',
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`DELETE FROM ${CREDITS} WHERE id = $1`, [v.credit.c]]]),
    names: (v) => ({ table: INCOME, rows: [id(v.income.c)] }),
  },
  {
    name: "the checkpoint's last credit deleted",
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`DELETE FROM ${CREDITS} WHERE id = $1`, [v.credit.a]]]),
    names: (v) => ({ table: USER_CHECKPOINTS, rows: [account(v)] }),
  },
  {
    name: "another miner's credit moved to this user",
    apply: (tp, v) =>
      asAttacker(tp.ledger.db, [
        dropUniqueConstraints(CREDITS),
        [`UPDATE ${CREDITS} SET user_id = $2 WHERE id = $1`, [v.credit.otherC, v.user]],
      ]),
    names: (v) => ({ table: CREDITS, rows: [id(v.credit.otherC)] }),
  },
  {
    name: "a credit's block hash",
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`UPDATE ${CREDITS} SET block_hash = $2 WHERE id = $1`, [v.credit.b, newBlockHash()]]]),
    names: (v) => ({ table: CREDITS, rows: [id(v.credit.b)] }),
  },
  {
    // What a compromised pool back end could write: admin-signed, correctly chained, for a block never mined.
    name: 'a ghost credit for this user',
    async apply(tp, v) {
      const ghost = await nextCredit(tp.ledger.db, v, newBlockHash());
      await asAttacker(tp.ledger.db, [insertCredit(ghost, signedBy(tp.ledger.signers.admin, ghost))], { triggers: 'on' });
    },
    names: () => ({ table: CREDITS, rows: ['forged'] }),
  },
  {
    // The account itself is intact: only the pool verification in the guard sees it.
    name: 'the pool income of a block this user was credited in',
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`UPDATE ${INCOME} SET amount = amount + 1 WHERE id = $1`, [v.income.b]]]),
    names: (v) => ({ table: INCOME, rows: [id(v.income.b), id(v.income.c)] }),
  },
  {
    name: "the withdrawal's amount",
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`UPDATE ${WITHDRAWALS} SET amount = amount + 1 WHERE id = $1`, [v.w]]]),
    names: (v) => ({ table: WITHDRAWALS, rows: [id(v.w)] }),
  },
  {
    // The wallet carries an admin signature: an edit is tampering (fail-stop), not a business decline.
    name: "the wallet's address (the attacker's instead)",
    apply: (tp, v) =>
      asAttacker(tp.ledger.db, [[`UPDATE ${WALLETS} SET address = $2 WHERE id = $1`, [v.wallet.id, v.otherWallet.address]]]),
    names: (v) => ({ table: WALLETS, rows: [id(v.wallet.id)] }),
  },
  {
    name: "the coin's withdrawal fee",
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`UPDATE ${COINS} SET withdrawal_fee = 0 WHERE id = $1`, [v.coin.id]]]),
    names: (v) => ({ table: COINS, rows: [id(v.coin.id)] }),
  },
  {
    name: 'the user checkpoint rolled back to an older, validly signed version',
    async apply(tp, v) {
      const { db } = tp.ledger;
      const [old] = await db.query(`SELECT * FROM ${USER_CHECKPOINTS} WHERE user_id = $1 AND coin_id = $2`, [v.user, v.coin.id]);
      if (!old) throw new Error('no checkpoint');
      // payserv moves the checkpoint forward honestly; the attacker puts the old one back.
      const r = await advanceUserCheckpoint(db, await tp.ledger.view(), tp.ledger.signers.payserv, v.user, v.coin.id);
      expect(r.ok).toBe(true);
      await asAttacker(db, [restoreRow(USER_CHECKPOINTS, old, ['user_id', 'coin_id'])]);
    },
    names: (v) => ({ table: USER_CHECKPOINTS, rows: [account(v)] }),
  },
  {
    name: 'the user checkpoint deleted',
    apply: (tp, v) =>
      asAttacker(tp.ledger.db, [[`DELETE FROM ${USER_CHECKPOINTS} WHERE user_id = $1 AND coin_id = $2`, [v.user, v.coin.id]]]),
    names: (v) => ({ table: USER_CHECKPOINTS, rows: [account(v)] }),
  },
  {
    name: 'the coin checkpoint deleted',
    apply: (tp, v) => asAttacker(tp.ledger.db, [[`DELETE FROM ${COIN_CHECKPOINTS} WHERE coin_id = $1`, [v.coin.id]]]),
    names: (v) => ({ table: COIN_CHECKPOINTS, rows: [`coin=${v.coin.id}`] }),
  },
  {
    // The user gets the declined amount's reversal taken away... or the attacker hides a decline; either way the chain says so.
    name: 'a reversal row deleted (after the checkpoint)',
    apply: (tp, v) =>
      asAttacker(tp.ledger.db, [
        [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [v.r1]],
        [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [v.r1]],
      ]),
    names: (v) => ({ table: WITHDRAWALS, rows: [id(v.w), id(v.w1)] }),
  },
  {
    name: "a reversal row deleted (the checkpoint's last withdrawal)",
    apply: (tp, v) =>
      asAttacker(tp.ledger.db, [
        [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [v.r0]],
        [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [v.r0]],
      ]),
    names: (v) => ({ table: USER_CHECKPOINTS, rows: [account(v)] }),
  },
  {
    name: 'a rogue root and a credit signed under it',
    async apply(tp, v) {
      const now = Date.now();
      const validity = { notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * 86_400_000) };
      // Named exactly like the pinned root.
      const root = await createRoot('payserv root CA', validity);
      const pair = await issueCert(root, { purpose: 'signer', role: 'admin' }, validity);
      const forged = await nextCredit(tp.ledger.db, v, v.blockC);
      await asAttacker(tp.ledger.db, [
        insertCert(root.certPem, 'admin'),
        insertCert(pair.certPem, 'admin'),
        insertCredit(forged, signedBy(Signer.fromPem(pair.certPem, pair.keyPem), forged)),
      ]);
    },
    names: () => ({ table: CREDITS, rows: ['forged'] }),
  },
];

// ---------------------------------------------------------------------------------------------
// "Nothing changed"

/** The database's signed state and the local store's checkpoints of the victim's account and coin. */
async function everything(tp: TestPayserv, v: Victim): Promise<unknown> {
  const { db, local } = tp.ledger;
  return { ...(await signedState(db)), localUser: await local.getUser(v.user, v.coin.id), localCoin: await local.getCoin(v.coin.id) };
}

/** The id a forged credit got: the one credit of the victim's account that the writer did not make. */
async function forgedId(db: Db, v: Victim): Promise<string | null> {
  const [r] = await db.query<{ id: number }>(`SELECT max(id) AS id FROM ${CREDITS} WHERE user_id = $1 AND coin_id = $2 AND id > $3`, [
    v.user,
    v.coin.id,
    v.credit.c,
  ]);
  return r?.id ? id(r.id) : null;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Process on the tampered account: ERROR, fail-stop naming the row, an alert, and nothing written. */
async function expectFailStop(tp: TestPayserv, v: Victim, tamper: Tamper): Promise<void> {
  const label = `${tamper.name} (${v.label})`;
  const alerts = tp.alerts.length;
  const before = await everything(tp, v);
  const r = await processWithdrawal(tp.ps, v.w, 'test');
  const after = await everything(tp, v);

  expect
    .soft({ reply: r.reply, code: r.code, id: r.id, status: r.status }, label)
    .toEqual({ reply: 'ERROR', code: 'integrity', id: v.w, status: 'processing' });
  expect.soft(tp.ps.state.enabled, `${label}: payouts still enabled`).toBe(false);
  const reason = tp.ps.state.status().reason ?? '';
  expect.soft(r.message, `${label}: the reply carries the reason`).toBe(reason);
  const { table, rows } = tamper.names(v);
  const forged = await forgedId(tp.ledger.db, v);
  const named = rows.map((row) => (row === 'forged' ? (forged ?? 'forged') : row));
  expect
    .soft(reason, `${label}: the reason names ${table} ${named.join(' or ')}`)
    .toMatch(new RegExp(`^integrity failure: Process: ${escape(table)} (${named.map(escape).join('|')}): `));
  const raised = tp.alerts.slice(alerts);
  expect
    .soft(
      raised.map((a) => [a.kind, `integrity failure: ${a.reason}`]),
      `${label}: alert`,
    )
    .toEqual([['fail_stop', reason]]);
  expect.soft(after, `${label}: something changed`).toEqual(before);
}

describe('Process fails-stop on every tamper of the account, its coin, its wallet or the certificates', () => {
  it('for each tamper of the catalogue, on a withdrawal in processing', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const vs = await victims(tp, TAMPERS.length + 1);
    expect(tp.alerts).toEqual([]);

    for (const [i, tamper] of TAMPERS.entries()) {
      const v = vs[i] as Victim;
      await tamper.apply(tp, v);
      await expectFailStop(tp, v, tamper);
      // The operator re-enables for the next, independent case.
      tp.ps.state.enable('operator');
    }
    expect(tp.alerts).toHaveLength(TAMPERS.length);

    // The control: a victim built the same way and left alone is processed, despite every tamper next to it.
    const control = vs[TAMPERS.length] as Victim;
    expect(await processWithdrawal(tp.ps, control.w, 'test')).toMatchObject({ reply: 'PENDING', status: 'pending' });
    expect(tp.ps.state.enabled).toBe(true);
    expect(await tp.ledger.check('balance', { userId: control.user, coinId: control.coin.id })).toEqual([]);
    expect(await tp.ledger.check('proxypool', { coinId: control.coin.id })).toEqual([]);
  });
});

describe('after a fail-stop', () => {
  it('every payout call answers ERROR with the reason until an operator enables; the tamper still there stops it again', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const [v] = (await victims(tp, 1)) as [Victim];
    // The attacker raises the payout of the request; the other miner's withdrawals stay clean.
    await asAttacker(tp.ledger.db, [[`UPDATE ${WITHDRAWALS} SET amount = amount + 1 WHERE id = $1`, [v.w]]]);
    const first = await processWithdrawal(tp.ps, v.w, 'test');
    expect(first.reply).toBe('ERROR');
    const reason = tp.ps.state.status().reason as string;
    expect(reason).toMatch(new RegExp(`^integrity failure: Process: ${WITHDRAWALS} id=${v.w}: `));

    const start = await everything(tp, v);
    const refused = (r: PayoutResult, id: number) =>
      expect(r).toEqual({ reply: 'ERROR', code: 'fail_stop', id, status: null, message: `payouts are disabled: ${reason}` });
    refused(await approveWithdrawal(tp.ps, v.otherPending, 'test'), v.otherPending);
    refused(await declineRequest(tp.ps, v.otherPending, 'test'), v.otherPending);
    refused(await sendWithdrawal(tp.ps, v.otherApproved, 'test'), v.otherApproved);
    refused(await approveWithdrawal(tp.ps, v.otherApproved, 'test'), v.otherApproved);
    refused(await resendWithdrawal(tp.ps, v.otherApproved, 'test'), v.otherApproved);
    refused(await checkWithdrawal(tp.ps, v.otherApproved, 'test'), v.otherApproved);
    refused(await processWithdrawal(tp.ps, v.w, 'test'), v.w);
    expect(await sendCoin(tp.ps, v.coin.tag, 'test')).toMatchObject({
      reply: 'ERROR',
      code: 'fail_stop',
      message: `payouts are disabled: ${reason}`,
    });
    expect(await everything(tp, v)).toEqual(start);
    expect(tp.alerts).toHaveLength(1);

    // The operator enables: the clean account pays again.
    tp.ps.state.enable('operator');
    expect(await approveWithdrawal(tp.ps, v.otherPending, 'test')).toMatchObject({ reply: 'APPROVED', status: 'approved' });
    expect(await sendWithdrawal(tp.ps, v.otherApproved, 'test')).toMatchObject({ reply: 'SENT', status: 'sent' });

    // The tamper is still there: Process stops everything again, and writes nothing.
    const again = await everything(tp, v);
    const second = await processWithdrawal(tp.ps, v.w, 'test');
    expect(second).toMatchObject({ reply: 'ERROR', status: 'processing', message: reason });
    expect(tp.ps.state.enabled).toBe(false);
    expect(tp.ps.state.status().failStops).toBe(2);
    expect(tp.alerts.map((a) => a.kind)).toEqual(['fail_stop', 'fail_stop']);
    expect(await everything(tp, v)).toEqual(again);
    expect((await approveWithdrawal(tp.ps, v.otherApproved, 'test')).reply).toBe('ERROR');
  });
});
