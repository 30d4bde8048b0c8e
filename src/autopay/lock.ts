import type { DataTx } from '../data/data.js';
import { AUTOPAY, type AutopayRow } from '../data/ops/autopay.js';

// The per-coin payouts lock of open-ethereum-pool, in the database: one runner per coin (an UPDATE
// takes only an idle row), and a run whose payment's outcome is unknown leaves it halted with the
// reason, so no later run pays that coin until resolve has asked the chain.

export type LockState = Pick<AutopayRow, 'state' | 'holder' | 'since' | 'reason' | 'withdrawal_id'>;

/** Takes the coin's lock for `holder`, or returns who holds it (running, or halted and why). */
export async function takeLock(
  db: DataTx,
  coinId: number,
  holder: string,
  now: Date,
): Promise<{ taken: true } | { taken: false; by: LockState }> {
  await db.query(AUTOPAY.ensure, [coinId, now]);
  if ((await db.query(AUTOPAY.take, [coinId, holder, now])).length) return { taken: true };
  const [row] = await db.query(AUTOPAY.get, [coinId]);
  if (!row) throw new Error(`autopay lock row of coin ${coinId} vanished`);
  return { taken: false, by: row };
}

export async function releaseLock(db: DataTx, coinId: number, holder: string, now: Date): Promise<void> {
  await db.query(AUTOPAY.release, [coinId, holder, now]);
}

/** Keeps the lock, halted: nothing pays this coin until resolve. */
export async function haltLock(
  db: DataTx,
  coinId: number,
  holder: string,
  reason: string,
  withdrawalId: number | null,
  now: Date,
): Promise<void> {
  await db.query(AUTOPAY.halt, [coinId, holder, reason, withdrawalId, now]);
}

/** Resolve's last step: the coin may be paid again. Returns the state it was in (null: it was not locked). */
export async function unlock(db: DataTx, coinId: number, now: Date): Promise<string | null> {
  const [r] = await db.query(AUTOPAY.unlock, [coinId, now]);
  return r?.state ?? null;
}

export function describeLock(tag: string, by: LockState): string {
  const since = by.since.toISOString();
  if (by.state === 'halted') {
    return `payouts of ${tag} are halted since ${since}: ${by.reason}${by.withdrawal_id ? ` (withdrawal ${by.withdrawal_id})` : ''}; run \`pscli resolve --coin ${tag}\``;
  }
  return `payouts of ${tag} are locked since ${since} by ${by.holder || 'an unknown runner'} (a run in progress, or one that never finished); run \`pscli resolve --coin ${tag}\` if no run is in progress`;
}
