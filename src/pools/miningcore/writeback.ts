import type pg from 'pg';
import { INTAKE_ALERT } from '../../intake/alerts.js';
import { FROM_THE_START, verifyAccountFrom, type VerifiedPoint } from '../../intake/balance.js';
import { formatProblem } from '../../ledger/problem.js';
import type { Coin, Signed, Withdrawal } from '../../ledger/records.js';
import { toBaseUnits } from '../../money/amount.js';
import type { LedgerView } from '../../verify/view.js';
import { adapterAccounts } from '../accounts.js';
import { withdrawalFingerprint } from '../fingerprint.js';
import { derivedUserId } from '../user-id.js';
import { mcTransaction, type McAdapter } from './context.js';
import { baseUnitsToDecimal28 } from './decimal.js';
import { PAYOUT_STATEMENTS } from './schema.js';
import { BALANCE_RESET_USAGE } from './usage.js';

// payserv's payments back into MiningCore, as its PersistPaymentsAsync writes them: per sent withdrawal of the
// adapter's users, one transaction inserting payments and the negative balance_changes row and decrementing
// balances, the amount rounded down to decimal(28,12). Idempotent per withdrawal: the balance_changes row is tagged
// with the withdrawal's fingerprint (never its id, which a restored ledger issues again; never the transaction hash,
// which a Zcash batch shares between withdrawals of one miner), checked under an advisory lock in the same
// transaction; a write that fails is found again next interval, never lost.
// Each adapter user's account is verified whole (verifyAccountFrom) before any of its payments is written, and
// incrementally: this process remembers per account the point it verified and wrote back up to, and next interval
// reads only the rows after it (withdrawals not final yet again, until they are). A restart starts from the beginning.

const userOf = (a: McAdapter, coin: Signed<Coin>, address: string): number => derivedUserId(`miningcore:${a.poolId}`, coin.tag, address);

/** Per adapter (the process's memory, never the database): per user, the point its account was verified and written back up to. */
const verifiedPoints = new WeakMap<McAdapter, Map<number, VerifiedPoint>>();

/** The tag of a withdrawal's balance_changes row: its write-back's idempotency key. */
export const writtenTag = (fingerprint: string): string => `payserv:withdrawal:${fingerprint}`;

interface Sent {
  w: Withdrawal;
  tag: string;
}

/**
 * A row written before the tag (keyed by address and hash, so one per hash): the untagged reset row this withdrawal's
 * write-back made (its amount, its time) beside its payments row. Tagged now, so a second withdrawal sharing the hash
 * is written and this one never again.
 */
async function adoptUntagged(a: McAdapter, c: pg.PoolClient, { w, tag }: Sent, amount: string): Promise<boolean> {
  const adopted = await c.query(
    `UPDATE balance_changes SET tags = ARRAY[$6::text] WHERE id = (
       SELECT b.id FROM balance_changes b WHERE b.poolid = $1 AND b.address = $2 AND b.amount = -($3::numeric)
         AND b.created = $5 AND b.usage = $7 AND (b.tags IS NULL OR b.tags = '{}')
         AND EXISTS (SELECT 1 FROM payments p WHERE p.poolid = $1 AND p.address = $2 AND p.amount = $3::numeric
                       AND p.transactionconfirmationdata = $4 AND p.created = $5)
       ORDER BY b.id LIMIT 1)`,
    [a.poolId, w.address, amount, w.txHash, w.updatedAt, tag, BALANCE_RESET_USAGE],
  );
  return !!adopted.rowCount;
}

/** True when this call wrote it, false when it was there already. */
async function writePayment(a: McAdapter, c: pg.PoolClient, coin: Signed<Coin>, s: Sent, amount: string): Promise<boolean> {
  const { w, tag } = s;
  await c.query("SELECT pg_advisory_xact_lock(hashtextextended('payserv:miningcore:payment:' || $1 || ':' || $2, 0))", [
    a.poolId,
    w.address,
  ]);
  const there = await c.query('SELECT 1 FROM balance_changes WHERE poolid = $1 AND address = $2 AND tags @> ARRAY[$3::text]', [
    a.poolId,
    w.address,
    tag,
  ]);
  if (there.rowCount || (await adoptUntagged(a, c, s, amount))) return false;
  const at = w.updatedAt;
  await c.query(PAYOUT_STATEMENTS.insertPayment, [a.poolId, coin.tag, w.address, amount, w.txHash, at]);
  await c.query(PAYOUT_STATEMENTS.insertBalanceChange, [a.poolId, w.address, `-${amount}`, BALANCE_RESET_USAGE, [tag], at]);
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

async function writeBack(a: McAdapter, coin: Signed<Coin>, s: Sent): Promise<void> {
  const { w } = s;
  const { text, remainderBaseUnits } = baseUnitsToDecimal28(toBaseUnits(w.amount, coin.decimals), coin.decimals);
  const wrote = await mcTransaction(a.mc, (c) => writePayment(a, c, coin, s, text));
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

/** Every sent withdrawal of the adapter's users not yet written back by this process, each account verified first. */
export async function writeBackPayments(a: McAdapter, view: LedgerView, coin: Signed<Coin>): Promise<void> {
  const points = verifiedPoints.get(a) ?? new Map<number, VerifiedPoint>();
  verifiedPoints.set(a, points);
  for await (const { userId } of adapterAccounts(a.it.db, coin.id, (address) => userOf(a, coin, address))) {
    const sent: Sent[] = [];
    const run = await verifyAccountFrom(view, userId, coin, points.get(userId) ?? FROM_THE_START, ({ withdrawal: w, history }) => {
      // Paid to the address the user is derived from: the one MiningCore's rows are keyed by.
      if (w.status === 'sent' && w.txHash && userOf(a, coin, w.address) === userId)
        sent.push({ w, tag: writtenTag(withdrawalFingerprint(history)) });
    });
    const first = run.problems[0];
    if (first) {
      a.log.error(
        { pool: a.poolId, user: userId, problems: run.problems.length, first: formatProblem(first), alert: INTAKE_ALERT.integrity },
        'an account does not verify: its payments are not written back',
      );
      a.it.alerts.once(
        INTAKE_ALERT.integrity,
        `${a.coin} miningcore account ${userId}`,
        `user ${userId} of ${a.coin} does not verify: its payments are not written back to MiningCore (${formatProblem(first)})`,
        { pool: a.poolId, user: userId, problems: run.problems.length },
      );
      continue;
    }
    for (const s of sent) await writeBack(a, coin, s);
    points.set(userId, run.next);
  }
}
