// Random honest ledgers, built only through the writer: every check stays clean, and every balance the
// verifiers compute equals what this test, keeping its own books, knows it wrote.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Coin, Signed, WithdrawalStatus } from '../src/ledger/records.js';
import { WITHDRAWAL_STATUSES } from '../src/ledger/records.js';
import { canMove, isFinal } from '../src/ledger/status.js';
import { formatAmount, fromBaseUnits, toBaseUnits, ZERO, type Amount } from '../src/money/amount.js';
import { verifyAccount } from '../src/verify/account.js';
import { verifyPool } from '../src/verify/pool.js';
import { creditBlock } from '../src/writer/blocks.js';
import { registerCoin } from '../src/writer/coins.js';
import { applyCorrection } from '../src/writer/corrections.js';
import { zcashP2pkhAddress } from '../src/chains/address.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, declineWithdrawal, requestWithdrawal } from '../src/writer/withdrawals.js';
import { backend } from './support/backend.js';
import { testLedger, type TestLedger } from './support/ledger.js';

const FEE_USER = 1;
const USERS = [1001, 1002, 1003];
const NUM_RUNS = 6;

type Op =
  | { t: 'block'; coin: number; miners: boolean[]; units: number[]; fee: number }
  | { t: 'correction'; coin: number; user: number; units: number; negative: boolean }
  | { t: 'request'; coin: number; user: number; permille: number }
  | { t: 'decline'; pick: number }
  | { t: 'advance'; pick: number; choices: number[] }
  | { t: 'checkpoint' };

const coinIx = fc.nat({ max: 1 });
const userIx = fc.nat({ max: USERS.length - 1 });
const baseUnits = fc.integer({ min: 1, max: 1_000_000_000 });
const blockOp: fc.Arbitrary<Op> = fc.record({
  t: fc.constant('block' as const),
  coin: coinIx,
  miners: fc.array(fc.boolean(), { minLength: USERS.length, maxLength: USERS.length }),
  units: fc.array(baseUnits, { minLength: USERS.length, maxLength: USERS.length }),
  fee: fc.oneof(fc.constant(0), baseUnits),
});
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: blockOp, weight: 3 },
  {
    arbitrary: fc.record({ t: fc.constant('correction' as const), coin: coinIx, user: userIx, units: baseUnits, negative: fc.boolean() }),
    weight: 2,
  },
  {
    arbitrary: fc.record({ t: fc.constant('request' as const), coin: coinIx, user: userIx, permille: fc.integer({ min: 1, max: 600 }) }),
    weight: 4,
  },
  { arbitrary: fc.record({ t: fc.constant('decline' as const), pick: fc.nat() }), weight: 2 },
  // One withdrawal walks 1 to 4 legal steps.
  {
    arbitrary: fc.record({
      t: fc.constant('advance' as const),
      pick: fc.nat(),
      choices: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }),
    }),
    weight: 4,
  },
  { arbitrary: fc.constant({ t: 'checkpoint' as const }), weight: 2 },
);
/** Every history starts with a block, so there is money to move. */
const historyArb = fc.tuple(blockOp, fc.array(opArb, { minLength: 6, maxLength: 16 })).map(([first, rest]) => [first, ...rest]);

/** The test's own books: only what it wrote, never read back from the ledger. */
interface Books {
  credits: Map<string, Amount>;
  withdrawals: Array<{ id: number; userId: number; coinId: number; amount: Amount; status: WithdrawalStatus; reversal: boolean }>;
  pool: Map<number, Amount>;
  fees: Map<number, Amount>;
}
const key = (userId: number, coinId: number) => `${userId}/${coinId}`;
const plus = (m: Map<string, Amount> | Map<number, Amount>, k: string | number, a: Amount) =>
  (m as Map<string | number, Amount>).set(k, (((m as Map<string | number, Amount>).get(k) ?? ZERO) + a) as Amount);
const creditsOf = (b: Books, u: number, c: number) => b.credits.get(key(u, c)) ?? ZERO;
/** Sum of the withdrawals not reversed (an original and its reversal cancel). */
const debitsOf = (b: Books, u: number, c: number) =>
  b.withdrawals.filter((w) => w.userId === u && w.coinId === c).reduce((s, w) => (s + w.amount) as Amount, ZERO);
const available = (b: Books, u: number, c: number) => (creditsOf(b, u, c) - debitsOf(b, u, c)) as Amount;

interface World {
  l: TestLedger;
  coins: Signed<Coin>[];
  wallets: Map<string, { id: number; address: string }>;
  books: Books;
  log: string[];
}

