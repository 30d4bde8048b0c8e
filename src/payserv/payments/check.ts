import type { Attempt, ChainDriver, Verdict } from '../../chains/driver.js';
import { ChainIdentityError, ChainIntegrityError, NodeUnavailable } from '../../chains/driver.js';
import { stopsPayouts } from '../invariant.js';
import { PAYMENTS } from '../../data/ops/payments.js';
import { alertFeeCap, alertIdentity, alertInputMissing, feeCapLifted, inputsFound } from '../chain-alerts.js';
import type { PayoutResult } from '../../api/payserv.js';
import type { Payserv } from '../context.js';
import { checkpointAfter, failStop, isReply, result, verifyHeld, withFreeLocks, type Verified } from '../guard.js';
import { coinSendLock, LockBusy } from '../locks.js';
import { changeStatus } from '../../writer/withdrawals.js';
import { currentPayment } from './attempts.js';
import { journalAttempt, journalWithdrawals, sendingSeqOf } from '../../journal/payments.js';
import { fault } from '../faults.js';
import { invariant, InvariantError } from '../../ledger/invariant.js';
import type { Withdrawal } from '../../ledger/records.js';
import { broadcastStored, recordAttempt } from './pay.js';
import { paymentOf, watchSent } from '../../data/chain-store.js';
import { storedAttempts } from './stored.js';
import { recordSent } from './sent.js';
import { feeShares, SOLE, type FeeShare } from './value.js';
import { tell } from '../events.js';

// Check: the chain's word on a withdrawal in `sending`. Confirmed → sent; provably never paid →
// send_error; otherwise it stays sending, and what the node lost is rebroadcast (the same bytes) or,
// once stale, replaced (higher fees: the same nonce, or the same inputs and outputs). A node that cannot be asked changes nothing.

export async function checkPayment(ps: Payserv, driver: ChainDriver, v: Verified): Promise<PayoutResult> {
  const stored = await storedAttempts(ps, driver, v, currentPayment(v.history));
  if ('problems' in stored) return failStop(ps, 'Check', stored.problems, v.w.id, v.w.status);
  let verdict: Verdict;
  try {
    verdict = await driver.verdict(stored.attempts, { now: ps.now(), confirmations: v.coin.confirmations });
  } catch (e) {
    // A broken invariant or a stored transaction that contradicts itself stops payouts (the caller's guard).
    if (stopsPayouts(e) || e instanceof ChainIntegrityError || !(e instanceof Error)) throw e;
    // Another chain's word is no evidence: nothing changes, as for a node that is down, but an operator hears of it now.
    if (e instanceof ChainIdentityError) await alertIdentity(ps, e, `Check of withdrawal ${v.w.id}`, { withdrawal: v.w.id });
    // Any other answer the node gave instead of evidence (an error, a block it does not serve) decides nothing either.
    const unreachable = e instanceof NodeUnavailable;
    ps.log[unreachable ? 'warn' : 'error'](
      { withdrawal: v.w.id, coin: v.coin.tag, err: e.message },
      `${unreachable ? 'node unreachable' : 'node error'}: outcome unknown, nothing changed`,
    );
    return result(
      'SENDING',
      v.w,
      `${unreachable ? 'node unreachable' : 'the node answered with an error'} (${e.message.slice(0, 300)}): the outcome is unknown, nothing changed`,
    );
  }
  if (verdict.kind === 'pending' && verdict.unfunded?.length)
    await alertInputMissing(ps, {
      withdrawal: v.w.id,
      coin: v.coin.tag,
      funding: [...new Set(verdict.unfunded.map((m) => m.funding))],
      inputs: verdict.unfunded.map((m) => m.input),
      reason: verdict.reason,
    });
  else inputsFound(ps, v.w.id);
  return decide(ps, driver, v, verdict, stored.attempts);
}

