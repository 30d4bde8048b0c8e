// The pure rules of one-way wallet deletion (src/ledger/wallets.ts) and the JSON form of the host's
// memory (src/checkpoints/wallet-memory.ts): what is remembered, what counts as coming back or hidden.
import { describe, expect, it } from 'vitest';
import { walletMemoryFromJson, walletMemoryJson, WalletMemoryError } from '../../src/checkpoints/wallet-memory.js';
import type { Signed, Wallet } from '../../src/ledger/records.js';
import {
  EMPTY_MEMORY,
  isReviewed,
  memoryProblems,
  mergeMemory,
  remember,
  sameMemory,
  type WalletMemory,
} from '../../src/ledger/wallets.js';

const T = new Date('2024-05-01T00:00:00Z');
const w = (id: number, o: Partial<Signed<Wallet>> = {}): Signed<Wallet> => ({
  id,
  userId: 5,
  coinId: 1,
  address: `0x${String(id).padStart(40, '0')}`,
  active: true,
  deleted: false,
  createdAt: T,
  signedAt: T,
  sigKeyId: 'k',
  signature: new Uint8Array([1]),
  ...o,
});
const codes = (reviewed: Signed<Wallet>[], m: WalletMemory) => memoryProblems(5, 1, reviewed, m).map((p) => [p.row, p.code]);

describe('wallet memory rules', () => {
  it('remembers the newest reviewed wallet and the retired ones, and never forgets', () => {
    const m1 = remember(EMPTY_MEMORY, [w(3), w(1, { deleted: true }), w(2, { active: false })]);
    expect(m1).toEqual({ newestReviewedId: 3, retiredIds: [1, 2], reviewedAt: { [1]: T.getTime(), [2]: T.getTime(), [3]: T.getTime() } });
    // A later read that shows less (say, a smaller account) takes nothing away.
    expect(remember(m1, [w(1, { deleted: true })])).toEqual(m1);
    expect(
      mergeMemory(
        { newestReviewedId: 4, retiredIds: [2], reviewedAt: { [2]: 5 } },
        { newestReviewedId: 3, retiredIds: [1, 3], reviewedAt: { [2]: 7, [3]: 1 } },
      ),
    ).toEqual({ newestReviewedId: 4, retiredIds: [1, 2, 3], reviewedAt: { [2]: 7, [3]: 1 } });
    expect(
      sameMemory(m1, { newestReviewedId: 3, retiredIds: [1, 2], reviewedAt: { [1]: T.getTime(), [2]: T.getTime(), [3]: T.getTime() } }),
    ).toBe(true);
    expect(
      sameMemory(m1, { newestReviewedId: 3, retiredIds: [1], reviewedAt: { [1]: T.getTime(), [2]: T.getTime(), [3]: T.getTime() } }),
    ).toBe(false);
    expect(sameMemory(m1, { newestReviewedId: 3, retiredIds: [1, 2], reviewedAt: {} })).toBe(false);
  });

  it('a remembered retired wallet active again is revived; a remembered wallet gone is missing; the clean state is silent', () => {
    const m: WalletMemory = { newestReviewedId: 3, retiredIds: [1], reviewedAt: {} };
    expect(codes([w(3), w(1, { deleted: true })], m)).toEqual([]);
    // A newer reviewed wallet since: fine.
    expect(codes([w(4), w(3), w(1, { deleted: true })], m)).toEqual([]);
    expect(codes([w(3), w(1)], m)).toEqual([['id=1', 'wallet_revived']]);
    // Inactive and deleted both count as retired; only both cleared is a revival.
    expect(codes([w(3), w(1, { active: false })], m)).toEqual([]);
    expect(codes([w(1, { deleted: true })], m)).toEqual([['id=3', 'wallet_missing']]);
    expect(codes([w(3)], m)).toEqual([['id=1', 'wallet_missing']]);
    // The newest and retired at once, then gone: one line, not two.
    expect(codes([w(1, { deleted: true })], { newestReviewedId: 3, retiredIds: [1, 3], reviewedAt: {} })).toEqual([
      ['id=3', 'wallet_missing'],
    ]);
  });

  it('a wallet re-reviewed after an edit, put back to its older signed copy, is a rollback', () => {
    const later = new Date(T.getTime() + 60_000);
    const m = remember(EMPTY_MEMORY, [w(3, { signedAt: later })]);
    expect(codes([w(3, { signedAt: later })], m)).toEqual([]);
    expect(codes([w(3, { signedAt: T })], m)).toEqual([['id=3', 'wallet_rolled_back']]);
  });

  it('any trace of a signature makes a wallet reviewed', () => {
    expect(isReviewed(w(1, { sigKeyId: null, signature: null, signedAt: null }))).toBe(false);
    expect(isReviewed(w(1, { sigKeyId: null, signature: null }))).toBe(true);
    expect(isReviewed(w(1, { signature: null, signedAt: null }))).toBe(true);
  });

  it("the memory's JSON form round-trips, and refuses another account's file or a malformed one", () => {
    const m: WalletMemory = { newestReviewedId: 9, retiredIds: [2, 7], reviewedAt: { [7]: T.getTime() } };
    expect(walletMemoryFromJson(walletMemoryJson(5, 1, m), 5, 1)).toEqual(m);
    expect(() => walletMemoryFromJson(walletMemoryJson(6, 1, m), 5, 1)).toThrow(WalletMemoryError);
    expect(() => walletMemoryFromJson({ ...walletMemoryJson(5, 1, m), retired_ids: [2, '7'] }, 5, 1)).toThrow(/retired_ids/);
    expect(() => walletMemoryFromJson({ ...walletMemoryJson(5, 1, m), newest_reviewed_id: -1 }, 5, 1)).toThrow(/newest_reviewed_id/);
    expect(() => walletMemoryFromJson({ ...walletMemoryJson(5, 1, m), reviewed_at: { 7: 'yesterday' } }, 5, 1)).toThrow(/reviewed_at of 7/);
    // A file from before reviews were remembered reads as none remembered.
    const { reviewed_at: _, ...older } = walletMemoryJson(5, 1, m);
    expect(walletMemoryFromJson(older, 5, 1)).toEqual({ ...m, reviewedAt: {} });
  });
});