async function newWorld(): Promise<World> {
  const l = await testLedger(null);
  const { admin } = l.signers;
  const coins = [
    await registerCoin(l.db, admin, {
      tag: 'ETH',
      name: 'Ethereum',
      network: 'mainnet',
      decimals: 18,
      confirmations: 12,
      withdrawalFee: fromBaseUnits(500_000n, 18),
      minWithdrawal: ZERO,
      feeUserId: FEE_USER,
    }),
    await registerCoin(l.db, admin, {
      tag: 'ZEC',
      name: 'Zcash',
      network: 'mainnet',
      decimals: 8,
      confirmations: 10,
      withdrawalFee: fromBaseUnits(10_000n, 8),
      minWithdrawal: ZERO,
      feeUserId: FEE_USER,
    }),
  ];
  const wallets = new Map<string, { id: number; address: string }>();
  for (const coin of coins) {
    for (const userId of USERS) {
      const address =
        coin.tag === 'ETH'
          ? `0x${userId.toString(16).padStart(40, '0')}`
          : zcashP2pkhAddress('mainnet', new Uint8Array(20).fill(userId % 256));
      const w = await addWallet(l.db, { userId, coinId: coin.id, address });
      await signWallet(l.db, admin, w.id);
      wallets.set(key(userId, coin.id), { id: w.id, address });
    }
  }
  return { l, coins, wallets, books: { credits: new Map(), withdrawals: [], pool: new Map(), fees: new Map() }, log: [] };
}

async function apply(w: World, op: Op): Promise<void> {
  const { l, books } = w;
  const { admin, autopay, payserv } = l.signers;
  switch (op.t) {
    case 'block': {
      const coin = w.coins[op.coin] as Signed<Coin>;
      const miners = USERS.filter((_, i) => op.miners[i]);
      if (miners.length === 0) miners.push(USERS[0] as number);
      const shares = miners.map((userId) => ({
        userId,
        amount: fromBaseUnits(BigInt(op.units[USERS.indexOf(userId)] ?? 1), coin.decimals),
      }));
      const poolFee = fromBaseUnits(BigInt(op.fee), coin.decimals);
      await creditBlock(l.db, admin, coin, { blockHash: `0x${coin.tag}-${w.log.length}`, shares, poolFee });
      for (const s of shares) plus(books.credits, key(s.userId, coin.id), s.amount);
      plus(books.credits, key(FEE_USER, coin.id), poolFee);
      plus(books.pool, coin.id, (shares.reduce((s, x) => s + x.amount, 0n) + poolFee) as Amount);
      plus(books.fees, coin.id, poolFee);
      w.log.push(`block ${coin.tag} ${shares.map((s) => `${s.userId}+${formatAmount(s.amount)}`).join(' ')} fee ${formatAmount(poolFee)}`);
      return;
    }
    case 'correction': {
      const coin = w.coins[op.coin] as Signed<Coin>;
      const userId = USERS[op.user] as number;
      let amount = fromBaseUnits(BigInt(op.units), coin.decimals);
      if (op.negative) {
        // A negative correction never takes the balance below zero.
        const room = available(books, userId, coin.id);
        amount = -(amount < room ? amount : room) as Amount;
        if (amount === 0n) return;
      }
      await applyCorrection(l.db, payserv, { userId, coinId: coin.id, amount });
      plus(books.credits, key(userId, coin.id), amount);
      plus(books.pool, coin.id, amount);
      w.log.push(`correction ${coin.tag} ${userId} ${formatAmount(amount)}`);
      return;
    }
    case 'request': {
      const coin = w.coins[op.coin] as Signed<Coin>;
      const userId = USERS[op.user] as number;
      const avail = toBaseUnits(available(books, userId, coin.id), coin.decimals);
      if (avail <= 0n) return;
      const units = (avail * BigInt(op.permille)) / 1000n;
      const amount = fromBaseUnits(units > 0n ? units : 1n, coin.decimals);
      const fee = coin.withdrawalFee < amount ? coin.withdrawalFee : amount;
      const wallet = w.wallets.get(key(userId, coin.id)) as { id: number; address: string };
      const made = await l.db.transaction((tx) =>
        requestWithdrawal(tx, autopay, { userId, coinId: coin.id, walletId: wallet.id, address: wallet.address, amount, fee }),
      );
      books.withdrawals.push({ id: made.id, userId, coinId: coin.id, amount, status: 'processing', reversal: false });
      w.log.push(`request ${coin.tag} ${userId} ${formatAmount(amount)} → #${made.id}`);
      return;
    }
    case 'decline': {
      const open = books.withdrawals.filter((x) => !x.reversal && (x.status === 'processing' || x.status === 'pending'));
      const target = open[op.pick % Math.max(1, open.length)];
      if (!target) return;
      const { reversal } = await l.db.transaction((tx) =>
        declineWithdrawal(tx, payserv, target.id, target.status, 'declined by the property test'),
      );
      target.status = 'processed';
      books.withdrawals.push({
        id: reversal.id,
        userId: target.userId,
        coinId: target.coinId,
        amount: -target.amount as Amount,
        status: 'declined',
        reversal: true,
      });
      w.log.push(`decline #${target.id} → reversal #${reversal.id}`);
      return;
    }
    case 'advance': {
      const open = books.withdrawals.filter((x) => !x.reversal && !isFinal(x.status));
      const target = open[op.pick % Math.max(1, open.length)];
      if (!target) return;
      // Legal moves only; processed is reached through declineWithdrawal, which also writes the reversal.
      for (const choice of op.choices) {
        const next = WITHDRAWAL_STATUSES.filter((s) => canMove(target.status, s) && s !== 'processed');
        const to = next[choice % Math.max(1, next.length)];
        if (!to) return; // final: nothing left to do
        await l.db.transaction((tx) =>
          changeStatus(tx, payserv, target.id, target.status, {
            status: to,
            comment: `${target.status} → ${to}`,
            ...(to === 'sending' ? { txHash: `0x${target.id}-${w.log.length}` } : {}),
            ...(to === 'sent' ? { txFee: fromBaseUnits(21_000n, 9) } : {}),
          }),
        );
        w.log.push(`#${target.id} ${target.status} → ${to}`);
        target.status = to;
      }
      return;
    }
    case 'checkpoint':
      await l.checkpointAll();
      w.log.push('checkpoint');
      return;
  }
}

