// Fee bumps by replacement (src/chains/btc/bump.ts): the replacement of a signed payment spends its inputs
// and pays its outputs, only the change smaller, at least the old fee plus the incremental relay fee for its
// size, never above the ceiling; what is read back with other inputs, other outputs or more change is refused.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { basisOf, bumpPlan, paysAll, replacementProblem, type Basis } from '../../src/chains/btc/bump.js';
import { preset } from '../../src/chains/btc/network.js';
import { parseRawTx } from '../../src/chains/btc/rawtx.js';
import { hotWallet, planPayment, signPayment, type Utxo } from '../../src/chains/btc/tx.js';
import { verifyBtcTx } from '../../src/chains/btc/verify.js';
import { fromHex } from '../../src/chains/zcash/bytes.js';

const NET = preset('LTC-regtest');
const KEY = secp256k1.utils.randomPrivateKey();
const WALLET = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(KEY, true));
const payee = () => Uint8Array.from([0x00, 0x14, ...secp256k1.utils.randomPrivateKey().slice(0, 20)]);
const UTXOS: Utxo[] = [
  { txid: 'aa'.repeat(32), vout: 1, value: 50_000_000n },
  { txid: 'bb'.repeat(32), vout: 0, value: 30_000_000n },
];
const OUTPUTS = [
  { script: payee(), value: 40_000_000n },
  { script: payee(), value: 25_000_000n },
];

/** The first attempt: signed at 1 per vbyte, as a stuck payment would be. */
function first(): { raw: string; basis: Basis; fee: bigint } {
  const plan = planPayment({ net: NET, wallet: WALLET, utxos: UTXOS, outputs: OUTPUTS, feeRate: 1n });
  if (plan.kind !== 'ok') throw new Error(plan.kind);
  const signed = signPayment(NET, WALLET, plan, KEY);
  return { raw: signed.rawHex, basis: basisOf(signed.rawHex, WALLET), fee: signed.fee };
}

const request = (basis: Basis, o: { estimate?: bigint; ceiling?: bigint } = {}) => ({
  net: NET,
  wallet: WALLET,
  old: basis,
  inputs: UTXOS,
  incremental: 1n,
  estimate: o.estimate ?? 0n,
  ceiling: o.ceiling ?? 100n,
});

describe('a replacement (BIP125)', () => {
  it('spends the same inputs, pays the same outputs, only the change smaller; the fee above the old by the incremental fee for its size', () => {
    const f = first();
    expect(f.basis.payees.map((p) => p.value)).toEqual([40_000_000n, 25_000_000n]);
    const plan = bumpPlan(request(f.basis));
    if ('wait' in plan) throw new Error(plan.wait);
    expect(plan.fee).toBeGreaterThanOrEqual(f.fee + BigInt(plan.vsizeBound));
    expect(plan.fee).toBeGreaterThanOrEqual((f.fee * 5n) / 4n);
    const signed = signPayment(NET, WALLET, plan, KEY);
    const next = basisOf(signed.rawHex, WALLET);
    expect(replacementProblem(f.basis, next)).toBeNull();
    expect(next.change).toBe((f.basis.change ?? 0n) - (plan.fee - f.fee));
    // Read back on the independent path: the old fee plus the raise, the same input set.
    const check = verifyBtcTx(NET, signed.rawHex, (id, vout) => {
      const u = UTXOS.find((x) => x.txid === id && x.vout === vout);
      return u && { value: u.value, script: WALLET.script };
    });
    expect(check.problems).toEqual([]);
    expect(check.fee).toBe(plan.fee);
    expect(parseRawTx(fromHex(signed.rawHex)).inputs).toHaveLength(UTXOS.length);
  });

  it("pays the node's estimate when it is higher, never above the ceiling", () => {
    const f = first();
    const at = bumpPlan(request(f.basis, { estimate: 50n, ceiling: 20n }));
    if ('wait' in at) throw new Error(at.wait);
    expect(at.fee).toBe(20n * BigInt(at.vsizeBound));
    const est = bumpPlan(request(f.basis, { estimate: 10n }));
    if ('wait' in est) throw new Error(est.wait);
    expect(est.fee).toBe(10n * BigInt(est.vsizeBound));
  });

  it('waits, at the cap, when the least the node would take is above the ceiling', () => {
    const f = first();
    const plan = bumpPlan(request(f.basis, { ceiling: 1n }));
    expect(plan).toMatchObject({ atCap: true, wait: expect.stringMatching(/fee_rate_max 1/) as unknown });
  });

  it('puts change that would be dust into the fee, within the ceiling', () => {
    const f = first();
    const small: Basis = { ...f.basis, change: 3_000n };
    const inputs = [{ ...UTXOS[0], value: 40_000_000n + 3_000n + f.fee } as Utxo, UTXOS[1] as Utxo];
    const payees = { ...small, payees: [f.basis.payees[0], { ...f.basis.payees[1], value: 30_000_000n }] } as Basis;
    const plan = bumpPlan({ ...request(payees), inputs });
    if ('wait' in plan) throw new Error(plan.wait);
    expect(plan.change).toBeNull();
    expect(plan.outputs.map((o) => o.value)).toEqual([40_000_000n, 30_000_000n]);
    expect(plan.fee).toBe(3_000n + f.fee);
  });

  it('a payment without change is not replaced (nothing to take the fee from)', () => {
    const f = first();
    expect(bumpPlan(request({ ...f.basis, change: null }))).toMatchObject({
      atCap: false,
      wait: expect.stringMatching(/no change/) as unknown,
    });
  });

  it('read back: other inputs, another output, an extra output or more change are refused', () => {
    const { basis } = first();
    const [a, b] = basis.payees as [Basis['payees'][number], Basis['payees'][number]];
    const cases: Array<[Basis, RegExp]> = [
      [{ ...basis, inputs: [...basis.inputs, { txid: 'cc'.repeat(32), vout: 0 }] }, /other inputs/],
      [{ ...basis, inputs: [...basis.inputs].reverse() }, /other inputs/],
      [{ ...basis, payees: [a, { ...b, value: b.value + 1n }] }, /output 1/],
      [{ ...basis, payees: [a, { ...b, script: payee() }] }, /output 1/],
      [{ ...basis, payees: [a, b, { script: payee(), value: 1n }] }, /3 payee outputs/],
      [{ ...basis, change: (basis.change ?? 0n) + 1n }, /change is larger/],
    ];
    for (const [next, why] of cases) expect(replacementProblem(basis, next)).toMatch(why);
    expect(replacementProblem(basis, { ...basis, change: null })).toBeNull();
  });

  it('a spender pays the payment when it pays each of its payee outputs exactly, whatever its change (a restored backup lost it)', () => {
    const { basis } = first();
    const [a, b] = basis.payees as [Basis['payees'][number], Basis['payees'][number]];
    const spender = (payees: Basis['payees'], change: bigint | null = 1n): Basis => ({ ...basis, payees, change });
    expect(paysAll(spender([a, b], null), basis.payees)).toBe(true);
    expect(paysAll(spender([b, a, { script: payee(), value: 5n }]), basis.payees)).toBe(true);
    expect(paysAll(spender([a]), basis.payees)).toBe(false);
    expect(paysAll(spender([a, { ...b, value: b.value - 1n }]), basis.payees)).toBe(false);
    expect(paysAll(spender([a, { ...b, script: payee() }]), basis.payees)).toBe(false);
    expect(paysAll(spender([a, a]), [a, a])).toBe(true);
    expect(paysAll(spender([a, b]), [a, a])).toBe(false);
    expect(paysAll(spender([a]), [])).toBe(false);
  });
});
