import { parseP2pkhScriptSig } from './zcash/script.js';
import type { Signing } from './driver.js';
import { outpointKey, type Outpoint } from './storage.js';

// A hot-wallet rotation's sweep on a UTXO chain (Zcash transparent, the Bitcoin family; src/payserv/rotation.ts):
// every confirmed, non-coinbase output of the old wallet to one output at the next key's address. What the two
// drivers share: when the sweep may be signed, and whether stored bytes were signed by the wallet's key.

/** How many held outputs a waiting sweep names. */
const NAMED_MAX = 5;

/**
 * Null when no payment holds an unspent output of the wallet, else why the sweep waits. An output is held
 * while the database reserves it or the payment journal has an attempt spending it not proved failed: its
 * payment is in flight (in a mempool, or not yet judged), and the sweep runs only once every one has settled.
 */
export function sweepWaits(
  address: string,
  unspent: readonly Outpoint[],
  reserved: ReadonlyMap<string, string>,
  inFlight: ReadonlySet<string>,
): Extract<Signing, { kind: 'wait' }> | null {
  const held = unspent.map(outpointKey).filter((k) => reserved.has(k) || inFlight.has(k));
  if (held.length === 0) return null;
  const named = held.slice(0, NAMED_MAX).join(', ');
  return {
    kind: 'wait',
    reason: `payments from ${address} are in flight (their inputs ${named}${held.length > NAMED_MAX ? ', …' : ''} are unspent on the chain): the sweep waits until they settle`,
  };
}

/** The spending public key of one transparent input: a P2PKH scriptSig's, or a P2WPKH witness's second item. */
function spenderKey(input: { scriptSig: Uint8Array; witness?: readonly Uint8Array[] }): Uint8Array | null {
  try {
    if (input.witness && input.witness.length > 0) return input.witness.length === 2 ? (input.witness[1] ?? null) : null;
    return parseP2pkhScriptSig(input.scriptSig).publicKey;
  } catch {
    return null;
  }
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Whether every input of a transaction is spent with `publicKey` (the wallet's signature; the node checked it against the output). */
export function spentByKey(
  inputs: ReadonlyArray<{ scriptSig: Uint8Array; witness?: readonly Uint8Array[] }>,
  publicKey: Uint8Array,
): boolean {
  return (
    inputs.length > 0 &&
    inputs.every((i) => {
      const k = spenderKey(i);
      return k !== null && same(k, publicKey);
    })
  );
}
