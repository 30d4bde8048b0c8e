// The tamper suite. Threat model: an attacker with full write access to the database — who may
// disable the append-only triggers, drop NOT NULL and unique constraints, and insert, edit or delete
// any row — but holds no private key (or only a key that must not be accepted: the wrong role's, an
// expired certificate's, one under a root of their own). Each test applies one such edit as direct SQL
// to a clean, checkpointed ledger and asserts that the operator's checks name the row and the kind of
// problem, and that the damage reported stays within what the edit touched.
import { afterEach, describe, expect, it } from 'vitest';
import { CHECKS, type CheckArgs, type CheckName } from '../src/checks/run.js';
import type { Queryable } from '../src/db/db.js';
import { formatProblem, userKey, type Problem } from '../src/ledger/problem.js';
import type { Coin, Credit, Signed } from '../src/ledger/records.js';
import { parseAmount, ZERO } from '../src/money/amount.js';
import { loadRootPair } from '../src/esman/pki-files.js';
import { createRoot, issueCert, type IssuedPair } from '../src/pki/issue.js';
import { registerCert } from '../src/writer/certs.js';
import { Signer } from '../src/pki/signer.js';
import { lastCreditOf } from '../src/store/reads.js';
import { creditBlock } from '../src/writer/blocks.js';
import { declineWithdrawal, requestWithdrawal } from '../src/writer/withdrawals.js';
import { verifyAccount } from '../src/verify/account.js';
import {
  asAttacker,
  CERTS,
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
  type Edit,
  type Sig,
} from './support/attacker.js';
import { testLedger, type TestLedger } from './support/ledger.js';

const DAY_MS = 86_400_000;

// ---------------------------------------------------------------------------------------------
// The ledger under attack

let current: TestLedger | undefined;
afterEach(async () => {
  await current?.db.close();
  current = undefined;
});

/** A seeded ledger with every checkpoint advanced, asserted clean before the attack. */
async function cleanLedger(): Promise<TestLedger> {
  current = await testLedger();
  await current.checkpointAll();
  expect(await current.check('balanceerrors')).toEqual([]);
  return current;
}

// ---------------------------------------------------------------------------------------------
// The attacker

/** A credit as the writer would append it to the end of an account's chain (next id, prev_id and balance_before right). */
async function nextCredit(l: TestLedger, a: Account, blockHash: string, at = new Date()): Promise<Credit> {
  const head = await lastCreditOf(l.db, a.user_id, a.coin_id);
  const [{ id }] = (await l.db.query<{ id: number }>(`SELECT nextval('${CREDITS}_id_seq') AS id`)) as [{ id: number }];
  return {
    id,
    userId: a.user_id,
    coinId: a.coin_id,
    prevId: head?.id ?? 0,
    blockHash,
    type: 'block',
    amount: parseAmount('0.5'),
    balanceBefore: head?.end ?? ZERO,
    createdAt: at,
  };
}

// ---------------------------------------------------------------------------------------------
// Representative rows

type Account = { user_id: number; coin_id: number };

/** The first row of a query that picks a representative row; the seeded ledger always has one. */
async function find<T extends Record<string, unknown>>(l: TestLedger, what: string, sql: string, params: unknown[] = []): Promise<T> {
  const [row] = await l.db.query<T>(sql, params);
  if (!row) throw new Error(`the seeded ledger has no ${what}`);
  return row;
}

const MINER = `c.type = 'block' AND c.user_id <> (SELECT fee_user_id FROM ${COINS} k WHERE k.id = c.coin_id)`;

/** A miner's block credit with credits before and after it in its account, and the income of its block. */
const middleCredit = (l: TestLedger) =>
  find<Account & { id: number; next_id: number; income_id: number }>(
    l,
    'credit in the middle of an account',
    `SELECT c.id, c.user_id, c.coin_id, n.id AS next_id, p.id AS income_id FROM ${CREDITS} c
     JOIN ${CREDITS} n ON n.user_id = c.user_id AND n.coin_id = c.coin_id AND n.prev_id = c.id
     JOIN ${INCOME} p ON p.coin_id = c.coin_id AND p.block_hash = c.block_hash
     WHERE ${MINER} AND c.prev_id <> 0 ORDER BY c.id LIMIT 1`,
  );

/** A miner's block credit that is the last of its account, covered by the account's checkpoint. */
const lastCredit = (l: TestLedger) =>
  find<Account & { id: number; income_id: number }>(
    l,
    'checkpointed last credit',
    `SELECT c.id, c.user_id, c.coin_id, p.id AS income_id FROM ${CREDITS} c
     JOIN ${USER_CHECKPOINTS} k ON k.user_id = c.user_id AND k.coin_id = c.coin_id AND k.last_credit_id = c.id
     JOIN ${INCOME} p ON p.coin_id = c.coin_id AND p.block_hash = c.block_hash
     WHERE ${MINER} AND NOT EXISTS (SELECT 1 FROM ${CREDITS} n WHERE n.user_id = c.user_id AND n.coin_id = c.coin_id AND n.id > c.id)
     ORDER BY c.id LIMIT 1`,
  );

