// Building and signing Bitcoin-family payments: the signer reproduces public transactions byte for
// byte (Bitcoin Cash FORKID, Dogecoin P2PKH), and our own Litecoin batches parse back and verify on the
// independent path, with opt-in RBF on every input, the fee at the rate for the vsize bound, change to
// the hot wallet, dust and shortfalls refused before anything is signed.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { addressScript, decodeWif } from '../../src/chains/btc/address.js';
import { preset, type BtcNetwork } from '../../src/chains/btc/network.js';
import { parseRawTx, serializeRawTx } from '../../src/chains/btc/rawtx.js';
import {
  RBF_SEQUENCE,
  dustThreshold,
  hotWallet,
  planPayment,
  signPayment,
  vsizeOfWeight,
  weightBound,
  type Plan,
  type TxOutput,
  type Utxo,
} from '../../src/chains/btc/tx.js';
import { verifyBtcTx } from '../../src/chains/btc/verify.js';
import { fromHex, toHex } from '../../src/chains/zcash/bytes.js';
import { p2pkhScript, p2shScript, parseStrictDer } from '../../src/chains/zcash/script.js';
import { BCH_FORKID, DOGE_P2PKH } from '../fixtures/btc/vectors.js';

type Ok = Extract<Plan, { kind: 'ok' }>;
const FINAL = 0xffffffff;

/** A plan fixed by hand (the public transactions chose their own inputs, outputs and fee). */
function fixedPlan(inputs: Utxo[], outputs: TxOutput[], fee: bigint): Ok {
  return { kind: 'ok', inputs, outputs, fee, change: null, weightBound: 4_000, vsizeBound: 1_000 };
}

describe('reproducing public transactions', () => {
  it('Bitcoin Cash: SIGHASH_ALL|FORKID signs to Trust Wallet Core’s bytes (mainnet txid 96ee2000…)', () => {
    const net: BtcNetwork = { ...preset('BCH-mainnet'), txVersion: 1 };
    const key = fromHex(BCH_FORKID.privateKey);
    const wallet = hotWallet(net, 'p2pkh', secp256k1.getPublicKey(key, true));
    expect(toHex(wallet.script)).toBe(BCH_FORKID.prevout.script);
    const outputs = BCH_FORKID.outputs.map((o) => ({ script: addressScript(net, o.address), value: o.value }));
    const plan = fixedPlan([{ txid: BCH_FORKID.prevout.txid, vout: 2, value: 5151n }], outputs, 226n);
    const signed = signPayment(net, wallet, plan, key, FINAL);
    expect(signed.rawHex).toBe(BCH_FORKID.signed);
    expect(signed.txid).toBe(BCH_FORKID.txid);
  });

  it('Dogecoin: two legacy P2PKH inputs sign to libdogecoin’s bytes', () => {
    const net: BtcNetwork = preset('DOGE-testnet');
    const key = decodeWif(net, DOGE_P2PKH.wif);
    const wallet = hotWallet(net, 'p2pkh', secp256k1.getPublicKey(key, true));
    const published = parseRawTx(fromHex(DOGE_P2PKH.signed));
    const inputs = [
      { txid: 'b4455e7b7b7acb51fb6feba7a2702c42a5100f61f61abafa31851ed6ae076074', vout: 1, value: 200_000_000n },
      { txid: '42113bdc65fc2943cf0359ea1a24ced0b6b0b5290db4c63a3329c6601c4616e2', vout: 1, value: 1_000_000_000n },
    ];
    const outputs = published.outputs.map((o) => ({ script: o.script, value: o.value }));
    const signed = signPayment(net, wallet, fixedPlan(inputs, outputs, 1_200_000_000n - 1_199_774_000n), key, FINAL);
    expect(signed.rawHex).toBe(DOGE_P2PKH.signed);
  });
});

