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

/**
 * Every chain: payserv's own signed attempts. A stored row proves nothing by its bytes alone: a mined
 * transaction's bytes are public (any node serves them), and anyone with SQL can store them, or bytes signed
 * with a key of their own. An attempt is payserv's when the signed ledger says so: a `sending` entry naming its
 * hash in the verified history (every signature chained to the pinned root) of a withdrawal its row names, or
 * the host's payment journal holds it (the driver asks the journal itself).
 */
export interface AttemptStorage {
  /** The stored bytes of payserv's own attempt `hash` (named by a verified signed `sending` entry); null otherwise. */
  ownAttempt(hash: string, db?: StorageTx): Promise<string | null>;
}

/** Account-based chains (Ethereum and EVM chains): the next nonce of each sending address. */
export interface NonceStorage extends AttemptStorage {
  /** The stored next nonce of (chain, address), locked until `tx` ends; null when never used. */
  lockNonce(tx: StorageTx, chain: string, address: string): Promise<bigint | null>;
  /** Sets the next nonce of (chain, address); the caller holds its lock in `tx`. */
  storeNonce(tx: StorageTx, chain: string, address: string, next: bigint): Promise<void>;
  /** The stored next nonce, unlocked (at start); null when never used. */
  readNonce(chain: string, address: string): Promise<bigint | null>;
  /** The coin's stored attempts with a nonce from `from` on (none when the coin is unknown): rows, not proof (ownAttempt). */
  attemptsFromNonce(tx: StorageTx, coin: string, from: bigint): Promise<NonceAttempt[]>;
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
export interface UtxoStorage extends AttemptStorage {
  /** The coin's reserved outpoints (outpointKey), each with the payment (first attempt's hash) that holds it. */
  reservedOutpoints(coin: string, db?: StorageTx): Promise<Map<string, string>>;
  /** Reserves inputs for payment `spentBy`; one already reserved by another payment refuses the whole set (an invariant). */
  reserveInputs(tx: StorageTx, coin: string, spentBy: string, inputs: ReadonlyArray<Outpoint & { value: bigint }>): Promise<void>;
  /** Gives back the inputs a never-mined payment held; how many. */
  releaseInputs(tx: StorageTx, coin: string, spentBy: string, why: string): Promise<number>;
}