/** Another miner with credits in the same coin. */
const otherMiner = (l: TestLedger, a: Account) =>
  find<Account>(
    l,
    'second miner',
    `SELECT DISTINCT c.user_id, c.coin_id FROM ${CREDITS} c WHERE ${MINER} AND c.coin_id = $1 AND c.user_id <> $2 ORDER BY 1 LIMIT 1`,
    [a.coin_id, a.user_id],
  );

/** The latest block income of a coin. */
const lastBlockOf = (l: TestLedger, coinId: number) =>
  find<{ id: number; block_hash: string }>(
    l,
    'block income',
    `SELECT id, block_hash FROM ${INCOME} WHERE coin_id = $1 AND kind = 'block' ORDER BY id DESC LIMIT 1`,
    [coinId],
  );

/** A block income with a successor in its coin's chain. */
const middleIncome = (l: TestLedger) =>
  find<{ id: number; coin_id: number; next_id: number }>(
    l,
    'income with a successor',
    `SELECT p.id, p.coin_id, n.id AS next_id FROM ${INCOME} p JOIN ${INCOME} n ON n.coin_id = p.coin_id AND n.prev_id = p.id
     WHERE p.kind = 'block' ORDER BY p.id LIMIT 1`,
  );

/** A withdrawal request still in 'processing', with a later withdrawal in its account, and another user's wallet of its coin. */
const openWithdrawal = (l: TestLedger) =>
  find<Account & { id: number; next_id: number; other_wallet_id: number }>(
    l,
    'open withdrawal with a successor',
    `SELECT w.id, w.user_id, w.coin_id, n.id AS next_id,
       (SELECT min(o.id) FROM ${WALLETS} o WHERE o.coin_id = w.coin_id AND o.user_id <> w.user_id) AS other_wallet_id
     FROM ${WITHDRAWALS} w
     JOIN ${WITHDRAWALS} n ON n.user_id = w.user_id AND n.coin_id = w.coin_id AND n.prev_id = w.id
     WHERE w.status = 'processing' ORDER BY w.id LIMIT 1`,
  );

/** A declined withdrawal (processed original and its reversal), both covered by the account's checkpoint as final. */
const declinedCovered = (l: TestLedger) =>
  find<Account & { id: number; reversal_id: number; last_withdrawal_id: number }>(
    l,
    'checkpointed declined withdrawal',
    `SELECT w.id, w.user_id, w.coin_id, r.id AS reversal_id, k.last_withdrawal_id FROM ${WITHDRAWALS} w
     JOIN ${WITHDRAWALS} r ON r.parent_id = w.id
     JOIN ${USER_CHECKPOINTS} k ON k.user_id = w.user_id AND k.coin_id = w.coin_id AND k.last_withdrawal_id >= r.id
     WHERE w.status = 'processed' ORDER BY w.id LIMIT 1`,
  );

/** A signed wallet, and another user's signed wallet of the same coin (the attacker's). */
const walletPair = (l: TestLedger) =>
  find<{ id: number; coin_id: number; other_user_id: number; other_address: string; other_id: number }>(
    l,
    'two wallets of one coin',
    `SELECT w.id, w.coin_id, o.user_id AS other_user_id, o.address AS other_address, o.id AS other_id FROM ${WALLETS} w
     JOIN ${WALLETS} o ON o.coin_id = w.coin_id AND o.user_id <> w.user_id
     WHERE w.signature IS NOT NULL AND o.signature IS NOT NULL ORDER BY w.id, o.id LIMIT 1`,
  );

// ---------------------------------------------------------------------------------------------
// What the checks say

type Want = readonly [table: string, row: number | string, code: string];

const show = (p: Problem) => `${formatProblem(p)} [${p.code}]`;
const rowOf = (row: number | string) => (typeof row === 'number' ? `id=${row}` : row);

/** Runs a check and asserts that each wanted problem (table, exact row, code) is among what it reports. */
async function expectReported(l: TestLedger, check: CheckName, args: CheckArgs, ...want: Want[]): Promise<Problem[]> {
  const ps = await l.problems(check, args);
  const lines = ps.map(formatProblem);
  for (const [table, row, code] of want) {
    const hit = ps.find((p) => p.table === table && p.row === rowOf(row) && p.code === code);
    expect(hit, `${check}: expected "${table} ${rowOf(row)}: …" [${code}], got:\n${ps.map(show).join('\n') || '(nothing)'}`).toBeDefined();
    // The operator's line names the table and the exact row.
    expect(lines).toContain(formatProblem(hit as Problem));
  }
  return ps;
}

/** The codes reported for one row. */
const codesOf = (ps: Problem[], table: string, row: number | string) =>
  [...new Set(ps.filter((p) => p.table === table && p.row === rowOf(row)).map((p) => p.code))].sort();

/** Who owns each row: the account of a credit or withdrawal, the coin of an income, the wallet, the certificate. */
async function owners(db: Queryable): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  const q = async (table: string, owner: string) => {
    for (const r of await db.query<{ id: number; owner: string }>(`SELECT id, ${owner} AS owner FROM ${table}`))
      m.set(`${table} id=${r.id}`, r.owner);
  };
  await q(CREDITS, `'user=' || user_id || ' coin=' || coin_id`);
  await q(WITHDRAWALS, `'user=' || user_id || ' coin=' || coin_id`);
  await q(INCOME, `'coin=' || coin_id`);
  await q(COINS, `'coin=' || id`);
  await q(WALLETS, `'wallet=' || id`);
  await q(CERTS, `'cert=' || id`);
  return m;
}

