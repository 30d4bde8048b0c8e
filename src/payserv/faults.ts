// The boundaries between a database write and an external effect on the payment path, named so that
// the adversarial harness (test/sim) can kill payserv there, edit the database there as an attacker, or
// lose the node's reply there. In production nothing listens and each point costs one optional call.

export type FaultPoint =
  /** Inside the write-ahead transaction: bytes stored, withdrawals `sending`, journaled and fsynced; not committed. */
  | 'payment.journaled'
  /** The write-ahead transaction committed; not broadcast yet. */
  | 'payment.committed'
  /** Broadcast (whatever the node answered); the account's checkpoint not yet moved over it. */
  | 'payment.broadcast'
  /** A status change committed (approved, sent, send_error, declined...); its checkpoint not yet moved. */
  | 'status.committed'
  /** A hot-wallet sweep signed and its host record fsynced, inside the transaction that advances the nonce; not committed. */
  | 'sweep.recorded'
  /** The sweep's transaction committed; not broadcast yet. */
  | 'sweep.committed'
  /** `pscli rebaseline`: the fresh local state staged and its digest matched; the lost trees not moved into place yet. */
  | 'rebaseline.staged'
  /** `pscli rebaseline`: one lost tree (`step`) moved into place; the others, the audit head and the anchor not yet. */
  | 'rebaseline.moved';

export interface FaultInfo {
  withdrawals: readonly number[];
  hash?: string;
  /** Which step of a multi-step write (a rebaseline's tree). */
  step?: string;
}

export interface Faults {
  at(point: FaultPoint, info: FaultInfo): Promise<void>;
}

/** Calls the harness's hook at a boundary, if one listens. */
export function fault(faults: Faults | undefined, point: FaultPoint, info: FaultInfo): Promise<void> {
  return faults ? faults.at(point, info) : Promise.resolve();
}
