// Where the full check's time goes: the same credits read without verification (database + decoding +
// the income look-ups), and verified without reading (AccountVerifier over rows already in memory),
// the latter interleaved with raw Ed25519 over the very same messages so that machine load affects both alike.
import { verify, type KeyObject } from 'node:crypto';
import type { Queryable } from '../src/db/db.js';
import { AccountVerifier, EMPTY_ACCOUNT } from '../src/ledger/account.js';
import type { CertBook } from '../src/ledger/certbook.js';
import { encodeCredit } from '../src/ledger/encoding.js';
import type { Credit, Signed } from '../src/ledger/records.js';
import { streamAllCredits } from '../src/store/reads.js';
import { withIncomeFlags } from '../src/verify/batch.js';
import { median } from './report.js';

export interface ReadOnly {
  rows: number;
  ms: number;
}

/** Streams every credit as the full check does (keyset pages + income flags), verifying nothing; keeps the first `keep`. */
export async function readOnly(db: Queryable, keep: number, onRow?: (n: number) => void): Promise<ReadOnly & { kept: Signed<Credit>[] }> {
  const kept: Signed<Credit>[] = [];
  const t = performance.now();
  let rows = 0;
  for await (const [c] of withIncomeFlags(db, streamAllCredits(db))) {
    if (kept.length < keep) kept.push(c);
    onRow?.(++rows);
  }
  return { rows, ms: performance.now() - t, kept };
}

export interface InMemory {
  rows: number;
  rounds: number;
  /** AccountVerifier.credit over rows in memory (chain, encoding, certificate checks, signature). */
  verifierPerSec: number;
  /** node:crypto verify over the same rows' encodings, pre-computed. */
  rawPerSec: number;
  /** encodeCredit alone. */
  encodePerSec: number;
}

export function inMemory(rows: readonly Signed<Credit>[], book: CertBook, publicKey: KeyObject, feeUserId: number, rounds = 3): InMemory {
  const msgs = rows.map((c) => encodeCredit(c));
  const verifier: number[] = [];
  const raw: number[] = [];
  const enc: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let t = performance.now();
    let v: AccountVerifier | null = null;
    let bad = 0;
    for (const c of rows) {
      if (!v || v.userId !== c.userId || v.coinId !== c.coinId) {
        bad += v?.finish().problems.length ?? 0;
        v = new AccountVerifier(c.userId, c.coinId, book, EMPTY_ACCOUNT, null, feeUserId);
      }
      v.credit(c, true);
    }
    bad += v?.finish().problems.length ?? 0;
    verifier.push(rows.length / ((performance.now() - t) / 1000));
    // The rows kept are whole accounts' histories from their start, the last one cut short: a clean prefix.
    if (bad > 0) throw new Error(`in-memory verification found ${bad} problems`);
    t = performance.now();
    for (let i = 0; i < rows.length; i++) {
      if (!verify(null, msgs[i] as Uint8Array, publicKey, (rows[i] as Signed<Credit>).signature as Uint8Array))
        throw new Error('raw verify failed');
    }
    raw.push(rows.length / ((performance.now() - t) / 1000));
    t = performance.now();
    for (const c of rows) encodeCredit(c);
    enc.push(rows.length / ((performance.now() - t) / 1000));
  }
  return { rows: rows.length, rounds, verifierPerSec: median(verifier), rawPerSec: median(raw), encodePerSec: median(enc) };
}