/**
 * The accounts, coins, wallets and certificates the problems are about (a row as it is now, or as it
 * was before the attack if it is gone): a tamper must be reported where it happened and nowhere else.
 */
async function blastRadius(l: TestLedger, ps: Problem[], before: Map<string, string>): Promise<string[]> {
  const after = await owners(l.db);
  const scope = (p: Problem) => {
    if (!p.row.startsWith('id=')) return p.row;
    const k = `${p.table} ${p.row}`;
    return after.get(k) ?? before.get(k) ?? k;
  };
  return [...new Set(ps.map(scope))].sort();
}

const acct = (a: Account) => userKey(a.user_id, a.coin_id);
const coinKey = (coinId: number) => `coin=${coinId}`;
const balanceOf = (a: Account): CheckArgs => ({ userId: a.user_id, coinId: a.coin_id });
const sorted = (...xs: string[]) => [...new Set(xs)].sort();

// ---------------------------------------------------------------------------------------------

describe('a clean ledger', () => {
  it('reports nothing under any check, for every account and coin', async () => {
    const l = await cleanLedger();
    const accounts = await l.db.query<Account>(
      `SELECT user_id, coin_id FROM ${CREDITS} UNION SELECT user_id, coin_id FROM ${WITHDRAWALS} ORDER BY 1, 2`,
    );
    const coins = [...(await l.view()).coins.keys()];
    const found: Record<string, string[]> = {};
    for (const check of CHECKS) {
      if (check === 'balance')
        for (const a of accounts) found[`balance --user ${a.user_id} --coin ${a.coin_id}`] = await l.check(check, balanceOf(a));
      else if (check === 'proxypool') for (const c of coins) found[`proxypool --coin ${c}`] = await l.check(check, { coinId: c });
      else found[check] = await l.check(check);
    }
    expect(accounts.length).toBeGreaterThan(10);
    expect(found).toEqual(Object.fromEntries(Object.keys(found).map((k) => [k, []])));
  });

  it('refuses UPDATE and DELETE of credits (and other signed history) while its triggers are on', async () => {
    const l = await cleanLedger();
    const c = await middleCredit(l);
    const w = await openWithdrawal(l);
    const refused = /not allowed \(append-only\)/;
    await expect(l.db.query(`UPDATE ${CREDITS} SET amount = amount + 1 WHERE id = $1`, [c.id])).rejects.toThrow(refused);
    await expect(l.db.query(`UPDATE ${CREDITS} SET user_id = $2 WHERE id = $1`, [c.id, c.user_id + 1])).rejects.toThrow(refused);
    await expect(l.db.query(`DELETE FROM ${CREDITS} WHERE id = $1`, [c.id])).rejects.toThrow(refused);
    await expect(l.db.query(`UPDATE ${INCOME} SET amount = amount + 1`)).rejects.toThrow(refused);
    await expect(l.db.query(`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [w.id])).rejects.toThrow(refused);
    await expect(l.db.query(`DELETE FROM ${USER_CHECKPOINTS}`)).rejects.toThrow(refused);
    await expect(
      l.db.query(`UPDATE ${WITHDRAWALS} SET amount = amount + 1, status_seq = status_seq + 1 WHERE id = $1`, [w.id]),
    ).rejects.toThrow(/may change only its status fields/);
    // Nothing was changed by the refused statements.
    expect(await l.check('balanceerrors')).toEqual([]);
  });
});

describe('tampered credits', () => {
  it.each(['amount', 'balance_before'] as const)("changing a credit's %s is reported on the credit", async (column) => {
    const l = await cleanLedger();
    const c = await middleCredit(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`UPDATE ${CREDITS} SET ${column} = ${column} + 1 WHERE id = $1`, [c.id]]]);

    const want: Want[] =
      column === 'amount'
        ? [
            [CREDITS, c.id, 'signature'],
            [CREDITS, c.next_id, 'chain'],
            [INCOME, c.income_id, 'reconciliation'],
          ]
        : [
            [CREDITS, c.id, 'signature'],
            [CREDITS, c.id, 'chain'],
            [CREDITS, c.next_id, 'chain'],
          ];
    const all = await expectReported(l, 'balanceerrors', {}, ...want);
    await expectReported(l, 'balance', balanceOf(c), ...want.filter(([t]) => t === CREDITS));
    if (column === 'amount') await expectReported(l, 'proxypool', { coinId: c.coin_id }, [INCOME, c.income_id, 'reconciliation']);
    else expect(await l.check('proxypool', { coinId: c.coin_id })).toEqual([]);
    // A running balance is the account's own business; an amount is also the pool's.
    expect(await blastRadius(l, all, before)).toEqual(column === 'amount' ? sorted(acct(c), coinKey(c.coin_id)) : [acct(c)]);
  });

  /** A retired admin certificate under the pinned root, registered, whose validity ended before now. */
  async function expiredAdmin(l: TestLedger): Promise<Signer> {
    const now = Date.now();
    const pair = await issueCert(
      loadRootPair(l.stateDir),
      { purpose: 'signer', role: 'admin', commonName: 'admin signer (retired)' },
      { notBefore: new Date(now - 50_000), notAfter: new Date(now - 10_000) },
    );
    await registerCert(l.db, l.trust, pair.certPem);
    return Signer.fromPem(pair.certPem, pair.keyPem);
  }

  it.each([
    {
      how: 'unsigned (NULL signature)',
      detail: /^unsigned$/,
      prepare: [
        `ALTER TABLE ${CREDITS} ALTER COLUMN signature DROP NOT NULL`,
        `ALTER TABLE ${CREDITS} ALTER COLUMN sig_key_id DROP NOT NULL`,
      ] as Edit[],
      sign: async (_l: TestLedger, _c: Credit): Promise<Sig> => ({ keyId: null, signature: null }),
    },
    {
      how: 'signed by the wrong role (autopay)',
      detail: /signed by role autopay, but this record needs role admin/,
      prepare: [] as Edit[],
      sign: async (l: TestLedger, c: Credit) => signedBy(l.signers.autopay, c),
    },
    {
      how: 'signed with an admin certificate expired at its timestamp',
      detail: /was not valid at/,
      prepare: [] as Edit[],
      sign: async (l: TestLedger, c: Credit) => signedBy(await expiredAdmin(l), c),
    },
  ])('inserting a credit $how is reported on the credit', async ({ detail, prepare, sign }) => {
    const l = await cleanLedger();
    const a = await lastCredit(l);
    const block = await lastBlockOf(l, a.coin_id);
    const before = await owners(l.db);
    const forged = await nextCredit(l, a, block.block_hash);
    await asAttacker(l.db, [...prepare, insertCredit(forged, await sign(l, forged))]);

    const all = await expectReported(l, 'balanceerrors', {}, [CREDITS, forged.id, 'signature'], [INCOME, block.id, 'reconciliation']);
    const mine = await expectReported(l, 'balance', balanceOf(a), [CREDITS, forged.id, 'signature']);
    expect(mine.find((p) => p.row === rowOf(forged.id))?.detail).toMatch(detail);
    // Correctly chained: the signature is all that is wrong with the row itself.
    expect(codesOf(all, CREDITS, forged.id)).toEqual(['signature']);
    await expectReported(l, 'proxypool', { coinId: a.coin_id }, [INCOME, block.id, 'reconciliation']);
    // The expired certificate itself is a good certificate: only the record made after its end is refused.
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(a), coinKey(a.coin_id)));
  });

  it('deleting a credit in the middle of an account breaks the chain at the next credit', async () => {
    const l = await cleanLedger();
    const c = await middleCredit(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`DELETE FROM ${CREDITS} WHERE id = $1`, [c.id]]]);

    const all = await expectReported(l, 'balanceerrors', {}, [CREDITS, c.next_id, 'chain'], [INCOME, c.income_id, 'reconciliation']);
    await expectReported(l, 'balance', balanceOf(c), [CREDITS, c.next_id, 'chain']);
    await expectReported(l, 'proxypool', { coinId: c.coin_id }, [INCOME, c.income_id, 'reconciliation']);
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(c), coinKey(c.coin_id)));
  });

  it('deleting the last credit of an account is caught by its checkpoint', async () => {
    const l = await cleanLedger();
    const c = await lastCredit(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`DELETE FROM ${CREDITS} WHERE id = $1`, [c.id]]]);

    // No later row links to it: only the checkpoint, which covers it, knows it was there.
    const all = await expectReported(
      l,
      'balanceerrors',
      {},
      [USER_CHECKPOINTS, acct(c), 'checkpoint_row_missing'],
      [INCOME, c.income_id, 'reconciliation'],
    );
    await expectReported(l, 'balance', balanceOf(c), [USER_CHECKPOINTS, acct(c), 'checkpoint_row_missing']);
    await expectReported(l, 'proxypool', { coinId: c.coin_id }, [INCOME, c.income_id, 'reconciliation']);
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(c), coinKey(c.coin_id)));
  });

  it('duplicating a signed credit under a new id is reported on the copy', async () => {
    const l = await cleanLedger();
    const c = await middleCredit(l);
    const before = await owners(l.db);
    const [copy] = await asAttacker(l.db, [
      dropUniqueConstraints(CREDITS),
      [
        `INSERT INTO ${CREDITS} (id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature)
        SELECT nextval('${CREDITS}_id_seq'), user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature
        FROM ${CREDITS} WHERE id = $1 RETURNING id`,
        [c.id],
      ],
    ]);
    const id = (copy as { id: number }).id;

    const all = await expectReported(
      l,
      'balanceerrors',
      {},
      [CREDITS, id, 'signature'],
      [CREDITS, id, 'chain'],
      [INCOME, c.income_id, 'reconciliation'],
    );
    await expectReported(l, 'balance', balanceOf(c), [CREDITS, id, 'signature'], [CREDITS, id, 'chain']);
    await expectReported(l, 'proxypool', { coinId: c.coin_id }, [INCOME, c.income_id, 'reconciliation']);
    // The original is untouched.
    expect(codesOf(all, CREDITS, c.id)).toEqual([]);
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(c), coinKey(c.coin_id)));
  });

  it('moving a credit to another user is reported in both accounts', async () => {
    const l = await cleanLedger();
    const c = await middleCredit(l);
    const to = await otherMiner(l, c);
    const before = await owners(l.db);
    await asAttacker(l.db, [dropUniqueConstraints(CREDITS), [`UPDATE ${CREDITS} SET user_id = $2 WHERE id = $1`, [c.id, to.user_id]]]);

    const all = await expectReported(l, 'balanceerrors', {}, [CREDITS, c.id, 'signature'], [CREDITS, c.next_id, 'chain']);
    await expectReported(l, 'balance', balanceOf(to), [CREDITS, c.id, 'signature']);
    await expectReported(l, 'balance', balanceOf(c), [CREDITS, c.next_id, 'chain']);
    // The block still sums up: the pool has nothing to say.
    expect(await l.check('proxypool', { coinId: c.coin_id })).toEqual([]);
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(c), acct(to)));
  });

  it("changing a credit's block hash is reported on the credit, as a ghost, and on the block it left", async () => {
    const l = await cleanLedger();
    const c = await middleCredit(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`UPDATE ${CREDITS} SET block_hash = $2 WHERE id = $1`, [c.id, newBlockHash()]]]);

    const all = await expectReported(
      l,
      'balanceerrors',
      {},
      [CREDITS, c.id, 'signature'],
      [CREDITS, c.id, 'ghost'],
      [INCOME, c.income_id, 'reconciliation'],
    );
    await expectReported(l, 'balance', balanceOf(c), [CREDITS, c.id, 'signature'], [CREDITS, c.id, 'ghost']);
    await expectReported(l, 'proxypool', { coinId: c.coin_id }, [CREDITS, c.id, 'ghost'], [INCOME, c.income_id, 'reconciliation']);
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(c), coinKey(c.coin_id)));
  });

  it('a ghost credit (validly signed, correctly chained, no pool income for its block) is reported as a ghost', async () => {
    const l = await cleanLedger();
    const a = await lastCredit(l);
    const before = await owners(l.db);
    // What a compromised pool back end could write: a perfectly good admin-signed credit for a block that was never mined.
    const ghost = await nextCredit(l, a, newBlockHash());
    // An INSERT passes every guard the database has: the triggers only refuse UPDATE and DELETE.
    await asAttacker(l.db, [insertCredit(ghost, signedBy(l.signers.admin, ghost))], { triggers: 'on' });

    const all = await expectReported(l, 'balanceerrors', {}, [CREDITS, ghost.id, 'ghost']);
    await expectReported(l, 'balance', balanceOf(a), [CREDITS, ghost.id, 'ghost']);
    await expectReported(l, 'proxypool', { coinId: a.coin_id }, [CREDITS, ghost.id, 'ghost']);
    expect(codesOf(all, CREDITS, ghost.id)).toEqual(['ghost']);
    expect(await blastRadius(l, all, before)).toEqual([acct(a)]);
  });

  it('swapping the signatures of two credits is reported on both', async () => {
    const l = await cleanLedger();
    const x = await middleCredit(l);
    const y = await lastCredit(l);
    expect(acct(x)).not.toEqual(acct(y));
    const before = await owners(l.db);
    await asAttacker(l.db, [
      [
        `UPDATE ${CREDITS} t SET signature = s.signature FROM ${CREDITS} s WHERE t.id IN ($1, $2) AND s.id IN ($1, $2) AND s.id <> t.id`,
        [x.id, y.id],
      ],
    ]);

    const all = await expectReported(l, 'balanceerrors', {}, [CREDITS, x.id, 'signature'], [CREDITS, y.id, 'signature']);
    await expectReported(l, 'balance', balanceOf(x), [CREDITS, x.id, 'signature']);
    await expectReported(l, 'balance', balanceOf(y), [CREDITS, y.id, 'signature']);
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(x), acct(y)));
  });
});

describe('tampered pool income', () => {
  it('changing a pool income amount is reported on the income', async () => {
    const l = await cleanLedger();
    const p = await middleIncome(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`UPDATE ${INCOME} SET amount = amount + 1 WHERE id = $1`, [p.id]]]);

    const want: Want[] = [
      [INCOME, p.id, 'signature'],
      [INCOME, p.id, 'reconciliation'],
      [INCOME, p.next_id, 'chain'],
    ];
    const all = await expectReported(l, 'balanceerrors', {}, ...want);
    await expectReported(l, 'proxypool', { coinId: p.coin_id }, ...want);
    expect(await blastRadius(l, all, before)).toEqual([coinKey(p.coin_id)]);
  });
});

describe('tampered withdrawals', () => {
  it.each([
    { column: 'amount', set: 'amount = amount + 0.001', params: (w: { id: number }) => [w.id] },
    // Redirect the payout to another user's (the attacker's) wallet.
    { column: 'wallet_id', set: 'wallet_id = $2', params: (w: { id: number; other_wallet_id: number }) => [w.id, w.other_wallet_id] },
  ])("changing a withdrawal's $column is reported on the withdrawal", async ({ column, set, params }) => {
    const l = await cleanLedger();
    const w = await openWithdrawal(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`UPDATE ${WITHDRAWALS} SET ${set} WHERE id = $1`, params(w)]]);

    const want: Want[] = [[WITHDRAWALS, w.id, 'status']];
    // A changed amount also moves every later running debit.
    if (column === 'amount') want.push([WITHDRAWALS, w.next_id, 'chain']);
    const all = await expectReported(l, 'balanceerrors', {}, ...want);
    await expectReported(l, 'balance', balanceOf(w), ...want);
    expect(all.find((p) => p.row === rowOf(w.id))?.detail).toMatch(/signature does not match/);
    expect(await blastRadius(l, all, before)).toEqual([acct(w)]);
  });

  it('moving a withdrawal to another user is reported in both accounts', async () => {
    const l = await cleanLedger();
    const w = await openWithdrawal(l);
    const to = await otherMiner(l, w);
    const before = await owners(l.db);
    await asAttacker(l.db, [
      dropUniqueConstraints(WITHDRAWALS),
      [`UPDATE ${WITHDRAWALS} SET user_id = $2 WHERE id = $1`, [w.id, to.user_id]],
    ]);

    const all = await expectReported(l, 'balanceerrors', {}, [WITHDRAWALS, w.id, 'status'], [WITHDRAWALS, w.next_id, 'chain']);
    await expectReported(l, 'balance', balanceOf(to), [WITHDRAWALS, w.id, 'status']);
    await expectReported(l, 'balance', balanceOf(w), [WITHDRAWALS, w.next_id, 'chain']);
    expect(await blastRadius(l, all, before)).toEqual(sorted(acct(w), acct(to)));
  });

  it('setting a processed (declined) withdrawal back to pending is reported as a rolled-back status', async () => {
    const l = await cleanLedger();
    const w = await declinedCovered(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`UPDATE ${WITHDRAWALS} SET status = 'pending' WHERE id = $1`, [w.id]]]);

    const want: Want[] = [
      [WITHDRAWALS, w.id, 'status'],
      [WITHDRAWALS, w.id, 'status_rolled_back'],
      [WITHDRAWALS, w.reversal_id, 'reversal'],
    ];
    const all = await expectReported(l, 'balanceerrors', {}, ...want);
    await expectReported(l, 'balance', balanceOf(w), ...want);
    expect(all.find((p) => p.row === rowOf(w.id) && p.code === 'status')?.detail).toMatch(
      /status pending differs from its last signed status processed/,
    );
    expect(await blastRadius(l, all, before)).toEqual([acct(w)]);
  });

  it('moving a processing withdrawal to approved (status_seq bumped, as the trigger allows) is reported', async () => {
    const l = await cleanLedger();
    const w = await openWithdrawal(l);
    const before = await owners(l.db);
    // The database's own guard lets this through: it may only check that status_seq advances by one.
    await asAttacker(l.db, [[`UPDATE ${WITHDRAWALS} SET status = 'approved', status_seq = status_seq + 1 WHERE id = $1`, [w.id]]], {
      triggers: 'on',
    });

    const all = await expectReported(l, 'balanceerrors', {}, [WITHDRAWALS, w.id, 'status']);
    await expectReported(l, 'balance', balanceOf(w), [WITHDRAWALS, w.id, 'status']);
    expect(
      all
        .filter((p) => p.row === rowOf(w.id))
        .map((p) => p.detail)
        .join('\n'),
    ).toMatch(/has 1 signed status entries, but status_seq 1 needs 2/);
    expect(await blastRadius(l, all, before)).toEqual([acct(w)]);
  });

  it('deleting a reversal row is reported on the declined original and by the checkpoint', async () => {
    const l = await cleanLedger();
    const w = await declinedCovered(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [
      [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [w.reversal_id]],
      [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [w.reversal_id]],
    ]);

    const want: Want[] = [[WITHDRAWALS, w.id, 'reversal']];
    if (w.last_withdrawal_id === w.reversal_id) want.push([USER_CHECKPOINTS, acct(w), 'checkpoint_row_missing']);
    const all = await expectReported(l, 'balanceerrors', {}, ...want);
    await expectReported(l, 'balance', balanceOf(w), ...want);
    expect(await blastRadius(l, all, before)).toEqual([acct(w)]);
  });

  it("editing a reversal row's amount is reported on the reversal", async () => {
    const l = await cleanLedger();
    const w = await declinedCovered(l);
    const before = await owners(l.db);
    // Give the user the money back twice.
    await asAttacker(l.db, [[`UPDATE ${WITHDRAWALS} SET amount = amount * 2 WHERE id = $1`, [w.reversal_id]]]);

    const want: Want[] = [
      [WITHDRAWALS, w.reversal_id, 'status'],
      [WITHDRAWALS, w.reversal_id, 'reversal'],
      [USER_CHECKPOINTS, acct(w), 'checkpoint_mismatch'],
    ];
    const all = await expectReported(l, 'balanceerrors', {}, ...want);
    await expectReported(l, 'balance', balanceOf(w), ...want);
    expect(await blastRadius(l, all, before)).toEqual([acct(w)]);
  });
});

describe('a rolled-back tail of the withdrawal chain', () => {
  // Found by this suite: a decline after a still-open request sits beyond the final prefix a checkpoint
  // covers, so cutting it off (reversal and last status entry gone, original back to 'processing')
  // left a consistent-looking chain. The checkpoint now also pins the chain's head and the open statuses.
  it('un-declining a withdrawal that follows an open one is reported, incrementally and in full', async () => {
    const l = await cleanLedger();
    const view = await l.view();
    const coin = [...view.coins.values()].find((c) => c.tag === 'ETH') as Signed<Coin>;
    const [wallet] = await l.db.query<{ id: number; user_id: number; address: string }>(
      `SELECT id, user_id, address FROM ${WALLETS} WHERE coin_id = $1 ORDER BY id LIMIT 1`,
      [coin.id],
    );
    const who = wallet as { id: number; user_id: number; address: string };
    await creditBlock(l.db, l.signers.admin, coin, {
      blockHash: newBlockHash(),
      shares: [{ userId: who.user_id, amount: parseAmount('5') }],
      poolFee: ZERO,
    });
    const ask = {
      userId: who.user_id,
      coinId: coin.id,
      walletId: who.id,
      address: who.address,
      amount: parseAmount('1'),
      fee: coin.withdrawalFee,
    };
    await l.db.transaction((tx) => requestWithdrawal(tx, l.signers.autopay, ask));
    const declined = await l.db.transaction((tx) => requestWithdrawal(tx, l.signers.autopay, ask));
    const { reversal } = await l.db.transaction((tx) => declineWithdrawal(tx, l.signers.payserv, declined.id, 'processing', 'suspicious'));
    await l.checkpointAll();
    expect(await l.check('balanceerrors')).toEqual([]);
    const a: Account = { user_id: who.user_id, coin_id: coin.id };

    await asAttacker(l.db, [
      [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 OR (withdrawal_id = $2 AND seq > 0)`, [reversal.id, declined.id]],
      [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [reversal.id]],
      [`UPDATE ${WITHDRAWALS} SET status = 'processing', status_seq = 0, comment = '' WHERE id = $1`, [declined.id]],
    ]);

    const want: Want[] = [
      [USER_CHECKPOINTS, acct(a), 'checkpoint_row_missing'],
      [USER_CHECKPOINTS, acct(a), 'status_rolled_back'],
    ];
    await expectReported(l, 'balanceerrors', {}, ...want);
    await expectReported(l, 'balance', balanceOf(a), ...want);
    // What payserv runs before a payout: the incremental verification from the checkpoint refuses too.
    const r = await verifyAccount(await l.view(), a.user_id, a.coin_id, 'incremental');
    expect(r.problems.map((p) => p.code).sort()).toEqual(['checkpoint_row_missing', 'status_rolled_back']);
  });
});

