// Building, signing and verifying transparent Zcash transactions: what payserv sends must verify,
// and every kind of damage to it must be reported by the verifier the node stand-in uses.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { createBase58check } from '@scure/base';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { validateAddress, zcashAddressScript, zcashP2pkhAddress } from '../../src/chains/address.js';
import { BRANCHES, branchByName, branchFromRpcHex, requireKnownBranch, UnknownBranchError } from '../../src/chains/zcash/branch.js';
import { buildTransparentTx, ZcashBuildError, type BuildInput, type BuildOutput } from '../../src/chains/zcash/build.js';
import { fromHex, toHex } from '../../src/chains/zcash/bytes.js';
import { conventionalFeeZat, estimateTransparentFeeZat, logicalActions } from '../../src/chains/zcash/fee.js';
import { SIGHASH_ALL } from '../../src/chains/zcash/hashtype.js';
import {
  hash160,
  p2pkhHashOf,
  p2pkhScript,
  p2shHashOf,
  p2shScript,
  parseP2pkhScriptSig,
  parseStrictDer,
} from '../../src/chains/zcash/script.js';
import { signTransparentTx, ZcashSignError } from '../../src/chains/zcash/sign.js';
import { parseTx, serializeTx, txInBytes, type Tx } from '../../src/chains/zcash/tx.js';
import { txidOf } from '../../src/chains/zcash/txid.js';
import { verifyTransparentTx, type PrevoutLookup } from '../../src/chains/zcash/verify.js';

const NU63 = requireKnownBranch(0x37a5165b).id;
const NU6 = requireKnownBranch(0xc8e71055).id;
const CANOPY = requireKnownBranch(0xe9ff75a6).id;
const EXPIRY = 3_000_040;

interface Wallet {
  readonly key: Uint8Array;
  readonly script: Uint8Array;
}

function wallet(): Wallet {
  const key = secp256k1.utils.randomPrivateKey();
  return { key, script: p2pkhScript(hash160(secp256k1.getPublicKey(key, true))) };
}

function coin(w: Wallet, value: bigint): BuildInput {
  return { txid: toHex(randomBytes(32)), vout: randomBytes(1)[0] as number, value, scriptPubKey: w.script };
}

function payTo(value: bigint): BuildOutput {
  return { scriptPubKey: wallet().script, value };
}

/** The node's UTXO set as the verifier sees it. */
function utxos(inputs: readonly BuildInput[]): PrevoutLookup {
  const m = new Map(inputs.map((i) => [`${i.txid}:${i.vout}`, { value: i.value, scriptPubKey: i.scriptPubKey }]));
  return (txid, vout) => m.get(`${txid}:${vout}`);
}

/** Builds and signs; `fee` comes out of the first output's value. */
function payment(version: 4 | 5, ins: { w: Wallet; value: bigint }[], outs: bigint[], fee: bigint, branchId = NU63) {
  const inputs = ins.map((i) => coin(i.w, i.value));
  const outputs = outs.map(payTo);
  const unsigned = buildTransparentTx({ version, branchId, inputs, outputs, expiryHeight: EXPIRY });
  expect(unsigned.feeZat).toBe(fee);
  const signed = signTransparentTx(
    unsigned,
    unsigned.prevouts,
    ins.map((i) => i.w.key),
  );
  return { inputs, outputs, unsigned, signed };
}

/** Re-serializes a parsed transaction after a change, as an attacker (or a bug) would. */
function tamper(rawHex: string, change: (tx: Tx) => Tx): string {
  return toHex(serializeTx(change(parseTx(fromHex(rawHex)))));
}

