import type pg from 'pg';
import { INTAKE_ALERT } from '../../intake/alerts.js';
import { checkHistory } from '../../ledger/history.js';
import type { Coin, Signed, Withdrawal } from '../../ledger/records.js';
import { toBaseUnits } from '../../money/amount.js';
import { streamAllWithdrawals } from '../../store/reads.js';
import type { LedgerView } from '../../verify/view.js';
import { derivedUserId } from '../user-id.js';
import { mcTransaction, type McAdapter } from './context.js';
import { baseUnitsToDecimal28 } from './decimal.js';
import { PAYOUT_STATEMENTS } from './schema.js';
import { BALANCE_RESET_USAGE } from './usage.js';

// payserv's payments back into MiningCore, as its PersistPaymentsAsync writes them: per sent withdrawal of the
// adapter's users, one transaction inserting payments and the negative balance_changes row and decrementing
// balances, the amount rounded down to decimal(28,12). Idempotent by (poolid, address, tx hash), checked under an
// advisory lock in the same transaction; a write that fails is found again next interval, never lost.

/** A withdrawal of one of this pool's miners: its user is the one derived from the address it was paid to. */
const isAdapters = (a: McAdapter, coin: Signed<Coin>, w: Withdrawal): boolean =>
  w.coinId === coin.id && w.userId === derivedUserId(`miningcore:${a.poolId}`, coin.tag, w.address);

/** True when this call wrote it, false when it was there already. */
async function writePayment(a: McAdapter, c: pg.PoolClient, coin: Signed<Coin>, w: Withdrawal, amount: string): Promise<boolean> {
  await c.query("SELECT pg_advisory_xact_lock(hashtextextended('payserv:miningcore:payment:' || $1 || ':' || $2, 0))", [
    a.poolId,
    w.address,
  ]);
  const there = await c.query('SELECT 1 FROM payments WHERE poolid = $1 AND address = $2 AND transactionconfirmationdata = $3', [
    a.poolId,
    w.address,
    w.txHash,
  ]);
  if (there.rowCount) return false;
  const at = w.updatedAt;
  await c.query(PAYOUT_STATEMENTS.insertPayment, [a.poolId, coin.tag, w.address, amount, w.txHash, at]);
  await c.query(PAYOUT_STATEMENTS.insertBalanceChange, [a.poolId, w.address, `-${amount}`, BALANCE_RESET_USAGE, [], at]);
  const updated = await c.query(PAYOUT_STATEMENTS.updateBalance, [a.poolId, w.address, `-${amount}`]);
  // AddAmountAsync inserts the row when there is none.
  if (!updated.rowCount)
    await c.query('INSERT INTO balances(poolid, address, amount, created, updated) VALUES($1, $2, $3, $4, $4)', [
      a.poolId,
      w.address,
      `-${amount}`,
      at,
    ]);
  return true;
}

async function writeBack(a: McAdapter, coin: Signed<Coin>, w: Withdrawal): Promise<void> {
  const { text, remainderBaseUnits } = baseUnitsToDecimal28(toBaseUnits(w.amount, coin.decimals), coin.decimals);
  const wrote = await mcTransaction(a.mc, (c) => writePayment(a, c, coin, w, text));
  a.written.add(w.id);
  if (wrote)
    a.log.info(
      {
        pool: a.poolId,
        coin: coin.tag,
        withdrawal: w.id,
        address: w.address,
        amount: text,
        tx: w.txHash,
        notShown: String(remainderBaseUnits),
      },
      'payment written back to miningcore',
    );
}

/** Every sent withdrawal of the adapter's users not yet written back this process, its signed history checked first. */
export async function writeBackPayments(a: McAdapter, view: LedgerView, coin: Signed<Coin>): Promise<void> {
  for await (const { withdrawal: w, history } of streamAllWithdrawals(a.it.db)) {
    if (w.status !== 'sent' || !w.txHash || a.written.has(w.id) || !isAdapters(a, coin, w)) continue;
    const faults = checkHistory(w, history, view.book);
    if (faults.length) {
      a.log.error(
        { pool: a.poolId, withdrawal: w.id, faults, alert: INTAKE_ALERT.integrity },
        'a sent withdrawal does not verify: not written back',
      );
      a.it.alerts.once(
        INTAKE_ALERT.integrity,
        `withdrawal ${w.id}`,
        `sent withdrawal ${w.id} does not verify: not written back to MiningCore`,
        {
          pool: a.poolId,
          withdrawal: w.id,
          faults,
        },
      );
      continue;
    }
    await writeBack(a, coin, w);
  }
}
