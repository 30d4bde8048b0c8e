import { compareWithLocal, coinCheckpointJson, userCheckpointJson } from '../checkpoints/codec.js';
import { encodeCoinCheckpoint, encodeUserCheckpoint } from '../ledger/encoding.js';
import { problem, userKey, type Problem } from '../ledger/problem.js';
import type { CoinCheckpoint, Signed, UserCheckpoint } from '../ledger/records.js';
import { CHECKPOINT_SIGNER } from '../ledger/roles.js';
import { getCoinCheckpoint, getUserCheckpoint } from '../store/reads.js';
import type { StoredCheckpoint } from '../checkpoints/local-store.js';
import type { LedgerView } from './view.js';

/**
 * Another call may be advancing this checkpoint right now: it writes the local copy, then commits the
 * database row, milliseconds apart. Two copies that differ are read again a few times before they are
 * judged: an advance in progress settles, a rollback or a replacement stays.
 */
const SETTLE_TRIES = 5;
const SETTLE_MS = 40;
const settle = () => new Promise<void>((r) => setTimeout(r, SETTLE_MS));

const USER_TABLE = 'finances_user_balance_checkpoints';
const COIN_TABLE = 'finances_coin_checkpoints';

// A database checkpoint counts only if it is signed by payserv and identical to the local copy that
// the database cannot reach. Anything else (rolled back, replaced, deleted, inserted) is a problem.

export interface TrustedCheckpoint<T> {
  /** The checkpoint to start from, or null: start from the beginning of history. */
  checkpoint: Signed<T> | null;
  problems: Problem[];
  /** Whether the local store holds a copy (whatever it says). */
  localFound: boolean;
}

/** The judgement both kinds share: identical to the local copy, and signed by payserv when it was made. */
function judge<T extends { madeAt: Date }>(
  view: LedgerView,
  table: string,
  row: string,
  db: Signed<T> | null,
  dbJson: StoredCheckpoint | null,
  local: StoredCheckpoint | null,
  encoded: Uint8Array | null,
  extra: Problem[] = [],
): TrustedCheckpoint<T> {
  const problems: Problem[] = [];
  const diff = compareWithLocal(dbJson, local);
  if (diff) problems.push(problem(table, row, 'checkpoint_local', diff));
  if (db && encoded) {
    const why = view.book.check(encoded, db.sigKeyId, db.signature, CHECKPOINT_SIGNER, db.madeAt);
    if (why) problems.push(problem(table, row, 'signature', why));
  }
  problems.push(...extra);
  return { checkpoint: problems.length ? null : db, problems, localFound: local !== null };
}

export async function userCheckpoint(
  view: LedgerView,
  userId: number,
  coinId: number,
  dbCopy?: Signed<UserCheckpoint> | null,
): Promise<TrustedCheckpoint<UserCheckpoint>> {
  const row = userKey(userId, coinId);
  if (!(userId > 0 && coinId > 0)) {
    // No honest row has such ids (the writer never makes them), and the local store cannot name them.
    return {
      checkpoint: null,
      problems: [
        problem('finances_user_balance_transaction', row, 'invalid_key', 'rows of an account with a non-positive user or coin id'),
      ],
      localFound: false,
    };
  }
  let db = dbCopy === undefined ? await getUserCheckpoint(view.db, userId, coinId) : dbCopy;
  let local = await view.local.getUser(userId, coinId);
  for (let i = 0; i < SETTLE_TRIES && compareWithLocal(db ? userCheckpointJson(db) : null, local); i++) {
    await settle();
    [db, local] = [await getUserCheckpoint(view.db, userId, coinId), await view.local.getUser(userId, coinId)];
  }
  const wrongKey =
    db && (db.userId !== userId || db.coinId !== coinId)
      ? [problem(USER_TABLE, row, 'checkpoint_key', 'checkpoint of another account')]
      : [];
  return judge(view, USER_TABLE, row, db, db ? userCheckpointJson(db) : null, local, db ? encodeUserCheckpoint(db) : null, wrongKey);
}

export async function coinCheckpoint(view: LedgerView, coinId: number): Promise<TrustedCheckpoint<CoinCheckpoint>> {
  let db = await getCoinCheckpoint(view.db, coinId);
  let local = await view.local.getCoin(coinId);
  for (let i = 0; i < SETTLE_TRIES && compareWithLocal(db ? coinCheckpointJson(db) : null, local); i++) {
    await settle();
    [db, local] = [await getCoinCheckpoint(view.db, coinId), await view.local.getCoin(coinId)];
  }
  return judge(view, COIN_TABLE, `coin=${coinId}`, db, db ? coinCheckpointJson(db) : null, local, db ? encodeCoinCheckpoint(db) : null);
}

/**
 * For a host without payserv's local copies (the intake): the database's checkpoint counts when payserv signed it for
 * this account; it can still be an older signed version put back, which only the caller's own memory of versions sees.
 */
export async function signedUserCheckpoint(view: LedgerView, userId: number, coinId: number): Promise<TrustedCheckpoint<UserCheckpoint>> {
  const db = await getUserCheckpoint(view.db, userId, coinId);
  if (!db) return { checkpoint: null, problems: [], localFound: false };
  const row = userKey(userId, coinId);
  const wrongKey =
    db.userId !== userId || db.coinId !== coinId ? [problem(USER_TABLE, row, 'checkpoint_key', 'checkpoint of another account')] : [];
  const why = view.book.check(encodeUserCheckpoint(db), db.sigKeyId, db.signature, CHECKPOINT_SIGNER, db.madeAt);
  const problems = [...wrongKey, ...(why ? [problem(USER_TABLE, row, 'signature', why)] : [])];
  return { checkpoint: problems.length ? null : db, problems, localFound: false };
}
