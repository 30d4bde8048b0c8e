import { compareWithLocal, coinCheckpointJson, userCheckpointJson } from '../checkpoints/codec.js';
import { encodeCoinCheckpoint, encodeUserCheckpoint } from '../ledger/encoding.js';
import { problem, userKey, type Problem } from '../ledger/problem.js';
import type { CoinCheckpoint, Signed, UserCheckpoint } from '../ledger/records.js';
import { CHECKPOINT_SIGNER } from '../ledger/roles.js';
import { getCoinCheckpoint, getUserCheckpoint } from '../store/reads.js';
import type { LedgerView } from './view.js';

// A database checkpoint counts only if it is signed by payserv and identical to the local copy that
// the database cannot reach. Anything else (rolled back, replaced, deleted, inserted) is a problem.

export interface TrustedCheckpoint<T> {
  /** The checkpoint to start from, or null: start from the beginning of history. */
  checkpoint: Signed<T> | null;
  problems: Problem[];
  /** Whether the local store holds a copy (whatever it says). */
  localFound: boolean;
}

export async function userCheckpoint(view: LedgerView, userId: number, coinId: number, dbCopy?: Signed<UserCheckpoint> | null): Promise<TrustedCheckpoint<UserCheckpoint>> {
  const row = userKey(userId, coinId);
  if (!(userId > 0 && coinId > 0)) {
    // No honest row has such ids (the writer never makes them), and the local store cannot name them.
    return { checkpoint: null, problems: [problem('finances_user_balance_transaction', row, 'invalid_key', 'rows of an account with a non-positive user or coin id')], localFound: false };
  }
  const db = dbCopy === undefined ? await getUserCheckpoint(view.db, userId, coinId) : dbCopy;
  const local = await view.local.getUser(userId, coinId);
  const problems: Problem[] = [];
  const diff = compareWithLocal(db ? userCheckpointJson(db) : null, local);
  if (diff) problems.push(problem('finances_user_balance_checkpoints', row, 'checkpoint_local', diff));
  if (db) {
    const why = view.book.check(encodeUserCheckpoint(db), db.sigKeyId, db.signature, CHECKPOINT_SIGNER, db.madeAt);
    if (why) problems.push(problem('finances_user_balance_checkpoints', row, 'signature', why));
    if (db.userId !== userId || db.coinId !== coinId) problems.push(problem('finances_user_balance_checkpoints', row, 'checkpoint_key', 'checkpoint of another account'));
  }
  return { checkpoint: problems.length ? null : db, problems, localFound: local !== null };
}

export async function coinCheckpoint(view: LedgerView, coinId: number): Promise<TrustedCheckpoint<CoinCheckpoint>> {
  const db = await getCoinCheckpoint(view.db, coinId);
  const local = await view.local.getCoin(coinId);
  const row = `coin=${coinId}`;
  const problems: Problem[] = [];
  const diff = compareWithLocal(db ? coinCheckpointJson(db) : null, local);
  if (diff) problems.push(problem('finances_coin_checkpoints', row, 'checkpoint_local', diff));
  if (db) {
    const why = view.book.check(encodeCoinCheckpoint(db), db.sigKeyId, db.signature, CHECKPOINT_SIGNER, db.madeAt);
    if (why) problems.push(problem('finances_coin_checkpoints', row, 'signature', why));
  }
  return { checkpoint: problems.length ? null : db, problems, localFound: local !== null };
}
