// Builds an unsigned transparent Zcash transaction (v4 or v5) from chosen inputs and outputs. Pure:
// no node, no keys. The caller picks inputs, outputs and change; this module refuses anything the
// network would refuse or that looks like a money-losing mistake (a forgotten change output shows up
// as an absurd fee).

import { displayHexToHash } from './bytes.js';
import { branchHex, requireKnownBranch } from './branch.js';
import { conventionalFeeZat, P2PKH_SIGNED_INPUT_BYTES_MAX } from './fee.js';
import { p2pkhHashOf } from './script.js';
import type { SpentOutput } from './sighash-v5.js';
import { EXPIRY_HEIGHT_THRESHOLD, MAX_MONEY_ZAT, serializeTx, type Tx, type TxIn, type TxOut } from './tx.js';

/** zcashd's MAX_STANDARD_TX_SIZE: a larger transaction is not relayed. */
export const STANDARD_TX_BYTES_MAX = 100_000;
/** zcashd's dust threshold at its default relay fee (100 zat/kB × 182 bytes × 3): smaller outputs are not relayed. */
export const DUST_THRESHOLD_ZAT = 54n;
/** A fee over this many times the ZIP-317 fee is taken for a mistake (zcashd calls it "absurdly high"). */
export const FEE_FACTOR_MAX = 10n;
/** Sequence for every input: final, unless a lock time is set (which only binds with a non-final input). */
const SEQUENCE_FINAL = 0xffffffff;
const SEQUENCE_LOCKTIME = 0xfffffffe;

export class ZcashBuildError extends Error {
  override name = 'ZcashBuildError';
}

export interface BuildInput {
  /** The funding transaction's id, display hex (as the node's listunspent shows it). */
  readonly txid: string;
  readonly vout: number;
  readonly value: bigint;
  readonly scriptPubKey: Uint8Array;
}

export interface BuildOutput {
  readonly scriptPubKey: Uint8Array;
  readonly value: bigint;
}

export interface BuildRequest {
  readonly version: 4 | 5;
  /** From the node's getblockchaininfo consensus.nextblock; must be in the known table. */
  readonly branchId: number;
  readonly inputs: readonly BuildInput[];
  readonly outputs: readonly BuildOutput[];
  readonly lockTime?: number;
  /** Last block height that may include the transaction (zcashd's default is tip + 40). */
  readonly expiryHeight: number;
}

export interface UnsignedTransparentTx {
  /** The transaction with empty scriptSigs. */
  readonly tx: Tx;
  readonly branchId: number;
  /** What each input spends, in input order: the signer must be given the same. */
  readonly prevouts: readonly SpentOutput[];
  /** Inputs minus outputs. */
  readonly feeZat: bigint;
}

