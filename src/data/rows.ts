import { UNPRINTABLE_ALL } from '../log/scrub.js';
import { parseAmount, type Amount } from '../money/amount.js';
import type {
  Coin,
  CoinCheckpoint,
  Credit,
  PoolIncome,
  Signed,
  StatusSignature,
  UserCheckpoint,
  Wallet,
  Withdrawal,
  WithdrawalStatus,
} from '../ledger/records.js';

// Database rows → ledger records. Every value is checked on the way in: a row the database returns is
// attacker-controlled input, and a malformed one must be a clear error, never a silent coercion.

type R = Record<string, unknown>;

export class RowError extends Error {
  override name = 'RowError';
}

function num(r: R, k: string): number {
  const v = r[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RowError(`column ${k}: expected an integer, got ${typeof v}`);
  return v;
}
function numOrNull(r: R, k: string): number | null {
  return r[k] === null ? null : num(r, k);
}
function text(r: R, k: string): string {
  const v = r[k];
  if (typeof v !== 'string') throw new RowError(`column ${k}: expected text`);
  return v;
}
function textOrNull(r: R, k: string): string | null {
  return r[k] === null ? null : text(r, k);
}
function amount(r: R, k: string): Amount {
  try {
    return parseAmount(text(r, k), `column ${k}`);
  } catch (e) {
    // NUMERIC takes 'NaN' (and NaN > 0 passes a CHECK): a row carrying one is named, never a crash.
    throw new RowError(`${r.id === undefined ? 'a row' : `row id=${String(r.id)}`}: ${(e as Error).message}`);
  }
}
function amountOrNull(r: R, k: string): Amount | null {
  return r[k] === null ? null : amount(r, k);
}
function bool(r: R, k: string): boolean {
  const v = r[k];
  if (typeof v !== 'boolean') throw new RowError(`column ${k}: expected a boolean`);
  return v;
}
function date(r: R, k: string): Date {
  const v = r[k];
  if (!(v instanceof Date) || Number.isNaN(v.getTime())) throw new RowError(`column ${k}: expected a timestamp`);
  return v;
}
function dateOrNull(r: R, k: string): Date | null {
  return r[k] === null ? null : date(r, k);
}
function bytesOrNull(r: R, k: string): Uint8Array | null {
  const v = r[k];
  if (v === null) return null;
  if (!(v instanceof Uint8Array)) throw new RowError(`column ${k}: expected bytes`);
  return v;
}
function sig(r: R): { sigKeyId: string | null; signature: Uint8Array | null } {
  return { sigKeyId: textOrNull(r, 'sig_key_id'), signature: bytesOrNull(r, 'signature') };
}
/** Text from a row quoted for an error (and the alerts quoting it): at most 40 characters, escaped, nothing unprintable. */
export function quoted(v: string, max = 40): string {
  const cut = v.length > max ? `${v.slice(0, max)}…` : v;
  return JSON.stringify(cut).replace(UNPRINTABLE_ALL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
function oneOf<T extends string>(r: R, k: string, allowed: readonly T[]): T {
  const v = text(r, k);
  if (!(allowed as readonly string[]).includes(v)) throw new RowError(`column ${k}: unknown value ${quoted(v)}`);
  return v as T;
}

const STATUSES: readonly WithdrawalStatus[] = [
  'processing',
  'pending',
  'approved',
  'sending',
  'sent',
  'send_error',
  'send_retry',
  'processed',
  'declined',
];

export const COIN_COLUMNS =
  'id, tag, name, active, network, decimals, confirmations, withdrawal_fee, min_withdrawal, fee_user_id, updated_at, sig_key_id, signature';
export function toCoin(r: R): Signed<Coin> {
  return {
    id: num(r, 'id'),
    tag: text(r, 'tag'),
    name: text(r, 'name'),
    active: bool(r, 'active'),
    network: oneOf(r, 'network', ['mainnet', 'testnet']),
    decimals: num(r, 'decimals'),
    confirmations: num(r, 'confirmations'),
    withdrawalFee: amount(r, 'withdrawal_fee'),
    minWithdrawal: amount(r, 'min_withdrawal'),
    feeUserId: num(r, 'fee_user_id'),
    updatedAt: date(r, 'updated_at'),
    ...sig(r),
  };
}

export const WALLET_COLUMNS = 'id, user_id, coin_id, address, active, deleted, created_at, signed_at, sig_key_id, signature';
export function toWallet(r: R): Signed<Wallet> {
  return {
    id: num(r, 'id'),
    userId: num(r, 'user_id'),
    coinId: num(r, 'coin_id'),
    address: text(r, 'address'),
    active: bool(r, 'active'),
    deleted: bool(r, 'deleted'),
    createdAt: date(r, 'created_at'),
    signedAt: dateOrNull(r, 'signed_at'),
    ...sig(r),
  };
}

export const INCOME_COLUMNS =
  'id, coin_id, prev_id, block_hash, kind, amount, balance_before, credit_count, created_at, sig_key_id, signature';
export function toIncome(r: R): Signed<PoolIncome> {
  return {
    id: num(r, 'id'),
    coinId: num(r, 'coin_id'),
    prevId: num(r, 'prev_id'),
    blockHash: text(r, 'block_hash'),
    kind: oneOf(r, 'kind', ['block', 'correction']),
    amount: amount(r, 'amount'),
    balanceBefore: amount(r, 'balance_before'),
    creditCount: num(r, 'credit_count'),
    createdAt: date(r, 'created_at'),
    ...sig(r),
  };
}

export const CREDIT_COLUMNS = 'id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature';
export function toCredit(r: R): Signed<Credit> {
  return {
    id: num(r, 'id'),
    userId: num(r, 'user_id'),
    coinId: num(r, 'coin_id'),
    prevId: num(r, 'prev_id'),
    blockHash: text(r, 'block_hash'),
    type: oneOf(r, 'type', ['block', 'fee', 'correction']),
    amount: amount(r, 'amount'),
    balanceBefore: amount(r, 'balance_before'),
    createdAt: date(r, 'created_at'),
    ...sig(r),
  };
}

export const WITHDRAWAL_COLUMNS =
  'id, user_id, coin_id, wallet_id, address, prev_id, amount, fee, debit_before, parent_id, created_at, status, status_seq, tx_hash, tx_fee, comment, updated_at';
export function toWithdrawal(r: R): Withdrawal {
  return {
    id: num(r, 'id'),
    userId: num(r, 'user_id'),
    coinId: num(r, 'coin_id'),
    walletId: num(r, 'wallet_id'),
    address: text(r, 'address'),
    prevId: num(r, 'prev_id'),
    amount: amount(r, 'amount'),
    fee: amount(r, 'fee'),
    debitBefore: amount(r, 'debit_before'),
    parentId: numOrNull(r, 'parent_id'),
    createdAt: date(r, 'created_at'),
    status: oneOf(r, 'status', STATUSES),
    statusSeq: num(r, 'status_seq'),
    txHash: textOrNull(r, 'tx_hash'),
    txFee: amountOrNull(r, 'tx_fee'),
    comment: text(r, 'comment'),
    updatedAt: date(r, 'updated_at'),
  };
}

/** A withdrawal's signed status entries as aggregated by the read (src/store/reads.ts WITH_HISTORY), each value checked. */
export function toHistory(withdrawalId: number, v: unknown): StatusSignature[] {
  if (!Array.isArray(v)) throw new RowError('column history: expected an array');
  return v.map((e: unknown) => {
    if (typeof e !== 'object' || e === null) throw new RowError('column history: expected objects');
    const r = e as R;
    const ms = r.created_at_ms;
    if (typeof ms !== 'number' || !Number.isSafeInteger(ms)) throw new RowError('column history.created_at_ms: expected an integer');
    const hex = textOrNull(r, 'signature');
    if (hex !== null && !/^(?:[0-9a-f]{2})*$/.test(hex)) throw new RowError('column history.signature: expected hex');
    return {
      withdrawalId,
      seq: num(r, 'seq'),
      status: oneOf(r, 'status', STATUSES),
      txHash: textOrNull(r, 'tx_hash'),
      txFee: amountOrNull(r, 'tx_fee'),
      comment: text(r, 'comment'),
      createdAt: new Date(ms),
      sigKeyId: textOrNull(r, 'sig_key_id'),
      signature: hex === null ? null : Buffer.from(hex, 'hex'),
    };
  });
}

export const USER_CHECKPOINT_COLUMNS =
  'user_id, coin_id, version, last_credit_id, last_block_hash, credit_total, last_withdrawal_id, debit_total, sent_total, status_count, ' +
  'head_withdrawal_id, head_debit, open_status_count, made_at, sig_key_id, signature';
export function toUserCheckpoint(r: R): Signed<UserCheckpoint> {
  return {
    userId: num(r, 'user_id'),
    coinId: num(r, 'coin_id'),
    version: num(r, 'version'),
    lastCreditId: num(r, 'last_credit_id'),
    lastBlockHash: text(r, 'last_block_hash'),
    creditTotal: amount(r, 'credit_total'),
    lastWithdrawalId: num(r, 'last_withdrawal_id'),
    debitTotal: amount(r, 'debit_total'),
    sentTotal: amount(r, 'sent_total'),
    statusCount: num(r, 'status_count'),
    headWithdrawalId: num(r, 'head_withdrawal_id'),
    headDebit: amount(r, 'head_debit'),
    openStatusCount: num(r, 'open_status_count'),
    madeAt: date(r, 'made_at'),
    ...sig(r),
  };
}

export const COIN_CHECKPOINT_COLUMNS =
  'coin_id, version, last_income_id, pool_balance, last_block_hash, last_fee_credit_id, fee_total, made_at, sig_key_id, signature';
export function toCoinCheckpoint(r: R): Signed<CoinCheckpoint> {
  return {
    coinId: num(r, 'coin_id'),
    version: num(r, 'version'),
    lastIncomeId: num(r, 'last_income_id'),
    poolBalance: amount(r, 'pool_balance'),
    lastBlockHash: text(r, 'last_block_hash'),
    lastFeeCreditId: num(r, 'last_fee_credit_id'),
    feeTotal: amount(r, 'fee_total'),
    madeAt: date(r, 'made_at'),
    ...sig(r),
  };
}
