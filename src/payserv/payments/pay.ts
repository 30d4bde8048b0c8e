import type { ChainDriver, PayOutput, SignedTx } from '../../chains/driver.js';
import { ChainIdentityError, ChainIntegrityError, NodeUnavailable } from '../../chains/driver.js';
import { alertIdentity, alertWalletFlood } from '../chain-alerts.js';
import { NodeRpcBadReply, NodeRpcError } from '../../chains/node-http.js';
import { problem } from '../../ledger/problem.js';
import { invariant, InvariantError } from '../../ledger/invariant.js';
import { stopsPayouts } from '../invariant.js';
import { formatAmount, type Amount } from '../../money/amount.js';
import type { PayoutResult } from '../../api/payserv.js';
import type { Payserv } from '../context.js';
import { checkpointsAfter, failStop, refused, result, type Verified } from '../guard.js';
import { coinSendLock, LockBusy } from '../locks.js';
import { move } from '../moves.js';
import { fault } from '../faults.js';
import { changeStatus } from '../../writer/withdrawals.js';
import type { Coin, Withdrawal } from '../../ledger/records.js';
import type { DataTx } from '../../data/data.js';
import { paymentsOf } from './attempts.js';
import { journalAttempt, journalWithdrawals, maybeCompact, type JournalWithdrawals } from '../../journal/payments.js';
import { insertAttempt, noteBroadcast } from '../../data/chain-store.js';
import { recordSent } from './sent.js';
import { storedAttempts } from './stored.js';
import { feeShares, payValue, SOLE } from './value.js';
import { tell } from '../events.js';

// Paying verified withdrawals on-chain, under the write-ahead rule: the transaction is signed, stored
// and its withdrawals moved to `sending` (naming its hash) in one database transaction; only after
// that commits is it broadcast. Whatever the node then answers, the payment stays `sending` until
// the chain decides it (src/payserv/payments/check.ts): a lost reply or a refusal never pays again.

/** Pays each withdrawal (all of one coin, all verified and locked by the caller), as few transactions as the driver allows. */
export async function payWithdrawals(
  ps: Payserv,
  driver: ChainDriver,
  items: readonly Verified[],
  caller: string,
): Promise<PayoutResult[]> {
  const results = new Map<number, PayoutResult>();
  const payable: Verified[] = [];
  const conflicts = new Map<number, Conflicts>();
  for (const v of items) {
    const earlier = await earlierPayments(ps, driver, v);
    if ('reply' in earlier) results.set(v.w.id, earlier);
    else {
      payable.push(v);
      if (earlier.conflicts.length) conflicts.set(v.w.id, earlier.conflicts);
    }
  }
  if (payable.length) {
    const health = await driver.health().catch(async (e: Error) => {
      if (e instanceof ChainIdentityError)
        await alertIdentity(ps, e, `the health check before paying ${payable.map((v) => v.w.id).join(', ')}`);
      return { ok: false, reason: e.message };
    });
    if (!health.ok) {
      for (const v of payable) results.set(v.w.id, await retryLater(ps, v, `node not ready: ${health.reason ?? 'unknown'}`));
    } else {
      // A withdrawal paid anew after failed payments goes alone: a refusal for its conflicts refuses nothing else.
      const fresh = payable.filter((v) => !conflicts.has(v.w.id));
      const chunks = [...payable.filter((v) => conflicts.has(v.w.id)).map((v) => [v])];
      for (let i = 0; i < fresh.length; i += driver.maxOutputs) chunks.push(fresh.slice(i, i + driver.maxOutputs));
      for (const chunk of chunks) for (const r of await payChunk(ps, driver, chunk, caller, conflicts)) results.set(r.id, r);
    }
  }
  // What the payment's read of the hot wallet left out or could not read (a flood of small outputs): alerted.
  if (payable.length) await alertWalletFlood(ps, driver);
  return items.map((v) => results.get(v.w.id) ?? refused(v.w.id, v.w.status, 'not_paid', 'not paid'));
}

