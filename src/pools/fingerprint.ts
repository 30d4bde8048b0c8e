// A withdrawal's identity for the adapters' records in the pools' own stores, stable across payserv's database
// being restored from an older backup (which issues withdrawal ids again).

import { signatureDigest } from '../ledger/history.js';
import type { StatusSignature } from '../ledger/records.js';

/**
 * SHA-256 of the withdrawal's first signed status entry, which signs its whole immutable request (id, user, address,
 * amount, chain links, creation time): another withdrawal under a re-issued id has another one.
 */
export function withdrawalFingerprint(history: readonly StatusSignature[]): string {
  const first = history[0]?.signature;
  if (!first) throw new Error(`withdrawal ${history[0]?.withdrawalId ?? '?'} has no first signed status entry`);
  return signatureDigest(first);
}
