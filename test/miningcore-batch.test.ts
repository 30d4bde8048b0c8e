// MiningCore's write-back of a Zcash payment batch (outsider finding F4): SendCoin pays two withdrawals of one miner
// in one transaction, both `sent` with the same hash. Each is written back once (keyed by the withdrawal, not the
// hash), so MiningCore's payments and balances agree with the ledger and going back to its payer pays nothing again.
import { afterEach, expect, it } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import type { Intake } from '../src/intake/context.js';
import { createLogger } from '../src/log/index.js';
import { parseAmount } from '../src/money/amount.js';
import { checkWithdrawal, processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import type { McAdapter } from '../src/pools/miningcore/context.js';
import { writeBackPayments } from '../src/pools/miningcore/writeback.js';
import { derivedUserId } from '../src/pools/user-id.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { miningcoreDbForFile } from './support/miningcore-db.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const standin = zcashStandinForFile();
const mcDb = miningcoreDbForFile();
let node: ZcashStandin;
let t: TestPayserv;
const POOL_ID = 'zec1';
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 61 };
const GENEROUS = {
  amountMax: parseAmount('1000'),
  userDailyMax: parseAmount('10000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};

afterEach(async () => {
  await t.ledger.db.close();
});

describePerDataPath('MiningCore write-back of a batched Zcash payment', () => {
  it('two sent withdrawals of one miner in one transaction are both written back', async () => {
    node = await standin();
    t = await testPayserv({
      seed: SEED,
      policies: { ZEC: GENEROUS },
      drivers: async (deps) => new Map([['ZEC', await zcashDriver(node, deps, { fund: [300_000_000n, 300_000_000n, 300_000_000n] })]]),
    });
    await node.mine(1);
    await mcDb.empty();
    const address = zcashAddress();
    const user = derivedUserId(`miningcore:${POOL_ID}`, 'ZEC', address);
    const m = await newMiner(t, user, '20', { tag: 'ZEC', address });
    // MiningCore credited the same 20 ZEC.
    await mcDb.pool.query('INSERT INTO balances(poolid, address, amount, created, updated) VALUES($1, $2, 20, now(), now())', [
      POOL_ID,
      address,
    ]);
    await mcDb.pool.query(
      "INSERT INTO balance_changes(poolid, address, amount, usage, tags, created) VALUES($1, $2, 20, 'Reward for block 5', '{}', now())",
      [POOL_ID, address],
    );
    const id1 = await request(t, m, { amount: '1' });
    const id2 = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id1, 'test')).reply).toBe('APPROVED');
    expect((await processWithdrawal(t.ps, id2, 'test')).reply).toBe('APPROVED');
    await sendCoin(t.ps, 'ZEC', 'test');
    await node.mine(10);
    for (const id of [id1, id2]) expect((await checkWithdrawal(t.ps, id, 'test')).reply).toBe('SENT');
    const sent = await t.ledger.db.query<{ id: number; status: string; tx_hash: string }>(
      'SELECT id, status, tx_hash FROM finances_withdrawal_transaction WHERE user_id = $1 ORDER BY id',
      [user],
    );
    expect(sent.filter((w) => w.status === 'sent')).toHaveLength(2);
    expect(sent[0]!.tx_hash).toBe(sent[1]!.tx_hash);

    const coin = m.coin;
    const logs: unknown[] = [];
    const a: McAdapter = {
      it: { db: t.ledger.db } as unknown as Intake,
      mc: mcDb.pool,
      poolId: POOL_ID,
      coin: 'ZEC',
      feeAddresses: new Set(),
      fromBlockId: 0n,
      minimumPayment: 10n ** 18n,
      log: createLogger('intake', 'info', { write: (s: string) => void logs.push(JSON.parse(s)) }),
      cursor: 0n,
      recheck: new Set(),
      wallets: new Set(),
      verified: new Map(),
    };
    await writeBackPayments(a, await t.ledger.view(), coin);
    const payments = (
      await mcDb.pool.query('SELECT amount::text, transactionconfirmationdata AS tx FROM payments WHERE address = $1 ORDER BY id', [
        address,
      ])
    ).rows;
    const [bal] = (await mcDb.pool.query<{ amount: string }>('SELECT amount::text FROM balances WHERE address = $1', [address])).rows;
    // The ledger: 20 credited, 2 paid → 18. MiningCore must show the same, and again after a restart (memory empty).
    expect(payments).toEqual([
      { amount: '1.000000000000', tx: sent[0]!.tx_hash },
      { amount: '1.000000000000', tx: sent[0]!.tx_hash },
    ]);
    expect(parseAmount(bal!.amount)).toBe(parseAmount('18'));
    await writeBackPayments({ ...a }, await t.ledger.view(), coin);
    expect((await mcDb.pool.query('SELECT count(*)::int AS n FROM payments')).rows[0]).toEqual({ n: 2 });
    expect(
      (await mcDb.pool.query<{ amount: string }>('SELECT amount::text FROM balances WHERE address = $1', [address])).rows[0]!.amount,
    ).toBe('18.000000000000');
    expect(logs.filter((l) => (l as { msg?: string }).msg === 'payment written back to miningcore')).toHaveLength(2);
  });
});
