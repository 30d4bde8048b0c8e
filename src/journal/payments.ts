import { JournalError } from './record.js';
import type { JournalEntry, PaymentJournal } from './journal.js';
import type { JournalAttempt } from './record.js';
import { problem, type Problem } from '../ledger/problem.js';
import type { StatusSignature, Withdrawal } from '../ledger/records.js';
import type { LocalCheckpointStore } from '../checkpoints/local-store.js';

// The payment journal on the payment path: what is recorded before a broadcast, and what the database's
// signed histories must agree with. The journal is the host's memory; the database is the attacker's.

/** What a journal record says of a transaction's withdrawals: id, the seq of its `sending` entry naming the hash, user, coin. */
export type JournalWithdrawals = JournalAttempt['withdrawals'];

/** The journal's view of withdrawals just moved to `sending`: id, the seq of that entry, account. */
export const journalWithdrawals = (ws: readonly Pick<Withdrawal, 'id' | 'statusSeq' | 'userId' | 'coinId'>[]): JournalWithdrawals =>
  ws.map((w) => [w.id, w.statusSeq, w.userId, w.coinId]);

/** What journaling needs of a chain driver, declared here: the drivers sit above the journal they write to. */
export interface JournalingDriver {
  readonly tag: string;
  readonly address: string;
  decode(raw: string): { hash: string; nonce: bigint | null; inputs: ReadonlyArray<{ txid: string; vout: number }> };
}

/**
 * Records a transaction in the journal before it is broadcast (a no-op if it is there already). The
 * nonce, inputs and sender are re-derived from the bytes, not taken from the database.
 */
export async function journalAttempt(
  journal: PaymentJournal,
  driver: JournalingDriver,
  a: { hash: string; raw: string; payment: string },
  withdrawals: JournalWithdrawals,
  at: Date,
): Promise<void> {
  const known = journal.get(a.hash);
  if (known) {
    if (known.attempt.raw !== a.raw)
      throw new JournalError(`transaction ${a.hash}: the bytes about to be broadcast are not the ones journaled`);
    return;
  }
  if (withdrawals.length === 0) throw new JournalError(`transaction ${a.hash}: journaled without a withdrawal`);
  const d = driver.decode(a.raw);
  if (d.hash !== a.hash) throw new JournalError(`transaction ${a.hash}: its bytes hash to ${d.hash}`);
  await journal.recordAttempt(
    {
      coin: driver.tag,
      hash: a.hash,
      payment: a.payment,
      withdrawals,
      from: driver.address,
      nonce: d.nonce === null ? null : d.nonce.toString(),
      inputs: d.inputs.map((i) => `${i.txid}:${i.vout}`),
      raw: a.raw,
    },
    at,
  );
}

/** The seq of the signed `sending` entry of a history that names `hash` (the newest), or null. */
export function sendingSeqOf(history: readonly Pick<StatusSignature, 'seq' | 'status' | 'txHash'>[], hash: string): number | null {
  for (let i = history.length - 1; i >= 0; i--) {
    const e = history[i];
    if (e?.status === 'sending' && e.txHash === hash) return e.seq;
  }
  return null;
}

/**
 * Every attempt the journal holds for a withdrawal must stand in its signed history, at the entry the
 * journal recorded: one that is missing was rolled back (or the history replaced) after the host handed
 * the transaction to a node. Such a withdrawal must never be paid again or credited back on the
 * database's word.
 */
export function journalProblems(
  journal: Pick<PaymentJournal, 'attemptsOf'>,
  id: number,
  history: readonly Pick<StatusSignature, 'seq' | 'status' | 'txHash'>[],
): Problem[] {
  const out: Problem[] = [];
  for (const a of journal.attemptsOf(id)) {
    const seq = a.withdrawals.find(([w]) => w === id)?.[1] ?? -1;
    const e = history[seq];
    if (!e || e.seq !== seq || e.status !== 'sending' || e.txHash !== a.hash) {
      out.push(
        problem(
          'finances_withdrawal_signatures',
          id,
          'journal_missing',
          `transaction ${a.hash} was handed to a node for withdrawal ${id} (payment journal, status entry ${seq}), but its signed history ${e ? `has ${e.status} ${e.txHash ?? ''} there` : `ends at entry ${history.length - 1}`}: rolled back`,
        ),
      );
    }
  }
  return out;
}

/** Stored bytes of a journaled attempt must be the bytes journaled. */
export function journalBytesProblem(journal: PaymentJournal, id: number, hash: string, raw: string): Problem | null {
  const e = journal.get(hash);
  if (!e || e.attempt.raw === raw) return null;
  return problem(
    'payserv_chain_txs',
    id,
    'journal_bytes',
    `the stored bytes of ${hash} differ from the bytes the payment journal recorded before its broadcast`,
  );
}

/**
 * An attempt is settled once every withdrawal it paid is covered by its account's local checkpoint as
 * final: from then on the checkpoint, which the database cannot reach either, vouches for it. The
 * database is not asked.
 */
export function settledBy(local: LocalCheckpointStore): (e: JournalEntry) => Promise<boolean> {
  return async (e) => {
    for (const [id, , userId, coinId] of e.attempt.withdrawals) {
      const cp = await local.getUser(userId, coinId);
      const covered = typeof cp?.last_withdrawal_id === 'number' ? cp.last_withdrawal_id : 0;
      if (covered < id) return false;
    }
    return true;
  };
}

/** Compaction after this many appends; a payment never waits for it. */
export const COMPACT_AFTER = 500;

/** Compacts the journal when enough has been appended since the last time. */
export async function maybeCompact(
  journal: PaymentJournal,
  local: LocalCheckpointStore,
  log: { info(o: object, m: string): void },
): Promise<void> {
  if (journal.appendedSinceCompaction < COMPACT_AFTER) return;
  const r = await journal.compact(settledBy(local));
  log.info({ component: 'journal', ...r }, 'payment journal compacted');
}
