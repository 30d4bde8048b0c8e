// The official Zcash vectors (zcash/zcash-test-vectors) for ZIP-243 (v4) and ZIP-244 (v5): a signer
// that does not reproduce them signs transactions the network rejects.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex, ZcashDecodeError } from '../../src/chains/zcash/bytes.js';
import { SIGHASH_ALL, SIGHASH_ANYONECANPAY, SIGHASH_NONE, SIGHASH_SINGLE } from '../../src/chains/zcash/hashtype.js';
import { sighashV4, txidV4 } from '../../src/chains/zcash/sighash-v4.js';
import { authDigestV5, sighashV5, txidDigestV5, txidV5 } from '../../src/chains/zcash/sighash-v5.js';
import { parseTx, serializeTx, type TxV4, type TxV5 } from '../../src/chains/zcash/tx.js';
import { txidOf } from '../../src/chains/zcash/txid.js';

const DIR = '/work/shared/vectors/zcash';

/** The vector files: a source line, a column line, then one row per vector. */
function rows(file: string, columns: string): unknown[][] {
  const all = JSON.parse(readFileSync(`${DIR}/${file}`, 'utf8')) as unknown[][];
  expect(all[1]?.[0]).toBe(columns);
  return all.slice(2);
}

interface V4Vector {
  tx: string;
  scriptCode: string;
  input: number;
  hashType: number;
  amount: number;
  branchId: number;
  sighash: string;
}

interface V5Vector {
  tx: string;
  txid: string;
  authDigest: string;
  amounts: number[];
  scriptPubKeys: string[];
  input: number | null;
  sighashShielded: string;
  /** By hash type; null where the vector has none (no transparent input, or SINGLE without a matching output). */
  sighash: Map<number, string | null>;
}

const V4: V4Vector[] = rows('zip_0243.json', 'tx, script_code, transparent_input, hash_type, amount, consensus_branch_id, sighash').map(
  (r) => ({
    tx: r[0] as string,
    scriptCode: r[1] as string,
    input: r[2] as number,
    hashType: r[3] as number,
    amount: r[4] as number,
    branchId: r[5] as number,
    sighash: r[6] as string,
  }),
);

const V5_TYPES = [
  SIGHASH_ALL,
  SIGHASH_NONE,
  SIGHASH_SINGLE,
  SIGHASH_ALL | SIGHASH_ANYONECANPAY,
  SIGHASH_NONE | SIGHASH_ANYONECANPAY,
  SIGHASH_SINGLE | SIGHASH_ANYONECANPAY,
];
const V5: V5Vector[] = rows(
  'zip_0244.json',
  'tx, txid, auth_digest, amounts, script_pubkeys, transparent_input, sighash_shielded, sighash_all, sighash_none, sighash_single, sighash_all_anyone, sighash_none_anyone, sighash_single_anyone',
).map((r) => ({
  tx: r[0] as string,
  txid: r[1] as string,
  authDigest: r[2] as string,
  amounts: r[3] as number[],
  scriptPubKeys: r[4] as string[],
  input: r[5] as number | null,
  sighashShielded: r[6] as string,
  sighash: new Map(V5_TYPES.map((t, k) => [t, r[7 + k] as string | null])),
}));

function parseV4(hex: string): TxV4 {
  const tx = parseTx(fromHex(hex));
  if (tx.version !== 4) throw new Error(`expected v4, got v${tx.version}`);
  return tx;
}