describe('tampered wallets and coins', () => {
  it.each([
    { column: 'address', value: (p: { other_address: string }) => p.other_address },
    { column: 'user_id', value: (p: { other_user_id: number }) => p.other_user_id },
    // Deleted or deactivated without the pool's signed deletion (src/writer/wallets.ts retireWallet).
    { column: 'deleted', value: () => true },
    { column: 'active', value: () => false },
  ])("changing a wallet's $column is reported on the wallet", async ({ column, value }) => {
    const l = await cleanLedger();
    const p = await walletPair(l);
    const before = await owners(l.db);
    await asAttacker(l.db, [[`UPDATE ${WALLETS} SET ${column} = $2 WHERE id = $1`, [p.id, value(p)]]]);

    const all = await expectReported(l, 'balanceerrors', {}, [WALLETS, p.id, 'signature']);
    const wallets = await expectReported(l, 'wallets', {}, [WALLETS, p.id, 'signature']);
    expect(wallets.map((x) => x.row)).toEqual([rowOf(p.id)]);
    expect(await blastRadius(l, all, before)).toEqual([`wallet=${p.id}`]);
  });

  it.each(['withdrawal_fee', 'min_withdrawal'])("changing a coin's %s is reported on the coin", async (column) => {
    const l = await cleanLedger();
    const [coin] = [...(await l.view()).coins.values()];
    if (!coin) throw new Error('no coin');
    const before = await owners(l.db);
    await asAttacker(l.db, [[`UPDATE ${COINS} SET ${column} = 0 WHERE id = $1`, [coin.id]]]);

    const all = await expectReported(l, 'balanceerrors', {}, [COINS, coin.id, 'signature']);
    await expectReported(l, 'coins', {}, [COINS, coin.id, 'signature']);
    expect(await blastRadius(l, all, before)).toEqual([coinKey(coin.id)]);
    expect(all).toHaveLength(1);
  });
});