/** The payment waits (send_retry): fees above the cap, the hot wallet short, the node not ready. */
async function retryLater(ps: Payserv, v: Verified, why: string): Promise<PayoutResult> {
  ps.log.warn({ withdrawal: v.w.id, coin: v.coin.tag, reason: why }, 'payment waits');
  if (v.w.status === 'send_retry' && v.w.comment === why) return result('SEND_RETRY', v.w, why);
  return move(ps, v, 'send_retry', 'SEND_RETRY', { comment: why });
}

/** The payment cannot succeed as asked; nothing was broadcast, so nothing left the hot wallet. */
async function notSent(ps: Payserv, v: Verified, why: string): Promise<PayoutResult> {
  ps.log.warn({ withdrawal: v.w.id, coin: v.coin.tag, reason: why }, 'payment refused before sending: send_error');
  if (v.w.status === 'send_error') return result('SEND_ERROR', v.w, `not sent: ${why}`);
  return move(ps, v, 'send_error', 'SEND_ERROR', { comment: `not sent: ${why}; nothing was paid, manual processing required` });
}

/**
 * A withdrawal that was sent before (send_error: the chain said that payment failed) is paid anew only
 * if the chain still says so of every earlier attempt. One that was mined after all is recorded sent.
 */
async function earlierPayments(ps: Payserv, driver: ChainDriver, v: Verified): Promise<PayoutResult | { conflicts: Conflicts }> {
  // Per failed payment, the inputs it spent (UTXO chains): the new payment spends one of each, so that it and none of them can both be mined.
  const conflicts: Array<ReadonlyArray<{ txid: string; vout: number }>> = [];
  for (const hashes of paymentsOf(v.history)) {
    const stored = await storedAttempts(ps, driver, v, hashes);
    if ('problems' in stored) return failStop(ps, 'pay', stored.problems, v.w.id, v.w.status);
    let verdict;
    try {
      verdict = await driver.verdict(stored.attempts, { now: ps.now(), confirmations: v.coin.confirmations });
    } catch (e) {
      if (e instanceof ChainIdentityError)
        await alertIdentity(ps, e, `the earlier payments of withdrawal ${v.w.id}`, { withdrawal: v.w.id });
      return refused(
        v.w.id,
        v.w.status,
        'node_unavailable',
        `cannot ask the chain about earlier transaction ${hashes[0]}: ${(e as Error).message}`,
      );
    }
    if (verdict.kind === 'confirmed') {
      ps.log.warn(
        { withdrawal: v.w.id, tx: verdict.hash },
        'an earlier transaction of this withdrawal was mined after all: recorded sent, not paid again',
      );
      return recordSent(ps, v, verdict, SOLE, `paid by ${verdict.hash} (mined after it was judged failed)`);
    }
    if (verdict.kind !== 'failed')
      return refused(
        v.w.id,
        v.w.status,
        'unresolved_payment',
        `earlier transaction ${verdict.kind === 'mined' ? verdict.hash : hashes[0]} is not proved failed (${verdict.kind}): not paying again`,
      );
    const spent = stored.attempts.flatMap((a) => driver.decode(a.raw).inputs);
    if (spent.length) conflicts.push(spent);
  }
  return { conflicts };
}

/** Per earlier failed payment of a withdrawal, the inputs it spent (see PayOutput.conflicts). */
type Conflicts = PayOutput['conflicts'] & {};

interface Waiting {
  v: Verified;
  why: string;
  /** Refused outright (nothing was sent) rather than waiting. */
  refused?: boolean;
}

/** Nothing signed: why each waits, and what the next transaction pays. */
interface Unsigned {
  waiting: Waiting[];
  rest: Verified[];
}

interface Written {
  signed: SignedTx;
  paid: Verified[];
  /** The withdrawals as the write-ahead left them (`sending`, at their new status seq). */
  changed: Withdrawal[];
  waiting: Waiting[];
  /** Too many outputs for one transaction: these are paid by the next one. */
  rest: Verified[];
}

