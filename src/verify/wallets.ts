import type { LocalCheckpointStore } from '../checkpoints/local-store.js';
import { walletMemoryFromJson, walletMemoryJson } from '../checkpoints/wallet-memory.js';
import type { Data } from '../data/data.js';
import { LockKeys } from '../data/lock-keys.js';
import { CHECKPOINTS } from '../data/ops/checkpoints.js';
import { LEDGER } from '../data/ops/ledger.js';
import { invariant } from '../ledger/invariant.js';
import { problem, userKey, type Problem } from '../ledger/problem.js';
import type { Signed, Wallet } from '../ledger/records.js';
import {
  EMPTY_MEMORY,
  memoryProblems,
  mergeMemory,
  remember,
  REVIEWED_WALLETS_MAX,
  sameMemory,
  walletSignatureProblem,
  WALLETS_TABLE,
  type WalletMemory,
} from '../ledger/wallets.js';
import type { Signer } from '../pki/signer.js';
import { toWallet } from '../data/rows.js';
import type { LedgerView } from './view.js';

// One account's wallets against their signatures and against what this host remembers of them
// (src/ledger/wallets.ts has the rules). payserv runs it whenever it reads a user's wallets to pay
// (Process, autopay's choice of payee) and then remembers what it saw; the checks run it read-only.

export interface AccountWallets {
  userId: number;
  coinId: number;
  /** The account's reviewed wallets, newest first. */
  reviewed: Signed<Wallet>[];
  /** The newest reviewed wallet: the one autopay pays, and only while its signed state is active and not deleted. */
  newest: Signed<Wallet> | null;
  problems: Problem[];
  /** What the host remembered before this read. */
  memory: WalletMemory;
}

export async function rememberedWallets(local: LocalCheckpointStore, userId: number, coinId: number): Promise<WalletMemory> {
  const j = await local.getWallets(userId, coinId);
  return j ? walletMemoryFromJson(j, userId, coinId) : EMPTY_MEMORY;
}

export async function verifyWallets(view: LedgerView, userId: number, coinId: number): Promise<AccountWallets> {
  // The memory first, then the rows: whatever the host remembers was seen in the database before this
  // read, and a deletion is one-way, so an honest row read now is at least as retired as remembered. Read
  // the other way round, a deletion recorded by a concurrent call in between would look like a revival.
  const memory = await rememberedWallets(view.local, userId, coinId);
  const rows = await view.db.query(LEDGER.reviewedWallets, [userId, coinId, REVIEWED_WALLETS_MAX + 1]);
  const base = { userId, coinId, memory };
  if (rows.length > REVIEWED_WALLETS_MAX) {
    return {
      ...base,
      reviewed: [],
      newest: null,
      problems: [
        problem(
          WALLETS_TABLE,
          userKey(userId, coinId),
          'too_many_wallets',
          `more than ${REVIEWED_WALLETS_MAX} reviewed wallets: not paid until an operator has looked`,
        ),
      ],
    };
  }
  const reviewed = rows.map(toWallet);
  const problems: Problem[] = [];
  for (const w of reviewed) {
    const p = walletSignatureProblem(view.book, w);
    if (p) problems.push(p);
  }
  problems.push(...memoryProblems(userId, coinId, reviewed, memory));
  return { ...base, reviewed, newest: reviewed[0] ?? null, problems };
}

/**
 * Remembers what a clean verification saw. Two calls on one account may record at once (two withdrawals,
 * two payserv processes): under a lock on the account, the file is read again and the two merged, so
 * neither loses what the other saw. Nothing is written when nothing is new (the usual case).
 */
export async function rememberWallets(db: Data, local: LocalCheckpointStore, payserv: Signer, seen: AccountWallets): Promise<void> {
  // Remembering a tampered state would make its later, honest repair look like tampering.
  invariant(!seen.problems.length, `the wallets of ${userKey(seen.userId, seen.coinId)} have problems: never remembered`);
  const next = remember(seen.memory, seen.reviewed);
  if (sameMemory(next, seen.memory)) return;
  const { userId, coinId } = seen;
  await db.transaction(async (tx) => {
    // The key derives from payserv's own key (src/data/lock-keys.ts): nobody else can hold it and stall payouts.
    await tx.query(CHECKPOINTS.lock, [LockKeys.of(payserv).key(`wallets:${userId}:${coinId}`)]);
    const fresh = await rememberedWallets(local, userId, coinId);
    const merged = mergeMemory(fresh, next);
    if (!sameMemory(merged, fresh)) await local.putWallets(userId, coinId, walletMemoryJson(userId, coinId, merged));
  });
}
