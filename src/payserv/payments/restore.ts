import type { JournalAttempt } from '../../journal/record.js';
import { invariant } from '../../ledger/invariant.js';
import { checkHistory } from '../../ledger/history.js';
import { canMove } from '../../ledger/status.js';
import type { Payserv } from '../context.js';
import { LockBusy, withdrawalLock } from '../locks.js';
import { refusal } from '../../api/payserv.js';
import { advanceUserCheckpoint } from '../../verify/advance.js';
import { getWithdrawalWithHistory } from '../../store/reads.js';
import { openView } from '../../verify/view.js';
import { changeStatus } from '../../writer/withdrawals.js';
import { insertAttempt } from '../../data/chain-store.js';
import { PAYMENTS } from '../../data/ops/payments.js';

// Putting back into the database a payment the payment journal holds and the database lost: the
// journal records every transaction before the database commit makes its bytes visible, so after a
// rollback of the database (or payserv dying between its journal record and the commit) the host
// still has the bytes and whom they pay. The restored withdrawal is `sending` that transaction again,
// and Check lets the chain decide it: paid once, or proved failed and paid anew, never twice.
// payserv refuses payouts (fail-stop) until an operator has run this (`pscli journal restore`).

export interface Restored {
  hash: string;
  withdrawal: number;
  /** restored: the `sending` entry written again; present: nothing was missing; diverged: the history went another way at that entry (an operator decides). */
  outcome: 'restored' | 'present' | 'diverged';
  detail: string;
}

const RESTORE_MAX = 10_000;

/** Every journaled attempt missing from its withdrawals' signed histories, put back where the history stops just before it. */
export async function restoreFromJournal(ps: Payserv, caller: string): Promise<Restored[]> {
  await ps.journal.refresh();
  const out: Restored[] = [];
  for (const e of ps.journal.entries()) {
    for (const [id, seq] of e.attempt.withdrawals) {
      invariant(out.length < RESTORE_MAX, `more than ${RESTORE_MAX} journal entries to restore`);
      out.push(
        await ps.locks
          .with(withdrawalLock(id), `journal restore by ${caller}`, () => restoreOne(ps, e.attempt, id, seq, caller))
          .catch((x: unknown) => {
            // Nothing is half-restored: each entry is its own transaction, and a run again skips those present.
            throw x instanceof LockBusy ? refusal('busy', `withdrawal ${id} is being handled by another call; run the restore again`) : x;
          }),
      );
    }
  }
  const restored = out.filter((r) => r.outcome !== 'present');
  if (restored.length)
    ps.log.warn({ by: caller, restored: restored.map((r) => `${r.withdrawal}:${r.outcome}`) }, 'payment journal restore');
  return out;
}

async function restoreOne(ps: Payserv, a: JournalAttempt, id: number, seq: number, caller: string): Promise<Restored> {
  const of = (outcome: Restored['outcome'], detail: string): Restored => ({ hash: a.hash, withdrawal: id, outcome, detail });
  const found = await getWithdrawalWithHistory(ps.db, id);
  if (!found) return of('diverged', `withdrawal ${id} is not in the database`);
  const { withdrawal: w, history } = found;
  const at = history[seq];
  if (at?.status === 'sending' && at.txHash === a.hash) return of('present', 'in the signed history');
  if (history.length !== seq)
    return of('diverged', `its signed history has ${history.length} entries; the journal recorded ${a.hash} as entry ${seq}`);
  const view = await openView(ps.db, ps.trust, ps.local);
  const faults = checkHistory(w, history, view.book);
  if (faults.length) return of('diverged', `its signed history does not verify: ${faults[0]}`);
  if (!canMove(w.status, 'sending')) return of('diverged', `${w.status} cannot become sending`);
  const coin = view.coins.get(w.coinId);
  const driver = coin ? ps.drivers.get(coin.tag) : undefined;
  if (!coin || !driver) return of('diverged', `coin ${w.coinId} has no chain driver here`);
  const d = driver.decode(a.raw);
  invariant(d.hash === a.hash, `journaled bytes of ${a.hash} hash to ${d.hash}`);
  await ps.db.transaction(async (tx) => {
    const [stored] = await tx.query(PAYMENTS.attemptsByHash, [[a.hash]]);
    if (!stored)
      await insertAttempt(
        tx,
        coin.id,
        a.payment,
        a.withdrawals.map(([x]) => x),
        { hash: a.hash, raw: a.raw, maxFee: 0n, nonce: d.nonce },
      );
    // The nonce counter, rolled back with the lost commit (Zcash: nothing; the journal holds the inputs in flight).
    await driver.restored(tx, a.raw);
    await changeStatus(tx, ps.signers.payserv, id, w.status, {
      status: 'sending',
      txHash: a.hash,
      at: ps.now(),
      comment: `restored from the payment journal by ${caller}: ${a.hash} was recorded on the payserv host before its commit; the database had lost it`,
    });
  });
  const adv = await advanceUserCheckpoint(ps.db, view, ps.signers.payserv, w.userId, w.coinId, ps.now(), { id, seq, status: 'sending' });
  if (!adv.ok) return of('diverged', `restored, but the account does not verify: ${adv.problems[0]?.detail ?? ''}`);
  return of('restored', `sending ${a.hash} again; Check lets the chain decide it`);
}
