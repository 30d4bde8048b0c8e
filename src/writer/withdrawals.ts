import type { DataTx } from '../data/data.js';
import { WRITES } from '../data/ops/writes.js';
import { encodeWithdrawalStatus } from '../ledger/encoding.js';
import type { StatusEntry, Withdrawal, WithdrawalRequest, WithdrawalStatus } from '../ledger/records.js';
import { statusSigner } from '../ledger/roles.js';
import { canMove, initialStatus } from '../ledger/status.js';
import { add, formatAmount, neg, parseAmount, ZERO, type Amount } from '../money/amount.js';
import { assertPrecision } from '../money/precision.js';
import type { Signer } from '../pki/signer.js';
import { getWithdrawalWithHistory } from '../store/reads.js';
import { allocateIds, lockAccountDebits, stampAfter } from './locks.js';
import { assertRole } from './signing.js';

// Withdrawal rows: the request (autopay), each later status (payserv), and a decline's reversal row.
// Every change writes the row and its signed status entry in one transaction.

export interface RequestSpec {
  userId: number;
  coinId: number;
  walletId: number;
  address: string;
  amount: Amount;
  fee: Amount;
  comment?: string;
  at?: Date;
  /** payserv's own requests (autopay) do not wait behind another writer of the account: DebitsBusy. */
  noWait?: boolean;
}

export class WithdrawalStateError extends Error {
  override name = 'WithdrawalStateError';
}

async function debitHead(
  tx: DataTx,
  userId: number,
  coinId: number,
): Promise<{ prevId: number; debitBefore: Amount; lastAt: Date | null }> {
  const [last] = await tx.query(WRITES.debitHead, [userId, coinId]);
  return last
    ? { prevId: last.id, debitBefore: add(parseAmount(last.debit_before), parseAmount(last.amount)), lastAt: last.created_at }
    : { prevId: 0, debitBefore: ZERO, lastAt: null };
}

async function insertRow(tx: DataTx, signer: Signer, req: WithdrawalRequest, entry: StatusEntry): Promise<Withdrawal> {
  assertRole(signer, statusSigner(req, entry), 'this withdrawal entry');
  await tx.query(WRITES.insertWithdrawal, [
    req.id,
    req.userId,
    req.coinId,
    req.walletId,
    req.address,
    req.prevId,
    formatAmount(req.amount),
    formatAmount(req.fee),
    formatAmount(req.debitBefore),
    req.parentId,
    req.createdAt,
    entry.status,
    entry.comment,
  ]);
  await insertEntry(tx, signer, req, entry, null);
  return { ...req, status: entry.status, statusSeq: 0, txHash: null, txFee: null, comment: entry.comment, updatedAt: req.createdAt };
}

async function insertEntry(
  tx: DataTx,
  signer: Signer,
  req: WithdrawalRequest,
  e: StatusEntry,
  prevSignature: Uint8Array | null,
): Promise<void> {
  await tx.query(WRITES.insertStatusEntry, [
    req.id,
    e.seq,
    e.status,
    e.txHash,
    e.txFee === null ? null : formatAmount(e.txFee),
    e.comment,
    e.createdAt,
    signer.keyId,
    signer.sign(encodeWithdrawalStatus(req, e, prevSignature)),
  ]);
}

/** The request's amount and fee in whole base units of its coin: a finer one could never be paid. */
async function assertRequestPrecision(tx: DataTx, spec: RequestSpec): Promise<void> {
  const [coin] = await tx.query(WRITES.coinDecimals, [spec.coinId]);
  if (!coin) throw new Error(`unknown coin id ${spec.coinId}`);
  assertPrecision(spec.amount, coin, 'withdrawal amount');
  assertPrecision(spec.fee, coin, 'withdrawal fee');
}

/** A withdrawal request as the pool's back end creates it, signed by autopay. */
export async function requestWithdrawal(tx: DataTx, autopay: Signer, spec: RequestSpec): Promise<Withdrawal> {
  if (spec.amount <= 0n || spec.fee < 0n || spec.fee > spec.amount) throw new Error('a withdrawal needs amount > 0 and 0 <= fee <= amount');
  await assertRequestPrecision(tx, spec);
  await lockAccountDebits(tx, spec.userId, spec.coinId, !spec.noWait);
  const head = await debitHead(tx, spec.userId, spec.coinId);
  const [id] = await allocateIds(tx, WRITES.withdrawalIds, 1);
  const at = spec.at ?? stampAfter(head.lastAt);
  const req: WithdrawalRequest = {
    id: id as number,
    userId: spec.userId,
    coinId: spec.coinId,
    walletId: spec.walletId,
    address: spec.address,
    prevId: head.prevId,
    amount: spec.amount,
    fee: spec.fee,
    debitBefore: head.debitBefore,
    parentId: null,
    createdAt: at,
  };
  return insertRow(tx, autopay, req, {
    seq: 0,
    status: initialStatus(false),
    txHash: null,
    txFee: null,
    comment: spec.comment ?? '',
    createdAt: at,
  });
}