describe('tampered checkpoints', () => {
  it.each(['user', 'coin'] as const)('rolling a %s checkpoint back to an older, validly signed one is reported', async (which) => {
    const l = await cleanLedger();
    const a = await lastCredit(l);
    const [table, key, where, params] =
      which === 'user'
        ? [USER_CHECKPOINTS, ['user_id', 'coin_id'], 'user_id = $1 AND coin_id = $2', [a.user_id, a.coin_id]]
        : [COIN_CHECKPOINTS, ['coin_id'], 'coin_id = $1', [a.coin_id]];
    const old = await find(l, `${which} checkpoint`, `SELECT * FROM ${table} WHERE ${where}`, params);
    // A new block for the account, and every checkpoint moves forward over it.
    const coin = (await l.view()).coins.get(a.coin_id);
    if (!coin) throw new Error('no coin');
    await creditBlock(l.db, l.signers.admin, coin, {
      blockHash: newBlockHash(),
      shares: [{ userId: a.user_id, amount: parseAmount('0.25') }],
      poolFee: parseAmount('0.0025'),
    });
    await l.checkpointAll();
    expect(await l.check('balanceerrors')).toEqual([]);
    const now = await find<{ version: number }>(l, `${which} checkpoint`, `SELECT version FROM ${table} WHERE ${where}`, params);
    expect(now.version).toBe((old.version as number) + 1);

    const before = await owners(l.db);
    await asAttacker(l.db, [restoreRow(table, old, key)]);

    const row = which === 'user' ? acct(a) : coinKey(a.coin_id);
    const all = await expectReported(l, 'balanceerrors', {}, [table, row, 'checkpoint_local']);
    const narrow =
      which === 'user'
        ? await expectReported(l, 'balance', balanceOf(a), [table, row, 'checkpoint_local'])
        : await expectReported(l, 'proxypool', { coinId: a.coin_id }, [table, row, 'checkpoint_local']);
    expect(narrow.find((p) => p.code === 'checkpoint_local')?.detail).toMatch(/rolled back/);
    expect(await blastRadius(l, all, before)).toEqual([row]);
  });

  it.each(['user', 'coin'] as const)('deleting a %s checkpoint from the database is reported', async (which) => {
    const l = await cleanLedger();
    const a = await lastCredit(l);
    const before = await owners(l.db);
    const [table, row] = which === 'user' ? [USER_CHECKPOINTS, acct(a)] : [COIN_CHECKPOINTS, coinKey(a.coin_id)];
    await asAttacker(l.db, [
      which === 'user'
        ? [`DELETE FROM ${USER_CHECKPOINTS} WHERE user_id = $1 AND coin_id = $2`, [a.user_id, a.coin_id]]
        : [`DELETE FROM ${COIN_CHECKPOINTS} WHERE coin_id = $1`, [a.coin_id]],
    ]);

    const all = await expectReported(l, 'balanceerrors', {}, [table, row, 'checkpoint_local']);
    const narrow =
      which === 'user'
        ? await expectReported(l, 'balance', balanceOf(a), [table, row, 'checkpoint_local'])
        : await expectReported(l, 'proxypool', { coinId: a.coin_id }, [table, row, 'checkpoint_local']);
    expect(narrow.find((p) => p.code === 'checkpoint_local')?.detail).toMatch(/missing from the database/);
    expect(await blastRadius(l, all, before)).toEqual([row]);
  });
});

