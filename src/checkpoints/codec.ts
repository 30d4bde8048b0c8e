import { formatAmount, parseAmount } from '../money/amount.js';
import type { CoinCheckpoint, Signed, UserCheckpoint } from '../ledger/records.js';
import type { StoredCheckpoint } from './local-store.js';

// The one JSON form of a signed checkpoint, used for the local store and for comparing it with the
// database copy: field by field, signature included, so any difference at all is seen.

const hex = (b: Uint8Array | null) => (b ? Buffer.from(b).toString('hex') : null);

export function userCheckpointJson(c: Signed<UserCheckpoint>): StoredCheckpoint {
  return {
    user_id: c.userId,
    coin_id: c.coinId,
    version: c.version,
    last_credit_id: c.lastCreditId,
    last_block_hash: c.lastBlockHash,
    credit_total: formatAmount(c.creditTotal),
    last_withdrawal_id: c.lastWithdrawalId,
    debit_total: formatAmount(c.debitTotal),
    sent_total: formatAmount(c.sentTotal),
    status_count: c.statusCount,
    head_withdrawal_id: c.headWithdrawalId,
    head_debit: formatAmount(c.headDebit),
    open_status_count: c.openStatusCount,
    made_at: c.madeAt.toISOString(),
    sig_key_id: c.sigKeyId,
    signature: hex(c.signature),
  };
}

export function coinCheckpointJson(c: Signed<CoinCheckpoint>): StoredCheckpoint {
  return {
    coin_id: c.coinId,
    version: c.version,
    last_income_id: c.lastIncomeId,
    pool_balance: formatAmount(c.poolBalance),
    last_block_hash: c.lastBlockHash,
    last_fee_credit_id: c.lastFeeCreditId,
    fee_total: formatAmount(c.feeTotal),
    made_at: c.madeAt.toISOString(),
    sig_key_id: c.sigKeyId,
    signature: hex(c.signature),
  };
}

function field<T>(j: StoredCheckpoint, k: string, check: (v: unknown) => v is T): T {
  const v = j[k];
  if (!check(v)) throw new Error(`local checkpoint: field ${k} is missing or malformed`);
  return v;
}
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Reads back a local user checkpoint (e.g. to start from it when the database lost its copy). */
export function userCheckpointFromJson(j: StoredCheckpoint): Signed<UserCheckpoint> {
  const sig = j.signature;
  return {
    userId: field(j, 'user_id', isInt),
    coinId: field(j, 'coin_id', isInt),
    version: field(j, 'version', isInt),
    lastCreditId: field(j, 'last_credit_id', isInt),
    lastBlockHash: field(j, 'last_block_hash', isStr),
    creditTotal: parseAmount(field(j, 'credit_total', isStr)),
    lastWithdrawalId: field(j, 'last_withdrawal_id', isInt),
    debitTotal: parseAmount(field(j, 'debit_total', isStr)),
    sentTotal: parseAmount(field(j, 'sent_total', isStr)),
    statusCount: field(j, 'status_count', isInt),
    headWithdrawalId: field(j, 'head_withdrawal_id', isInt),
    headDebit: parseAmount(field(j, 'head_debit', isStr)),
    openStatusCount: field(j, 'open_status_count', isInt),
    madeAt: new Date(field(j, 'made_at', isStr)),
    sigKeyId: j.sig_key_id === null ? null : field(j, 'sig_key_id', isStr),
    signature: isStr(sig) ? Buffer.from(sig, 'hex') : null,
  };
}

export function coinCheckpointFromJson(j: StoredCheckpoint): Signed<CoinCheckpoint> {
  const sig = j.signature;
  return {
    coinId: field(j, 'coin_id', isInt),
    version: field(j, 'version', isInt),
    lastIncomeId: field(j, 'last_income_id', isInt),
    poolBalance: parseAmount(field(j, 'pool_balance', isStr)),
    lastBlockHash: field(j, 'last_block_hash', isStr),
    lastFeeCreditId: field(j, 'last_fee_credit_id', isInt),
    feeTotal: parseAmount(field(j, 'fee_total', isStr)),
    madeAt: new Date(field(j, 'made_at', isStr)),
    sigKeyId: j.sig_key_id === null ? null : field(j, 'sig_key_id', isStr),
    signature: isStr(sig) ? Buffer.from(sig, 'hex') : null,
  };
}

/** Why the database's checkpoint cannot be trusted against the local one, or null when they agree. */
export function compareWithLocal(db: StoredCheckpoint | null, local: StoredCheckpoint | null): string | null {
  if (!db && !local) return null;
  if (!db) return `checkpoint version ${String(local?.version)} is in the local store but missing from the database (deleted?)`;
  if (!local) return `checkpoint version ${String(db.version)} in the database is unknown to the local store (inserted or restored?)`;
  if (JSON.stringify(db) === JSON.stringify(local)) return null;
  const dv = Number(db.version);
  const lv = Number(local.version);
  if (dv < lv) return `database checkpoint is version ${dv}, older than the local version ${lv} (rolled back?)`;
  if (dv > lv) return `database checkpoint is version ${dv}, newer than the local version ${lv} (not written by this payserv?)`;
  const diff = Object.keys(local).filter((k) => JSON.stringify(db[k]) !== JSON.stringify(local[k]));
  return `database checkpoint differs from the local one in ${diff.join(', ')} (replaced?)`;
}