/** (b) and (c): the verifiers, full and incremental, agree with the test's books. */
async function expectBooksMatch(w: World): Promise<void> {
  const view = await w.l.view();
  for (const coin of w.coins) {
    for (const userId of [FEE_USER, ...USERS]) {
      const what = `user ${userId} ${coin.tag}`;
      const full = await verifyAccount(view, userId, coin.id, 'full');
      const inc = await verifyAccount(view, userId, coin.id, 'incremental');
      expect(full.problems, what).toEqual([]);
      expect(inc.problems, what).toEqual([]);
      const credits = formatAmount(creditsOf(w.books, userId, coin.id));
      const debits = formatAmount(debitsOf(w.books, userId, coin.id));
      expect(formatAmount(full.creditTotal), `${what} credits (full)`).toBe(credits);
      expect(formatAmount(full.debitTotal), `${what} debits (full)`).toBe(debits);
      expect(formatAmount(inc.creditTotal), `${what} credits (incremental)`).toBe(credits);
      expect(formatAmount(inc.debitTotal), `${what} debits (incremental)`).toBe(debits);
      expect(formatAmount((full.creditTotal - full.debitTotal) as Amount), `${what} balance`).toBe(
        formatAmount(available(w.books, userId, coin.id)),
      );
      expect(available(w.books, userId, coin.id) >= 0n, `${what} balance ≥ 0`).toBe(true);
      // The open withdrawals, and the money committed past the request stage.
      const open = w.books.withdrawals.filter((x) => x.userId === userId && x.coinId === coin.id && !isFinal(x.status));
      expect(
        full.open.map((x) => x.id),
        what,
      ).toEqual(open.map((x) => x.id));
      expect(
        full.open.map((x) => x.status),
        what,
      ).toEqual(open.map((x) => x.status));
      const requested = w.books.withdrawals.filter(
        (x) => x.userId === userId && x.coinId === coin.id && (x.status === 'processing' || x.status === 'pending'),
      );
      expect(formatAmount(full.committedDebit), `${what} committed`).toBe(
        formatAmount(requested.reduce((s, x) => (s - x.amount) as Amount, debitsOf(w.books, userId, coin.id))),
      );
      expect(formatAmount(inc.committedDebit), `${what} committed (incremental)`).toBe(formatAmount(full.committedDebit));
    }
    const pool = formatAmount(w.books.pool.get(coin.id) ?? ZERO);
    const fees = formatAmount(w.books.fees.get(coin.id) ?? ZERO);
    for (const mode of ['full', 'incremental'] as const) {
      const p = await verifyPool(view, coin.id, mode);
      expect(p.problems, `${coin.tag} ${mode}`).toEqual([]);
      expect(formatAmount(p.state.poolBalance), `${coin.tag} pool balance (${mode})`).toBe(pool);
      expect(formatAmount(p.state.feeTotal), `${coin.tag} fee total (${mode})`).toBe(fees);
    }
  }
}

describe(`random honest ledgers (${backend()})`, () => {
  it("stay clean under every check, and every balance equals the test's own books", { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(historyArb, async (ops) => {
        const w = await newWorld();
        try {
          for (const op of ops) await apply(w, op);
          // (a) every check is clean, before and after checkpoints.
          expect(await w.l.check('balanceerrors'), w.log.join('\n')).toEqual([]);
          await expectBooksMatch(w);
          await w.l.checkpointAll();
          expect(await w.l.check('balanceerrors'), w.log.join('\n')).toEqual([]);
          // (b), (c) again, now that the incremental verifiers start from checkpoints at the head.
          await expectBooksMatch(w);
        } finally {
          await w.l.db.close();
        }
      }),
      // Each run builds a fresh database: a few runs, no shrinking (each shrink step would cost a database);
      // the failing history is printed in full instead.
      { numRuns: NUM_RUNS, endOnFailure: true },
    );
  });
});