describe('our own payments, verified on the independent path', () => {
  const net = preset('LTC-regtest');
  const key = Uint8Array.from({ length: 32 }, (_, i) => 7 + i);
  const wallet = hotWallet(net, 'p2wpkh', secp256k1.getPublicKey(key, true));
  const utxo = (n: number, value: bigint): Utxo => ({ txid: n.toString(16).padStart(64, 'a'), vout: n % 3, value });
  const other = secp256k1.getPublicKey(
    Uint8Array.from({ length: 32 }, (_, i) => 99 - i),
    true,
  );
  const h = (n: number) => Uint8Array.from({ length: 20 }, (_, i) => (n * 31 + i) & 0xff);

  it('a batch of 60 outputs to every script type: one output each, change to the hot wallet, RBF, fee = rate × vsize bound', () => {
    const scripts = [
      (n: number) => p2pkhScript(h(n)),
      (n: number) => p2shScript(h(n)),
      (n: number) => Uint8Array.from([0x00, 0x14, ...h(n)]),
      (n: number) => Uint8Array.from([0x00, 0x20, ...h(n), ...h(n + 1).slice(0, 12)]),
      (_n: number) => Uint8Array.from([0x51, 0x20, ...other.slice(1)]),
    ];
    const outputs = Array.from({ length: 60 }, (_, n) => ({ script: scripts[n % 5]!(n), value: 10_000n + BigInt(n) }));
    const utxos = [utxo(1, 200_000n), utxo(2, 300_000n), utxo(3, 5_000_000n)];
    const plan = planPayment({ net, wallet, utxos, outputs, feeRate: 3n });
    expect(plan.kind).toBe('ok');
    const ok = plan as Ok;
    expect(ok.inputs).toHaveLength(3);
    const signed = signPayment(net, wallet, ok, key);

    const tx = parseRawTx(fromHex(signed.rawHex));
    expect(tx.version).toBe(2);
    expect(tx.inputs.every((i) => i.sequence === RBF_SEQUENCE)).toBe(true);
    expect(tx.outputs).toHaveLength(61);
    outputs.forEach((o, n) => {
      expect(toHex(tx.outputs[n]!.script)).toBe(toHex(o.script));
      expect(tx.outputs[n]!.value).toBe(o.value);
    });
    expect(toHex(tx.outputs[60]!.script)).toBe(toHex(wallet.script));
    const paid = outputs.reduce((s, o) => s + o.value, 0n);
    expect(tx.outputs[60]!.value).toBe(5_500_000n - paid - signed.fee);
    expect(signed.fee).toBe(3n * BigInt(ok.vsizeBound));
    expect(signed.vsize).toBeLessThanOrEqual(ok.vsizeBound);
    expect(ok.vsizeBound - signed.vsize).toBeLessThanOrEqual(3); // the bound is at most a byte per input off

    const lookup = (id: string, vout: number) => {
      const u = utxos.find((x) => x.txid === id && x.vout === vout);
      return u && { value: u.value, script: wallet.script };
    };
    const check = verifyBtcTx(net, signed.rawHex, lookup);
    expect(check).toMatchObject({ problems: [], txid: signed.txid, fee: signed.fee });
    // Deterministic: a retry after a crash signs to the same txid.
    expect(signPayment(net, wallet, ok, key).rawHex).toBe(signed.rawHex);
    // A changed output value does not verify.
    const tampered = signed.rawHex.replace(toHex(new Uint8Array([0x10, 0x27, 0, 0, 0, 0, 0, 0])), '1127000000000000');
    expect(tampered).not.toBe(signed.rawHex);
    expect(verifyBtcTx(net, tampered, lookup).problems.some((p) => p.includes('does not verify'))).toBe(true);
  });

  it('a 1-in-2-out P2WPKH payment is 141 vbytes, as litecoind measures it', () => {
    const plan = planPayment({
      net,
      wallet,
      utxos: [utxo(1, 1_000_000n)],
      outputs: [{ script: wallet.script, value: 100_000n }],
      feeRate: 1n,
    });
    const signed = signPayment(net, wallet, plan as Ok, key);
    expect(signed.vsize).toBe(141);
    expect((plan as Ok).vsizeBound).toBe(141);
  });

  it('P2PKH hot wallet (legacy digest) and a P2PKH Bitcoin Cash wallet (FORKID) verify too', () => {
    for (const n of [preset('BTC-regtest'), preset('DOGE-regtest'), preset('BCH-regtest')]) {
      const w = hotWallet(n, 'p2pkh', secp256k1.getPublicKey(key, true));
      const utxos = [utxo(5, 50_000_000n)];
      const plan = planPayment({ net: n, wallet: w, utxos, outputs: [{ script: p2pkhScript(h(1)), value: 2_000_000n }], feeRate: 100n });
      const signed = signPayment(n, w, plan as Ok, key);
      const r = verifyBtcTx(n, signed.rawHex, () => ({ value: 50_000_000n, script: w.script }));
      expect(r.problems, n.name).toEqual([]);
      expect(parseRawTx(fromHex(signed.rawHex)).version).toBe(n.txVersion);
    }
  });
});