export function buildTransparentTx(req: BuildRequest): UnsignedTransparentTx {
  const branch = requireKnownBranch(req.branchId);
  if (!branch.txVersions.includes(req.version)) {
    throw new ZcashBuildError(`a v${req.version} transaction is not valid under ${branch.name} (${branchHex(branch.id)})`);
  }
  const lockTime = req.lockTime ?? 0;
  if (!isU32(lockTime)) throw new ZcashBuildError(`lock time ${lockTime} is not a u32`);
  if (!Number.isInteger(req.expiryHeight) || req.expiryHeight < 1 || req.expiryHeight >= EXPIRY_HEIGHT_THRESHOLD) {
    throw new ZcashBuildError(
      `expiry height ${req.expiryHeight} must be in 1..${EXPIRY_HEIGHT_THRESHOLD - 1} (0 would mean "never expires")`,
    );
  }
  if (req.inputs.length === 0) throw new ZcashBuildError('no inputs');
  if (req.outputs.length === 0) throw new ZcashBuildError('no outputs');

  const sequence = lockTime === 0 ? SEQUENCE_FINAL : SEQUENCE_LOCKTIME;
  const seen = new Set<string>();
  const inputs: TxIn[] = [];
  const prevouts: SpentOutput[] = [];
  let inZat = 0n;
  req.inputs.forEach((i, n) => {
    const key = `${i.txid.toLowerCase()}:${i.vout}`;
    if (seen.has(key)) throw new ZcashBuildError(`input ${n} spends ${key} twice`);
    seen.add(key);
    let txid: Uint8Array;
    try {
      txid = displayHexToHash(i.txid, `input ${n} txid`);
    } catch (e) {
      throw new ZcashBuildError((e as Error).message);
    }
    if (!isU32(i.vout)) throw new ZcashBuildError(`input ${n} vout ${i.vout} is not a u32`);
    if (i.value < 0n || i.value > MAX_MONEY_ZAT) throw new ZcashBuildError(`input ${n} value ${i.value} zat is out of range`);
    // Only P2PKH is signed here; refusing others now beats a half-signed transaction later.
    if (!p2pkhHashOf(i.scriptPubKey)) throw new ZcashBuildError(`input ${n} (${key}) does not spend a P2PKH output`);
    inZat += i.value;
    inputs.push({ prevout: { txid, index: i.vout }, scriptSig: new Uint8Array(0), sequence });
    prevouts.push({ value: i.value, scriptPubKey: Uint8Array.from(i.scriptPubKey) });
  });
  if (inZat > MAX_MONEY_ZAT) throw new ZcashBuildError(`inputs total ${inZat} zat, over MAX_MONEY`);

  let outZat = 0n;
  const outputs: TxOut[] = req.outputs.map((o, n) => {
    if (o.value < DUST_THRESHOLD_ZAT || o.value > MAX_MONEY_ZAT)
      throw new ZcashBuildError(`output ${n} value ${o.value} zat is out of range (${DUST_THRESHOLD_ZAT}..${MAX_MONEY_ZAT})`);
    if (o.scriptPubKey.length === 0) throw new ZcashBuildError(`output ${n} has an empty scriptPubKey`);
    outZat += o.value;
    return { value: o.value, scriptPubKey: Uint8Array.from(o.scriptPubKey) };
  });
  if (outZat > inZat) throw new ZcashBuildError(`outputs total ${outZat} zat, more than the inputs' ${inZat} zat`);

  const tx: Tx =
    req.version === 4
      ? {
          version: 4,
          inputs,
          outputs,
          lockTime,
          expiryHeight: req.expiryHeight,
          valueBalanceSapling: 0n,
          saplingSpends: [],
          saplingOutputs: [],
          joinSplits: [],
          joinSplitPubKey: null,
          joinSplitSig: null,
          bindingSigSapling: null,
        }
      : {
          version: 5,
          consensusBranchId: req.branchId,
          lockTime,
          expiryHeight: req.expiryHeight,
          inputs,
          outputs,
          sapling: null,
          orchard: null,
        };

  // Each unsigned input is 41 bytes (outpoint 36, empty scriptSig 1, sequence 4); signing grows it to at most the P2PKH bound.
  const signedBytesMax = serializeTx(tx).length + inputs.length * (P2PKH_SIGNED_INPUT_BYTES_MAX - 41);
  if (signedBytesMax > STANDARD_TX_BYTES_MAX) {
    throw new ZcashBuildError(
      `the signed transaction could be ${signedBytesMax} bytes, over the standard limit ${STANDARD_TX_BYTES_MAX}: use fewer inputs or outputs`,
    );
  }
  const feeZat = inZat - outZat;
  const conventional = conventionalFeeZat(tx);
  if (feeZat < conventional) throw new ZcashBuildError(`fee ${feeZat} zat is below the ZIP-317 conventional fee ${conventional} zat`);
  if (feeZat > conventional * FEE_FACTOR_MAX) {
    throw new ZcashBuildError(`fee ${feeZat} zat is over ${FEE_FACTOR_MAX}× the ZIP-317 fee ${conventional} zat: a missing change output?`);
  }
  return { tx, branchId: req.branchId, prevouts, feeZat };
}

function isU32(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 0xffffffff;
}
