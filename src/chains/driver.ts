import type { StorageTx } from './storage.js';

// What payserv needs from a chain to pay on it exactly once (DESIGN §1, §6). The payment engine
// (src/payserv/payments/) owns the write-ahead rule and the withdrawals' statuses; a driver knows its chain:
// how to build and sign, how to broadcast, and how to read the chain's verdict on what it sent.
// A coin without a driver is paid by an operator (the "other coins" rows of DESIGN §4).

export interface DriverHealth {
  ok: boolean;
  /** Why payouts must wait (node unreachable, syncing, too few peers, wrong chain). */
  reason?: string;
  details?: Record<string, string | number | boolean>;
}

/** One payment output: a withdrawal's amount less its fee, in base units, to its signed address. */
export interface PayOutput {
  withdrawalId: number;
  address: string;
  value: bigint;
  /**
   * Per earlier payment of this withdrawal that was judged failed (UTXO chains), the inputs it spent:
   * the new transaction spends one of each, so that it and an earlier one can never both be mined,
   * whatever a node said about the earlier one. Empty: a first payment.
   */
  conflicts?: ReadonlyArray<ReadonlyArray<{ txid: string; vout: number }>>;
}

/** A signed transaction, as stored before it is broadcast. */
export interface SignedTx {
  hash: string;
  raw: string;
  /** The most it can cost, in base units. */
  maxFee: bigint;
  /** Ethereum: the sender's nonce. */
  nonce: bigint | null;
  /** Zcash: the inputs it spends (reserved with it). */
  inputs: ReadonlyArray<{ txid: string; vout: number; value: bigint }>;
}

export type Signing =
  /** `note`: what the transaction leaves behind in the wallet (a sweep leaving outputs not worth their fee). */
  | { kind: 'signed'; tx: SignedTx; note?: string }
  /**
   * Not now: fees above the cap, too few inputs... The payment waits (send_retry). `atCap`: a replacement
   * cannot outbid its attempt within the configured fee cap (the payment is stuck until fees fall: alerted).
   */
  | {
      kind: 'wait';
      reason: string;
      atCap?: boolean;
      /** The outputs are too many for one transaction: the first `fits` make one (pay them, the rest in another). */
      fits?: number;
    }
  /** The hot wallet cannot cover these outputs: it has `spendable`, the outputs and fee need `needed`. */
  | { kind: 'short'; reason: string; spendable: bigint; needed: bigint }
  /**
   * This payment cannot succeed as asked (the recipient rejects value): nothing is sent (send_error).
   * `withdrawals`: only these outputs are at fault (below dust): they are kept out, the others paid.
   */
  | { kind: 'refused'; reason: string; withdrawals?: readonly number[] };

/** What the stored bytes say, re-derived from them (never from a database column). */
export interface DecodedTx {
  hash: string;
  outputs: ReadonlyArray<{ address: string; value: bigint }>;
  nonce: bigint | null;
  inputs: ReadonlyArray<{ txid: string; vout: number }>;
}

/** Where a transaction was found mined: a sent payment is watched from there until it is final. */
export interface Placement {
  blockNumber: number;
  blockHash: string;
}

/**
 * The transaction a failure proof rests on, watched to finality like a sent payment: a reorg that
 * takes it away (or re-mines it otherwise) undoes the proof. `reverted`: our attempt, mined with status
 * 0 (it must stay so); `mined`: another transaction that used our nonce (it must stay mined).
 */
export interface Evidence {
  hash: string;
  block: Placement;
  expect: 'reverted' | 'mined';
}

/**
 * What a failure proof rests on. `reverted`, `nonce` and `conflict` (another transaction spending one of
 * its inputs, mined: UTXO chains) are things found on the chain; `expiry` is an absence (no block and no
 * mempool has it, the chain is past its expiry): good enough to record send_error and to pay anew by a
 * transaction that conflicts with it, never to credit back unasked.
 */
export type FailedBy = 'reverted' | 'nonce' | 'conflict' | 'expiry';

/** The chain's verdict on a payment, given every attempt sent for it. */
export type Verdict =
  | { kind: 'confirmed'; hash: string; fee: bigint; confirmations: number; block: Placement }
  | { kind: 'mined'; hash: string; confirmations: number; needed: number }
  /**
   * Provably never paid, read in one verdict with the chain's identity: reverted (status 0), its nonce
   * consumed by a transaction found in a block and none of ours, or expired. Never inferred from what a
   * node did not say (a null receipt, an unknown hash): that is `pending`.
   */
  | { kind: 'failed'; hash: string | null; fee: bigint; proof: string; by: FailedBy; evidence?: Evidence }
  /**
   * Not mined yet. `rebroadcast`: attempts the node no longer knows; `stale`: the newest attempt has waited past the
   * replacement time. `unfunded` (UTXO chains): the attempts are unknown to the node and an input of each exists
   * nowhere, its funding transaction off the best chain (a reorg deeper than the input depth undid it): the payment
   * cannot be mined as it is, yet that absence proves no failure. Alerted (input_missing), never failed on it.
   */
  | { kind: 'pending'; reason: string; rebroadcast: readonly string[]; stale: boolean; unfunded?: readonly MissingInput[] };

/** An input of a payment that exists nowhere: its outpoint, and its funding transaction, not on the best chain (`where`). */
export interface MissingInput {
  attempt: string;
  input: string;
  funding: string;
  where: string;
}

/**
 * The chain's word on a payment recorded `sent`, asked until it is `final` (DESIGN: after sent). `seen`
 * is where it was last found (null when the database lost that).
 */
