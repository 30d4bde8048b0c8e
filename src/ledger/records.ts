import type { Amount } from '../money/amount.js';

// The ledger's records as payserv sees them: typed, exact, free of database representation.

export const WITHDRAWAL_STATUSES = [
  'processing',
  'pending',
  'approved',
  'sending',
  'sent',
  'send_error',
  'send_retry',
  'processed',
  'declined',
] as const;
export type WithdrawalStatus = (typeof WITHDRAWAL_STATUSES)[number];

export type CreditType = 'block' | 'fee' | 'correction';
export type IncomeKind = 'block' | 'correction';

export interface Signature {
  sigKeyId: string | null;
  signature: Uint8Array | null;
}

export type Signed<T> = T & Signature;

export interface Coin {
  id: number;
  tag: string;
  name: string;
  active: boolean;
  network: 'mainnet' | 'testnet';
  decimals: number;
  confirmations: number;
  withdrawalFee: Amount;
  minWithdrawal: Amount;
  /** The pool's own user, credited with the pool fee of every block. */
  feeUserId: number;
  updatedAt: Date;
}

export interface Wallet {
  id: number;
  userId: number;
  coinId: number;
  address: string;
  active: boolean;
  deleted: boolean;
  createdAt: Date;
  /** When an admin reviewed and signed it; null: not usable yet. */
  signedAt: Date | null;
}

export interface PoolIncome {
  id: number;
  coinId: number;
  prevId: number;
  blockHash: string;
  kind: IncomeKind;
  amount: Amount;
  balanceBefore: Amount;
  creditCount: number;
  createdAt: Date;
}

export interface Credit {
  id: number;
  userId: number;
  coinId: number;
  prevId: number;
  blockHash: string;
  type: CreditType;
  amount: Amount;
  balanceBefore: Amount;
  createdAt: Date;
}

/** The part of a withdrawal that never changes after it is written. */
export interface WithdrawalRequest {
  id: number;
  userId: number;
  coinId: number;
  walletId: number;
  address: string;
  prevId: number;
  amount: Amount;
  fee: Amount;
  debitBefore: Amount;
  parentId: number | null;
  createdAt: Date;
}

/** The fields a status change sets; one signed entry per change. */
export interface StatusEntry {
  seq: number;
  status: WithdrawalStatus;
  txHash: string | null;
  txFee: Amount | null;
  comment: string;
  createdAt: Date;
}

export interface Withdrawal extends WithdrawalRequest {
  status: WithdrawalStatus;
  statusSeq: number;
  txHash: string | null;
  txFee: Amount | null;
  comment: string;
  updatedAt: Date;
}

export interface StatusSignature extends StatusEntry, Signature {
  withdrawalId: number;
}

/** What a user checkpoint summarises: the verified state of one (user, coin) account. */
export interface AccountSummary {
  lastCreditId: number;
  lastBlockHash: string;
  creditTotal: Amount;
  /** The end of the prefix of withdrawals that are all in a final status. */
  lastWithdrawalId: number;
  debitTotal: Amount;
  sentTotal: Amount;
  /** Status signatures of the covered withdrawals: a rolled-back status removes one. */
  statusCount: number;
  /** The last withdrawal of the whole chain, open ones included, and the debit after it: the tail cannot be cut. */
  headWithdrawalId: number;
  headDebit: Amount;
  /** Signed status entries of the withdrawals after the final prefix, up to the head: statuses only ever add entries. */
  openStatusCount: number;
}

export interface UserCheckpoint extends AccountSummary {
  userId: number;
  coinId: number;
  version: number;
  madeAt: Date;
}

/** What a coin checkpoint summarises: a coin's verified pool income and fee credits. */
export interface PoolSummary {
  lastIncomeId: number;
  poolBalance: Amount;
  lastBlockHash: string;
  lastFeeCreditId: number;
  feeTotal: Amount;
}

export interface CoinCheckpoint extends PoolSummary {
  coinId: number;
  version: number;
  madeAt: Date;
}
