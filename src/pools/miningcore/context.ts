import type pg from 'pg';
import type { VerifiedPoint } from '../../intake/balance.js';
import type { Intake } from '../../intake/context.js';
import type { Logger } from '../../log/index.js';

// What every step of the MiningCore adapter works with: the intake it writes the ledger through (its calls,
// never the writer), MiningCore's own database, and the [pools.miningcore] settings.

export interface McAdapter {
  it: Intake;
  /** MiningCore's PostgreSQL. */
  mc: pg.Pool;
  poolId: string;
  /** The ledger coin tag. */
  coin: string;
  feeAddresses: ReadonlySet<string>;
  fromBlockId: bigint;
  /** MiningCore's minimumPayment in decimal(28,12) units (10^-12 coins). */
  minimumPayment: bigint;
  log: Logger;
  /** Blocks up to this id are imported, refused for good or in `recheck` (this process); a restart begins at from_block_id again. */
  cursor: bigint;
  /** Ids behind the cursor of blocks the chain refused (the node may be behind): asked again each interval. */
  recheck: Set<bigint>;
  /** Addresses whose wallet this process has registered and seen reviewed. */
  wallets: Set<string>;
  /** Per user, the point its account was verified and written back up to (this process's memory, never the database). */
  verified: Map<number, VerifiedPoint>;
}

/** One MiningCore transaction: committed when fn returns, rolled back when it throws. */
export async function mcTransaction<T>(mc: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const c = await mc.connect();
  let broken = false;
  // A connection the server drops mid-transaction emits 'error' besides failing the query: not a crash.
  const lost = () => void (broken = true);
  c.on('error', lost);
  try {
    await c.query('BEGIN');
    const out = await fn(c);
    await c.query('COMMIT');
    return out;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => void (broken = true));
    throw e;
  } finally {
    // A connection that cannot roll back is dropped, not handed to the next transaction.
    // A dropped connection may still report its end after this: it keeps the listener as it is discarded.
    if (!broken) c.off('error', lost);
    c.release(broken);
  }
}
