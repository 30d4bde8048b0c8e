import type { Db } from '../db/db.js';
import type { Coin } from '../ledger/records.js';
import type { Amount } from '../money/amount.js';
import type { Signer } from '../pki/signer.js';
import { appendIncome, type AppendedIncome, type CreditShare } from './credits.js';

export interface MinedBlock {
  blockHash: string;
  /** What each miner earned from this block. */
  shares: ReadonlyArray<{ userId: number; amount: Amount }>;
  /** The pool's fee from this block, credited to the coin's fee user. */
  poolFee: Amount;
  at?: Date;
}

/** Credits a mined block: its pool income, each miner's credit and the pool's fee credit, signed by admin, in one transaction. */
export async function creditBlock(db: Db, admin: Signer, coin: Coin, block: MinedBlock): Promise<AppendedIncome> {
  if (block.poolFee < 0n) throw new Error(`block ${block.blockHash}: the pool fee cannot be negative`);
  if (block.shares.some((s) => s.userId === coin.feeUserId)) {
    throw new Error(`the fee user ${coin.feeUserId} cannot also be a miner of block ${block.blockHash}`);
  }
  const shares: CreditShare[] = block.shares.map((s) => ({ userId: s.userId, amount: s.amount, type: 'block' }));
  if (block.poolFee > 0n) shares.push({ userId: coin.feeUserId, amount: block.poolFee, type: 'fee' });
  return db.transaction((tx) =>
    appendIncome(tx, admin, { coinId: coin.id, blockHash: block.blockHash, kind: 'block', shares, ...(block.at ? { at: block.at } : {}) }),
  );
}
