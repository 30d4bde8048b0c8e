// The contract of the ledger intake (src/intake): the pool back end's JSON-RPC methods for writing the
// signed ledger, their parameters (strict; amounts as decimal strings, never numbers), who may call
// them (the back end only), and the stable codes of every refusal (error.data.code).
import { z } from 'zod';
import type { TlsIdentity } from '../pki/roles.js';
import { RpcError } from './jsonrpc.js';

/** What a client checks before it trusts an intake: the same project and component. */
export const INTAKE_VERSION = { project: 'payserv', component: 'intake', version: '0.1.0', protocol: 1 } as const;

const Id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const Tag = z.string().regex(/^[A-Za-z0-9]{2,10}$/, 'a coin tag such as ETH');
/** A non-negative decimal string with at most 20 decimal places (the ledger's scale). */
const Decimal = z.string().regex(/^\d{1,30}(\.\d{1,20})?$/, 'a decimal string such as "0.5"');
const BlockHash = z.string().regex(/^(0x)?[0-9a-fA-F]{64}$/, 'a block hash: 64 hex digits, 0x optional');
/**
 * Text the ledger stores and signs: PostgreSQL text cannot hold NUL (an internal error), and a lone surrogate is
 * stored as U+FFFD (a retry as sent then reads as another value: a conflict). Both are refused as bad params.
 */
const StoredText = (max: number) =>
  z
    .string()
    .refine((s) => !s.includes('\u0000') && !/\p{Cs}/u.test(s), 'text without NUL characters or unpaired surrogates')
    .trim()
    .min(1)
    .max(max);
const NoParams = z.union([z.tuple([]), z.strictObject({})]).optional();

/** The pool's own id of a withdrawal request: signed into the request as `intake:<key>`. */
export const REQUEST_KEY = /^[A-Za-z0-9._:-]{1,64}$/;

export const INTAKE_METHODS = {
  'Coins.Register': z.strictObject({
    tag: Tag,
    name: StoredText(100),
    decimals: z.int().min(0).max(20),
    fee: Decimal,
    min: Decimal,
    feeUser: Id,
    confirmations: z.int().min(1).max(1_000_000).optional(),
    network: z.enum(['mainnet', 'testnet']).optional(),
  }),
  'Wallets.Register': z.strictObject({ user: Id, coin: Tag, address: z.string().min(1).max(128) }),
  'Wallets.Sign': z.strictObject({ wallet: Id }),
  'Wallets.Retire': z.strictObject({ wallet: Id, how: z.enum(['deleted', 'inactive']) }),
  'Blocks.Credit': z.strictObject({
    coin: Tag,
    hash: BlockHash,
    income: Decimal,
    credits: z.array(z.strictObject({ user: Id, amount: Decimal })).min(1),
    poolFee: Decimal,
    /** The block's height as the pool recorded it: when given, the chain's must be the same. */
    height: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  }),
  'Withdrawals.Request': z.strictObject({
    key: z.string().regex(REQUEST_KEY, '1 to 64 characters of A-Z a-z 0-9 . _ : -'),
    wallet: Id,
    amount: Decimal,
    fee: Decimal.optional(),
  }),
  'Balance.Get': z.strictObject({ user: Id, coin: Tag }),
  'Utils.Version': NoParams,
  'Utils.Status': NoParams,
} as const;

export type IntakeMethod = keyof typeof INTAKE_METHODS;
export type IntakeParams<M extends IntakeMethod> = z.output<(typeof INTAKE_METHODS)[M]>;

/** Only the pool's back end writes through the intake; every other identity is refused (-32001) before any work. */
export const INTAKE_ACL: Record<TlsIdentity, (m: IntakeMethod) => boolean> = {
  backend: () => true,
  pscli: () => false,
  payserv: () => false,
  dbgw: () => false,
  intake: () => false,
};

/** Why a call was refused: stable words in error.data.code (README "The ledger intake" has the same table). Nothing was written. */
export const INTAKE_CODES = {
  unknown_coin: 'no coin has this tag',
  conflict: 'the idempotency key (coin tag, block hash, request key) is taken by a different call; nothing changed',
  bad_amount: 'an amount is zero where it must be positive, or finer than the coin has decimals',
  sum_mismatch: 'the credits plus the pool fee do not equal the income',
  too_many_credits: 'more credits than [intake] credits_per_block_max',
  duplicate_user: 'a block credits a user twice, or credits the coin fee user as a miner',
  no_reward_check:
    "the intake has no [coins.TAG] node for this coin, or the coin's decimals are not its chain's: its blocks cannot be checked",
  block_unknown: 'the node does not know the block: forged, or of another chain (alerted)',
  block_not_canonical: 'the block is not on the canonical chain: orphaned or an uncle (alerted)',
  block_before_start:
    "the block is below the coin's first_height: its reward was the pool's own payer's to pay before the switch (alerted)",
  block_height_mismatch: 'the chain has the block at another height than the pool says (alerted)',
  block_immature: "the block has fewer confirmations than the coin's: retry later",
  block_wrong_miner: "the block was mined to another address than the pool's (alerted)",
  reward_short: 'the chain paid the pool less than the income to be credited (alerted)',
  node_unavailable: "the coin's node cannot answer or is on another chain: retry later",
  invalid_address: 'the address is not a valid address of the coin',
  unknown_wallet: 'no wallet has this id',
  wallet_not_reviewed: 'the wallet has not been reviewed and signed yet',
  wallet_deleted: 'the wallet was deleted or deactivated (one-way): the user adds the address again as a new wallet',
  wallet_changed: 'the wallet changed while it was being signed; try again',
  coin_inactive: 'the coin is not active',
  below_minimum: "the amount is below the coin's minimum withdrawal",
  below_fee: "the fee is below the coin's withdrawal fee, or above the amount",
  balance_short: "the user's verified balance does not cover the amount",
  unknown_user: 'the user has no credit, withdrawal or checkpoint in this coin',
  unknown_pool: "the miners' API has no [miners.pools.ID] table for this pool id",
  integrity: 'the account does not verify (signatures, chains): nothing is written or reported for it; run the checks',
} as const;
export type IntakeCode = keyof typeof INTAKE_CODES;

/** The RPC error code of the intake's refusals (the JSON-RPC server range). */
export const INTAKE_REFUSED = -32020;

export function intakeRefusal(code: IntakeCode, message: string, data: Record<string, unknown> = {}): RpcError {
  return new RpcError(INTAKE_REFUSED, message, { ...data, code });
}
