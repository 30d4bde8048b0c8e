// Building and signing a payment from a hot wallet (P2WPKH, or P2PKH where there is no segwit) with
// @scure/btc-signer: the chosen inputs, one output per withdrawal, change back to the hot wallet,
// opt-in RBF (BIP125) on every input, fee = fee rate × a vsize bound fixed before signing (so the fee
// is known before the signature, and never below the rate for the signed size). Bitcoin Cash signs
// SIGHASH_ALL|FORKID, which btc-signer does not do itself: its BIP143 preimage takes any hash type,
// and the signature is made here and put in as the final scriptSig. Every signed transaction goes
// through the independent verifier (verify.ts) before it is handed out.
//
// Private keys are held by the caller in memory; nothing here logs them or puts them in an error.

import { secp256k1 } from '@noble/curves/secp256k1.js';
import { Script, Transaction } from '@scure/btc-signer';
import { compactSizeLength, equalBytes, toHex } from '../zcash/bytes.js';
import { hash160, p2pkhScript } from '../zcash/script.js';
import type { BtcNetwork } from './network.js';
import { SIGHASH_ALL, SIGHASH_FORKID, hashTypeValue } from './sighash.js';
import { weightOf } from './rawtx.js';
import { verifyBtcTx } from './verify.js';

export type WalletKind = 'p2wpkh' | 'p2pkh';

export interface HotWallet {
  kind: WalletKind;
  /** Compressed SEC1 public key (33 bytes). */
  publicKey: Uint8Array;
  /** The scriptPubKey its outputs (and our change) carry. */
  script: Uint8Array;
}

export interface Utxo {
  /** Display hex, as nodes print it. */
  txid: string;
  vout: number;
  value: bigint;
}

export interface TxOutput {
  script: Uint8Array;
  value: bigint;
}

/** BIP125: a sequence below 0xfffffffe signals that the transaction may be replaced by a higher fee. */
export const RBF_SEQUENCE = 0xfffffffd;
/** Bitcoin Core's MAX_STANDARD_TX_WEIGHT (Dogecoin's 100 kB standard size is the same bound without witnesses). */
export const MAX_STANDARD_WEIGHT = 400_000;

export class BtcTxError extends Error {
  override name = 'BtcTxError';
}

/** The hot wallet of a compressed public key: P2WPKH is refused on a coin without segwit. */
export function hotWallet(net: BtcNetwork, kind: WalletKind, publicKey: Uint8Array): HotWallet {
  if (publicKey.length !== 33 || (publicKey[0] !== 0x02 && publicKey[0] !== 0x03))
    throw new BtcTxError('a hot wallet needs a compressed public key');
  if (kind === 'p2wpkh' && !net.segwit) throw new BtcTxError(`${net.name} has no segwit: its hot wallet is P2PKH`);
  const h = hash160(publicKey);
  return { kind, publicKey, script: kind === 'p2wpkh' ? Uint8Array.from([0x00, 0x14, ...h]) : p2pkhScript(h) };
}

// ---- Sizes ------------------------------------------------------------------------------------

/** A low-S DER signature is at most 71 bytes, plus the hash type byte. */
const SIGNATURE_MAX = 72;
const PUBKEY = 33;

/** Serialized bytes of an output: value 8 + script length + script. */
export function outputBytes(script: Uint8Array): number {
  return 8 + compactSizeLength(script.length) + script.length;
}

/** Weight of one signed input, at its largest signature. */
export function inputWeight(kind: WalletKind): number {
  const outpointAndSequence = 36 + 4;
  if (kind === 'p2pkh') {
    const scriptSig = 1 + SIGNATURE_MAX + 1 + PUBKEY;
    return (outpointAndSequence + compactSizeLength(scriptSig) + scriptSig) * 4;
  }
  const witness = 1 + 1 + SIGNATURE_MAX + 1 + PUBKEY;
  return (outpointAndSequence + 1) * 4 + witness;
}

/** An upper bound of the signed transaction's weight (the signatures at their largest). */
export function weightBound(kind: WalletKind, inputs: number, outputScripts: readonly Uint8Array[]): number {
  const base = 4 + compactSizeLength(inputs) + compactSizeLength(outputScripts.length) + 4;
  const outputs = outputScripts.reduce((n, s) => n + outputBytes(s), 0);
  const marker = kind === 'p2wpkh' ? 2 : 0; // segwit marker and flag, witness-discounted
  return (base + outputs) * 4 + inputs * inputWeight(kind) + marker;
}

export const vsizeOfWeight = (weight: number): number => Math.ceil(weight / 4);

// ---- Dust -------------------------------------------------------------------------------------

function isWitnessProgram(script: Uint8Array): boolean {
  const op = script[0] as number;
  const version = op === 0x00 || (op >= 0x51 && op <= 0x60);
  return version && script.length >= 4 && script.length <= 42 && script[1] === script.length - 2;
}

