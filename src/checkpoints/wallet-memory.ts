import { REVIEWED_WALLETS_MAX, type WalletMemory } from '../ledger/wallets.js';
import type { StoredCheckpoint } from './local-store.js';

// The JSON form of what the host remembers of one account's wallets (STATE/checkpoints/wallet/<coin>/<user>.json).
// It carries its own account so a file copied to another account's name is refused, not believed.

export class WalletMemoryError extends Error {
  override name = 'WalletMemoryError';
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v > 0;

export function walletMemoryJson(userId: number, coinId: number, m: WalletMemory): StoredCheckpoint {
  return {
    user_id: userId,
    coin_id: coinId,
    newest_reviewed_id: m.newestReviewedId,
    retired_ids: [...m.retiredIds],
    reviewed_at: Object.fromEntries(Object.entries(m.reviewedAt).map(([id, t]) => [id, new Date(t).toISOString()])),
  };
}

/** Reads back a stored memory; anything malformed is damage to the host's state, reported with the file's account. */
export function walletMemoryFromJson(j: StoredCheckpoint, userId: number, coinId: number): WalletMemory {
  const bad = (why: string) => new WalletMemoryError(`local wallet memory of user=${userId} coin=${coinId}: ${why}`);
  if (j.user_id !== userId || j.coin_id !== coinId) throw bad(`it names user=${String(j.user_id)} coin=${String(j.coin_id)}`);
  const newest = j.newest_reviewed_id;
  if (newest !== 0 && !isId(newest)) throw bad('newest_reviewed_id is missing or malformed');
  const retired = j.retired_ids;
  if (!Array.isArray(retired) || !retired.every(isId)) throw bad('retired_ids is missing or malformed');
  if (retired.length > REVIEWED_WALLETS_MAX) throw bad(`more than ${REVIEWED_WALLETS_MAX} retired wallets`);
  // Absent in a file written before reviews were remembered: nothing remembered yet.
  const raw = j.reviewed_at ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('reviewed_at is malformed');
  const reviewedAt: Record<number, number> = {};
  for (const [id, iso] of Object.entries(raw as Record<string, unknown>)) {
    const t = typeof iso === 'string' ? Date.parse(iso) : NaN;
    if (!isId(Number(id)) || !Number.isFinite(t)) throw bad(`reviewed_at of ${id} is malformed`);
    reviewedAt[Number(id)] = t;
  }
  if (Object.keys(reviewedAt).length > REVIEWED_WALLETS_MAX) throw bad(`more than ${REVIEWED_WALLETS_MAX} reviewed wallets`);
  return { newestReviewedId: newest, retiredIds: [...retired].sort((a, b) => a - b), reviewedAt };
}