async function decide(ps: Payserv, driver: ChainDriver, v: Verified, verdict: Verdict, attempts: Attempt[]): Promise<PayoutResult> {
  switch (verdict.kind) {
    case 'confirmed':
      return recordSent(
        ps,
        v,
        verdict,
        // A transaction no attempt of ours names (a restored backup lost it) pays what our newest attempt pays.
        (await paymentSize(ps, verdict.hash, v.w.id)) ?? (await paymentSize(ps, attempts.at(-1)?.hash ?? '', v.w.id)) ?? SOLE,
        `confirmed in ${verdict.hash} (${verdict.confirmations} confirmations)`,
      );
    case 'mined':
      return result('SENDING', v.w, `mined in ${verdict.hash}: ${verdict.confirmations} of ${verdict.needed} confirmations`);
    case 'failed':
      return failed(ps, driver, v, verdict);
    case 'pending': {
      const payment = attempts[0]?.hash ?? '';
      for (const h of verdict.rebroadcast) {
        const a = attempts.find((x) => x.hash === h);
        const seq = sendingSeqOf(v.history, h);
        invariant(seq !== null, `rebroadcast of ${h}, which withdrawal ${v.w.id}'s signed history does not name`);
        // What the node lost is sent again, journaled first (it may have been stored and never journaled: payserv died between).
        if (a) await broadcastStored(ps, driver, { ...a, payment }, journalWithdrawals([{ ...v.w, statusSeq: seq }]));
      }
      const latest = attempts[attempts.length - 1];
      if (verdict.stale && latest) return replace(ps, driver, v, latest, verdict.reason);
      return result('SENDING', v.w, verdict.reason);
    }
  }
}

/** How many withdrawals the payment `hash` pays and which share of its fee is `id`'s (pay.ts: in the order it names them). */
async function paymentSize(ps: Payserv, hash: string, id: number): Promise<FeeShare | null> {
  const [r] = await ps.db.query(PAYMENTS.paymentSize, [hash, id]);
  if (!r) return null;
  const n = Number(r.n);
  const i = r.i === null ? 0 : Number(r.i);
  // Values from the database: a share outside the payment would record a fee it never paid.
  invariant(
    Number.isSafeInteger(n) && n >= 1 && Number.isSafeInteger(i) && i >= 0 && i < n,
    `payment ${hash}: ${n} withdrawals, share ${i} of ${id}`,
  );
  return { n, i };
}

/** Nothing left the hot wallet (as far as the chain can tell): send_error, and whatever the payment held is given back. */
async function failed(ps: Payserv, driver: ChainDriver, v: Verified, verdict: Extract<Verdict, { kind: 'failed' }>): Promise<PayoutResult> {
  const payment = (await paymentOf(ps.db, v.w.txHash ?? '')) ?? v.w.txHash ?? '';
  const [fee] = feeShares(verdict.fee, 1, v.coin.decimals);
  const comment = `payment failed: ${verdict.proof}; nothing was paid, manual processing required`;
  const changed = await ps.db.transaction(async (tx) => {
    await driver.release(tx, payment, verdict.proof);
    const c = await changeStatus(tx, ps.signers.payserv, v.w.id, v.w.status, {
      status: 'send_error',
      txHash: verdict.hash ?? v.w.txHash,
      ...(fee === undefined ? {} : { txFee: fee }),
      comment,
      at: ps.now(),
    });
    // The transaction the proof rests on is watched to finality, as a sent payment is: a reorg that undoes it is alerted.
    const e = verdict.evidence;
    if (e) await watchSent(tx, { coinId: v.coin.id, withdrawalId: v.w.id, hash: e.hash, block: e.block, at: ps.now(), expect: e.expect });
    return c;
  });
  // The host records the proof too: the attempts' inputs may be spent again, and the journal knows why.
  for (const h of currentPayment(v.history)) await ps.journal.recordFailed(v.coin.tag, h, verdict.proof, ps.now());
  ps.log.warn({ withdrawal: v.w.id, coin: v.coin.tag, tx: verdict.hash, proof: verdict.proof }, 'payment failed on chain: send_error');
  tell(ps, (e) => e.failed(v.coin.tag, fee ?? null));
  return (await checkpointAfter(ps, v, changed)) ?? result('SEND_ERROR', changed, comment);
}

/**
 * A stale attempt replaced (same nonce, or same inputs and outputs), higher fees. A batch's replacement is
 * recorded for every withdrawal it pays, or for none: one left out would take the mined replacement for a
 * conflict that failed it, and be paid again. Who the batch pays is the journal's word, not the database's.
 */