/** The smallest value a node relays in an output paying `script` (Bitcoin Core's GetDustThreshold, or a flat limit). */
export function dustThreshold(net: BtcNetwork, script: Uint8Array): bigint {
  if (net.dust.kind === 'fixed') return net.dust.min;
  // The input that would spend it: 32 + 4 + 1 + 107 + 4 bytes, a witness one at a quarter of its 107 signature bytes.
  const spend = isWitnessProgram(script) ? 32 + 4 + 1 + Math.floor(107 / 4) + 4 : 32 + 4 + 1 + 107 + 4;
  return (BigInt(outputBytes(script) + spend) * net.dust.feePerKvB) / 1000n;
}

// ---- Planning: inputs, change, fee ------------------------------------------------------------

export interface PlanRequest {
  net: BtcNetwork;
  wallet: HotWallet;
  /** Spendable UTXOs in the order to use them (the caller removed reserved, unconfirmed and immature ones). */
  utxos: readonly Utxo[];
  /** Inputs that must be spent (one of each earlier failed attempt's, so that the two can never both be mined). */
  required?: readonly Utxo[];
  outputs: readonly TxOutput[];
  /** Base units per vbyte; below the network's minFeeRate it is raised to it. */
  feeRate: bigint;
  maxWeight?: number;
}

export type Plan =
  | { kind: 'ok'; inputs: Utxo[]; outputs: TxOutput[]; fee: bigint; change: bigint | null; weightBound: number; vsizeBound: number }
  | { kind: 'short'; spendable: bigint; needed: bigint }
  | { kind: 'dust'; index: number; value: bigint; threshold: bigint }
  | { kind: 'too_heavy'; weight: number; max: number };

const feeFor = (rate: bigint, weight: number): bigint => rate * BigInt(vsizeOfWeight(weight));

/**
 * Inputs in the given order until they cover the outputs and the fee with a change output; change
 * below dust goes to the fee instead (a node would refuse the output).
 */
export function planPayment(request: PlanRequest): Plan {
  const { net, wallet, outputs } = request;
  if (outputs.length === 0) throw new BtcTxError('a payment needs at least one output');
  const feeRate = request.feeRate < net.minFeeRate ? net.minFeeRate : request.feeRate;
  const req = { ...request, feeRate };
  for (const [index, o] of outputs.entries()) {
    const threshold = dustThreshold(net, o.script);
    if (o.value < threshold) return { kind: 'dust', index, value: o.value, threshold };
  }
  const paid = outputs.reduce((s, o) => s + o.value, 0n);
  const scripts = outputs.map((o) => o.script);
  const withChange = [...scripts, wallet.script];
  const chosen: Utxo[] = [...(req.required ?? [])];
  const taken = new Set(chosen.map((u) => `${u.txid}:${u.vout}`));
  const pool = req.utxos.filter((u) => !taken.has(`${u.txid}:${u.vout}`));
  let sum = chosen.reduce((s, u) => s + u.value, 0n);
  let next = 0;
  for (;;) {
    const w = weightBound(wallet.kind, Math.max(chosen.length, 1), withChange);
    const fee = feeFor(feeRate, w);
    if (chosen.length > 0 && sum >= paid + fee) return finish(req, chosen, sum, paid);
    const u = pool[next++];
    if (!u) return { kind: 'short', spendable: sum, needed: paid + fee };
    chosen.push(u);
    sum += u.value;
  }
}

function finish(req: PlanRequest, inputs: Utxo[], sum: bigint, paid: bigint): Plan {
  const { net, wallet, outputs, feeRate } = req;
  const max = req.maxWeight ?? MAX_STANDARD_WEIGHT;
  const scripts = outputs.map((o) => o.script);
  const wChange = weightBound(wallet.kind, inputs.length, [...scripts, wallet.script]);
  const change = sum - paid - feeFor(feeRate, wChange);
  if (change >= dustThreshold(net, wallet.script)) {
    if (wChange > max) return { kind: 'too_heavy', weight: wChange, max };
    const all = [...outputs, { script: wallet.script, value: change }];
    return { kind: 'ok', inputs, outputs: all, fee: sum - paid - change, change, weightBound: wChange, vsizeBound: vsizeOfWeight(wChange) };
  }
  const w = weightBound(wallet.kind, inputs.length, scripts);
  if (w > max) return { kind: 'too_heavy', weight: w, max };
  return { kind: 'ok', inputs, outputs: [...outputs], fee: sum - paid, change: null, weightBound: w, vsizeBound: vsizeOfWeight(w) };
}

/**
 * A rotation's sweep: every given UTXO to one output, the fee taken from their sum (no change). Short when
 * what is left after the fee is below the output's dust threshold.
 */
