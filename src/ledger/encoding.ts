import { createHash } from 'node:crypto';
import type { Amount } from '../money/amount.js';
import type { Coin, CoinCheckpoint, Credit, PoolIncome, StatusEntry, UserCheckpoint, Wallet, WithdrawalRequest } from './records.js';

// The bytes a signature covers. Unambiguous by construction: a domain tag, the table and record kind,
// then every field as (name, type, length, value) — so "1"+"23" can never read as "12"+"3", a row's
// signature cannot be moved to another table or kind, and the row id is always covered.

const DOMAIN = 'payserv.ledger.v1';

type Value =
  | { t: 'str'; v: string }
  | { t: 'int'; v: number | bigint }
  | { t: 'amount'; v: Amount }
  | { t: 'bool'; v: boolean }
  | { t: 'time'; v: Date }
  | { t: 'bytes'; v: Uint8Array }
  | { t: 'null' };

const TAG = { null: 0, str: 1, int: 2, amount: 3, bool: 4, time: 5, bytes: 6 } as const;

export type RecordKind = 'coin' | 'wallet' | 'pool_income' | 'credit' | 'withdrawal_status' | 'user_checkpoint' | 'coin_checkpoint';

export const TABLE_OF: Record<RecordKind, string> = {
  coin: 'coins_coin',
  wallet: 'users_userwallets',
  pool_income: 'finances_proxypool_transactions',
  credit: 'finances_user_balance_transaction',
  withdrawal_status: 'finances_withdrawal_signatures',
  user_checkpoint: 'finances_user_balance_checkpoints',
  coin_checkpoint: 'finances_coin_checkpoints',
};

const str = (v: string): Value => ({ t: 'str', v });
const int = (v: number): Value => ({ t: 'int', v });
const amount = (v: Amount): Value => ({ t: 'amount', v });
const bool = (v: boolean): Value => ({ t: 'bool', v });
const time = (v: Date): Value => ({ t: 'time', v });
const opt = <T>(v: T | null, f: (x: T) => Value): Value => (v === null ? { t: 'null' } : f(v));

function payload(x: Value): Buffer {
  switch (x.t) {
    case 'null':
      return Buffer.alloc(0);
    case 'str':
      return Buffer.from(x.v, 'utf8');
    case 'int':
      return Buffer.from(BigInt(x.v).toString(10), 'ascii');
    case 'amount':
      return Buffer.from(x.v.toString(10), 'ascii');
    case 'bool':
      return Buffer.from([x.v ? 1 : 0]);
    case 'time': {
      const ms = x.v.getTime();
      if (!Number.isSafeInteger(ms)) throw new Error('invalid timestamp in a signed record');
      return Buffer.from(String(ms), 'ascii');
    }
    case 'bytes':
      return Buffer.from(x.v);
  }
}

function lp(b: Buffer): Buffer[] {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return [len, b];
}

function encode(kind: RecordKind, fields: ReadonlyArray<readonly [string, Value]>): Uint8Array {
  const parts: Buffer[] = [...lp(Buffer.from(DOMAIN)), ...lp(Buffer.from(TABLE_OF[kind])), ...lp(Buffer.from(kind))];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(fields.length);
  parts.push(count);
  for (const [name, value] of fields) {
    parts.push(...lp(Buffer.from(name)), Buffer.from([TAG[value.t]]), ...lp(payload(value)));
  }
  return Buffer.concat(parts);
}

export function encodeCoin(c: Coin): Uint8Array {
  return encode('coin', [
    ['id', int(c.id)],
    ['tag', str(c.tag)],
    ['name', str(c.name)],
    ['active', bool(c.active)],
    ['network', str(c.network)],
    ['decimals', int(c.decimals)],
    ['confirmations', int(c.confirmations)],
    ['withdrawal_fee', amount(c.withdrawalFee)],
    ['min_withdrawal', amount(c.minWithdrawal)],
    ['fee_user_id', int(c.feeUserId)],
    ['updated_at', time(c.updatedAt)],
  ]);
}