describe('tampered certificates', () => {
  /** A self-signed CA named exactly like the pinned root. */
  const rogueRoot = (): Promise<IssuedPair> => {
    const now = Date.now();
    return createRoot('payserv root CA', { notBefore: new Date(now - 60_000), notAfter: new Date(now + 365 * DAY_MS) });
  };

  it('a rogue root certificate in crypto_certs is refused', async () => {
    const l = await cleanLedger();
    const before = await owners(l.db);
    const root = await rogueRoot();
    const [cert] = await asAttacker(l.db, [insertCert(root.certPem, 'admin')]);
    const id = (cert as { id: number }).id;

    const all = await expectReported(l, 'balanceerrors', {}, [CERTS, id, 'certificate']);
    expect(await blastRadius(l, all, before)).toEqual([`cert=${id}`]);
  });

  it('a signer certificate under a rogue root is refused, and so is a credit signed with it', async () => {
    const l = await cleanLedger();
    const a = await lastCredit(l);
    const block = await lastBlockOf(l, a.coin_id);
    const before = await owners(l.db);
    const root = await rogueRoot();
    const now = Date.now();
    const pair = await issueCert(
      root,
      { purpose: 'signer', role: 'admin' },
      { notBefore: new Date(now - 60_000), notAfter: new Date(now + 30 * DAY_MS) },
    );
    const forged = await nextCredit(l, a, block.block_hash);
    const [rootRow] = await asAttacker(l.db, [insertCert(root.certPem, 'admin')]);
    const [signerRow] = await asAttacker(l.db, [insertCert(pair.certPem, 'admin')]);
    await asAttacker(l.db, [insertCredit(forged, signedBy(Signer.fromPem(pair.certPem, pair.keyPem), forged))]);
    const rootId = (rootRow as { id: number }).id;
    const signerId = (signerRow as { id: number }).id;

    const all = await expectReported(
      l,
      'balanceerrors',
      {},
      [CERTS, rootId, 'certificate'],
      [CERTS, signerId, 'certificate'],
      [CREDITS, forged.id, 'signature'],
      [INCOME, block.id, 'reconciliation'],
    );
    expect(all.find((p) => p.row === rowOf(signerId))?.detail).toMatch(/does not chain to the pinned root/);
    const mine = await expectReported(l, 'balance', balanceOf(a), [CREDITS, forged.id, 'signature']);
    expect(mine.find((p) => p.row === rowOf(forged.id))?.detail).toMatch(/not a certificate under the pinned root/);
    expect(await blastRadius(l, all, before)).toEqual(sorted(`cert=${rootId}`, `cert=${signerId}`, acct(a), coinKey(a.coin_id)));
  });
});