async function payChunk(
  ps: Payserv,
  driver: ChainDriver,
  chunk: Verified[],
  caller: string,
  conflicts: ReadonlyMap<number, Conflicts>,
): Promise<PayoutResult[]> {
  let written: Written | Unsigned;
  try {
    written = await ps.locks.with(coinSendLock(driver.tag), `pay by ${caller}`, async (): Promise<Written | Unsigned> => {
      const w = await writeAhead(ps, driver, chunk, conflicts);
      if ('signed' in w) await fault(ps.faults, 'payment.committed', { withdrawals: w.paid.map((v) => v.w.id), hash: w.signed.hash });
      return w;
    });
  } catch (e) {
    if (e instanceof LockBusy)
      return chunk.map((v) => refused(v.w.id, v.w.status, 'busy', `coin ${driver.tag} is being paid by another call; try again`));
    if (e instanceof ChainIdentityError) await alertIdentity(ps, e, `the payment of ${chunk.map((v) => v.w.id).join(', ')}`);
    if (e instanceof NodeUnavailable) return Promise.all(chunk.map((v) => retryLater(ps, v, `node unreachable: ${e.message}`)));
    // An answer that is no answer (an error, a reply off its schema: a fee estimate a node made up) is as inconclusive
    // as none; nothing was signed or written: the payment waits, and the operator reads why.
    if (e instanceof NodeRpcBadReply || e instanceof NodeRpcError) {
      const why = `the node answered ${e.method} with ${e instanceof NodeRpcBadReply ? 'a bad reply' : 'an error'}: ${e.message.slice(0, 300)}`;
      ps.log.error({ coin: driver.tag, withdrawals: chunk.map((v) => v.w.id), err: e.message }, 'node error before signing: payments wait');
      return Promise.all(chunk.map((v) => retryLater(ps, v, why)));
    }
    if (e instanceof ChainIntegrityError || stopsPayouts(e)) {
      // Tampering with a nonce or a reservation, a broken invariant, a journal that cannot record: nothing was broadcast.
      const first = chunk[0] as Verified;
      const found =
        e instanceof ChainIntegrityError
          ? problem(e.table, first.w.id, 'chain_integrity', e.message)
          : problem('payserv', first.w.id, 'invariant', `${e.name}: ${e.message}`);
      const stopped = await failStop(ps, 'pay', [found], first.w.id, first.w.status);
      return chunk.map((v) => ({ ...stopped, id: v.w.id, status: v.w.status }));
    }
    throw e;
  }
  const out: PayoutResult[] = [];
  for (const { v, why, refused: no } of written.waiting) out.push(no ? await notSent(ps, v, why) : await retryLater(ps, v, why));
  if (!('signed' in written)) return written.rest.length ? [...out, ...(await payChunk(ps, driver, written.rest, caller, conflicts))] : out;
  const { signed, paid, changed } = written;
  for (const v of paid) {
    ps.log.info(
      {
        withdrawal: v.w.id,
        coin: v.coin.tag,
        tx: signed.hash,
        nonce: signed.nonce?.toString(),
        outputs: paid.length,
        maxFee: signed.maxFee.toString(),
      },
      'payment signed, stored and journaled: sending',
    );
  }
  const note = await broadcastStored(ps, driver, { ...signed, payment: signed.hash }, journalWithdrawals(changed));
  await fault(ps.faults, 'payment.broadcast', { withdrawals: paid.map((v) => v.w.id), hash: signed.hash });
  const checked = await checkpointsAfter(ps, (paid[0] as Verified).view, changed);
  for (const [i, after] of changed.entries()) out.push(checked[i] ?? result('SENDING', after, note));
  await maybeCompact(ps.journal, ps.local, ps.log).catch((e: Error) =>
    ps.log.error({ component: 'journal', err: e.message }, 'payment journal compaction failed'),
  );
  if (written.rest.length) out.push(...(await payChunk(ps, driver, written.rest, caller, conflicts)));
  return out;
}

