import { PAYMENTS } from '../data/ops/payments.js';
import { streamPages } from '../data/stream.js';
import { journalDir, readJournal } from '../journal/journal.js';
import type { JournalAttempt } from '../journal/record.js';
import { problem, type Problem } from '../ledger/problem.js';
import type { StatusSignature } from '../ledger/records.js';
import { journalProblems } from '../journal/payments.js';
import { getWithdrawalWithHistory } from '../store/reads.js';
import type { LedgerView } from '../verify/view.js';

// The payment tables and signed histories against the payserv host's payment journal (part of
// checkbalanceerrors, run on the payserv host): an attempt the journal holds that a withdrawal's signed
// history no longer names was rolled back; a payment the database says is in flight that the journal
// never recorded was signed and stored but never handed to a node by this host (Check sends it).

const PAGE = 1000;

/** The hashes named by the run of `sending` entries that ends the history. */
function inFlight(history: readonly StatusSignature[]): string[] {
  const out: string[] = [];
  for (let i = history.length - 1; i >= 0 && history[i]?.status === 'sending'; i--) {
    const h = history[i]?.txHash;
    if (h && !out.includes(h)) out.push(h);
  }
  return out;
}

export async function checkJournal(view: LedgerView, report: (p: Problem) => void): Promise<Record<string, number>> {
  const entries = await readJournal(journalDir(view.local.stateDir));
  if (entries === null) return { journal_attempts: 0 };
  const byWithdrawal = new Map<number, JournalAttempt[]>();
  for (const { attempt } of entries) {
    for (const [id] of attempt.withdrawals) byWithdrawal.set(id, [...(byWithdrawal.get(id) ?? []), attempt]);
  }
  const journal = { attemptsOf: (id: number) => byWithdrawal.get(id) ?? [] };
  for (const id of byWithdrawal.keys()) {
    const found = await getWithdrawalWithHistory(view.db, id);
    if (!found) {
      report(
        problem(
          'finances_withdrawal_transaction',
          id,
          'journal_missing',
          `the payment journal holds a transaction for withdrawal ${id}, which the database does not have`,
        ),
      );
      continue;
    }
    journalProblems(journal, id, found.history).forEach(report);
  }
  const journaled = new Set(entries.map((e) => e.attempt.hash));
  let sending = 0;
  for await (const w of streamPages(
    view.db,
    (after: number | null, n) => ({ op: PAYMENTS.sendingPage, params: [after ?? 0, n] }),
    (r) => r.id,
    PAGE,
  )) {
    sending++;
    const found = await getWithdrawalWithHistory(view.db, w.id);
    // Only payments with a transaction: a coin an operator pays may carry a `sending` without one.
    for (const hash of found ? inFlight(found.history) : []) {
      if (!journaled.has(hash)) {
        report(
          problem(
            'payserv_chain_txs',
            w.id,
            'journal_unrecorded',
            `withdrawal ${w.id} is sending ${hash}, which the payment journal never recorded: it was never broadcast by this host (Check journals and sends it)`,
          ),
        );
      }
    }
  }
  return { journal_attempts: entries.length, sending };
}
