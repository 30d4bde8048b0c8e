// The contract of payserv's JSON-RPC methods (DESIGN §4 and the original): names, parameters, replies,
// and which client identity may call what. The RPC layer enforces this table before any work is done.
import { z } from 'zod';
import type { TlsIdentity } from '../pki/roles.js';
import { RpcError, type RpcLayerCode } from './jsonrpc.js';
import { UNPRINTABLE } from '../log/scrub.js';

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
  pool: z
    .string()
    .regex(/^-?\d{1,30}(\.\d{1,20})?$/, 'a decimal string')
    .optional(),
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
  /** An operator's confirmation of a rebaseline after the host's local state was lost (pscli rebaseline). */
  'Utils.Rebaseline': z.strictObject({
    reason: z
      .string()
      .max(500)
      .trim()
      .min(3)
      .refine((r) => !UNPRINTABLE.test(r), { error: 'no control characters or line breaks: one line of plain text' }),
  }),
  /** Put back every payment the payment journal holds and the database lost (after a rollback, or a crash before a commit). */
  'Journal.Restore': NoParams,
  /** A consistent backup of the host's local state and the database, taken at one quiet moment (src/payserv/backup.ts). */
  'Backup.Take': NoParams,
} as const;

export type Method = keyof typeof METHODS;
export type ParamsOf<M extends Method> = z.output<(typeof METHODS)[M]>;

/** The pool's admin back end calls the PayServ.* methods; pscli calls everything (as in the original). */
export const ACL: Record<TlsIdentity, (m: Method) => boolean> = {
  backend: (m) => m.startsWith('PayServ.'),
  pscli: () => true,
  payserv: () => false,
  dbgw: () => false,
  intake: () => false,
};

/** Reads `id` from either params form. */
export function idOf(p: { id: number } | [number]): number {
  return Array.isArray(p) ? p[0] : p.id;
}

export function coinOfParams(p: { coin: string } | [string]): string {
  return Array.isArray(p) ? p[0] : p.coin;
}

/**
 * Why a call was refused (ERROR, or an RPC error's `data.code`) or a request declined (DECLINED): stable
 * words for callers to branch on; the message beside it is for people and may change. Each with what it
 * means and what to do (README "Refusal codes" has the same table).
 */