describe('the verifier refuses what a node would', () => {
  const net = preset('LTC-regtest');
  const key = Uint8Array.from({ length: 32 }, (_, i) => 7 + i);
  const wallet = hotWallet(net, 'p2wpkh', secp256k1.getPublicKey(key, true));
  const utxos = [{ txid: 'ab'.repeat(32), vout: 0, value: 100_000n }];
  const plan = planPayment({
    net,
    wallet,
    utxos,
    outputs: [{ script: p2pkhScript(new Uint8Array(20)), value: 50_000n }],
    feeRate: 2n,
  }) as Ok;
  const signed = signPayment(net, wallet, plan, key);
  const lookup = () => ({ value: 100_000n, script: wallet.script });

  /** The signed transaction with input 0's signature (DER ‖ hash type) rewritten. */
  function withSignature(edit: (sig: Uint8Array) => Uint8Array): string {
    const tx = parseRawTx(fromHex(signed.rawHex));
    const w = tx.inputs[0]!.witness;
    w[0] = edit(w[0]!);
    return toHex(serializeRawTx(tx));
  }

  it('the malleated twin of a signature (high S)', () => {
    const raw = withSignature((sig) => {
      const { r, s } = parseStrictDer(sig.slice(0, -1));
      const twin = new secp256k1.Signature(r, secp256k1.CURVE.n - s).toDERRawBytes();
      return Uint8Array.from([...twin, sig[sig.length - 1]!]);
    });
    expect(verifyBtcTx(net, raw, lookup).problems).toEqual(['input 0: signature is not strict DER: S is high (a malleable signature)']);
  });

  it('another hash type than SIGHASH_ALL (outputs someone could change)', () => {
    const raw = withSignature((sig) => Uint8Array.from([...sig.slice(0, -1), 0x03]));
    expect(verifyBtcTx(net, raw, lookup).problems).toEqual(['input 0: hash type 0x3 is not SIGHASH_ALL']);
  });

  it('a witness on a coin without segwit', () => {
    expect(verifyBtcTx(preset('DOGE-regtest'), signed.rawHex, lookup).problems).toEqual([
      'has witness data, which DOGE-regtest does not know',
      'input 0: a P2WPKH prevout on DOGE-regtest, which has no segwit',
    ]);
  });

  it('an unknown or spent prevout, and bytes that are not a transaction', () => {
    expect(verifyBtcTx(net, signed.rawHex, () => undefined)).toMatchObject({ fee: null });
    expect(verifyBtcTx(net, signed.rawHex, () => undefined).problems[0]).toMatch(/does not exist or is spent/);
    expect(verifyBtcTx(net, signed.rawHex.slice(0, -2), lookup)).toMatchObject({ txid: null });
    expect(verifyBtcTx(net, 'zz', lookup).problems[0]).toMatch(/cannot decode/);
  });
});

