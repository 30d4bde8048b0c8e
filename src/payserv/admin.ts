import { advanceCoinCheckpoint, advanceUserCheckpoint, type Advance } from '../verify/advance.js';
import { runCheck, type CheckArgs, type CheckName } from '../checks/run.js';
import { LEDGER } from '../data/ops/ledger.js';
import { checkHistory } from '../ledger/history.js';
import { formatProblem, type Problem } from '../ledger/problem.js';
import type { Signed, Wallet } from '../ledger/records.js';
import { add, AmountError, formatAmount, parseAmount, type Amount } from '../money/amount.js';
import { RPC } from '../api/jsonrpc.js';
import { getWithdrawal, getWithdrawalWithHistory, loadCoins, streamWallets } from '../store/reads.js';
import { verifyAccount } from '../verify/account.js';
import { openView } from '../verify/view.js';
import { rememberedWallets } from '../verify/wallets.js';
import { signCoin } from '../writer/coins.js';
import { applyCorrection } from '../writer/corrections.js';
import { signWallet, WalletRefused, type WalletRefusal } from '../writer/wallets.js';
import { refusal, UNAVAILABLE, type RefusalCode } from '../api/payserv.js';
import { payoutsOff } from './guard.js';
import type { Payserv } from './context.js';
import { coinLocks } from './lock-watch.js';
import { LockBusy, withdrawalLock } from './locks.js';

// Utility, check, catalog and correction calls (pscli's): everything but the payout state machine.

export const VERSION = { name: 'payserv', version: '0.1.0', protocol: 1 } as const;

/** How long Utils.Status waits for one small read before it calls the data path unreachable. */
const DATA_PROBE_MS = 5_000;

