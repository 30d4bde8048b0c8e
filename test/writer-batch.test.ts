// Many blocks of a coin in one call: each block's income and credits chain exactly as if appended one by one.
import { afterEach, describe, expect, it } from 'vitest';
import { formatAmount, parseAmount } from '../src/money/amount.js';
import { verifyAccount } from '../src/verify/account.js';
import { verifyPool } from '../src/verify/pool.js';
import { appendIncomes, BLOCKS_PER_CALL_MAX, type IncomeEntry } from '../src/writer/credits.js';
import { backend } from './support/db.js';
import { testLedger, type TestLedger } from './support/ledger.js';

describe(`appendIncomes (${backend()})`, () => {
  let l: TestLedger | undefined;
  afterEach(async () => l?.db.close());

  it('appends 300 blocks in one call, chained per coin and per user, and every check is clean', async () => {
    l = await testLedger();
    const view = await l.view();
    const coin = [...view.coins.values()].find((c) => c.tag === 'ZEC');
    if (!coin) throw new Error('no ZEC');
    const before = await verifyAccount(view, 5001, coin.id, 'full');
    const blocks: IncomeEntry[] = Array.from({ length: 300 }, (_, i) => ({
      coinId: coin.id,
      blockHash: `0xbatch${i}`,
      kind: 'block',
      shares: [
        { userId: 5001, amount: parseAmount('0.001'), type: 'block' },
        { userId: 5002 + (i % 3), amount: parseAmount('0.0002'), type: 'block' },
      ],
    }));
    const out = await l.db.transaction((tx) => appendIncomes(tx, l!.signers.admin, blocks));
    expect(out).toHaveLength(300);
    expect(out.map((o) => o.income.prevId).slice(1)).toEqual(out.map((o) => o.income.id).slice(0, -1));
    expect(await l.check('balanceerrors')).toEqual([]);
    const after = await verifyAccount(await l.view(), 5001, coin.id, 'full');
    expect(formatAmount(after.creditTotal)).toBe(formatAmount((before.creditTotal + parseAmount('0.3')) as never));
    const pool = await verifyPool(await l.view(), coin.id, 'full');
    expect(pool.problems).toEqual([]);
  });

  it('refuses blocks of two coins, or too many blocks, writing nothing', async () => {
    l = await testLedger();
    const coins = [...(await l.view()).coins.values()];
    const entry = (coinId: number, i: number): IncomeEntry => ({
      coinId,
      blockHash: `0xr${i}`,
      kind: 'block',
      shares: [{ userId: 5001, amount: parseAmount('1'), type: 'block' }],
    });
    const [{ n: before }] = (await l.db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM finances_proxypool_transactions')) as [
      { n: number },
    ];
    await expect(
      l.db.transaction((tx) => appendIncomes(tx, l!.signers.admin, [entry(coins[0]!.id, 1), entry(coins[1]!.id, 2)])),
    ).rejects.toThrow(/one coin/);
    await expect(
      l.db.transaction((tx) =>
        appendIncomes(
          tx,
          l!.signers.admin,
          Array.from({ length: BLOCKS_PER_CALL_MAX + 1 }, (_, i) => entry(coins[0]!.id, i)),
        ),
      ),
    ).rejects.toThrow(/at most 10000 blocks per call/);
    const [{ n: after }] = (await l.db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM finances_proxypool_transactions')) as [
      { n: number },
    ];
    expect(after).toBe(before);
  });
});