export const REFUSAL_CODES = {
  // Nothing changed: try again, or fix the call.
  busy: 'another call holds the withdrawal, the coin, the account or the correction lock; nothing changed: try again',
  disabled: 'payouts are disabled (at start, or by an operator); nothing changed: run the checks, then `pscli enable`',
  fail_stop:
    'payouts were disabled by an earlier integrity failure (the message has it); nothing changed: investigate, run the checks, then enable',
  integrity:
    'this call found an integrity problem and disabled payouts (fail-stop); nothing changed: investigate, run the checks, then enable',
  unknown_id: 'no withdrawal has this id',
  wrong_status: 'the withdrawal is not in a status the method takes (or changed meanwhile); nothing changed: look at it (pscli transinfo)',
  unknown_coin: 'no coin has this tag or id',
  no_driver: 'the coin has no chain driver on this payserv: an operator pays it, then marks it sent (PayServ.Send)',
  no_autopay: 'autopay does not pay this coin ([autopay] is off, or the coin has no [autopay.coins] threshold, or no autopay signer)',
  node_unavailable: 'the chain node could not be asked or is not ready; nothing changed: try again when it is',
  database_unavailable:
    "payserv's data access (dbgw, or the database behind it) could not be reached; nothing was done: try again when it is back",
  unresolved_payment: 'an earlier transaction of the withdrawal is not proved failed: it is not paid again; Check it, or wait',
  not_paid: 'the payment engine returned no outcome for the withdrawal; nothing was paid: look at it, then Resend',
  none_sent: "SendCoin sent none of the coin's withdrawals; each result carries its own code",
  locked: "the coin's autopay lock is held by a run (in progress, or one that never finished): resolve when no run is in progress",
  coin_halted: 'autopay of the coin is halted on an unknown outcome: run `pscli resolve --coin C`',
  no_admin_key: 'this payserv holds no admin key: coins and wallets are signed where the admin key is',
  unknown_wallet: 'no wallet has this id',
  invalid_correction: "the correction is refused as asked (zero, or the pool's own user on both sides); nothing changed",
  backup_busy:
    'calls or autopay runs were still in progress when the backup had waited [backup] wait_ms, or the hold reached [backup] hold_ms; nothing was kept: try again',
  backup_failed: 'the backup could not be written or did not agree with itself (the log says why); nothing was kept, payouts went on',
  rebaseline_required:
    "the payserv host's local state (checkpoints, journal, audit head) is lost: payouts stay off until T operators confirm `pscli rebaseline --reason ...`",
  rebaseline_not_needed: "the host's local state is whole: a rebaseline would overwrite its anchors; nothing changed",
  rebaseline_refused: 'the ledger did not verify (the problems are listed), or changed before the write: no local state was written',
  not_operator:
    'only an operator with their own certificate (PSCLI_OPERATOR=NAME) may confirm this; the shared pscli identity and the back end do not count',
  // Declined (Process, or a refusal to pay the request as it stands): the amount is given back by Decline.
  balance_short: "the account's credits do not cover its debits with this request (or with this correction)",
  bad_amount: "the amount or fee is finer than the coin's decimals: no chain can pay it (declined if nothing was ever sent for it)",
  below_minimum: "the amount is below the coin's minimum withdrawal",
  below_fee: "the request's fee is below the coin's withdrawal fee",
  coin_inactive: 'the coin is not active',
  invalid_address: 'the address is not a valid address of the coin',
  invalid_wallet: 'the wallet does not exist, or is not a wallet of the user in this coin',
  wallet_not_reviewed: 'the wallet has not been reviewed and signed by an admin yet',
  wallet_deleted:
    "the wallet was deleted or deactivated under the pool's signature (one-way): the user adds the address again as a new wallet",
  wallet_changed: 'the wallet no longer holds the requested address, or changed while it was being signed; review it again',
  manager_declined: 'a manager declined the request (PayServ.Decline)',
  credited_back: 'resolve credited it back: every transaction sent for it proved failed, or none was ever signed',
  // Not a refusal: PENDING carries it, the request waits for a manager.
  policy: "the automatic-approval policy does not approve it: it waits (PENDING) for a manager's Approve or Decline",
  // The RPC layer's own errors (src/rpc/server.ts), in error.data.code: no method ran, unless said otherwise.
  bad_request:
    'the request is not a call payserv takes (not JSON, a batch, a notification, an unknown member, too large, not a POST of JSON); nothing was run',
  unknown_method: 'no method has this name; nothing was run',
  forbidden: "the caller's TLS identity may not call this method (or the certificate names no payserv identity); nothing was run",
  bad_params: "the parameters do not fit the method's schema (error.data.issues names each); nothing was run",
  shutting_down: 'payserv is shutting down; nothing was run: try again on the next instance',
  overloaded: 'too many calls in flight; nothing was run: try again shortly',
  timeout: 'no result within the request timeout; the call may still complete: look at its outcome before retrying',
  internal: 'an unexpected failure (the server log has it): look at the outcome of the call before retrying',
} as const;
export type RefusalCode = keyof typeof REFUSAL_CODES;

/** Every code of the RPC layer is a refusal code: one missing here is a build error. */
const _rpcLayerCodesListed: Record<RpcLayerCode, string> = REFUSAL_CODES;

/** The replies that refuse or decline: they always carry a code. */
export type Refusal = 'ERROR' | 'DECLINED';

/** A refusal as an RPC error object carries it: `error.data.code`. */
export interface RefusalData {
  code: RefusalCode;
}

interface Outcome {
  id: number;
  status: string | null;
  /** Why, for ERROR and DECLINED (and fail-stops), or what is still unknown. */
  message?: string;
  txHash?: string | null;
}

/** RPC error code of payserv's own refusals (the JSON-RPC range -32000..-32099 is the server's). */
export const REFUSED = -32010;

/** RPC error code of a call payserv could not do for want of its data (dbgw or the database unreachable): a retry may succeed. */
export const UNAVAILABLE = -32011;

/** A refusal of a call answered as an RPC error: `rpcCode` (REFUSED unless the parameters are at fault), the code in `data`. */
export function refusal(code: RefusalCode, message: string, rpcCode: number = REFUSED): RpcError {
  const data: RefusalData = { code };
  return new RpcError(rpcCode, message, data);
}

/** What a PayServ.* method returns: the reply word, and the withdrawal as it now is; every ERROR and DECLINED names its code. */
export type PayoutResult = Outcome & ({ reply: Refusal; code: RefusalCode } | { reply: Exclude<Reply, Refusal>; code?: RefusalCode });
