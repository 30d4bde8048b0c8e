import { JournalError } from '../journal/record.js';
import { InvariantError } from '../ledger/invariant.js';

export { invariant, InvariantError } from '../ledger/invariant.js';

/** Errors that stop payouts rather than answer one call: a broken invariant, a payment journal that cannot record. */
export function stopsPayouts(e: unknown): e is InvariantError | JournalError {
  return e instanceof InvariantError || e instanceof JournalError;
}