export interface StatusChange {
  status: WithdrawalStatus;
  txHash?: string | null;
  txFee?: Amount | null;
  comment?: string;
  at?: Date;
}

/**
 * Moves a withdrawal to a new status, signed by payserv. `expect` is the status the caller decided
 * from: if the row moved meanwhile, nothing is written (the caller re-reads and decides again).
 */
export async function changeStatus(
  tx: DataTx,
  payserv: Signer,
  id: number,
  expect: WithdrawalStatus,
  change: StatusChange,
): Promise<Withdrawal> {
  const found = await getWithdrawalWithHistory(tx, id);
  if (!found) throw new WithdrawalStateError(`unknown withdrawal id ${id}`);
  const { withdrawal: w, history } = found;
  if (w.status !== expect) throw new WithdrawalStateError(`withdrawal ${id} is ${w.status}, not ${expect}`);
  if (!canMove(w.status, change.status)) throw new WithdrawalStateError(`withdrawal ${id}: ${w.status} → ${change.status} is not allowed`);
  const last = history[history.length - 1];
  if (!last || last.seq !== w.statusSeq)
    throw new WithdrawalStateError(`withdrawal ${id}: its signed history does not end at status_seq ${w.statusSeq}`);
  const e: StatusEntry = {
    seq: w.statusSeq + 1,
    status: change.status,
    txHash: change.txHash === undefined ? w.txHash : change.txHash,
    txFee: change.txFee === undefined ? w.txFee : change.txFee,
    comment: change.comment ?? w.comment,
    createdAt: change.at ?? new Date(),
  };
  assertRole(payserv, statusSigner(w, e), 'a status change');
  const updated = await tx.query(WRITES.changeStatus, [
    id,
    e.status,
    e.seq,
    e.txHash,
    e.txFee === null ? null : formatAmount(e.txFee),
    e.comment,
    e.createdAt,
    w.status,
    w.statusSeq,
  ]);
  if (updated.length !== 1) throw new WithdrawalStateError(`withdrawal ${id} changed while it was being updated`);
  await insertEntry(tx, payserv, w, e, last.signature);
  return { ...w, status: e.status, statusSeq: e.seq, txHash: e.txHash, txFee: e.txFee, comment: e.comment, updatedAt: e.createdAt };
}

/** A decline never edits money: the original becomes 'processed' and a reversal row gives the amount back. */
export async function declineWithdrawal(
  tx: DataTx,
  payserv: Signer,
  id: number,
  expect: WithdrawalStatus,
  comment: string,
  o: { noWait?: boolean } = {},
): Promise<{ original: Withdrawal; reversal: Withdrawal }> {
  const found = await getWithdrawalWithHistory(tx, id);
  if (!found) throw new WithdrawalStateError(`unknown withdrawal id ${id}`);
  await lockAccountDebits(tx, found.withdrawal.userId, found.withdrawal.coinId, !o.noWait);
  const head = await debitHead(tx, found.withdrawal.userId, found.withdrawal.coinId);
  const at = stampAfter(head.lastAt);
  const original = await changeStatus(tx, payserv, id, expect, { status: 'processed', comment, at });
  const [rid] = await allocateIds(tx, WRITES.withdrawalIds, 1);
  const req: WithdrawalRequest = {
    id: rid as number,
    userId: original.userId,
    coinId: original.coinId,
    walletId: original.walletId,
    address: original.address,
    prevId: head.prevId,
    amount: neg(original.amount),
    fee: ZERO,
    debitBefore: head.debitBefore,
    parentId: original.id,
    createdAt: at,
  };
  const reversal = await insertRow(tx, payserv, req, {
    seq: 0,
    status: initialStatus(true),
    txHash: null,
    txFee: null,
    comment,
    createdAt: at,
  });
  return { original, reversal };
}
