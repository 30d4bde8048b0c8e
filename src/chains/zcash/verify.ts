// Verifies a raw transparent Zcash transaction the way a node would for a P2PKH spend, from its bytes
// alone: it parses the hex afresh and recomputes every digest, sharing no in-memory object with the
// builder. The signer runs it on its own output; the Zcash node stand-in runs it on whatever it is
// sent.
//
//   verifyTransparentTx(raw, prevout, branchId) → { txid, tx, problems, feeZat }
//
// - raw: the transaction hex (as sendrawtransaction takes it).
// - prevout(txid, vout): the unspent output an input names (txid in display hex), or undefined
//   when there is none (unknown, or already spent).
// - branchId: the consensus branch the transaction must be valid for (the next block's).
// - problems: empty when the transaction is valid; otherwise one line per problem found.
// - txid, tx: null only when the bytes do not parse (problems then says why).
// - feeZat: inputs minus outputs, null when some prevout is missing.
//
// Shielded components are refused outright: this verifier cannot check their proofs. Left to the
// caller, because they need chain state: expiry height and lock time against the tip, and the
// maturity of coinbase prevouts.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { branchById, branchHex } from './branch.js';
import { equalBytes, fromHex, hashToDisplayHex } from './bytes.js';
import { hash160 } from './hash.js';
import { STANDARD_HASH_TYPES } from './hashtype.js';
import { p2pkhHashOf, parseP2pkhScriptSig, parseStrictDer, type P2pkhSpend } from './script.js';
import { sighashV4 } from './sighash-v4.js';
import { sighashV5, type SpentOutput } from './sighash-v5.js';
import { EXPIRY_HEIGHT_THRESHOLD, MAX_MONEY_ZAT, hasShielded, parseTx, type Tx } from './tx.js';
import { txidOf } from './txid.js';

export type PrevoutLookup = (txid: string, vout: number) => { value: bigint; scriptPubKey: Uint8Array } | undefined;

export type VerifyResult =
  | { readonly txid: string; readonly tx: Tx; readonly problems: string[]; readonly feeZat: bigint | null }
  | { readonly txid: null; readonly tx: null; readonly problems: string[]; readonly feeZat: null };

/** Problems are reported, not thrown: a caller wants all of them, and a stand-in node answers with them. */
export function verifyTransparentTx(raw: string, prevout: PrevoutLookup, branchId: number): VerifyResult {
  let tx: Tx;
  try {
    tx = parseTx(fromHex(raw, 'raw transaction'));
  } catch (e) {
    return { txid: null, tx: null, problems: [`cannot decode the transaction: ${(e as Error).message}`], feeZat: null };
  }
  const txid = txidOf(tx);
  const problems: string[] = [];

  if (!branchById(branchId)) problems.push(`unknown consensus branch id ${branchHex(branchId)}`);
  if (tx.version === 5 && tx.consensusBranchId !== branchId) {
    problems.push(`the header's consensus branch id ${branchHex(tx.consensusBranchId)} is not the network's ${branchHex(branchId)}`);
  }
  if (hasShielded(tx)) problems.push('has shielded components, which this verifier cannot check');
  if (tx.inputs.length === 0) problems.push('no inputs');
  if (tx.outputs.length === 0) problems.push('no outputs');
  if (tx.expiryHeight >= EXPIRY_HEIGHT_THRESHOLD)
    problems.push(`expiry height ${tx.expiryHeight} is at or over ${EXPIRY_HEIGHT_THRESHOLD}`);

  let outZat = 0n;
  tx.outputs.forEach((o, n) => {
    if (o.value < 0n || o.value > MAX_MONEY_ZAT) problems.push(`output ${n}: value ${o.value} zat is out of range`);
    else outZat += o.value;
  });
  if (outZat > MAX_MONEY_ZAT) problems.push(`outputs total ${outZat} zat, over MAX_MONEY`);

  // Every prevout first: a v5 signature commits to all of them, so none can be checked without all.
  const seen = new Set<string>();
  const spent: (SpentOutput | undefined)[] = tx.inputs.map((input, n) => {
    const id = hashToDisplayHex(input.prevout.txid);
    const key = `${id}:${input.prevout.index}`;
    if (seen.has(key)) problems.push(`input ${n}: spends ${key} a second time`);
    seen.add(key);
    const found = prevout(id, input.prevout.index);
    if (!found) problems.push(`input ${n}: prevout ${key} does not exist or is spent`);
    else if (found.value < 0n || found.value > MAX_MONEY_ZAT) problems.push(`input ${n}: prevout value ${found.value} zat is out of range`);
    return found;
  });
  const allSpent = spent.every((s) => s !== undefined) ? (spent as SpentOutput[]) : null;
  const inZat = allSpent ? allSpent.reduce((sum, s) => sum + s.value, 0n) : null;
  if (inZat !== null && inZat < outZat) problems.push(`outputs total ${outZat} zat, more than the inputs' ${inZat} zat`);

  tx.inputs.forEach((input, n) => {
    const s = spent[n];
    if (!s) return;
    const want = p2pkhHashOf(s.scriptPubKey);
    if (!want) return problems.push(`input ${n}: the prevout script is not P2PKH (only P2PKH spends are verified)`);
    let spend: P2pkhSpend;
    try {
      spend = parseP2pkhScriptSig(input.scriptSig);
    } catch (e) {
      return problems.push(`input ${n}: ${(e as Error).message}`);
    }
    if (!equalBytes(hash160(spend.publicKey), want))
      return problems.push(`input ${n}: the public key does not hash to the prevout's pubkey hash`);
    if (!STANDARD_HASH_TYPES.includes(spend.hashType))
      return problems.push(`input ${n}: hash type 0x${spend.hashType.toString(16)} is not standard`);
    if (!allSpent && tx.version === 5) return; // the v5 digest needs every prevout; already reported
    let digest: Uint8Array;
    try {
      digest =
        tx.version === 4
          ? sighashV4(tx, branchId, spend.hashType, { index: n, scriptCode: s.scriptPubKey, value: s.value })
          : sighashV5(tx, spend.hashType, { index: n }, allSpent as SpentOutput[]);
    } catch (e) {
      return problems.push(`input ${n}: no signature digest: ${(e as Error).message}`);
    }
    // parseP2pkhScriptSig already enforced strict DER and low S; noble checks the curve equation.
    let ok = false;
    try {
      ok = secp256k1.verify(parseStrictDer(spend.signature), digest, spend.publicKey, { lowS: true, prehash: false });
    } catch {
      ok = false; // a public key off the curve
    }
    if (!ok)
      problems.push(
        `input ${n}: the signature does not verify${tx.version === 4 ? ' (wrong key, altered transaction, or signed for another consensus branch)' : ''}`,
      );
  });

  return { txid, tx, problems, feeZat: inZat === null ? null : inZat - outZat };
}
