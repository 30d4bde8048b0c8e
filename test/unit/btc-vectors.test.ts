// The independent verification path (rawtx.ts, sighash.ts, verify.ts) against public, known-good
// transactions: BIP143's native P2WPKH example, a Bitcoin Cash FORKID transaction, a Dogecoin P2PKH
// transaction. Each also shows that an altered byte is caught.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { describe, expect, it } from 'vitest';
import { decodeWif } from '../../src/chains/btc/address.js';
import { preset } from '../../src/chains/btc/network.js';
import { parseRawTx, serializeRawTx, txidOf, type RawTx } from '../../src/chains/btc/rawtx.js';
import { bip143Sighash, legacySighash } from '../../src/chains/btc/sighash.js';
import { verifyBtcTx, type PrevoutLookup } from '../../src/chains/btc/verify.js';
import { fromHex, toHex } from '../../src/chains/zcash/bytes.js';
import { parseStrictDer } from '../../src/chains/zcash/script.js';
import { BCH_FORKID, BIP143_NATIVE_P2WPKH as V, DOGE_P2PKH } from '../fixtures/btc/vectors.js';

const parse = (hex: string): RawTx => parseRawTx(fromHex(hex));

/** The prevouts of a transaction's inputs, by position, as a lookup. */
function lookupFor(tx: RawTx, prevouts: { script: string; value: bigint }[]): PrevoutLookup {
  return (txid, vout) => {
    const n = tx.inputs.findIndex((i) => toHex(Uint8Array.from(i.prevTxid).reverse()) === txid && i.vout === vout);
    const p = prevouts[n];
    return p ? { value: p.value, script: fromHex(p.script) } : undefined;
  };
}

/** The same hex with one byte changed at `at` (an index into the bytes). */
function flip(hex: string, at: number): string {
  const b = fromHex(hex);
  b[at] = (b[at] as number) ^ 0x01;
  return toHex(b);
}

describe('BIP143 native P2WPKH example', () => {
  const signed = parse(V.signed);

  it('parses and re-serializes to the same bytes, and the unsigned form is the signed one stripped', () => {
    expect(toHex(serializeRawTx(signed))).toBe(V.signed);
    const stripped = { ...signed, inputs: signed.inputs.map((i) => ({ ...i, scriptSig: new Uint8Array(0), witness: [] })) };
    expect(toHex(serializeRawTx(stripped))).toBe(V.unsigned);
    expect(signed.inputs[1]?.witness).toHaveLength(2);
  });

  it('computes the published BIP143 digest of input 1', () => {
    const scriptCode = fromHex('76a9141d0f172a0ecb48aee1be1f2687d2963ae33f71a188ac');
    expect(toHex(bip143Sighash(parse(V.unsigned), 1, scriptCode, 600_000_000n, 1, null))).toBe(V.input1.sighash);
  });

  it('verifies input 1 (P2WPKH) on the verifier, and input 0 (P2PK) by the legacy digest', () => {
    const net = preset('BTC-mainnet');
    const r = verifyBtcTx(net, V.signed, lookupFor(signed, V.prevouts));
    // Input 0 is P2PK, which the verifier does not take: the only problem it reports.
    expect(r.problems).toEqual(['input 0: the prevout script is not P2PKH or P2WPKH (the only spends verified)']);
    expect(r.fee).toBe(625_000_000n + 600_000_000n - 112_340_000n - 223_450_000n);

    const scriptSig = signed.inputs[0]!.scriptSig;
    const sig = scriptSig.slice(1, 1 + scriptSig[0]! - 1);
    const digest = legacySighash(signed, 0, fromHex(V.prevouts[0]!.script), 1);
    const pub = fromHex(V.prevouts[0]!.script).slice(1, 34);
    expect(secp256k1.verify(parseStrictDer(sig), digest, pub, { lowS: false, prehash: false })).toBe(true);
  });

  it('reports a changed output amount as a bad signature', () => {
    const amountByte = V.signed.indexOf('202cb206') / 2;
    const r = verifyBtcTx(preset('BTC-mainnet'), flip(V.signed, amountByte), lookupFor(signed, V.prevouts));
    expect(r.problems).toContain('input 1: the signature does not verify');
  });

  it('reports a wrong prevout amount (BIP143 commits to it)', () => {
    const wrong = [V.prevouts[0]!, { ...V.prevouts[1]!, value: 600_000_001n }];
    expect(verifyBtcTx(preset('BTC-mainnet'), V.signed, lookupFor(signed, wrong)).problems).toContain(
      'input 1: the signature does not verify',
    );
  });
});

