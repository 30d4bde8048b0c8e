import { intakeRefusal } from '../api/intake.js';
import type { RpcError } from '../api/jsonrpc.js';
import { RowError } from '../data/rows.js';
import type { CertBook } from '../ledger/certbook.js';
import { encodeCredit, encodePoolIncome } from '../ledger/encoding.js';
import { checkHistory } from '../ledger/history.js';
import { formatProblem } from '../ledger/problem.js';
import type { Credit, PoolIncome, Signed, StatusSignature, Wallet, Withdrawal } from '../ledger/records.js';
import { creditSigner, incomeSigner } from '../ledger/roles.js';
import { isReviewed, walletSignatureProblem } from '../ledger/wallets.js';
import { formatAmount, type Amount } from '../money/amount.js';

// Before the intake answers "already" from rows it finds, the rows must be what its own signers wrote:
// rows an attacker inserted would otherwise stand in for the real block or request, which the pool then
// never writes (a lost credit, a lost payment). Free of I/O: the rows and the certificate book in, what
// is wrong with them out (empty when they verify).

/** A block's income row(s) and the credits found under its hash: one signed income, backed by exactly its signed credits. */
export function blockFaults(book: CertBook, incomes: readonly Signed<PoolIncome>[], credits: readonly Signed<Credit>[]): string[] {
  const [income, ...more] = incomes;
  if (!income) return ['no pool income backs the credits'];
  const faults = more.map((p) => `a second pool income ${p.id} for the same block`);
  const why = book.check(encodePoolIncome(income), income.sigKeyId, income.signature, incomeSigner(income), income.createdAt);
  if (why) faults.push(`pool income ${income.id}: ${why}`);
  if (income.kind !== 'block') faults.push(`pool income ${income.id} is a ${income.kind}, not a block's`);
  for (const c of credits) {
    const bad = book.check(encodeCredit(c), c.sigKeyId, c.signature, creditSigner(c), c.createdAt);
    if (bad) faults.push(`credit ${c.id}: ${bad}`);
    if (c.type === 'correction') faults.push(`credit ${c.id} is a correction, not a block's credit`);
  }
  // Unchecked: a sum of planted rows past the ledger's range is a fault to name, not an error to throw.
  const total = credits.reduce((s, c) => s + c.amount, 0n) as Amount;
  if (total !== income.amount || credits.length !== income.creditCount)
    faults.push(
      `pool income ${income.id} is ${formatAmount(income.amount)} in ${income.creditCount} credits, the credits are ${formatAmount(total)} in ${credits.length}`,
    );
  return faults;
}

/** A request found by its key: its signed history verifies, and its autopay-signed first entry carries that key. */
export function requestFaults(book: CertBook, w: Withdrawal, history: readonly StatusSignature[], comment: string): string[] {
  const faults = checkHistory(w, history, book);
  if (w.parentId !== null) faults.push(`it is a reversal of withdrawal ${w.parentId}, not a request`);
  const first = history[0];
  if (first?.seq === 0 && first.comment !== comment)
    faults.push(`its signed request carries ${JSON.stringify(first.comment)}, not the key`);
  return faults;
}

/**
 * A wallet found by a retry: one that carries any trace of a signature must carry a good admin signature
 * of exactly its current state (an address changed after review is tampering, never signed "as it is").
 * An unreviewed wallet is what review = "manual" leaves: no fault.
 */
export function walletFaults(book: CertBook, w: Signed<Wallet>): string[] {
  const p = isReviewed(w) ? walletSignatureProblem(book, w) : null;
  return p ? [formatProblem(p)] : [];
}

/** Faults named in a refusal at most; the rest are counted. */
const FAULTS_SHOWN = 3;

/** The refusal of rows that do not verify: never "already", nothing written (the call's alert is raised by dispatchIntake). */
export function integrityRefusal(subject: string, faults: readonly string[], data: Record<string, unknown> = {}): RpcError {
  const more = faults.length > FAULTS_SHOWN ? ` (and ${faults.length - FAULTS_SHOWN} more)` : '';
  return intakeRefusal(
    'integrity',
    `${subject}: its rows in the ledger do not verify: ${faults.slice(0, FAULTS_SHOWN).join('; ')}${more}`,
    {
      ...data,
      faults: faults.length,
    },
  );
}

/** Rows too malformed to decode are faults too, not an internal error. */
export async function decoded<T>(subject: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (e) {
    if (e instanceof RowError) throw integrityRefusal(subject, [e.message]);
    throw e;
  }
}
