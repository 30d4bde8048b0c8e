// Verifies a raw Bitcoin-family transaction the way a node would for the spends payserv makes (P2WPKH
// and P2PKH, SIGHASH_ALL, FORKID on Bitcoin Cash), from its bytes alone: parsed afresh by rawtx.ts,
// every digest recomputed by sighash.ts, sharing nothing with the builder (@scure/btc-signer). The
// signer runs it on its own output before handing it out; tests run it on public transactions.
//
//   verifyBtcTx(net, raw, prevout) → { txid, tx, problems, fee, vsize }
//   checkInput(net, tx, n, spent) → null, or why input n is not a valid spend of `spent`
//
// Problems are reported, not thrown: a caller wants all of them. Left to the caller (chain state):
// lock time, coinbase maturity of the prevouts, the node's relay policy beyond dust.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { equalBytes, fromHex } from '../zcash/bytes.js';
import { hash160, p2pkhHashOf, p2pkhScript, parseP2pkhScriptSig, parseStrictDer, requireStrictPubkey } from '../zcash/script.js';
import type { BtcNetwork } from './network.js';
import { parseRawTx, txidOf, vsizeOf, type RawInput, type RawTx } from './rawtx.js';
import { bip143Sighash, hashTypeValue, legacySighash } from './sighash.js';

export type PrevoutLookup = (txid: string, vout: number) => { value: bigint; script: Uint8Array } | undefined;

export type BtcVerifyResult =
  | { txid: string; tx: RawTx; problems: string[]; fee: bigint | null; vsize: number }
  | { txid: null; tx: null; problems: string[]; fee: null; vsize: null };

/** 2^63 - 1: what a node's int64 amounts can hold (Dogecoin has no 21-million cap to check against). */
const AMOUNT_MAX = 2n ** 63n - 1n;

export function verifyBtcTx(net: BtcNetwork, raw: string, prevout: PrevoutLookup): BtcVerifyResult {
  let tx: RawTx;
  try {
    tx = parseRawTx(fromHex(raw, 'raw transaction'));
  } catch (e) {
    return { txid: null, tx: null, problems: [`cannot decode the transaction: ${(e as Error).message}`], fee: null, vsize: null };
  }
  const problems: string[] = [];
  if (tx.inputs.length === 0) problems.push('no inputs');
  if (tx.outputs.length === 0) problems.push('no outputs');
  if (!net.segwit && tx.inputs.some((i) => i.witness.length > 0)) problems.push(`has witness data, which ${net.name} does not know`);
  let out = 0n;
  tx.outputs.forEach((o, n) => {
    if (o.value < 0n) problems.push(`output ${n}: negative value ${o.value}`);
    else out += o.value;
  });
  if (out > AMOUNT_MAX) problems.push(`outputs total ${out}, beyond int64`);

  const seen = new Set<string>();
  let total: bigint | null = 0n;
  tx.inputs.forEach((input, n) => {
    const id = txidHex(input);
    const key = `${id}:${input.vout}`;
    if (seen.has(key)) problems.push(`input ${n}: spends ${key} a second time`);
    seen.add(key);
    const spent = prevout(id, input.vout);
    if (!spent) {
      problems.push(`input ${n}: prevout ${key} does not exist or is spent`);
      total = null;
      return;
    }
    if (total !== null) total += spent.value;
    const why = checkInput(net, tx, n, spent);
    if (why) problems.push(`input ${n}: ${why}`);
  });
  const fee = total === null ? null : (total as bigint) - out;
  if (fee !== null && fee < 0n) problems.push(`outputs total ${out}, more than the inputs' ${String(total)}`);
  return { txid: txidOf(tx), tx, problems, fee, vsize: vsizeOf(tx) };
}

function txidHex(input: RawInput): string {
  return Buffer.from(Uint8Array.from(input.prevTxid).reverse()).toString('hex');
}

/**
 * Null when input `n` is a valid spend of `spent` (its value and script: the output as its funding transaction's bytes
 * have it), else why not. A failure proof asks it of a conflicting spender's input: only the hot wallet's key signs one.
 */
export function checkInput(net: BtcNetwork, tx: RawTx, n: number, spent: { value: bigint; script: Uint8Array }): string | null {
  const input = tx.inputs[n] as RawInput;
  const wpkh = spent.script.length === 22 && spent.script[0] === 0x00 && spent.script[1] === 0x14 ? spent.script.slice(2) : null;
  if (wpkh) return net.segwit ? checkP2wpkh(tx, n, input, wpkh, spent.value) : `a P2WPKH prevout on ${net.name}, which has no segwit`;
  const pkh = p2pkhHashOf(spent.script);
  if (pkh) return checkP2pkh(net, tx, n, input, pkh, spent);
  return 'the prevout script is not P2PKH or P2WPKH (the only spends verified)';
}

function checkP2wpkh(tx: RawTx, n: number, input: RawInput, program: Uint8Array, value: bigint): string | null {
  if (input.scriptSig.length !== 0) return 'a P2WPKH spend with a non-empty scriptSig';
  if (input.witness.length !== 2) return `a P2WPKH witness of ${input.witness.length} items, not 2`;
  const [sigWithType, publicKey] = input.witness as [Uint8Array, Uint8Array];
  if (publicKey.length !== 33) return 'P2WPKH needs a compressed public key';
  return checkSignature(sigWithType, publicKey, program, (hashType) => bip143Sighash(tx, n, p2pkhScript(program), value, hashType, null));
}

function checkP2pkh(
  net: BtcNetwork,
  tx: RawTx,
  n: number,
  input: RawInput,
  pkh: Uint8Array,
  spent: { value: bigint; script: Uint8Array },
): string | null {
  if (input.witness.length !== 0) return 'a P2PKH spend with witness data';
  let spend;
  try {
    spend = parseP2pkhScriptSig(input.scriptSig);
  } catch (e) {
    return (e as Error).message;
  }
  const sigWithType = Uint8Array.from([...spend.signature, spend.hashType]);
  return checkSignature(sigWithType, spend.publicKey, pkh, (hashType) =>
    net.forkId === null
      ? legacySighash(tx, n, spent.script, hashTypeValue(hashType, null))
      : bip143Sighash(tx, n, spent.script, spent.value, hashTypeValue(hashType, net.forkId), net.forkId),
  );
}

/** Strict DER, low S, the key hashing to the prevout's hash, and the signature verifying over the digest. */
function checkSignature(
  sigWithType: Uint8Array,
  publicKey: Uint8Array,
  hash: Uint8Array,
  digestFor: (hashType: number) => Uint8Array,
): string | null {
  try {
    requireStrictPubkey(publicKey);
    if (!equalBytes(hash160(publicKey), hash)) return "the public key does not hash to the prevout's";
    const rs = parseStrictDer(sigWithType.slice(0, -1));
    const digest = digestFor(sigWithType[sigWithType.length - 1] as number);
    return secp256k1.verify(rs, digest, publicKey, { lowS: true, prehash: false }) ? null : 'the signature does not verify';
  } catch (e) {
    return (e as Error).message;
  }
}
