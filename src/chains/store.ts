import { invariant } from '../ledger/invariant.js';
import type { Attempt, Evidence, Placement, SignedTx } from './driver.js';

/** What a watched transaction must keep being on the chain (migration 0005's expect). */
export type WatchExpect = 'success' | Evidence['expect'];
import type { DataTx } from '../data/data.js';
import { MONITOR } from '../data/ops/monitor.js';
import { PAYMENTS } from '../data/ops/payments.js';

// The write-ahead records of on-chain payments (migration 0003): every signed attempt with its bytes,
// the Ethereum nonce counters, the Zcash input reservations. Plain storage: what matters is re-derived
// from the bytes and checked against the hashes in the withdrawals' signed histories.

/** Stores a signed attempt before it is broadcast; `payment` is the first attempt's hash. */
export async function insertAttempt(
  tx: DataTx,
  coinId: number,
  payment: string,
  withdrawalIds: readonly number[],
  s: SignedTx,
): Promise<void> {
  await tx.query(PAYMENTS.insertAttempt, [
    s.hash,
    coinId,
    payment,
    withdrawalIds,
    s.raw,
    s.maxFee.toString(),
    s.nonce === null ? null : s.nonce.toString(),
  ]);
}

/** The stored attempts with these hashes, in the order given; a hash with no stored bytes is missing. */
export async function attemptsByHash(db: DataTx, hashes: readonly string[]): Promise<{ found: Attempt[]; missing: string[] }> {
  const rows = await db.query(PAYMENTS.attemptsByHash, [hashes]);
  const byHash = new Map(rows.map((r) => [r.hash, r]));
  const found: Attempt[] = [];
  const missing: string[] = [];
  for (const h of hashes) {
    const r = byHash.get(h);
    if (r) found.push({ hash: r.hash, raw: r.raw, createdAt: r.created_at });
    else missing.push(h);
  }
  return { found, missing };
}

export async function paymentOf(db: DataTx, hash: string): Promise<string | null> {
  const [r] = await db.query(PAYMENTS.paymentOf, [hash]);
  return r?.payment ?? null;
}

/**
 * Inside the transaction that records withdrawal `withdrawalId` sent by `hash`: the transaction is
 * watched to finality from where the verdict found it (src/payserv/finality.ts). Hashes are stored in
 * lowercase (hex either way), as the table's checks want them.
 */
export async function watchSent(
  tx: DataTx,
  sent: { coinId: number; withdrawalId: number; hash: string; block: Placement; at: Date; expect?: WatchExpect },
): Promise<void> {
  const { coinId, withdrawalId, hash, block, at, expect = 'success' } = sent;
  // The driver's word on where it was mined: a confirmed verdict without a placement cannot be watched.
  invariant(
    Number.isSafeInteger(block.blockNumber) && block.blockNumber >= 0,
    `transaction ${hash} confirmed in block number ${block.blockNumber}`,
  );
  invariant(
    /^(0x)?[0-9a-fA-F]{64}$/.test(block.blockHash),
    `transaction ${hash} confirmed in a block whose hash is ${JSON.stringify(block.blockHash.slice(0, 80))}`,
  );
  await tx.query(MONITOR.watchSent, [
    hash.toLowerCase(),
    coinId,
    withdrawalId,
    String(block.blockNumber),
    block.blockHash.toLowerCase(),
    at.toISOString(),
    expect,
  ]);
}

/** Best effort, for the operator's eye: the decision never reads it. */
export async function noteBroadcast(db: DataTx, hash: string, error: string | null): Promise<void> {
  await db.query(PAYMENTS.noteBroadcast, [hash, error === null ? null : error.slice(0, 500)]);
}

// ---- Ethereum nonces ---------------------------------------------------------------------------------

/** The stored next nonce of (chain, address), locked until the transaction ends; null when never used. */
export async function lockNonce(tx: DataTx, chain: string, address: string): Promise<bigint | null> {
  await tx.query(PAYMENTS.ensureNonce, [chain, address]);
  const [r] = await tx.query(PAYMENTS.lockNonce, [chain, address]);
  return r ? BigInt(r.next_nonce) : null;
}

export async function storeNonce(tx: DataTx, chain: string, address: string, next: bigint): Promise<void> {
  await tx.query(PAYMENTS.storeNonce, [chain, address, next.toString()]);
}

export async function readNonce(db: DataTx, chain: string, address: string): Promise<bigint | null> {
  const [r] = await db.query(PAYMENTS.readNonce, [chain, address]);
  return r ? BigInt(r.next_nonce) : null;
}

/** Stored attempts of a sender's nonces from `from` on: what the node should know of ours. */
export async function attemptsFromNonce(db: DataTx, coinId: number, from: bigint): Promise<Array<Attempt & { nonce: bigint }>> {
  const rows = await db.query(PAYMENTS.attemptsFromNonce, [coinId, from.toString()]);
  return rows.map((r) => ({ hash: r.hash, raw: r.raw, createdAt: r.created_at, nonce: BigInt(r.nonce) }));
}

// ---- Zcash input reservations ------------------------------------------------------------------------

export interface Outpoint {
  txid: string;
  vout: number;
}

const key = (o: Outpoint) => `${o.txid}:${o.vout}`;

/** The outpoints of a coin reserved by payments that are not settled, each with the payment that holds it. */
export async function reservedOutpoints(db: DataTx, coinId: number): Promise<Map<string, string>> {
  const rows = await db.query(PAYMENTS.reservedOutpoints, [coinId]);
  return new Map(rows.map((r) => [key(r), r.spent_by]));
}

export const outpointKey = key;

/** Reserves inputs for a payment; a reservation already held by another payment refuses the whole set. */
export async function reserveInputs(
  tx: DataTx,
  coinId: number,
  spentBy: string,
  inputs: ReadonlyArray<Outpoint & { value: bigint }>,
): Promise<void> {
  for (const i of inputs) {
    const rows = await tx.query(PAYMENTS.reserveInput, [coinId, i.txid, i.vout, i.value.toString(), spentBy]);
    invariant(rows.length > 0, `input ${key(i)} is already reserved by another payment`);
  }
}

/** Gives back the inputs a never-mined payment held. */
export async function releaseInputs(tx: DataTx, coinId: number, spentBy: string, why: string): Promise<number> {
  const rows = await tx.query(PAYMENTS.releaseInputs, [coinId, spentBy, why.slice(0, 500)]);
  return rows.length;
}
