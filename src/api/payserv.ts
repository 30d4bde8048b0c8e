// The contract of payserv's JSON-RPC methods (DESIGN §4 and the original): names, parameters, replies,
// and which client identity may call what. The RPC layer enforces this table before any work is done.
import { z } from 'zod';
import type { TlsIdentity } from '../pki/roles.js';

/** Replies to the caller, as in the original. */
export const REPLIES = ['ERROR', 'DECLINED', 'PENDING', 'APPROVED', 'SENDING', 'SENT', 'SEND_RETRY', 'SEND_ERROR'] as const;
export type Reply = (typeof REPLIES)[number];

/** A withdrawal id as the pool's back end sends it: a positive integer within the exact range. */
export const WithdrawalId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const IdParams = z.union([z.tuple([WithdrawalId]), z.strictObject({ id: WithdrawalId })]);
const CoinParams = z.union([z.tuple([z.string().min(1).max(16)]), z.strictObject({ coin: z.string().min(1).max(16) })]);
const NoParams = z.union([z.tuple([]), z.strictObject({})]).optional();
const AccountParams = z.strictObject({ user: WithdrawalId, coin: z.string().min(1).max(16) });
const CorrectionParams = z.strictObject({
  user: WithdrawalId,
  coin: z.string().min(1).max(16),
  /** Decimal string, never a number: money is exact. */
  amount: z.string().regex(/^-?\d{1,30}(\.\d{1,20})?$/, 'a decimal string'),
  /** The pool-income counterpart; default: the amount. The difference is credited to the pool's own user. */
  pool: z.string().regex(/^-?\d{1,30}(\.\d{1,20})?$/, 'a decimal string').optional(),
  comment: z.string().max(500).optional(),
});

export const METHODS = {
  'PayServ.Process': IdParams,
  'PayServ.Decline': IdParams,
  'PayServ.Approve': IdParams,
  'PayServ.Resend': IdParams,
  'PayServ.Check': IdParams,
  'PayServ.Send': IdParams,
  'PayServ.SendCoin': CoinParams,
  'Utils.Enable': NoParams,
  'Utils.Disable': NoParams,
  'Utils.Status': NoParams,
  'Utils.ListLocks': NoParams,
  'Utils.IsProcessing': IdParams,
  'Utils.Version': NoParams,
  'Utils.TransInfo': IdParams,
  'Check.Balances': NoParams,
  'Check.Balance': AccountParams,
  'Check.Coins': NoParams,
  'Check.Wallets': NoParams,
  'Check.ProxyPool': CoinParams,
  'Check.BalanceErrors': NoParams,
  'Coins.Sign': IdParams,
  'Wallets.Sign': IdParams,
  'Wallets.SignAll': NoParams,
  'Corrections.Apply': CorrectionParams,
  /** One autopay run of the coin now; its report. */
  'Autopay.Run': CoinParams,
  /** Ask the chain about every payment of the coin that may be in flight; credit back what never left; unlock. */
  'Autopay.Resolve': CoinParams,
  'Autopay.Status': NoParams,
  /** Put back every payment the payment journal holds and the database lost (after a rollback, or a crash before a commit). */
  'Journal.Restore': NoParams,
} as const;

export type Method = keyof typeof METHODS;
export type ParamsOf<M extends Method> = z.output<(typeof METHODS)[M]>;

/** The pool's admin back end calls the PayServ.* methods; pscli calls everything (as in the original). */
export const ACL: Record<TlsIdentity, (m: Method) => boolean> = {
  backend: (m) => m.startsWith('PayServ.'),
  pscli: () => true,
  payserv: () => false,
  dbgw: () => false,
};

/** Reads `id` from either params form. */
export function idOf(p: { id: number } | [number]): number {
  return Array.isArray(p) ? p[0] : p.id;
}

export function coinOfParams(p: { coin: string } | [string]): string {
  return Array.isArray(p) ? p[0] : p.coin;
}

/** What a PayServ.* method returns: the reply word, and the withdrawal as it now is. */
export interface PayoutResult {
  reply: Reply;
  id: number;
  status: string | null;
  /** Why, for ERROR and DECLINED (and fail-stops). */
  message?: string;
  txHash?: string | null;
}
