import { JournalError } from '../journal/record.js';
import { InvariantError } from '../ledger/invariant.js';
import { RowError } from '../data/rows.js';

/**
 * Errors that stop payouts rather than answer one call: a broken invariant, a payment journal that
 * cannot record, a database row whose value is not of its form (tampering: NaN in a NUMERIC column).
 */
export function stopsPayouts(e: unknown): e is InvariantError | JournalError | RowError {
  return e instanceof InvariantError || e instanceof JournalError || e instanceof RowError;
}
