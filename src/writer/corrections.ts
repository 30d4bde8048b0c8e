import { randomUUID } from 'node:crypto';
import type { Data } from '../data/data.js';
import { sub, type Amount } from '../money/amount.js';
import type { Signer } from '../pki/signer.js';
import { appendIncome, type AppendedIncome, type CreditShare } from './credits.js';

export interface Correction {
  userId: number;
  coinId: number;
  amount: Amount;
  /** The pool-income counterpart (default: amount); pool − amount is credited to the pool's own user. */
  pool?: { amount: Amount; feeUserId: number };
  reference?: string;
  at?: Date;
}

/** A corrective credit (positive or negative) with its pool-income counterpart, all signed by payserv. */
export async function applyCorrection(db: Data, payserv: Signer, c: Correction): Promise<AppendedIncome> {
  if (c.amount === 0n) throw new Error('a correction of zero changes nothing');
  const shares: CreditShare[] = [{ userId: c.userId, amount: c.amount, type: 'correction' }];
  const rest = c.pool ? sub(c.pool.amount, c.amount) : 0n;
  if (c.pool && rest !== 0n) {
    if (c.pool.feeUserId === c.userId) throw new Error("the pool's own user cannot take both sides of a correction");
    shares.push({ userId: c.pool.feeUserId, amount: rest as Amount, type: 'correction' });
  }
  const blockHash = `correction:${c.reference ?? randomUUID()}`;
  return db.transaction((tx) =>
    appendIncome(tx, payserv, { coinId: c.coinId, blockHash, kind: 'correction', shares, ...(c.at ? { at: c.at } : {}) }),
  );
}