/** Whether payserv can read its data (the database, or dbgw in front of it) right now: one small read, bounded. */
async function dataReachable(ps: Payserv): Promise<{ where: string; reachable: boolean; error: string | null }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${DATA_PROBE_MS} ms`)), DATA_PROBE_MS)),
  );
  try {
    await Promise.race([ps.db.query(LEDGER.coins, [1]), timeout]);
    return { where: ps.db.where, reachable: true, error: null };
  } catch (e) {
    return { where: ps.db.where, reachable: false, error: (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}

export async function status(ps: Payserv) {
  const s = ps.state.status();
  return {
    enabled: s.enabled,
    reason: s.reason,
    since: s.since.toISOString(),
    fail_stops: s.failStops,
    version: VERSION.version,
    journal: { path: ps.journal.path, attempts: ps.journal.size, writer: ps.journal.writing },
    data: await dataReachable(ps),
    last_backup: ps.lastBackup ?? null,
    ...(ps.rebaseline ? { rebaseline: ps.rebaseline.status() } : {}),
  };
}

/**
 * Utils.Enable: payouts go on only while payserv can read its data, else the enable would have no audit row
 * (its record fails) and the first payout would fail anyway. Disable checks nothing: stopping never needs the data.
 */
export async function enablePayouts(ps: Payserv, caller: string) {
  const data = await dataReachable(ps);
  if (!data.reachable)
    throw refusal(
      'database_unavailable',
      `the database (${data.where}) is unreachable (${data.error}): payouts stay disabled`,
      UNAVAILABLE,
    );
  // Lost local state: enabling would pay against a database nobody vouched for (README "Lost local state").
  const lost = ps.rebaseline?.required;
  if (lost) throw refusal('rebaseline_required', lost);
  ps.state.enable(caller);
  return status(ps);
}

/**
 * This process's locks, how many advisory locks other sessions hold, and the locks an operator must look
 * at (`reported`: held by another session, or for longer than [locks] held_max_ms), each alerted once.
 */
export async function listLocks(ps: Payserv) {
  const report = await ps.lockWatch.report(coinLocks(ps));
  return {
    held: ps.locks.list().map((l) => ({ name: l.name, holder: l.holder, since: l.since.toISOString() })),
    held_elsewhere: await ps.locks.heldElsewhere(),
    ...report,
  };
}

/** Whether a call holds the withdrawal now. An id no withdrawal has is refused: "not being processed" would read as an answer about it. */
export async function isProcessing(ps: Payserv, id: number) {
  if (!(await getWithdrawal(ps.db, id))) throw refusal('unknown_id', `unknown withdrawal id ${id}`);
  return { id, processing: await ps.locks.isHeld(withdrawalLock(id)) };
}

/** A withdrawal with its signed history, each entry verified: what pscli transinfo shows. */
export async function transInfo(ps: Payserv, id: number) {
  const found = await getWithdrawalWithHistory(ps.db, id);
  if (!found) throw refusal('unknown_id', `unknown withdrawal id ${id}`);
  const { withdrawal: w, history } = found;
  const view = await openView(ps.db, ps.trust, ps.local);
  return {
    id: w.id,
    user: w.userId,
    coin: view.coins.get(w.coinId)?.tag ?? String(w.coinId),
    wallet: w.walletId,
    address: w.address,
    amount: formatAmount(w.amount),
    fee: formatAmount(w.fee),
    debit_before: formatAmount(w.debitBefore),
    parent_id: w.parentId,
    status: w.status,
    tx_hash: w.txHash,
    tx_fee: w.txFee === null ? null : formatAmount(w.txFee),
    comment: w.comment,
    created_at: w.createdAt.toISOString(),
    history: history.map((e) => ({
      seq: e.seq,
      status: e.status,
      at: e.createdAt.toISOString(),
      tx_hash: e.txHash,
      comment: e.comment,
      key_id: e.sigKeyId,
    })),
    problems: checkHistory(w, history, view.book),
  };
}

/** A check run for an operator. Problems found while payouts are enabled are an integrity failure like any other. */
export async function check(ps: Payserv, name: CheckName, args: CheckArgs) {
  const view = await openView(ps.db, ps.trust, ps.local);
  const problems: Problem[] = [];
  const summary = await runCheck(view, name, args, (p) => problems.push(p));
  if (problems.length && ps.state.enabled)
    await ps.state.failStop(`check ${name}: ${formatProblem(problems[0] as Problem)}`, {
      problems: problems.slice(0, 50).map(formatProblem),
    });
  return { check: name, clean: problems.length === 0, problems: problems.map(formatProblem), counts: summary.counts };
}

export async function coinIdByTag(ps: Payserv, tag: string): Promise<number> {
  const coin = (await loadCoins(ps.db)).find((c) => c.tag === tag.toUpperCase() || String(c.id) === tag);
  if (!coin) throw refusal('unknown_coin', `unknown coin ${tag}`);
  return coin.id;
}

function admin(ps: Payserv) {
  if (!ps.signers.admin)
    throw refusal('no_admin_key', 'this payserv holds no admin key: coins and wallets are signed where the admin key is');
  return ps.signers.admin;
}

/** Signs a coin exactly as it is now, after an operator reviewed it (pscli shows it first). */
export async function signCoinById(ps: Payserv, id: number) {
  const coin = (await loadCoins(ps.db)).find((c) => c.id === id);
  if (!coin) throw refusal('unknown_coin', `unknown coin id ${id}`);
  const signed = await signCoin(ps.db, admin(ps), coin);
  ps.log.warn({ coin: signed.tag, id }, 'coin signed after review');
  return { id, tag: signed.tag, signed: true };
}

/**
 * This host's memory of retired wallets, which the database cannot roll back: a wallet it saw retired
 * and now finds active is tampering, and signing it would launder the tampering into a review.
 */
async function refuseRevived(ps: Payserv, w: Signed<Wallet>): Promise<string | null> {
  const memory = await rememberedWallets(ps.local, w.userId, w.coinId);
  if (!memory.retiredIds.includes(w.id)) return null;
  const why = `wallet ${w.id} was retired under the pool's signature (payserv saw it) and is active again: tampering; a deletion is one-way`;
  if (ps.state.enabled)
    await ps.state.failStop(`Wallets.Sign: users_userwallets id=${w.id}: ${why}`, { wallet: w.id, user: w.userId, coin: w.coinId });
  return why;
}

const WALLET_REFUSALS: Record<WalletRefusal, RefusalCode> = {
  unknown_wallet: 'unknown_wallet',
  changed: 'wallet_changed',
  retired: 'wallet_deleted',
  unverified: 'integrity',
};

export async function signWalletById(ps: Payserv, id: number) {
  // The book: a wallet reviewed under another admin key under the pinned root verifies too.
  const { book } = await openView(ps.db, ps.trust, ps.local);
  const w = await signWallet(ps.db, admin(ps), id, ps.now(), (x) => refuseRevived(ps, x), book).catch(async (e: Error) => {
    if (!(e instanceof WalletRefused)) throw e;
    // A signed wallet that no longer verifies is tampering, as Process would find it: payouts stop.
    if (e.code === 'unverified' && ps.state.enabled)
      await ps.state.failStop(`Wallets.Sign: users_userwallets id=${id}: ${e.message}`, { wallet: id });
    throw refusal(WALLET_REFUSALS[e.code], e.message);
  });
  ps.log.warn({ wallet: id, user: w.userId, coin: w.coinId, address: w.address }, 'wallet signed after review');
  return { id, user: w.userId, address: w.address, signed: true };
}