export type Watch =
  /** On the canonical chain at least `finality` blocks deep: no longer watched. `reverted`: mined with status 0 (Ethereum). */
  | { kind: 'final'; confirmations: number; block: Placement; reverted: boolean; standsBy?: StandsBy }
  /** On the canonical chain, not yet final (`block` differs from `seen` when a reorg mined it again elsewhere). */
  | { kind: 'settling'; confirmations: number; block: Placement; reverted: boolean; standsBy?: StandsBy }
  /** The node cannot tell now (a receipt it does not serve, a block it lags behind): nothing is concluded. */
  | { kind: 'unknown'; reason: string }
  /** The block it was in is no longer on the chain and the transaction is in none: the payment was undone. */
  | { kind: 'gone'; proof: string };

/**
 * The watched transaction is on no block of the best chain, yet the payment stands: another transaction of the
 * same payment is mined in `block` (its own replacement, or a transaction of the hot wallet key paying every
 * output of it: the rule Check applies to a payment in flight), and the watch follows that one.
 */
export interface StandsBy {
  hash: string;
  /** The fee of the transaction mined less that of the watched one (null when it cannot be read). */
  feeDelta: bigint | null;
}

export interface Attempt {
  hash: string;
  raw: string;
  /**
   * When it was signed, from a record the database cannot edit: its signed `sending` entry (a withdrawal's
   * payment), or the host's own record (a hot-wallet sweep). Never the stored row's created_at: a payment's
   * staleness, and so a fee bump, is decided from it.
   */
  signedAt: Date;
}

export type Broadcast = { ok: true; known: boolean } | { ok: false; reason: string };

export interface ChainDriver {
  readonly tag: string;
  /** The hot wallet's address. */
  readonly address: string;
  /** The most outputs one transaction may carry (Ethereum: 1). */
  readonly maxOutputs: number;
  /** Null when the address is valid for this chain and network, else why not. */
  validateAddress(address: string): string | null;
  /** Null when `value` base units to `address` can be one output on this chain, else why not (below its dust threshold). */
  outputProblem?(address: string, value: bigint): string | null;
  /** At start: the node is the chain configured (chain id, network), nonces and reservations reconciled. */
  start(): Promise<void>;
  health(): Promise<DriverHealth>;
  /** The hot wallet's spendable balance in base units (what is reserved or pending excluded). */
  spendable(db: StorageTx): Promise<bigint>;
  /**
   * What the last read of the hot wallet left out or could not read (a flood of small outputs sent to its public
   * address), or null when it read it whole: alerted as hot_wallet_flooded, once per `episode`.
   */
  walletFlood?(): WalletFlood | null;
  /**
   * Builds and signs one transaction paying `outputs`, inside the caller's database transaction, which
   * holds the coin's send lock: nonces and inputs are allocated there and committed with the payment.
   * `ctx.confirmations`: the signed coin record's (UTXO chains spend only outputs that deep, unless configured).
   */
  sign(tx: StorageTx, outputs: readonly PayOutput[], ctx: { confirmations: number }): Promise<Signing>;
  /** After the payment committed, before broadcast (the local nonce cache). */
  committed(signed: SignedTx): Promise<void>;
  /**
   * A journaled transaction put back into the database (src/payserv/payments/restore.ts), inside that database
   * transaction: the database's own bookkeeping brought up to it as its signing once did (Ethereum: the
   * nonce counter past its nonce, else the next payment would find the counter behind the journal and
   * take it for a rollback). Never lowers anything.
   */
  restored(tx: StorageTx, raw: string): Promise<void>;
  /** Never decides an outcome: a refusal or a lost reply leaves the payment `sending`. */
  broadcast(raw: string): Promise<Broadcast>;
  /** Re-derives a stored transaction from its bytes; throws if they are not a transaction of this wallet. */
  decode(raw: string): DecodedTx;
  /** The chain's word on every attempt of one payment (a transport failure throws: the outcome stays unknown). */
  verdict(attempts: readonly Attempt[], ctx: { now: Date; confirmations: number }): Promise<Verdict>;
  /** Where a sent payment stands now, with the chain's identity checked in the same call (a transport failure throws). */
  watch(hash: string, seen: Placement | null, ctx: { finality: number }): Promise<Watch>;
  /** A replacement for a stale attempt: same nonce, higher fees (Ethereum); null when this chain does not replace. */
  replace(tx: StorageTx, latest: Attempt): Promise<Signing | null>;
  /** A failed payment gives back what it held (Zcash: its reserved inputs). */
  release(tx: StorageTx, hash: string, why: string): Promise<void>;
}

/** See ChainDriver.walletFlood. `episode`: "unreadable" (payouts wait) or "left out" (payouts go on without those outputs). */
export interface WalletFlood {
  episode: 'unreadable' | 'left out';
  reason: string;
  details: Record<string, unknown>;
}

export type Drivers = ReadonlyMap<string, ChainDriver>;

/** A node that could not be asked (refused, timed out, reply lost): the outcome of anything is unknown. */
export class NodeUnavailable extends Error {
  override name = 'NodeUnavailable';
}

/**
 * The node is not the chain payserv pays on: another chain id or genesis, or a head gone back further
 * than the confirmations (a fresh or foreign chain, a node far behind the one asked before). Nothing it
 * says is evidence: treated as unreachable (nothing decided), and alerted.
 */
export class ChainIdentityError extends NodeUnavailable {
  override name = 'ChainIdentityError';

  constructor(
    readonly coin: string,
    message: string,
  ) {
    super(message);
  }
}

/** Something a driver reads contradicts what payserv recorded (a nonce store behind its local copy): tampering, a fail-stop. */
export class ChainIntegrityError extends Error {
  override name = 'ChainIntegrityError';

  /** The table whose content does not add up. */
  constructor(
    readonly table: string,
    message: string,
  ) {
    super(message);
  }
}
