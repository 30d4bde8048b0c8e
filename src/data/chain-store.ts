import { invariant } from '../ledger/invariant.js';
import type { Data, DataTx } from './data.js';
import { CHAINS } from './ops/chains.js';
import { MONITOR } from './ops/monitor.js';
import { PAYMENTS } from './ops/payments.js';

// The write-ahead records of on-chain payments (migration 0003): every signed attempt with its bytes,
// the Ethereum nonce counters, the UTXO input reservations. Plain storage: what matters is re-derived
// from the bytes and checked against the hashes in the withdrawals' signed histories. The shapes are
// the chain drivers' (src/chains/driver.ts, storage.ts), written out here: the data layer imports
// nothing of the layers above it, and src/app/drivers.ts checks that chainStorage fits their interfaces.

/**
 * A stored signed attempt: its bytes, checked against the hash its withdrawals' signed histories name. The
 * row's created_at is not read: it is the database's word, and when an attempt was signed is its signed
 * `sending` entry's (src/payserv/payments/stored.ts).
 */
export interface StoredAttempt {
  hash: string;
  raw: string;
}

/** Where a transaction was found mined (the drivers' Placement). */
interface Placement {
  blockNumber: number;
  blockHash: string;
}

/** What a watched transaction must keep being on the chain (migration 0005's expect; the drivers' Evidence['expect'] and success). */
export type WatchExpect = 'success' | 'reverted' | 'mined';

/** Stores a signed attempt before it is broadcast; `payment` is the first attempt's hash. */
export async function insertAttempt(
  tx: DataTx,
  coinId: number,
  payment: string,
  withdrawalIds: readonly number[],
  s: { hash: string; raw: string; maxFee: bigint; nonce: bigint | null },
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
export async function attemptsByHash(db: DataTx, hashes: readonly string[]): Promise<{ found: StoredAttempt[]; missing: string[] }> {
  const rows = await db.query(PAYMENTS.attemptsByHash, [hashes]);
  const byHash = new Map(rows.map((r) => [r.hash, r]));
  const found: StoredAttempt[] = [];
  const missing: string[] = [];
  for (const h of hashes) {
    const r = byHash.get(h);
    if (r) found.push({ hash: r.hash, raw: r.raw });
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

// ---- The chain drivers' storage (src/chains/storage.ts) -------------------------------------------

interface Outpoint {
  txid: string;
  vout: number;
}

const key = (o: Outpoint) => `${o.txid}:${o.vout}`;

/**
 * The SQL storage of the chain drivers' nonces and input reservations, over `db` (what a driver asks
 * outside a transaction of its caller goes there). Coins are named by tag; their ids are read once.
 */
export function chainStorage(db: Data) {
  const coinIds = new Map<string, number>();
  /** The coin's id; null when coins_coin has no such tag (not remembered: it may be added later). */
  const coinId = async (q: DataTx, tag: string): Promise<number | null> => {
    const known = coinIds.get(tag);
    if (known !== undefined) return known;
    const [r] = await q.query(CHAINS.coinId, [tag]);
    if (r) coinIds.set(tag, r.id);
    return r?.id ?? null;
  };
  const knownCoin = async (q: DataTx, tag: string): Promise<number> => {
    const id = await coinId(q, tag);
    if (id === null) throw new Error(`coin ${tag} is not in coins_coin`);
    return id;
  };
  return {
    // ---- Ethereum nonces
    async lockNonce(tx: DataTx, chain: string, address: string): Promise<bigint | null> {
      await tx.query(PAYMENTS.ensureNonce, [chain, address]);
      const [r] = await tx.query(PAYMENTS.lockNonce, [chain, address]);
      return r ? BigInt(r.next_nonce) : null;
    },
    async storeNonce(tx: DataTx, chain: string, address: string, next: bigint): Promise<void> {
      await tx.query(PAYMENTS.storeNonce, [chain, address, next.toString()]);
    },
    async readNonce(chain: string, address: string): Promise<bigint | null> {
      const [r] = await db.query(PAYMENTS.readNonce, [chain, address]);
      return r ? BigInt(r.next_nonce) : null;
    },
    async attemptsFromNonce(tx: DataTx, coin: string, from: bigint): Promise<Array<StoredAttempt & { nonce: bigint }>> {
      const id = await coinId(tx, coin);
      if (id === null) return [];
      const rows = await tx.query(PAYMENTS.attemptsFromNonce, [id, from.toString()]);
      return rows.map((r) => ({ hash: r.hash, raw: r.raw, nonce: BigInt(r.nonce) }));
    },

    // ---- UTXO input reservations
    async reservedOutpoints(coin: string, q: DataTx = db): Promise<Map<string, string>> {
      const rows = await q.query(PAYMENTS.reservedOutpoints, [await knownCoin(q, coin)]);
      return new Map(rows.map((r) => [key(r), r.spent_by]));
    },
    async reserveInputs(tx: DataTx, coin: string, spentBy: string, inputs: ReadonlyArray<Outpoint & { value: bigint }>): Promise<void> {
      const id = await knownCoin(tx, coin);
      for (const i of inputs) {
        const rows = await tx.query(PAYMENTS.reserveInput, [id, i.txid, i.vout, i.value.toString(), spentBy]);
        invariant(rows.length > 0, `input ${key(i)} is already reserved by another payment`);
      }
    },
    async releaseInputs(tx: DataTx, coin: string, spentBy: string, why: string): Promise<number> {
      const rows = await tx.query(PAYMENTS.releaseInputs, [await knownCoin(tx, coin), spentBy, why.slice(0, 500)]);
      return rows.length;
    },
    /** A stored attempt as its row says: bytes, and the withdrawals it names (ids that are not whole numbers left out). Not proof of anything. */
    async attemptRow(hash: string, q: DataTx = db): Promise<{ raw: string; withdrawalIds: number[] } | null> {
      const [t] = await q.query(CHAINS.attempt, [hash]);
      if (!t) return null;
      const ids = (Array.isArray(t.withdrawal_ids) ? t.withdrawal_ids : []).map(Number).filter((n) => Number.isSafeInteger(n) && n > 0);
      return { raw: t.raw, withdrawalIds: ids };
    },
  };
}

export type ChainStorage = ReturnType<typeof chainStorage>;