/** Signs and stores one transaction and moves its withdrawals to `sending`, in one database transaction. */
async function writeAhead(
  ps: Payserv,
  driver: ChainDriver,
  chunk: Verified[],
  conflicts: ReadonlyMap<number, Conflicts>,
): Promise<Written | Unsigned> {
  let batch = chunk;
  const waiting: Waiting[] = [];
  let rest: Verified[] = [];
  for (;;) {
    const outputs: PayOutput[] = batch.map((v) => ({
      withdrawalId: v.w.id,
      address: v.w.address,
      value: payValue(v.coin, v.w),
      conflicts: conflicts.get(v.w.id) ?? [],
    }));
    let journaled: string | null = null;
    const step = await ps.db
      .transaction(async (tx) => {
        const coin = batch[0]?.coin;
        invariant(coin !== undefined, 'a payment of no withdrawal');
        const s = await driver.sign(tx, outputs, { confirmations: coin.confirmations });
        if (s.kind !== 'signed') return s;
        const n = batch.length;
        const changed = await recordAttempt(ps, tx, coin, s.tx.hash, batch, s.tx, (share) => {
          const others = n > 1 ? ` with ${n - 1} other payments` : '';
          return `sent in ${s.tx.hash}${others}; fee at most ${formatAmount(share)} ${coin.tag}`;
        });
        // The host records the transaction before the commit makes its bytes visible to anyone who reads the
        // database: whoever could broadcast them, the host knows they exist and whom they pay.
        await journalAttempt(ps.journal, driver, { ...s.tx, payment: s.tx.hash }, journalWithdrawals(changed), ps.now());
        journaled = s.tx.hash;
        await fault(ps.faults, 'payment.journaled', { withdrawals: changed.map((c) => c.id), hash: s.tx.hash });
        return { ...s, changed };
      })
      .catch((e: unknown) => {
        // The host holds a transaction the database may or may not have committed: nothing decides that but an operator.
        if (!journaled) throw e;
        throw new InvariantError(
          `the commit of ${journaled} failed after the payment journal recorded it (${(e as Error).message}): run \`pscli journal restore\`, then Check`,
          { cause: e },
        );
      });
    if (step.kind === 'signed') {
      await driver
        .committed(step.tx)
        .catch((e: Error) => ps.log.error({ coin: driver.tag, tx: step.tx.hash, err: e.message }, 'after-commit bookkeeping failed'));
      return { signed: step.tx, paid: batch, changed: step.changed, waiting, rest };
    }
    if (step.kind === 'short' && batch.length > 1) {
      // Split: pay the longest prefix the hot wallet covers (the fee estimate of the whole batch bounds a smaller one's).
      const feeRoom = step.needed - outputs.reduce((a, o) => a + o.value, 0n);
      let room = step.spendable - feeRoom;
      let n = 0;
      for (const o of outputs) {
        if (o.value > room) break;
        room -= o.value;
        n++;
      }
      n = Math.min(n, batch.length - 1);
      for (const v of batch.slice(n)) waiting.push({ v, why: step.reason });
      if (n === 0) return { waiting, rest };
      batch = batch.slice(0, n);
      continue;
    }
    if (step.kind === 'wait' && step.fits !== undefined && step.fits > 0 && step.fits < batch.length) {
      // Over the chain's weight: the first `fits` in this transaction, the rest in the next (each its own write-ahead).
      ps.log.info({ coin: driver.tag, outputs: batch.length, fits: step.fits, reason: step.reason }, 'batch split by weight');
      rest = [...batch.slice(step.fits), ...rest];
      batch = batch.slice(0, step.fits);
      continue;
    }
    const only = step.kind === 'refused' && step.withdrawals ? new Set(step.withdrawals) : null;
    if (only && batch.some((v) => !only.has(v.w.id))) {
      // Only these outputs are at fault (dust): they are kept out, the others paid.
      for (const v of batch.filter((x) => only.has(x.w.id))) waiting.push({ v, why: step.reason, refused: true });
      batch = batch.filter((x) => !only.has(x.w.id));
      continue;
    }
    for (const v of batch) waiting.push({ v, why: step.reason, refused: step.kind === 'refused' });
    return { waiting, rest };
  }
}