export function encodeWallet(w: Wallet): Uint8Array {
  return encode('wallet', [
    ['id', int(w.id)],
    ['user_id', int(w.userId)],
    ['coin_id', int(w.coinId)],
    ['address', str(w.address)],
    ['active', bool(w.active)],
    ['deleted', bool(w.deleted)],
    ['created_at', time(w.createdAt)],
    ['signed_at', opt(w.signedAt, time)],
  ]);
}

export function encodePoolIncome(p: PoolIncome): Uint8Array {
  return encode('pool_income', [
    ['id', int(p.id)],
    ['coin_id', int(p.coinId)],
    ['prev_id', int(p.prevId)],
    ['block_hash', str(p.blockHash)],
    ['kind', str(p.kind)],
    ['amount', amount(p.amount)],
    ['balance_before', amount(p.balanceBefore)],
    ['credit_count', int(p.creditCount)],
    ['created_at', time(p.createdAt)],
  ]);
}

export function encodeCredit(c: Credit): Uint8Array {
  return encode('credit', [
    ['id', int(c.id)],
    ['user_id', int(c.userId)],
    ['coin_id', int(c.coinId)],
    ['prev_id', int(c.prevId)],
    ['block_hash', str(c.blockHash)],
    ['type', str(c.type)],
    ['amount', amount(c.amount)],
    ['balance_before', amount(c.balanceBefore)],
    ['created_at', time(c.createdAt)],
  ]);
}

/**
 * A status entry of a withdrawal: the whole immutable request, the new status fields, and the hash of
 * the previous entry's signature, so the entries form a chain that cannot be cut or reordered.
 */
export function encodeWithdrawalStatus(w: WithdrawalRequest, e: StatusEntry, prevSignature: Uint8Array | null): Uint8Array {
  return encode('withdrawal_status', [
    ['id', int(w.id)],
    ['user_id', int(w.userId)],
    ['coin_id', int(w.coinId)],
    ['wallet_id', int(w.walletId)],
    ['address', str(w.address)],
    ['prev_id', int(w.prevId)],
    ['amount', amount(w.amount)],
    ['fee', amount(w.fee)],
    ['debit_before', amount(w.debitBefore)],
    ['parent_id', opt(w.parentId, int)],
    ['created_at', time(w.createdAt)],
    ['seq', int(e.seq)],
    ['status', str(e.status)],
    ['tx_hash', opt(e.txHash, str)],
    ['tx_fee', opt(e.txFee, amount)],
    ['comment', str(e.comment)],
    ['status_at', time(e.createdAt)],
    ['prev_signature_sha256', opt(prevSignature, (s) => ({ t: 'bytes', v: createHash('sha256').update(s).digest() }))],
  ]);
}

export function encodeUserCheckpoint(c: UserCheckpoint): Uint8Array {
  return encode('user_checkpoint', [
    ['user_id', int(c.userId)],
    ['coin_id', int(c.coinId)],
    ['version', int(c.version)],
    ['last_credit_id', int(c.lastCreditId)],
    ['last_block_hash', str(c.lastBlockHash)],
    ['credit_total', amount(c.creditTotal)],
    ['last_withdrawal_id', int(c.lastWithdrawalId)],
    ['debit_total', amount(c.debitTotal)],
    ['sent_total', amount(c.sentTotal)],
    ['status_count', int(c.statusCount)],
    ['head_withdrawal_id', int(c.headWithdrawalId)],
    ['head_debit', amount(c.headDebit)],
    ['open_status_count', int(c.openStatusCount)],
    ['made_at', time(c.madeAt)],
  ]);
}

export function encodeCoinCheckpoint(c: CoinCheckpoint): Uint8Array {
  return encode('coin_checkpoint', [
    ['coin_id', int(c.coinId)],
    ['version', int(c.version)],
    ['last_income_id', int(c.lastIncomeId)],
    ['pool_balance', amount(c.poolBalance)],
    ['last_block_hash', str(c.lastBlockHash)],
    ['last_fee_credit_id', int(c.lastFeeCreditId)],
    ['fee_total', amount(c.feeTotal)],
    ['made_at', time(c.madeAt)],
  ]);
}