async function replace(ps: Payserv, driver: ChainDriver, v: Verified, latest: Attempt, why: string): Promise<PayoutResult> {
  const ids = ps.journal.get(latest.hash)?.attempt.withdrawals.map(([id]) => id) ?? [];
  if (!ids.includes(v.w.id))
    return result('SENDING', v.w, `${why}; not replaced: the payment journal does not name withdrawal ${v.w.id} in ${latest.hash}`);
  const others = ids.filter((id) => id !== v.w.id);
  return withFreeLocks(ps, others, `replace ${latest.hash}`, async (held) => {
    if (held.length < others.length)
      return result('SENDING', v.w, `${why}; another withdrawal of the batch is being handled, replacement deferred`);
    const all: Verified[] = [];
    for (const id of ids) {
      const o = id === v.w.id ? v : await verifyHeld(ps, 'Check', id, ['sending']);
      if (isReply(o)) return result('SENDING', v.w, `${why}; not replaced: withdrawal ${id} of the batch: ${o.message ?? o.reply}`);
      if (currentPayment(o.history).at(-1) !== latest.hash)
        return result('SENDING', v.w, `${why}; not replaced: withdrawal ${id} of the batch is not waiting on ${latest.hash}`);
      all.push(o);
    }
    return replaceAll(ps, driver, v, all, latest, why);
  });
}

/** The replacement stored, each withdrawal's `sending` entry naming it and the journal record, in one database transaction; then broadcast. */
async function replaceAll(
  ps: Payserv,
  driver: ChainDriver,
  v: Verified,
  all: Verified[],
  latest: Attempt,
  why: string,
): Promise<PayoutResult> {
  let written;
  let journaled: string | null = null;
  try {
    written = await ps.locks.with(coinSendLock(driver.tag), `replace ${latest.hash}`, () =>
      ps.db.transaction(async (tx) => {
        const s = await driver.replace(tx, latest);
        if (!s || s.kind !== 'signed') return s;
        const payment = (await paymentOf(tx, latest.hash)) ?? latest.hash;
        const others = all.length > 1 ? `, with ${all.length - 1} other payments` : '';
        const changed = await recordAttempt(
          ps,
          tx,
          v.coin,
          payment,
          all,
          s.tx,
          () => `replaced ${latest.hash} by ${s.tx.hash} (higher fees)${others}`,
        );
        // Journaled once, for every withdrawal, before the commit: as every payment (src/payserv/payments/pay.ts).
        await journalAttempt(ps.journal, driver, { ...s.tx, payment }, journalWithdrawals(changed), ps.now());
        journaled = s.tx.hash;
        return { s: s.tx, changed, payment };
      }),
    );
  } catch (e) {
    if (journaled)
      throw new InvariantError(
        `the commit of replacement ${journaled} failed after the payment journal recorded it (${(e as Error).message}): run \`pscli journal restore\`, then Check`,
        { cause: e },
      );
    if (e instanceof LockBusy)
      return result('SENDING', v.w, `${why}; coin ${driver.tag} is being paid by another call, replacement deferred`);
    if (e instanceof ChainIdentityError) await alertIdentity(ps, e, `the replacement of ${latest.hash}`, { withdrawal: v.w.id });
    if (e instanceof NodeUnavailable) return result('SENDING', v.w, `${why}; node unreachable, replacement deferred`);
    throw e;
  }
  if (!written) return result('SENDING', v.w, why);
  if (!('s' in written)) {
    if (written.kind === 'wait' && written.atCap)
      await alertFeeCap(ps, { withdrawal: v.w.id, coin: v.coin.tag, tx: latest.hash, reason: written.reason });
    return result('SENDING', v.w, `${why}; not replaced: ${written.reason}`);
  }
  const { s, changed, payment } = written;
  feeCapLifted(ps, v.w.id);
  ps.log.info(
    { withdrawals: changed.map((c) => c.id), coin: v.coin.tag, replaced: latest.hash, tx: s.hash, nonce: s.nonce?.toString() },
    'payment replaced (fee bump): sending',
  );
  await driver.committed(s).catch((e: Error) => ps.log.error({ tx: s.hash, err: e.message }, 'after-commit bookkeeping failed'));
  await fault(ps.faults, 'payment.committed', { withdrawals: changed.map((c) => c.id), hash: s.hash });
  const note = await broadcastStored(ps, driver, { ...s, payment }, journalWithdrawals(changed));
  await fault(ps.faults, 'payment.broadcast', { withdrawals: changed.map((c) => c.id), hash: s.hash });
  let mine: PayoutResult | null = null;
  for (const [i, o] of all.entries()) {
    const c = changed[i] as Withdrawal;
    const stopped = await checkpointAfter(ps, o, c);
    if (o === v) mine = stopped ?? result('SENDING', c, note ?? `replaced ${latest.hash} by ${s.hash}`);
    else if (stopped) return { ...stopped, id: v.w.id, status: v.w.status };
  }
  invariant(mine !== null, `withdrawal ${v.w.id} is not among the withdrawals its replacement pays`);
  return mine;
}