describe('Bitcoin Cash FORKID transaction', () => {
  const net = preset('BCH-mainnet');
  const tx = parse(BCH_FORKID.signed);
  const lookup: PrevoutLookup = (txid, vout) =>
    txid === BCH_FORKID.prevout.txid && vout === BCH_FORKID.prevout.vout
      ? { value: BCH_FORKID.prevout.value, script: fromHex(BCH_FORKID.prevout.script) }
      : undefined;

  it('has the txid it has on chain and verifies with the FORKID digest', () => {
    const r = verifyBtcTx(net, BCH_FORKID.signed, lookup);
    expect(r.txid).toBe(BCH_FORKID.txid);
    expect(r.problems).toEqual([]);
    expect(r.fee).toBe(5151n - 600n - 4325n);
  });

  it('does not verify as a Bitcoin (legacy digest) transaction: the replay protection', () => {
    const r = verifyBtcTx(preset('BTC-mainnet'), BCH_FORKID.signed, lookup);
    expect(r.problems.join()).toMatch(/hash type 0x41 is not SIGHASH_ALL/);
  });

  it('does not verify with another amount', () => {
    const r = verifyBtcTx(net, BCH_FORKID.signed, () => ({ value: 5152n, script: fromHex(BCH_FORKID.prevout.script) }));
    expect(r.problems).toEqual(['input 0: the signature does not verify']);
  });

  it('the key signs the published digest to the published signature (RFC 6979)', () => {
    const digest = bip143Sighash(tx, 0, fromHex(BCH_FORKID.prevout.script), 5151n, 0x41, 0);
    const sig = secp256k1.sign(digest, fromHex(BCH_FORKID.privateKey), { lowS: true, prehash: false, extraEntropy: false });
    expect(BCH_FORKID.signed).toContain(sig.toDERHex());
  });
});

describe('Dogecoin P2PKH transaction', () => {
  const net = preset('DOGE-testnet');
  const tx = parse(DOGE_P2PKH.signed);
  const prevTxs = Object.fromEntries(Object.entries(DOGE_P2PKH.prevTxs).map(([id, hex]) => [id, parse(hex)]));
  const lookup: PrevoutLookup = (txid, vout) => {
    const out = prevTxs[txid]?.outputs[vout];
    return out ? { value: out.value, script: out.script } : undefined;
  };

  it('the prevout transactions hash to the txids the inputs name', () => {
    for (const [id, t] of Object.entries(prevTxs)) expect(txidOf(t)).toBe(id);
  });

  it('verifies both legacy signatures; a changed byte does not', () => {
    const r = verifyBtcTx(net, DOGE_P2PKH.signed, lookup);
    expect(r.problems).toEqual([]);
    expect(r.fee).toBe(200_000_000n + 1_000_000_000n - 500_000_000n - 699_774_000n);
    const outputByte = DOGE_P2PKH.signed.indexOf('0065cd1d') / 2;
    expect(verifyBtcTx(net, flip(DOGE_P2PKH.signed, outputByte), lookup).problems).toHaveLength(2);
  });

  it('the WIF key is the one that signed, and signs the same bytes again', () => {
    const key = decodeWif(net, DOGE_P2PKH.wif);
    expect(toHex(secp256k1.getPublicKey(key, true))).toBe(DOGE_P2PKH.publicKey);
    const digest = legacySighash(tx, 1, prevTxs['42113bdc65fc2943cf0359ea1a24ced0b6b0b5290db4c63a3329c6601c4616e2']!.outputs[1]!.script, 1);
    const sig = secp256k1.sign(digest, key, { lowS: true, prehash: false, extraEntropy: false });
    expect(DOGE_P2PKH.signed).toContain(sig.toDERHex());
    expect(() => decodeWif(preset('DOGE-mainnet'), DOGE_P2PKH.wif)).toThrow(/version 241, DOGE-mainnet uses 158/);
  });
});
