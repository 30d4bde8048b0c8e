// MiningCore's own database for the adapter tests: its tables in a database of their own on the test
// server, and the writes its payout code makes (AddAmountAsync, UpdatePoolBalancesAsync) as it makes them.
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { mcTransaction } from '../../src/pools/miningcore/context.js';
import { MININGCORE_TABLES_SQL, PAYOUT_STATEMENTS } from '../../src/pools/miningcore/schema.js';
import { blockRewardUsage } from '../../src/pools/miningcore/usage.js';
import { createPgDatabase, type TestDatabase } from './db.js';

export interface MiningcoreDb {
  /** Its connection string and a pool on it (both ready from beforeAll on). */
  readonly url: string;
  readonly pool: pg.Pool;
  /** Every table emptied, ids from 1 again: a test's fresh start. */
  empty(): Promise<void>;
  /** The rows a query returns. */
  rows<T extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** MiningCore's tables in a new database, made before the file's tests and dropped after them. */
export function miningcoreDbForFile(): MiningcoreDb {
  let db: TestDatabase | undefined;
  let pool: pg.Pool | undefined;
  beforeAll(async () => {
    db = await createPgDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 2 });
    await pool.query(MININGCORE_TABLES_SQL);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  const ready = <T>(v: T | undefined): T => {
    if (v === undefined) throw new Error("MiningCore's database is made in beforeAll: use it inside a test or hook");
    return v;
  };
  const mc: MiningcoreDb = {
    get url() {
      return ready(db).url;
    },
    get pool() {
      return ready(pool);
    },
    empty: async () => void (await mc.pool.query('TRUNCATE blocks, balances, balance_changes, miner_settings, payments RESTART IDENTITY')),
    rows: async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = []) => (await mc.pool.query<T>(sql, params)).rows,
  };
  return mc;
}

/** BalanceRepository.AddAmountAsync: a balance_changes row, then the balances row inserted or incremented. */
async function addAmount(q: pg.ClientBase, poolId: string, address: string, amount: string, usage: string): Promise<void> {
  await q.query(PAYOUT_STATEMENTS.insertBalanceChange, [poolId, address, amount, usage, [], new Date()]);
  const there = await q.query(PAYOUT_STATEMENTS.updateBalance, [poolId, address, amount]);
  if (!there.rowCount)
    await q.query('INSERT INTO balances(poolid, address, amount, created, updated) VALUES($1, $2, $3, now(), now())', [
      poolId,
      address,
      amount,
    ]);
}

/** UpdatePoolBalancesAsync: the block confirmed and its credits (the fee recipient's, then PPLNS) in one transaction. */
export async function creditConfirmedBlock(
  mc: pg.Pool,
  poolId: string,
  block: { height: bigint; hash: string },
  fee: readonly [string, string],
  credits: ReadonlyArray<readonly [string, string]>,
): Promise<void> {
  const { height, hash } = block;
  await mcTransaction(mc, async (q) => {
    await q.query(
      `INSERT INTO blocks(poolid, blockheight, networkdifficulty, status, type, confirmationprogress, transactionconfirmationdata, miner, reward, hash, created)
       VALUES($1, $2, 1, 'confirmed', 'block', 1, $3, $4, 2, $3, now())`,
      [poolId, height.toString(), hash, credits[0]![0]],
    );
    await addAmount(q, poolId, fee[0], fee[1], blockRewardUsage(height));
    for (const [address, amount] of credits) await addAmount(q, poolId, address, amount, `Reward for 12.5K shares for block ${height}`);
  });
}