/** SIGN_ALL_MAX bounds one call; the operator runs it again for the rest. */
const SIGN_ALL_MAX = 10_000;

export async function signAllWallets(ps: Payserv) {
  const ids: number[] = [];
  for await (const w of streamWallets(ps.db)) {
    if (!w.deleted && !w.signature && !w.sigKeyId) ids.push(w.id);
    if (ids.length >= SIGN_ALL_MAX) break;
  }
  for (const id of ids) await signWalletById(ps, id);
  return { signed: ids.length, more: ids.length >= SIGN_ALL_MAX };
}

/** An amount of a correction's parameters; one that is no amount (too many decimal places, out of range) is refused naming it. */
function correctionAmount(text: string, what: string): Amount {
  try {
    return parseAmount(text, what);
  } catch (e) {
    throw e instanceof AmountError ? refusal('invalid_correction', e.message, RPC.INVALID_PARAMS) : e;
  }
}

/** A corrective credit with its pool-income counterpart, signed by payserv, under the coin's correction lock. */
export async function applyCorrectionCall(
  ps: Payserv,
  p: { user: number; coin: string; amount: string; pool?: string | undefined; comment?: string | undefined },
  caller: string,
) {
  if (!ps.state.enabled) {
    const off = payoutsOff(ps);
    throw refusal(off.code, off.message);
  }
  const amount = correctionAmount(p.amount, 'amount');
  const poolAmount = p.pool === undefined ? undefined : correctionAmount(p.pool, 'pool');
  if (amount === 0n) throw refusal('invalid_correction', 'a correction of zero changes nothing');
  const coinId = await coinIdByTag(ps, p.coin);
  try {
    return await ps.locks.with(`correction:${coinId}`, `Corrections.Apply by ${caller}`, async () => {
      const view = await openView(ps.db, ps.trust, ps.local);
      const before = await verifyAccount(view, p.user, coinId, 'incremental');
      if (before.problems.length) {
        await ps.state.failStop(`Corrections.Apply: ${formatProblem(before.problems[0] as Problem)}`, {
          problems: before.problems.map(formatProblem),
        });
        throw refusal('integrity', `integrity failure; payouts disabled: ${formatProblem(before.problems[0] as Problem)}`);
      }
      if (add(before.creditTotal, amount) < before.debitTotal) {
        throw refusal(
          'balance_short',
          `the correction would take user ${p.user}'s credits below their debits (${formatAmount(before.debitTotal)})`,
        );
      }
      const coin = view.coins.get(coinId);
      const pool = poolAmount === undefined || !coin ? undefined : { amount: poolAmount, feeUserId: coin.feeUserId };
      const r = await applyCorrection(ps.db, ps.signers.payserv, {
        userId: p.user,
        coinId,
        amount,
        ...(pool ? { pool } : {}),
        at: ps.now(),
      }).catch((e: Error) => {
        throw refusal('invalid_correction', e.message);
      });
      const touched = [p.user, ...(pool && pool.amount !== amount ? [pool.feeUserId] : [])];
      const advanced: Array<Advance<unknown>> = [await advanceCoinCheckpoint(ps.db, view, ps.signers.payserv, coinId)];
      for (const u of touched) advanced.push(await advanceUserCheckpoint(ps.db, view, ps.signers.payserv, u, coinId));
      for (const adv of advanced) {
        if (!adv.ok) await ps.state.failStop(`Corrections.Apply checkpoint: ${formatProblem(adv.problems[0] as Problem)}`, {});
      }
      ps.log.warn(
        { user: p.user, coin: coinId, amount: p.amount, income: r.income.id, credit: r.credits[0]?.id, comment: p.comment, by: caller },
        'correction applied',
      );
      return { income_id: r.income.id, credit_id: r.credits[0]?.id ?? null, amount: formatAmount(amount) };
    });
  } catch (e) {
    if (e instanceof LockBusy) throw refusal('busy', 'another correction of this coin is in progress; try again');
    throw e;
  }
}

/** Utils.Rebaseline: one operator's confirmation (src/payserv/rebaseline.ts); a payserv with no gate has nothing lost. */
export async function rebaselineCall(ps: Payserv, operator: string | undefined, reason: string) {
  if (!ps.rebaseline) throw refusal('rebaseline_not_needed', "this payserv keeps no rebaseline gate: its host's local state is whole");
  return ps.rebaseline.confirm(ps, operator, reason);
}
