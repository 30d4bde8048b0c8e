// Signs an unsigned transparent transaction: every input is P2PKH, SIGHASH_ALL, deterministic
// (RFC 6979) low-S ECDSA, compressed public key. Before returning, the signed bytes go through the
// independent verifier (verify.ts): a transaction that this code cannot verify is never handed out.
//
// Private keys are Uint8Arrays held only in memory by the caller. Nothing here logs them, copies
// them into a result, or lets them reach an error message (noble's own range errors print the key
// as a number, so keys are checked before noble sees them and noble's errors are not passed on).

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { branchHex, requireKnownBranch } from './branch.js';
import { equalBytes, toHex } from './bytes.js';
import { conventionalFeeZat } from './fee.js';
import { hash160 } from './hash.js';
import { SIGHASH_ALL } from './hashtype.js';
import { p2pkhHashOf, p2pkhScriptSig } from './script.js';
import { sighashV4 } from './sighash-v4.js';
import { sighashV5, type SpentOutput } from './sighash-v5.js';
import { serializeTx, type Tx } from './tx.js';
import { txidOf } from './txid.js';
import type { UnsignedTransparentTx } from './build.js';
import { verifyTransparentTx } from './verify.js';

export class ZcashSignError extends Error {
  override name = 'ZcashSignError';
}

export interface SignedTransparentTx {
  readonly tx: Tx;
  readonly raw: Uint8Array;
  readonly rawHex: string;
  /** Display hex, as the node's sendrawtransaction returns it. */
  readonly txid: string;
  readonly feeZat: bigint;
}

const PRIVATE_KEY_BYTES = 32;

/** A valid secp256k1 secret: 32 bytes, in 1..n-1. Says nothing about the key's value when it is not. */
function requirePrivateKey(key: Uint8Array, n: number): void {
  if (!(key instanceof Uint8Array) || key.length !== PRIVATE_KEY_BYTES)
    throw new ZcashSignError(`input ${n}: the private key is not ${PRIVATE_KEY_BYTES} bytes`);
  let v = 0n;
  for (const b of key) v = (v << 8n) | BigInt(b);
  if (v === 0n || v >= secp256k1.CURVE.n) throw new ZcashSignError(`input ${n}: the private key is not a valid secp256k1 secret`);
}

/**
 * `prevouts[i]` is the output input i spends (must equal what the builder recorded: a v5 signature
 * commits to every input's amount and script, a v4 one to its own); `privateKeys[i]` signs input i.
 */
export function signTransparentTx(
  unsigned: UnsignedTransparentTx,
  prevouts: readonly SpentOutput[],
  privateKeys: readonly Uint8Array[],
): SignedTransparentTx {
  const { tx, branchId } = unsigned;
  requireKnownBranch(branchId);
  if (tx.version === 5 && tx.consensusBranchId !== branchId) {
    throw new ZcashSignError(
      `the transaction header says branch ${branchHex(tx.consensusBranchId)}, signing was asked for ${branchHex(branchId)}`,
    );
  }
  const n = tx.inputs.length;
  if (prevouts.length !== n) throw new ZcashSignError(`${prevouts.length} prevouts for ${n} inputs`);
  if (privateKeys.length !== n) throw new ZcashSignError(`${privateKeys.length} private keys for ${n} inputs`);

  const scriptSigs = tx.inputs.map((input, i) => {
    const prevout = prevouts[i] as SpentOutput;
    const recorded = unsigned.prevouts[i];
    if (!recorded || recorded.value !== prevout.value || !equalBytes(recorded.scriptPubKey, prevout.scriptPubKey)) {
      throw new ZcashSignError(`input ${i}: the prevout given differs from the one the transaction was built with`);
    }
    if (input.scriptSig.length !== 0) throw new ZcashSignError(`input ${i} already has a scriptSig`);
    const want = p2pkhHashOf(prevout.scriptPubKey);
    if (!want) throw new ZcashSignError(`input ${i}: the prevout is not P2PKH`);
    const key = privateKeys[i] as Uint8Array;
    requirePrivateKey(key, i);

    let publicKey: Uint8Array;
    let der: Uint8Array;
    const hash =
      tx.version === 4
        ? sighashV4(tx, branchId, SIGHASH_ALL, { index: i, scriptCode: prevout.scriptPubKey, value: prevout.value })
        : sighashV5(tx, SIGHASH_ALL, { index: i }, prevouts);
    try {
      publicKey = secp256k1.getPublicKey(key, true);
      // RFC 6979 without extra entropy: the same transaction signs to the same bytes, so a retry
      // after a crash reproduces the txid already recorded.
      der = secp256k1.sign(hash, key, { lowS: true, prehash: false, extraEntropy: false }).toDERRawBytes();
    } catch {
      throw new ZcashSignError(`input ${i}: signing failed`);
    }
    if (!equalBytes(hash160(publicKey), want)) {
      throw new ZcashSignError(`input ${i}: the key given is not the one for the prevout's pubkey hash ${toHex(want)}`);
    }
    return p2pkhScriptSig(der, SIGHASH_ALL, publicKey);
  });

  const signed: Tx = { ...tx, inputs: tx.inputs.map((input, i) => ({ ...input, scriptSig: scriptSigs[i] as Uint8Array })) };
  const raw = serializeTx(signed);
  const rawHex = toHex(raw);
  const txid = txidOf(signed);

  // Fail-stop: check the bytes we are about to hand out through the independent path.
  const check = verifyTransparentTx(rawHex, (id, vout) => lookupPrevout(tx, prevouts, id, vout), branchId);
  if (check.problems.length > 0) throw new ZcashSignError(`the signed transaction does not verify: ${check.problems.join('; ')}`);
  if (check.txid !== txid) throw new ZcashSignError(`txid mismatch after signing: ${check.txid} vs ${txid}`);
  const feeZat = unsigned.feeZat;
  if (check.feeZat !== feeZat) throw new ZcashSignError(`fee mismatch after signing: ${String(check.feeZat)} vs ${feeZat} zat`);
  const conventional = conventionalFeeZat(signed);
  if (feeZat < conventional)
    throw new ZcashSignError(`fee ${feeZat} zat is below the ZIP-317 fee ${conventional} zat of the signed transaction`);
  return { tx: signed, raw, rawHex, txid, feeZat };
}

function lookupPrevout(tx: Tx, prevouts: readonly SpentOutput[], txid: string, vout: number): SpentOutput | undefined {
  const i = tx.inputs.findIndex((input) => input.prevout.index === vout && toHex(Uint8Array.from(input.prevout.txid).reverse()) === txid);
  return i < 0 ? undefined : prevouts[i];
}