/**
 * Inside the write-ahead transaction: the signed attempt stored naming its withdrawals (`payment`: the first
 * attempt's hash), and each moved to `sending` on it with its share of the fee. Returns them as changed.
 */
export async function recordAttempt(
  ps: Payserv,
  tx: DataTx,
  coin: Pick<Coin, 'id' | 'decimals'>,
  payment: string,
  paid: readonly Verified[],
  signed: SignedTx,
  comment: (share: Amount) => string,
): Promise<Withdrawal[]> {
  await insertAttempt(
    tx,
    coin.id,
    payment,
    paid.map((v) => v.w.id),
    signed,
  );
  const shares = feeShares(signed.maxFee, paid.length, coin.decimals);
  const changed: Withdrawal[] = [];
  for (const [i, v] of paid.entries()) {
    const share = shares[i];
    invariant(share !== undefined, `no fee share for withdrawal ${v.w.id}`);
    changed.push(
      await changeStatus(tx, ps.signers.payserv, v.w.id, v.w.status, {
        status: 'sending',
        txHash: signed.hash,
        txFee: share,
        at: ps.now(),
        comment: comment(share),
      }),
    );
  }
  return changed;
}

/**
 * Broadcasts stored bytes, journaled first (a journal that cannot take them stops it: JournalError);
 * whatever the node answers, the chain decides the outcome. Returns a note for the reply.
 */
export async function broadcastStored(
  ps: Payserv,
  driver: ChainDriver,
  signed: Pick<SignedTx, 'hash' | 'raw'> & { payment: string },
  withdrawals: JournalWithdrawals,
): Promise<string | undefined> {
  await journalAttempt(ps.journal, driver, signed, withdrawals, ps.now());
  let note: string | undefined;
  try {
    const b = await driver.broadcast(signed.raw);
    if (!b.ok) note = `the node refused the broadcast (${b.reason}); the chain decides the outcome: call Check`;
    ps.log.info({ coin: driver.tag, tx: signed.hash, ok: b.ok, ...(b.ok ? { known: b.known } : { reason: b.reason }) }, 'broadcast');
    tell(ps, (e) => e.broadcast(driver.tag, b.ok ? 'accepted' : 'refused'));
    await noteBroadcast(ps.db, signed.hash, b.ok ? null : b.reason);
  } catch (e) {
    if (e instanceof ChainIntegrityError || stopsPayouts(e)) {
      // The node's answer contradicts the stored bytes (a txid that is not ours): nothing it says can be
      // trusted. The payment stays `sending` (it may have been relayed) and payouts stop for an operator.
      const reason = `broadcast of ${signed.hash}: ${e.name}: ${e.message}`;
      ps.log.error({ coin: driver.tag, tx: signed.hash, err: e.message }, 'broadcast contradicts the stored transaction: payouts stop');
      tell(ps, (m) => m.broadcast(driver.tag, 'contradicted'));
      await noteBroadcast(ps.db, signed.hash, e.message).catch(() => undefined);
      await ps.state.failStop(reason, { coin: driver.tag, tx: signed.hash });
      return `payouts stopped: ${reason}; the payment stays sending, the chain decides its outcome`;
    }
    note = `broadcast outcome unknown (${(e as Error).message}); the chain decides: call Check`;
    ps.log.warn({ coin: driver.tag, tx: signed.hash, err: (e as Error).message }, 'broadcast outcome unknown');
    tell(ps, (m) => m.broadcast(driver.tag, 'unknown'));
    await noteBroadcast(ps.db, signed.hash, (e as Error).message).catch(() => undefined);
  }
  return note;
}