function parseV5(hex: string): TxV5 {
  const tx = parseTx(fromHex(hex));
  if (tx.version !== 5) throw new Error(`expected v5, got v${tx.version}`);
  return tx;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest();

describe('Zcash official vectors', () => {
  it('the vector files hold 10 v4 and 10 v5 vectors, covering every shielded part and hash type', () => {
    expect(V4).toHaveLength(10);
    expect(V5).toHaveLength(10);
    const v4 = V4.map((v) => parseV4(v.tx));
    expect(v4.some((t) => t.joinSplits.length > 0)).toBe(true);
    expect(v4.some((t) => t.saplingSpends.length > 0)).toBe(true);
    expect(v4.some((t) => t.saplingOutputs.length > 0)).toBe(true);
    expect(new Set(V4.map((v) => v.hashType))).toEqual(new Set([SIGHASH_ALL, SIGHASH_NONE, SIGHASH_SINGLE]));
    expect(V4.some((v) => v.input === -1)).toBe(true);
    const v5 = V5.map((v) => parseV5(v.tx));
    expect(v5.some((t) => t.sapling !== null && t.sapling.spends.length > 0)).toBe(true);
    expect(v5.some((t) => t.orchard !== null)).toBe(true);
    expect(v5.some((t) => t.inputs.length === 0)).toBe(true);
    expect(V5.filter((v) => v.input !== null).length).toBeGreaterThanOrEqual(5);
  });

  it.each(V4.map((v, i) => [i, v] as const))('v4 #%i: parses and re-serializes byte for byte', (_, v) => {
    const tx = parseV4(v.tx);
    expect(toHex(serializeTx(tx))).toBe(v.tx);
  });

  it.each(V4.map((v, i) => [i, v] as const))('v4 #%i: ZIP-243 signature hash', (_, v) => {
    const tx = parseV4(v.tx);
    const input = v.input === -1 ? null : { index: v.input, scriptCode: fromHex(v.scriptCode), value: BigInt(v.amount) };
    expect(toHex(sighashV4(tx, v.branchId, v.hashType, input))).toBe(v.sighash);
    // The branch id is part of the hash: any other id gives another digest.
    expect(toHex(sighashV4(tx, v.branchId ^ 1, v.hashType, input))).not.toBe(v.sighash);
  });

  it.each(V4.map((v, i) => [i, v] as const))('v4 #%i: txid is the reversed double SHA-256 of the bytes', (_, v) => {
    const tx = parseV4(v.tx);
    const expected = Buffer.from(sha256(sha256(fromHex(v.tx))))
      .reverse()
      .toString('hex');
    expect(txidV4(tx)).toBe(expected);
    expect(txidOf(tx)).toBe(expected);
  });

  it.each(V5.map((v, i) => [i, v] as const))('v5 #%i: parses and re-serializes byte for byte', (_, v) => {
    const tx = parseV5(v.tx);
    expect(toHex(serializeTx(tx))).toBe(v.tx);
  });

  it.each(V5.map((v, i) => [i, v] as const))('v5 #%i: txid digest and auth digest', (_, v) => {
    const tx = parseV5(v.tx);
    expect(toHex(txidDigestV5(tx))).toBe(v.txid);
    // The vector holds the digest in internal order; zcashd displays it reversed.
    expect(txidV5(tx)).toBe(Buffer.from(fromHex(v.txid)).reverse().toString('hex'));
    expect(txidOf(tx)).toBe(txidV5(tx));
    expect(toHex(authDigestV5(tx))).toBe(v.authDigest);
  });

  it.each(V5.map((v, i) => [i, v] as const))('v5 #%i: ZIP-244 signature digests, shielded and every transparent hash type', (_, v) => {
    const tx = parseV5(v.tx);
    const spent = v.amounts.map((a, k) => ({ value: BigInt(a), scriptPubKey: fromHex(v.scriptPubKeys[k] as string) }));
    expect(toHex(sighashV5(tx, SIGHASH_ALL, null, spent))).toBe(v.sighashShielded);
    let checked = 0;
    for (const [hashType, want] of v.sighash) {
      if (v.input === null) {
        expect(want, `hash type ${hashType}`).toBeNull();
        continue;
      }
      if (want === null) {
        // Only SIGHASH_SINGLE without an output at the input's index has no digest: ZIP-244 forbids it.
        expect(hashType & 0x1f).toBe(SIGHASH_SINGLE);
        expect(v.input).toBeGreaterThanOrEqual(tx.outputs.length);
        expect(() => sighashV5(tx, hashType, { index: v.input as number }, spent)).toThrow(/SIGHASH_SINGLE/);
        continue;
      }
      expect(toHex(sighashV5(tx, hashType, { index: v.input }, spent)), `hash type 0x${hashType.toString(16)}`).toBe(want);
      checked++;
    }
    if (v.input !== null) expect(checked).toBeGreaterThanOrEqual(4);
  });

  it('v5: the transparent digest commits to every input amount (the post-2022 ZIP-244 rule, not the draft)', () => {
    const v = V5.find((x) => x.input !== null && x.amounts.length >= 2);
    if (!v || v.input === null) throw new Error('no vector with two transparent inputs');
    const tx = parseV5(v.tx);
    const spent = v.amounts.map((a, k) => ({ value: BigInt(a), scriptPubKey: fromHex(v.scriptPubKeys[k] as string) }));
    const other = v.input === 0 ? 1 : 0;
    const changed = spent.map((s, k) => (k === other ? { ...s, value: s.value + 1n } : s));
    expect(toHex(sighashV5(tx, SIGHASH_ALL, { index: v.input }, changed))).not.toBe(v.sighash.get(SIGHASH_ALL));
    // ...unless ANYONECANPAY, which commits to this input alone.
    expect(toHex(sighashV5(tx, SIGHASH_ALL | SIGHASH_ANYONECANPAY, { index: v.input }, changed))).toBe(
      v.sighash.get(SIGHASH_ALL | SIGHASH_ANYONECANPAY),
    );
  });

  it('v5: a hash type outside the six standard ones is refused', () => {
    const v = V5.find((x) => x.input !== null);
    if (!v || v.input === null) throw new Error('no vector with a transparent input');
    const tx = parseV5(v.tx);
    const spent = v.amounts.map((a, k) => ({ value: BigInt(a), scriptPubKey: fromHex(v.scriptPubKeys[k] as string) }));
    for (const t of [0x00, 0x04, 0x41, 0x84, 0xff])
      expect(() => sighashV5(tx, t, { index: v.input as number }, spent), `0x${t.toString(16)}`).toThrow(/not valid/);
  });

  it('parser: refuses trailing bytes, truncation, and unknown versions or group ids, naming where', () => {
    const v4 = fromHex((V4[0] as V4Vector).tx);
    const v5 = fromHex((V5[0] as V5Vector).tx);
    for (const raw of [v4, v5]) {
      expect(() => parseTx(Uint8Array.from([...raw, 0]))).toThrow(/1 trailing bytes/);
      expect(() => parseTx(raw.subarray(0, raw.length - 1))).toThrow(/truncated at byte \d+ reading/);
      expect(() => parseTx(raw.subarray(0, 6))).toThrow(ZcashDecodeError);
    }
    const messageOf = (raw: Uint8Array): string => {
      try {
        parseTx(raw);
      } catch (e) {
        expect(e).toBeInstanceOf(ZcashDecodeError);
        return (e as ZcashDecodeError).message;
      }
      throw new Error('parsed');
    };
    expect(parseV4((V4[0] as V4Vector).tx).inputs).toHaveLength(0);
    expect(messageOf(v4.subarray(0, 9))).toBe('truncated at byte 9 reading output count (1 bytes wanted, 0 left)');
    const twoInputs = fromHex((V4[1] as V4Vector).tx);
    expect(parseV4((V4[1] as V4Vector).tx).inputs).toHaveLength(2);
    expect(messageOf(twoInputs.subarray(0, 9))).toBe('truncated at byte 8 reading input count: 2 items need at least 82 bytes, 0 left');
    expect(messageOf(twoInputs.subarray(0, 9 + 90))).toMatch(/^truncated at byte \d+ reading input 1 /);

    const withHeader = (raw: Uint8Array, header: number, group: number) => {
      const copy = Uint8Array.from(raw);
      new DataView(copy.buffer).setUint32(0, header >>> 0, true);
      new DataView(copy.buffer).setUint32(4, group >>> 0, true);
      return copy;
    };
    expect(() => parseTx(withHeader(v4, 0x80000004, 0x26a7270a))).toThrow(/v4 transaction with version group id 0x26a7270a/);
    expect(() => parseTx(withHeader(v5, 0x80000005, 0x892f2085))).toThrow(/v5 transaction with version group id 0x892f2085/);
    expect(() => parseTx(withHeader(v4, 0x80000003, 0x03c48270))).toThrow(/version 3 .*only v4 and v5/);
    expect(() => parseTx(withHeader(v4, 0x80000006, 0x892f2085))).toThrow(/version 6/);
    expect(() => parseTx(withHeader(v4, 0x00000004, 0x892f2085))).toThrow(/not an Overwinter-or-later/);
  });

  it('parser: refuses a non-canonical CompactSize and a count larger than the bytes left', () => {
    const v = V5.find((x) => parseV5(x.tx).inputs.length === 0 && parseV5(x.tx).outputs.length === 0);
    if (!v) throw new Error('no v5 vector without transparent parts');
    const raw = fromHex(v.tx);
    expect(raw[20]).toBe(0); // v5: header 4 + group 4 + branch 4 + lock time 4 + expiry 4, then the input count
    // 0xfd 0x00 0x00 encodes zero in three bytes: the same transaction, another byte string.
    const nonCanonical = Uint8Array.from([...raw.subarray(0, 20), 0xfd, 0x00, 0x00, ...raw.subarray(21)]);
    expect(() => parseTx(nonCanonical)).toThrow(/input count at byte 20: non-canonical CompactSize/);
    const huge = Uint8Array.from([...raw.subarray(0, 20), 0xfe, 0xff, 0xff, 0xff, 0x01, ...raw.subarray(21)]);
    expect(() => parseTx(huge)).toThrow(/input count/);
  });
});