export function planSweep(request: Omit<PlanRequest, 'outputs' | 'required'> & { to: Uint8Array }): Plan {
  const { net, wallet, utxos, to } = request;
  const feeRate = request.feeRate < net.minFeeRate ? net.minFeeRate : request.feeRate;
  const max = request.maxWeight ?? MAX_STANDARD_WEIGHT;
  const sum = utxos.reduce((s, u) => s + u.value, 0n);
  const w = weightBound(wallet.kind, Math.max(utxos.length, 1), [to]);
  const fee = feeFor(feeRate, w);
  if (utxos.length === 0 || sum - fee < dustThreshold(net, to))
    return { kind: 'short', spendable: sum, needed: fee + dustThreshold(net, to) };
  if (w > max) return { kind: 'too_heavy', weight: w, max };
  return {
    kind: 'ok',
    inputs: [...utxos],
    outputs: [{ script: to, value: sum - fee }],
    fee,
    change: null,
    weightBound: w,
    vsizeBound: vsizeOfWeight(w),
  };
}

// ---- Signing ----------------------------------------------------------------------------------

export interface SignedBtcTx {
  rawHex: string;
  txid: string;
  fee: bigint;
  vsize: number;
  weight: number;
  inputs: Utxo[];
}

const PRIVATE_KEY_BYTES = 32;

function requireKeyOf(wallet: HotWallet, key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== PRIVATE_KEY_BYTES) throw new BtcTxError('the private key is not 32 bytes');
  let pub: Uint8Array;
  try {
    pub = secp256k1.getPublicKey(key, true);
  } catch {
    throw new BtcTxError('the private key is not a valid secp256k1 secret'); // noble's message would print the key
  }
  if (!equalBytes(pub, wallet.publicKey)) throw new BtcTxError("the private key is not the hot wallet's");
}

/**
 * Builds and signs the plan; fail-stop if the independent verifier does not agree with what was built.
 * `sequence`: RBF_SEQUENCE unless a final sequence is asked (0xffffffff, a chain without replacement).
 */
export function signPayment(
  net: BtcNetwork,
  wallet: HotWallet,
  plan: Extract<Plan, { kind: 'ok' }>,
  key: Uint8Array,
  sequence: number = RBF_SEQUENCE,
): SignedBtcTx {
  requireKeyOf(wallet, key);
  const tx = new Transaction({ version: net.txVersion, lockTime: 0, allowLegacyWitnessUtxo: true, allowUnknownOutputs: true });
  for (const u of plan.inputs)
    tx.addInput({ txid: u.txid, index: u.vout, sequence, witnessUtxo: { script: wallet.script, amount: u.value } });
  for (const o of plan.outputs) tx.addOutput({ script: o.script, amount: o.value });
  if (net.forkId === null) {
    if (tx.sign(key) !== plan.inputs.length) throw new BtcTxError('not every input was signed');
    tx.finalize();
  } else signForkId(tx, net.forkId, wallet, plan.inputs, key);
  const rawHex = toHex(tx.extract());
  return checked(net, wallet, plan, rawHex, tx.id);
}

/** Bitcoin Cash: BIP143-style digest with SIGHASH_ALL|FORKID, the signature put in as the final scriptSig. */
function signForkId(tx: Transaction, forkId: number, wallet: HotWallet, inputs: readonly Utxo[], key: Uint8Array): void {
  const sigByte = SIGHASH_ALL | SIGHASH_FORKID;
  inputs.forEach((u, i) => {
    const digest = tx.preimageWitnessV0(i, wallet.script, hashTypeValue(sigByte, forkId), u.value);
    // RFC 6979 without extra entropy: the same payment signs to the same bytes after a crash.
    const der = secp256k1.sign(digest, key, { lowS: true, prehash: false, extraEntropy: false }).toDERRawBytes();
    tx.updateInput(i, { finalScriptSig: Script.encode([Uint8Array.from([...der, sigByte]), wallet.publicKey]) });
  });
}

function checked(net: BtcNetwork, wallet: HotWallet, plan: Extract<Plan, { kind: 'ok' }>, rawHex: string, txid: string): SignedBtcTx {
  const byOutpoint = new Map(plan.inputs.map((u) => [`${u.txid}:${u.vout}`, u.value]));
  const check = verifyBtcTx(net, rawHex, (id, vout) => {
    const value = byOutpoint.get(`${id}:${vout}`);
    return value === undefined ? undefined : { value, script: wallet.script };
  });
  if (check.txid === null) throw new BtcTxError(`the signed transaction does not parse: ${check.problems.join('; ')}`);
  if (check.problems.length > 0) throw new BtcTxError(`the signed transaction does not verify: ${check.problems.join('; ')}`);
  if (check.txid !== txid) throw new BtcTxError(`txid mismatch after signing: ${check.txid} vs ${txid}`);
  if (check.fee !== plan.fee) throw new BtcTxError(`fee mismatch after signing: ${String(check.fee)} vs ${plan.fee}`);
  if (check.vsize > plan.vsizeBound) throw new BtcTxError(`vsize ${check.vsize} over its bound ${plan.vsizeBound}`);
  return { rawHex, txid, fee: plan.fee, vsize: check.vsize, weight: weightOf(check.tx), inputs: plan.inputs };
}
