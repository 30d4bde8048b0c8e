// What the chain drivers keep in payserv's database, as the narrow interfaces they are given (the SQL
// implementation is src/data/chain-store.ts, wired in src/app/drivers.ts). A driver never runs SQL: it
// knows its chain, and asks its storage for the few records that make a payment happen once.

/**
 * The caller's database transaction (or connection), opaque to a driver: it only hands it back to its
 * storage, so that what it allocates commits or rolls back with the payment that holds the coin's send lock.
 */
export type StorageTx = object;

/** A stored signed attempt of an account-based chain, with the nonce it uses. */
export interface NonceAttempt {
  hash: string;
  raw: string;
  nonce: bigint;
}

/** Account-based chains (Ethereum and EVM chains): the next nonce of each sending address. */
export interface NonceStorage {
  /** The stored next nonce of (chain, address), locked until `tx` ends; null when never used. */
  lockNonce(tx: StorageTx, chain: string, address: string): Promise<bigint | null>;
  /** Sets the next nonce of (chain, address); the caller holds its lock in `tx`. */
  storeNonce(tx: StorageTx, chain: string, address: string, next: bigint): Promise<void>;
  /** The stored next nonce, unlocked (at start); null when never used. */
  readNonce(chain: string, address: string): Promise<bigint | null>;
  /** The coin's stored attempts with a nonce from `from` on (none when the coin is unknown): what the node should know of ours. */
  attemptsFromNonce(tx: StorageTx, coin: string, from: bigint): Promise<NonceAttempt[]>;
  /** The stored bytes of attempt `hash`; null when none is stored. */
  attemptRaw(hash: string, db?: StorageTx): Promise<string | null>;
}

export interface Outpoint {
  txid: string;
  vout: number;
}

/** The key of an outpoint in the maps below: "txid:vout". */
export const outpointKey = (o: Outpoint): string => `${o.txid}:${o.vout}`;

/**
 * UTXO chains (Zcash transparent, and any Bitcoin-family chain): the unspent outputs reserved by payments
 * not settled, so that two payments never spend one output. `db` is the caller's transaction, or the
 * storage's own connection when absent. An unknown coin throws.
 */
export interface UtxoStorage {
  /** The coin's reserved outpoints (outpointKey), each with the payment (first attempt's hash) that holds it. */
  reservedOutpoints(coin: string, db?: StorageTx): Promise<Map<string, string>>;
  /** Reserves inputs for payment `spentBy`; one already reserved by another payment refuses the whole set (an invariant). */
  reserveInputs(tx: StorageTx, coin: string, spentBy: string, inputs: ReadonlyArray<Outpoint & { value: bigint }>): Promise<void>;
  /** Gives back the inputs a never-mined payment held; how many. */
  releaseInputs(tx: StorageTx, coin: string, spentBy: string, why: string): Promise<number>;
  /** The stored bytes of attempt `hash`; null when none is stored. */
  attemptRaw(hash: string, db?: StorageTx): Promise<string | null>;
}