describe('Zcash transparent transactions', () => {
  for (const version of [4, 5] as const) {
    it(`v${version}: builds, signs and verifies a 1-input 2-output payment; the bytes parse back to the same transaction`, () => {
      const w = wallet();
      const { inputs, outputs, signed } = payment(version, [{ w, value: 1_000_000n }], [600_000n, 390_000n], 10_000n);
      const back = parseTx(fromHex(signed.rawHex));
      expect(back.version).toBe(version);
      expect(back.expiryHeight).toBe(EXPIRY);
      expect(back.lockTime).toBe(0);
      expect(back.outputs.map((o) => o.value)).toEqual([600_000n, 390_000n]);
      expect(back.outputs.map((o) => toHex(o.scriptPubKey))).toEqual(outputs.map((o) => toHex(o.scriptPubKey)));
      expect(toHex(Uint8Array.from((back.inputs[0] as Tx['inputs'][number]).prevout.txid).reverse())).toBe(inputs[0]?.txid);
      if (back.version === 5) expect(back.consensusBranchId).toBe(NU63);
      expect(txidOf(back)).toBe(signed.txid);
      expect(signed.txid).toMatch(/^[0-9a-f]{64}$/);

      const spend = parseP2pkhScriptSig((back.inputs[0] as Tx['inputs'][number]).scriptSig);
      expect(spend.hashType).toBe(SIGHASH_ALL);
      expect(toHex(spend.publicKey)).toBe(toHex(secp256k1.getPublicKey(w.key, true)));
      expect(parseStrictDer(spend.signature).s <= secp256k1.CURVE.n / 2n).toBe(true);

      const result = verifyTransparentTx(signed.rawHex, utxos(inputs), NU63);
      expect(result.problems).toEqual([]);
      expect(result.txid).toBe(signed.txid);
      expect(result.feeZat).toBe(10_000n);
    });

    it(`v${version}: signing is deterministic (RFC 6979): the same transaction signs to the same bytes`, () => {
      const w = wallet();
      const inputs = [coin(w, 500_000n)];
      const unsigned = buildTransparentTx({ version, branchId: NU63, inputs, outputs: [payTo(490_000n)], expiryHeight: EXPIRY });
      const a = signTransparentTx(unsigned, unsigned.prevouts, [w.key]);
      const b = signTransparentTx(unsigned, unsigned.prevouts, [w.key]);
      expect(a.rawHex).toBe(b.rawHex);
      expect(a.txid).toBe(b.txid);
    });

    it(`v${version}: three inputs under three keys, one output`, () => {
      const ws = [wallet(), wallet(), wallet()];
      const { inputs, signed } = payment(
        version,
        ws.map((w, i) => ({ w, value: 100_000n * BigInt(i + 1) })),
        [585_000n],
        15_000n,
      );
      const result = verifyTransparentTx(signed.rawHex, utxos(inputs), NU63);
      expect(result.problems).toEqual([]);
      expect(result.feeZat).toBe(15_000n);
      expect(parseTx(fromHex(signed.rawHex)).inputs.map((i) => toHex(parseP2pkhScriptSig(i.scriptSig).publicKey))).toEqual(
        ws.map((w) => toHex(secp256k1.getPublicKey(w.key, true))),
      );
    });

    it(`v${version}: a flipped byte in a signature is reported`, () => {
      const { inputs, signed } = payment(version, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n);
      const bad = tamper(signed.rawHex, (tx) => ({
        ...tx,
        inputs: tx.inputs.map((i) => {
          const s = Uint8Array.from(i.scriptSig);
          s[10] = (s[10] as number) ^ 0x01; // inside R (push 1, SEQUENCE 2, INTEGER tag and length 2, then R)
          return { ...i, scriptSig: s };
        }),
      }));
      const result = verifyTransparentTx(bad, utxos(inputs), NU63);
      expect(result.problems).toEqual([
        'input 0: the signature does not verify' +
          (version === 4 ? ' (wrong key, altered transaction, or signed for another consensus branch)' : ''),
      ]);
    });

    it(`v${version}: a changed output value is reported`, () => {
      const { inputs, signed } = payment(version, [{ w: wallet(), value: 1_000_000n }], [600_000n, 390_000n], 10_000n);
      const bad = tamper(signed.rawHex, (tx) => ({
        ...tx,
        outputs: tx.outputs.map((o, n) => (n === 0 ? { ...o, value: o.value - 1n } : o)),
      }));
      const result = verifyTransparentTx(bad, utxos(inputs), NU63);
      expect(result.problems).toHaveLength(1);
      expect(result.problems[0]).toMatch(/^input 0: the signature does not verify/);
      expect(result.feeZat).toBe(10_001n);
    });

    it(`v${version}: a missing prevout is reported`, () => {
      const { inputs, signed } = payment(
        version,
        [
          { w: wallet(), value: 400_000n },
          { w: wallet(), value: 600_000n },
        ],
        [990_000n],
        10_000n,
      );
      const onlyFirst: PrevoutLookup = (txid, vout) => (txid === inputs[0]?.txid ? utxos(inputs)(txid, vout) : undefined);
      const result = verifyTransparentTx(signed.rawHex, onlyFirst, NU63);
      expect(result.problems).toContain(`input 1: prevout ${inputs[1]?.txid}:${inputs[1]?.vout} does not exist or is spent`);
      expect(result.feeZat).toBeNull();
    });

    it(`v${version}: a public key that does not match the prevout's script is reported`, () => {
      const { inputs, signed } = payment(version, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n);
      const someoneElse = wallet();
      const lookup: PrevoutLookup = (txid, vout) => {
        const p = utxos(inputs)(txid, vout);
        return p && { ...p, scriptPubKey: someoneElse.script };
      };
      expect(verifyTransparentTx(signed.rawHex, lookup, NU63).problems).toEqual([
        "input 0: the public key does not hash to the prevout's pubkey hash",
      ]);
    });

    it(`v${version}: a high-S twin of a valid signature is refused (malleability)`, () => {
      const { inputs, signed } = payment(version, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n);
      const bad = tamper(signed.rawHex, (tx) => ({
        ...tx,
        inputs: tx.inputs.map((i) => {
          const spend = parseP2pkhScriptSig(i.scriptSig);
          const { r, s } = parseStrictDer(spend.signature);
          const high = new secp256k1.Signature(r, secp256k1.CURVE.n - s).toDERRawBytes();
          return {
            ...i,
            scriptSig: Uint8Array.from([high.length + 1, ...high, spend.hashType, spend.publicKey.length, ...spend.publicKey]),
          };
        }),
      }));
      expect(verifyTransparentTx(bad, utxos(inputs), NU63).problems).toEqual([
        'input 0: signature is not strict DER: S is high (a malleable signature)',
      ]);
    });

    it(`v${version}: outputs worth more than the inputs are reported`, () => {
      const { inputs, signed } = payment(version, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n);
      const poorer: PrevoutLookup = (txid, vout) => {
        const p = utxos(inputs)(txid, vout);
        return p && { ...p, value: 900_000n };
      };
      const result = verifyTransparentTx(signed.rawHex, poorer, NU63);
      expect(result.problems).toContain("outputs total 990000 zat, more than the inputs' 900000 zat");
      // The signature committed to the real amount, so it fails too.
      expect(result.problems.some((p) => p.startsWith('input 0: the signature does not verify'))).toBe(true);
    });
  }

  it('v5: a transaction checked against another branch than its header names is reported', () => {
    const { inputs, signed } = payment(5, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n);
    expect(verifyTransparentTx(signed.rawHex, utxos(inputs), NU6).problems).toEqual([
      "the header's consensus branch id 0x37a5165b is not the network's 0xc8e71055",
    ]);
  });

  it('v4: a transaction signed for another branch fails its signature check (v4 has no branch in its header)', () => {
    const { inputs, signed } = payment(4, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n, NU6);
    expect(verifyTransparentTx(signed.rawHex, utxos(inputs), NU6).problems).toEqual([]);
    expect(verifyTransparentTx(signed.rawHex, utxos(inputs), NU63).problems).toEqual([
      'input 0: the signature does not verify (wrong key, altered transaction, or signed for another consensus branch)',
    ]);
  });

  it('verify: an unknown branch id, garbage hex and trailing bytes are reported, not thrown', () => {
    const { inputs, signed } = payment(4, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n);
    expect(verifyTransparentTx(signed.rawHex, utxos(inputs), 0x12345678).problems).toContain('unknown consensus branch id 0x12345678');
    const garbage = verifyTransparentTx('zz', utxos(inputs), NU63);
    expect(garbage.tx).toBeNull();
    expect(garbage.problems).toEqual(['cannot decode the transaction: raw transaction: not an even-length hex string']);
    const trailing = verifyTransparentTx(`${signed.rawHex}00`, utxos(inputs), NU63);
    expect(trailing.txid).toBeNull();
    expect(trailing.problems[0]).toMatch(/^cannot decode the transaction: 1 trailing bytes/);
  });

  it('verify: an input spent twice within one transaction is reported', () => {
    const { inputs, signed } = payment(5, [{ w: wallet(), value: 1_000_000n }], [990_000n], 10_000n);
    const doubled = tamper(signed.rawHex, (tx) => ({ ...tx, inputs: [...tx.inputs, ...tx.inputs] }));
    const problems = verifyTransparentTx(doubled, utxos(inputs), NU63).problems;
    expect(problems).toContain(`input 1: spends ${inputs[0]?.txid}:${inputs[0]?.vout} a second time`);
  });

  it("sign: refuses a key that is not the prevout's, without the key in the message", () => {
    const owner = wallet();
    const thief = wallet();
    const unsigned = buildTransparentTx({
      version: 5,
      branchId: NU63,
      inputs: [coin(owner, 1_000_000n)],
      outputs: [payTo(990_000n)],
      expiryHeight: EXPIRY,
    });
    let message = '';
    try {
      signTransparentTx(unsigned, unsigned.prevouts, [thief.key]);
    } catch (e) {
      expect(e).toBeInstanceOf(ZcashSignError);
      message = (e as Error).message;
    }
    expect(message).toMatch(/^input 0: the key given is not the one for the prevout's pubkey hash [0-9a-f]{40}$/);
    expect(message).not.toContain(toHex(thief.key));
    const zero = new Uint8Array(32);
    expect(() => signTransparentTx(unsigned, unsigned.prevouts, [zero])).toThrow(
      'input 0: the private key is not a valid secp256k1 secret',
    );
    const overOrder = fromHex('ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff');
    let overMessage = '';
    try {
      signTransparentTx(unsigned, unsigned.prevouts, [overOrder]);
    } catch (e) {
      overMessage = (e as Error).message;
    }
    expect(overMessage).toBe('input 0: the private key is not a valid secp256k1 secret');
    expect(() => signTransparentTx(unsigned, unsigned.prevouts, [owner.key.subarray(0, 31)])).toThrow(
      'input 0: the private key is not 32 bytes',
    );
  });

  it('sign: refuses prevouts that differ from those the transaction was built with', () => {
    const w = wallet();
    const unsigned = buildTransparentTx({
      version: 5,
      branchId: NU63,
      inputs: [coin(w, 1_000_000n)],
      outputs: [payTo(990_000n)],
      expiryHeight: EXPIRY,
    });
    const lie = unsigned.prevouts.map((p) => ({ ...p, value: p.value + 1n }));
    expect(() => signTransparentTx(unsigned, lie, [w.key])).toThrow(/input 0: the prevout given differs/);
    expect(() => signTransparentTx(unsigned, [], [w.key])).toThrow(/0 prevouts for 1 inputs/);
    expect(() => signTransparentTx(unsigned, unsigned.prevouts, [])).toThrow(/0 private keys for 1 inputs/);
  });

  it('build: refuses unknown branches, versions the branch does not allow, missing expiry, non-P2PKH inputs, overspending and fee mistakes', () => {
    const w = wallet();
    const base = { version: 5 as const, branchId: NU63, inputs: [coin(w, 1_000_000n)], outputs: [payTo(990_000n)], expiryHeight: EXPIRY };
    expect(buildTransparentTx(base).feeZat).toBe(10_000n);
    expect(() => buildTransparentTx({ ...base, branchId: 0x37519621 })).toThrow(UnknownBranchError);
    expect(() => buildTransparentTx({ ...base, branchId: CANOPY })).toThrow('a v5 transaction is not valid under Canopy (0xe9ff75a6)');
    expect(buildTransparentTx({ ...base, version: 4, branchId: CANOPY }).tx.version).toBe(4);
    expect(() => buildTransparentTx({ ...base, expiryHeight: 0 })).toThrow(/expiry height 0/);
    expect(() => buildTransparentTx({ ...base, expiryHeight: 500_000_000 })).toThrow(/expiry height 500000000/);
    expect(() =>
      buildTransparentTx({ ...base, inputs: [{ ...coin(w, 1_000_000n), scriptPubKey: p2shScript(new Uint8Array(20)) }] }),
    ).toThrow(/does not spend a P2PKH output/);
    expect(() => buildTransparentTx({ ...base, outputs: [payTo(1_000_001n)] })).toThrow(ZcashBuildError);
    expect(() => buildTransparentTx({ ...base, outputs: [payTo(995_000n)] })).toThrow(
      'fee 5000 zat is below the ZIP-317 conventional fee 10000 zat',
    );
    expect(() => buildTransparentTx({ ...base, outputs: [payTo(800_000n)] })).toThrow(
      /fee 200000 zat is over 10× the ZIP-317 fee 10000 zat: a missing change output\?/,
    );
    expect(() => buildTransparentTx({ ...base, inputs: [base.inputs[0] as BuildInput, base.inputs[0] as BuildInput] })).toThrow(
      /spends .* twice/,
    );
    expect(() => buildTransparentTx({ ...base, outputs: [payTo(10n), payTo(989_990n)] })).toThrow(/output 0 value 10 zat is out of range/);
    expect(() => buildTransparentTx({ ...base, inputs: [] })).toThrow('no inputs');
    expect(() => buildTransparentTx({ ...base, inputs: [{ ...coin(w, 1_000_000n), txid: 'ab' }] })).toThrow(
      /input 0 txid: 1 bytes, a hash is 32/,
    );
  });

  it('fee: ZIP-317 for 1×2, 3×1 and 1×500 P2PKH shapes, before and after signing', () => {
    const p2pkh = () => wallet().script;
    expect(estimateTransparentFeeZat(1, [p2pkh(), p2pkh()])).toBe(10_000n); // max(2 grace, 1 in, 2 out)
    expect(estimateTransparentFeeZat(3, [p2pkh()])).toBe(15_000n); // 3 × 148 bytes / 150 → 3 actions
    expect(estimateTransparentFeeZat(1, Array.from({ length: 500 }, p2pkh))).toBe(2_500_000n); // 500 × 34 bytes / 34
    expect(estimateTransparentFeeZat(1, [p2pkh()])).toBe(10_000n); // the grace actions
    // A P2SH output is 32 bytes: 17 of them fit in 16 P2PKH-sized slots (544 / 34).
    expect(
      estimateTransparentFeeZat(
        1,
        Array.from({ length: 17 }, () => p2shScript(new Uint8Array(20))),
      ),
    ).toBe(80_000n);
    // 75 signed P2PKH inputs are 75 × 148 = 11,100 bytes: 74 actions, not 75.
    expect(estimateTransparentFeeZat(75, [p2pkh()])).toBe(370_000n);

    const shapes: [number, number, bigint][] = [
      [1, 2, 10_000n],
      [3, 1, 15_000n],
      [1, 500, 2_500_000n],
    ];
    for (const [nIn, nOut, fee] of shapes) {
      const ins = Array.from({ length: nIn }, () => ({ w: wallet(), value: 10_000_000n }));
      const total = 10_000_000n * BigInt(nIn) - fee;
      const each = total / BigInt(nOut);
      const outs = Array.from({ length: nOut }, (_, k) => (k === 0 ? total - each * BigInt(nOut - 1) : each));
      const { unsigned, signed } = payment(5, ins, outs, fee);
      expect(conventionalFeeZat(unsigned.tx), `${nIn}×${nOut} unsigned`).toBe(fee);
      expect(conventionalFeeZat(signed.tx), `${nIn}×${nOut} signed`).toBe(fee);
      // The signed inputs are within the bound the estimate assumed.
      for (const i of signed.tx.inputs) expect(txInBytes(i)).toBeLessThanOrEqual(148);
      expect(logicalActions(signed.tx)).toBe(Math.max(nIn, nOut));
    }
  });

  it('a 500-output payout builds, signs and verifies within the standard size limit', () => {
    for (const version of [4, 5] as const) {
      const ws = [wallet(), wallet()];
      const fee = 2_500_000n;
      const outs = Array.from({ length: 500 }, (_, k) => 100_000n + BigInt(k));
      const sum = outs.reduce((a, b) => a + b, 0n);
      const { inputs, signed } = payment(
        version,
        [
          { w: ws[0] as Wallet, value: sum },
          { w: ws[1] as Wallet, value: fee },
        ],
        outs,
        fee,
      );
      expect(signed.raw.length).toBeGreaterThan(500 * 34);
      expect(signed.raw.length).toBeLessThan(100_000);
      const result = verifyTransparentTx(signed.rawHex, utxos(inputs), NU63);
      expect(result.problems).toEqual([]);
      expect(result.tx?.outputs).toHaveLength(500);
      expect(result.tx?.outputs[499]?.value).toBe(100_499n);
    }
  });

  it('build: refuses a transaction over the standard size', () => {
    const w = wallet();
    const script = wallet().script;
    const outs = Array.from({ length: 3000 }, () => ({ scriptPubKey: script, value: 1_000n }));
    expect(() =>
      buildTransparentTx({ version: 5, branchId: NU63, inputs: [coin(w, 100_000_000n)], outputs: outs, expiryHeight: EXPIRY }),
    ).toThrow(/over the standard limit 100000/);
  });

  it('scripts: P2PKH and P2SH round trip, and addresses map to the script that pays them', () => {
    const hash = Uint8Array.from(randomBytes(20));
    expect(toHex(p2pkhScript(hash))).toBe(`76a914${toHex(hash)}88ac`);
    expect(toHex(p2shScript(hash))).toBe(`a914${toHex(hash)}87`);
    expect(p2pkhHashOf(p2pkhScript(hash))).toEqual(hash);
    expect(p2shHashOf(p2shScript(hash))).toEqual(hash);
    expect(p2pkhHashOf(p2shScript(hash))).toBeNull();
    expect(p2shHashOf(p2pkhScript(hash))).toBeNull();
    expect(() => p2pkhScript(new Uint8Array(19))).toThrow(/19 bytes/);

    const t1 = zcashP2pkhAddress('mainnet', hash);
    expect(validateAddress({ tag: 'ZEC', network: 'mainnet' }, t1)).toBeNull();
    expect(zcashAddressScript('mainnet', t1)).toEqual(p2pkhScript(hash));
    expect(zcashAddressScript('testnet', zcashP2pkhAddress('testnet', hash))).toEqual(p2pkhScript(hash));
    expect(() => zcashAddressScript('testnet', t1)).toThrow(/a mainnet address for a testnet coin/);
    // A t3 address (prefix 1cbd) pays a P2SH script.
    const t3 = createBase58check(sha256).encode(Uint8Array.from([0x1c, 0xbd, ...hash]));
    expect(t3.startsWith('t3')).toBe(true);
    expect(zcashAddressScript('mainnet', t3)).toEqual(p2shScript(hash));
  });

  it('branches: the DESIGN table, by id and by name; unknown ids are refused with a clear error', () => {
    expect(BRANCHES.map((b) => b.name)).toEqual([
      'Overwinter',
      'Sapling',
      'Blossom',
      'Heartwood',
      'Canopy',
      'NU5',
      'NU6',
      'NU6.1',
      'NU6.2',
      'NU6.3',
    ]);
    expect(branchByName('NU6.3')?.id).toBe(0x37a5165b);
    expect(branchFromRpcHex('37a5165b').name).toBe('NU6.3');
    expect(branchFromRpcHex('c2d6d0b4').name).toBe('NU5');
    expect(() => branchFromRpcHex('37519621')).toThrow(UnknownBranchError);
    expect(() => branchFromRpcHex('0x37a516')).toThrow(/not 8 hex digits/);
    expect(() => requireKnownBranch(0)).toThrow(/unknown consensus branch id 0x00000000: refusing/);
  });
});
