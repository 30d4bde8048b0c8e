import type { MinerPayment, MinerStats } from '../api/miners.js';
import type { StatusSignature, Withdrawal } from '../ledger/records.js';
import { add, formatAmount, sub, ZERO, type Amount } from '../money/amount.js';

// A verified account's payments in MiningCore's shape, free of I/O. A payment is a withdrawal whose
// signed history has reached a transaction: `sending` (broadcast, not final) or `sent` (final). What
// reached the address is the withdrawal's amount less its fee, as it was paid on chain.

/** One [miners.pools.ID] table. */
export interface MinersPool {
  id: string;
  coin: string;
  users: 'miningcore' | 'id';
  txLink?: string | undefined;
  addressLink?: string | undefined;
}

export const isPayment = (w: Withdrawal): w is Withdrawal & { status: 'sending' | 'sent'; txHash: string } =>
  (w.status === 'sending' || w.status === 'sent') && w.txHash !== null;

/** When the payment left: the first signed entry that names a transaction (sending, or sent directly). */
export function paidAt(w: Withdrawal, history: readonly StatusSignature[]): Date {
  return history.find((e) => e.txHash !== null && (e.status === 'sending' || e.status === 'sent'))?.createdAt ?? w.updatedAt;
}

/** A configured explorer template with its one `{name}` filled; none configured, none given. */
export function explorerLink(template: string | undefined, name: 'hash' | 'address', value: string): string | undefined {
  return template?.replace(`{${name}}`, encodeURIComponent(value));
}

/** MiningCore writes a C# decimal as a JSON number: the nearest double, for display; the exact value is beside it. */
const approx = (a: Amount): number => Number(formatAmount(a));

const paid = (w: Withdrawal): Amount => sub(w.amount, w.fee);

export function paymentOf(
  pool: MinersPool,
  w: Withdrawal,
  history: readonly StatusSignature[],
  confirmations: number | null,
): MinerPayment {
  if (!isPayment(w)) throw new Error(`withdrawal ${w.id} is ${w.status}, not a payment`);
  const addressInfoLink = explorerLink(pool.addressLink, 'address', w.address);
  const transactionInfoLink = explorerLink(pool.txLink, 'hash', w.txHash);
  return {
    coin: pool.coin,
    address: w.address,
    ...(addressInfoLink ? { addressInfoLink } : {}),
    amount: approx(paid(w)),
    transactionConfirmationData: w.txHash,
    ...(transactionInfoLink ? { transactionInfoLink } : {}),
    created: paidAt(w, history).toISOString(),
    amountExact: formatAmount(paid(w)),
    fee: formatAmount(w.fee),
    txFee: w.txFee === null ? null : formatAmount(w.txFee),
    confirmations,
    withdrawalId: w.id,
    status: w.status,
  };
}

/** The account's payments, told one by one in id order as the account is verified. */
export class PaymentTally {
  count = 0;
  inFlight = 0;
  totalPaid: Amount = ZERO;
  todayPaid: Amount = ZERO;
  last: { at: Date; txHash: string } | null = null;

  /** `dayStart`: midnight UTC of today, as MiningCore counts todayPaid. */
  constructor(readonly dayStart: Date) {}

  add(w: Withdrawal, history: readonly StatusSignature[]): void {
    if (!isPayment(w)) return;
    const at = paidAt(w, history);
    this.count += 1;
    this.last = { at, txHash: w.txHash };
    if (w.status === 'sending') {
      this.inFlight += 1;
      return;
    }
    this.totalPaid = add(this.totalPaid, paid(w));
    if (at >= this.dayStart) this.todayPaid = add(this.todayPaid, paid(w));
  }
}

export function utcDayStart(now: Date): Date {
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
}

/** totalPaid and todayPaid count sent payments only: one still sending may yet be replaced or fail. */
export function statsOf(pool: MinersPool, balance: Amount, t: PaymentTally): MinerStats {
  const lastPaymentLink = t.last ? explorerLink(pool.txLink, 'hash', t.last.txHash) : undefined;
  return {
    pendingShares: 0,
    pendingBalance: approx(balance),
    totalPaid: approx(t.totalPaid),
    todayPaid: approx(t.todayPaid),
    ...(t.last ? { lastPayment: t.last.at.toISOString() } : {}),
    ...(lastPaymentLink ? { lastPaymentLink } : {}),
    performanceSamples: [],
    coin: pool.coin,
    pendingBalanceExact: formatAmount(balance),
    totalPaidExact: formatAmount(t.totalPaid),
    todayPaidExact: formatAmount(t.todayPaid),
    paymentsInFlight: t.inFlight,
  };
}

export const pageCount = (payments: number, pageSize: number): number => Math.ceil(payments / pageSize);
