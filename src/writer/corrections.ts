import { randomUUID } from 'node:crypto';
import type { Db } from '../db/db.js';
import type { Amount } from '../money/amount.js';
import type { Signer } from '../pki/signer.js';
import { appendIncome, type AppendedIncome } from './credits.js';

/** A corrective credit (positive or negative) with its pool-income counterpart, both signed by payserv. */
export async function applyCorrection(db: Db, payserv: Signer, c: { userId: number; coinId: number; amount: Amount; reference?: string; at?: Date }): Promise<AppendedIncome> {
  if (c.amount === 0n) throw new Error('a correction of zero changes nothing');
  const blockHash = `correction:${c.reference ?? randomUUID()}`;
  return db.transaction((tx) =>
    appendIncome(tx, payserv, { coinId: c.coinId, blockHash, kind: 'correction', shares: [{ userId: c.userId, amount: c.amount, type: 'correction' }], ...(c.at ? { at: c.at } : {}) }));
}
