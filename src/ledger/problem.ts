// A problem found by verification: one line naming the table, the row, its code and what is wrong.

/**
 * What verification can find, as stable codes for callers and operators to branch on (the detail beside
 * each is for people). Every one is an integrity problem: found while payouts are enabled, it stops them.
 * README "Problem codes" has the same table.
 */
export const PROBLEM_CODES = {
  // Signatures and certificates
  signature: 'a signed row (coin, wallet, credit, income, status entry, checkpoint) does not verify against its certificate',
  certificate: 'a certificate in the database is not one the pinned root issued, or not valid for its role',
  history: "a withdrawal's signed status history does not verify (found by a payout call, before it changes anything)",
  status: "a withdrawal's signed status history does not verify (found by its account's verification)",
  // Chains of rows
  chain: 'a chain of rows is broken: a row missing, inserted, reordered, or its running balance off',
  reversal: "a decline's reversal row is missing, doubled, or does not mirror its original",
  overdrawn: "an account's debits exceed its credits",
  fee_user: "a fee credit went to a user other than the coin's fee user",
  ghost: 'a credit for a block that has no pool income (money from nowhere)',
  reconciliation: "a coin's pool income does not match the credits it paid out",
  unknown_coin: 'rows of a coin the database does not have',
  address: "a reviewed wallet's address is not an address of its coin",
  invalid_key: 'rows of an account with a non-positive user or coin id',
  precision:
    "an amount is finer than its coin's decimals (a coin's fee or minimum, an open withdrawal's amount or fee): no chain can pay it",
  malformed: 'a value is not of its form; the check stopped there',
  too_many: 'the check stopped after its bound on problems listed',
  // Checkpoints (in the database and on the payserv host)
  checkpoint_mismatch: 'the ledger no longer ends where a checkpoint says it ended',
  checkpoint_row_missing: 'a row a checkpoint covers is gone or moved',
  checkpoint_local: "the database's checkpoint differs from the payserv host's copy, or only one of them exists",
  checkpoint_key: 'a checkpoint names another account',
  status_rolled_back: 'a withdrawal is at an earlier status than its checkpoint (or this call) saw: rolled back',
  advance_failed: 'a checkpoint could not move over a status change just written; the change may have been rolled back',
  // Wallets (what payserv saw, which the database cannot roll back)
  wallet_missing: 'a reviewed wallet payserv saw is gone, moved or unsigned',
  wallet_rolled_back: 'a wallet carries an older review than payserv saw',
  wallet_revived: "a wallet retired under the pool's signature is active again (a deletion is one-way)",
  too_many_wallets: 'an account has more wallets than one verification reads',
  // Payments and the payment journal
  payment: 'a stored transaction does not decode, or does not pay what its withdrawals say',
  journal_missing: "the payment journal holds a transaction a withdrawal's signed history (or the database) no longer has: rolled back",
  journal_bytes: 'the stored bytes of a transaction differ from those the payment journal recorded',
  journal_unrecorded: 'a payment in flight that the payment journal never recorded (never broadcast by this host: Check sends it)',
  chain_integrity: "the chain's or the node's answer contradicts a stored payment (a nonce, a reservation, a transaction id)",
  invariant: 'an invariant of payserv itself broke (a bug, or storage that cannot record): payouts stop',
  // The audit trail
  audit_inserted: 'an audit row is not part of the chain: inserted or moved',
  audit_link: "an audit row's link to its predecessor is broken: rows deleted, or an earlier row rewritten",
  audit_changed: "an audit row's contents were changed or forged",
  audit_head_missing: 'the audit row the local head names is missing',
  audit_head_mismatch: 'the audit row the local head names was rewritten',
  audit_no_head: 'the local audit head is missing while the table has rows',
  audit_unrecorded: 'an audit row the local head does not account for (written by another process, or after a crash)',
  audit_unlisted: 'further audit findings not listed',
} as const;
export type ProblemCode = keyof typeof PROBLEM_CODES;

export interface Problem {
  table: string;
  /** The row: its id, or the key of a keyed row ("user=5 coin=1"). */
  row: string;
  /** Stable, machine-readable kind of problem (PROBLEM_CODES). */
  code: ProblemCode;
  detail: string;
}

/** One line, as the checks print it: the code after the detail, so a reader sees the words first and a script can take the code. */
export function formatProblem(p: Problem): string {
  return `${p.table} ${p.row}: ${p.detail} [${p.code}]`;
}

export function problem(table: string, row: string | number, code: ProblemCode, detail: string): Problem {
  return { table, row: typeof row === 'number' ? `id=${row}` : row, code, detail };
}

export function userKey(userId: number, coinId: number): string {
  return `user=${userId} coin=${coinId}`;
}
