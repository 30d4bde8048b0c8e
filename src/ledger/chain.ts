import { add, formatAmount, type Amount } from '../money/amount.js';

// A running-total chain: each row names the previous row of its chain and carries the total before
// it. Deleting, inserting, reordering or editing a row breaks one of the three links checked here.

export interface ChainHead {
  lastId: number;
  total: Amount;
  /** created_at of the last row in ms, 0 when unknown: a chain never goes back in time, so a retired key cannot backdate into it. */
  lastAt: number;
}

export interface ChainLink {
  id: number;
  prevId: number;
  amount: Amount;
  before: Amount;
  at: Date;
}

export const GENESIS: ChainHead = { lastId: 0, total: 0n as Amount, lastAt: 0 };

/** The head after `link`, and what is wrong with it; after a break the chain resynchronises on the row, so one break is one problem. */
export function followChain(head: ChainHead, link: ChainLink, totalName: string): { head: ChainHead; faults: string[] } {
  const faults: string[] = [];
  if (link.id <= head.lastId) faults.push(`id ${link.id} is not after the previous row ${head.lastId}`);
  if (link.prevId !== head.lastId) {
    faults.push(`prev_id ${link.prevId} should be ${head.lastId}: a row was deleted, inserted or moved`);
  }
  if (link.before !== head.total) {
    faults.push(`${totalName} ${formatAmount(link.before)} should be ${formatAmount(head.total)}`);
  }
  if (link.at.getTime() < head.lastAt)
    faults.push(`created_at ${link.at.toISOString()} is before the previous row's ${new Date(head.lastAt).toISOString()}`);
  return { head: { lastId: link.id, total: add(link.before, link.amount), lastAt: link.at.getTime() }, faults };
}
