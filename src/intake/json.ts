import type { Coin, Signed, Wallet, Withdrawal } from '../ledger/records.js';
import { formatAmount } from '../money/amount.js';

// The records as the intake answers them: amounts as decimal strings, times as ISO strings.

export interface CoinJson {
  id: number;
  tag: string;
  name: string;
  network: string;
  decimals: number;
  confirmations: number;
  fee: string;
  min: string;
  feeUser: number;
  active: boolean;
}

export function coinJson(c: Signed<Coin>): CoinJson {
  return {
    id: c.id,
    tag: c.tag,
    name: c.name,
    network: c.network,
    decimals: c.decimals,
    confirmations: c.confirmations,
    fee: formatAmount(c.withdrawalFee),
    min: formatAmount(c.minWithdrawal),
    feeUser: c.feeUserId,
    active: c.active,
  };
}

export function walletJson(w: Signed<Wallet>, coin: string) {
  return {
    id: w.id,
    user: w.userId,
    coin,
    address: w.address,
    active: w.active,
    deleted: w.deleted,
    reviewed: w.signature !== null,
    signedAt: w.signedAt?.toISOString() ?? null,
  };
}

export function withdrawalJson(w: Withdrawal, key: string, coin: string) {
  return {
    id: w.id,
    key,
    user: w.userId,
    coin,
    wallet: w.walletId,
    address: w.address,
    amount: formatAmount(w.amount),
    fee: formatAmount(w.fee),
    status: w.status,
    createdAt: w.createdAt.toISOString(),
  };
}