describe('refused before signing', () => {
  const net = preset('LTC-regtest');
  const key = Uint8Array.from({ length: 32 }, (_, i) => 7 + i);
  const wallet = hotWallet(net, 'p2wpkh', secp256k1.getPublicKey(key, true));
  const utxos = [{ txid: 'ab'.repeat(32), vout: 0, value: 100_000n }];

  it('dust per output, by each chain’s rule', () => {
    expect(dustThreshold(net, wallet.script)).toBe(2_940n);
    expect(dustThreshold(net, p2pkhScript(new Uint8Array(20)))).toBe(5_460n);
    expect(dustThreshold(preset('BTC-mainnet'), p2pkhScript(new Uint8Array(20)))).toBe(546n);
    expect(dustThreshold(preset('BTC-mainnet'), wallet.script)).toBe(294n);
    expect(dustThreshold(preset('DOGE-mainnet'), p2pkhScript(new Uint8Array(20)))).toBe(1_000_000n);
    const outputs = [
      { script: wallet.script, value: 3_000n },
      { script: wallet.script, value: 2_939n },
    ];
    expect(planPayment({ net, wallet, utxos, outputs, feeRate: 1n })).toEqual({ kind: 'dust', index: 1, value: 2_939n, threshold: 2_940n });
  });

  it('a fee rate below what the chain relays is raised to its minimum (Dogecoin: 1,000 koinu/vB)', () => {
    const doge = preset('DOGE-regtest');
    const w = hotWallet(doge, 'p2pkh', wallet.publicKey);
    const big = [{ txid: 'ab'.repeat(32), vout: 0, value: 100_000_000n }];
    const plan = planPayment({ net: doge, wallet: w, utxos: big, outputs: [{ script: w.script, value: 10_000_000n }], feeRate: 1n }) as Ok;
    expect(plan.fee).toBe(1_000n * BigInt(plan.vsizeBound));
  });

  it('short: the hot wallet cannot cover outputs and fee; the shortfall names both', () => {
    const plan = planPayment({ net, wallet, utxos, outputs: [{ script: wallet.script, value: 99_950n }], feeRate: 1n });
    expect(plan).toMatchObject({ kind: 'short', spendable: 100_000n });
    expect((plan as { needed: bigint }).needed).toBeGreaterThan(100_000n);
  });

  it('change below dust goes to the fee instead of a refused output', () => {
    const plan = planPayment({ net, wallet, utxos, outputs: [{ script: wallet.script, value: 97_000n }], feeRate: 1n }) as Ok;
    expect(plan).toMatchObject({ kind: 'ok', change: null, fee: 3_000n });
    expect(plan.outputs).toHaveLength(1);
  });

  it('required inputs (an earlier failed attempt’s) are spent first', () => {
    const required = [{ txid: 'cd'.repeat(32), vout: 4, value: 10_000n }];
    const plan = planPayment({ net, wallet, utxos, required, outputs: [{ script: wallet.script, value: 50_000n }], feeRate: 1n }) as Ok;
    expect(plan.inputs.map((u) => u.txid)).toEqual(['cd'.repeat(32), 'ab'.repeat(32)]);
  });

  it('too heavy for one standard transaction', () => {
    const outputs = Array.from({ length: 100 }, () => ({ script: wallet.script, value: 3_000n }));
    const many = Array.from({ length: 3 }, (_, i) => ({ txid: i.toString().padStart(64, '0'), vout: 0, value: 1_000_000n }));
    expect(planPayment({ net, wallet, utxos: many, outputs, feeRate: 1n, maxWeight: 10_000 })).toMatchObject({ kind: 'too_heavy' });
    expect(
      vsizeOfWeight(
        weightBound(
          'p2wpkh',
          1,
          outputs.map((o) => o.script),
        ),
      ),
    ).toBeGreaterThan(2_500);
  });

  it('a key that is not the hot wallet’s, a P2WPKH wallet on Dogecoin', () => {
    const plan = planPayment({ net, wallet, utxos, outputs: [{ script: wallet.script, value: 50_000n }], feeRate: 1n }) as Ok;
    expect(() => signPayment(net, wallet, plan, new Uint8Array(32).fill(9))).toThrow("the private key is not the hot wallet's");
    expect(() => signPayment(net, wallet, plan, new Uint8Array(32))).toThrow('not a valid secp256k1 secret');
    expect(() => hotWallet(preset('DOGE-mainnet'), 'p2wpkh', wallet.publicKey)).toThrow(/no segwit/);
  });
});
