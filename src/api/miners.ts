// The contract of the miners' API (src/miners): a miner's verified balance and payments for the pool's
// site, in the shape MiningCore's API answers (Api/Responses: MinerStats, Payment, PagedResultResponse)
// so a front end written for MiningCore reads it unchanged, with payserv's own fields beside them. Served
// by the intake as JSON-RPC methods and as MiningCore's GET paths; read-only; the pool's back end only.
import { z } from 'zod';
import type { TlsIdentity } from '../pki/roles.js';

/** The most payments one page holds (MiningCore's front ends ask for 15 to 50). */
export const PAGE_SIZE_MAX = 100;

const PoolId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'a pool id of A-Z a-z 0-9 _ - (the [miners.pools.ID] table)');
/** A coin address as a pool writes it, or (users = "id") the pool's own decimal user id. */
const Address = z.string().regex(/^[A-Za-z0-9._:-]{1,128}$/, 'an address: 1 to 128 characters of A-Z a-z 0-9 . _ : -');

/** A paging parameter: every refusal (a string, a fraction, out of range) names it and its range. */
function wholeNumber(name: string, min: number, max: number) {
  const error = `${name} must be a whole number from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

export const MINERS_METHODS = {
  'Miners.Get': z.strictObject({ pool: PoolId, address: Address }),
  'Miners.Payments': z.strictObject({
    pool: PoolId,
    address: Address,
    page: wholeNumber('page', 0, 1_000_000).default(0),
    pageSize: wholeNumber('pageSize', 1, PAGE_SIZE_MAX).default(15),
  }),
} as const;

export type MinersMethod = keyof typeof MINERS_METHODS;
export type MinersParams<M extends MinersMethod> = z.output<(typeof MINERS_METHODS)[M]>;

export const isMinersMethod = (m: string): m is MinersMethod => Object.hasOwn(MINERS_METHODS, m);

/** Read by the pool's site through its back end only: every other identity is refused (-32001) before any work. */
export const MINERS_ACL: Record<TlsIdentity, (m: MinersMethod) => boolean> = {
  backend: () => true,
  pscli: () => false,
  payserv: () => false,
  dbgw: () => false,
  intake: () => false,
};

/**
 * MiningCore's Payment, then payserv's fields. MiningCore's amount is a JSON number (a C# decimal);
 * `amountExact`, `fee` and `txFee` are the ledger's exact decimal strings.
 */
export interface MinerPayment {
  coin: string;
  address: string;
  addressInfoLink?: string;
  /** What reached the address (the withdrawal's amount less its fee), as a JSON number: for display only. */
  amount: number;
  /** The transaction hash. */
  transactionConfirmationData: string;
  transactionInfoLink?: string;
  /** When the withdrawal was requested (ISO 8601, UTC). */
  created: string;
  amountExact: string;
  /** The pool's withdrawal fee, kept from the debit. */
  fee: string;
  /** The network fee the pool paid, once known. */
  txFee: string | null;
  /** The node's count now; null when the coin has no node configured or the node does not know the transaction. */
  confirmations: number | null;
  withdrawalId: number;
  status: 'sending' | 'sent';
}

/** MiningCore's v2 page (PagedResultResponse): v1 answers `result` alone. */
export interface PaymentsPage {
  result: MinerPayment[];
  success: boolean;
  pageCount: number;
}

/** MiningCore's MinerStats (no shares or hashrate: payserv pays, it does not count work), then payserv's exact fields. */
export interface MinerStats {
  pendingShares: number;
  pendingBalance: number;
  totalPaid: number;
  todayPaid: number;
  lastPayment?: string;
  lastPaymentLink?: string;
  performanceSamples: never[];
  coin: string;
  pendingBalanceExact: string;
  totalPaidExact: string;
  todayPaidExact: string;
  /** Payments broadcast and not yet final, as the signed ledger says. */
  paymentsInFlight: number;
}

/** A GET path of MiningCore's API as the method it runs, its params, and how its result is written. */
export interface MinersRoute {
  method: MinersMethod;
  params: Record<string, unknown>;
  present: (result: unknown) => unknown;
}

const asIs = (r: unknown): unknown => r;
const resultOnly = (r: unknown): unknown => (r as PaymentsPage).result;

/** A whole number in the query as a number; anything else as sent, for the params check to name. */
function queryInt(q: URLSearchParams, name: string): Record<string, unknown> {
  const v = q.get(name);
  if (v === null) return {};
  return { [name]: /^\d{1,9}$/.test(v) ? Number(v) : v };
}

function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * /api/pools/{pool}/miners/{address}: MinerStats; /api/pools/{pool}/miners/{address}/payments: an array of
 * Payment; /api/v2/pools/{pool}/miners/{address}/payments: {result, success, pageCount}. Null: no such path.
 */
export function minersRoute(url: URL): MinersRoute | null {
  const m = /^\/api(\/v2)?\/pools\/([^/]+)\/miners\/([^/]+)(\/payments)?\/?$/.exec(url.pathname);
  if (!m) return null;
  const [, v2, pool, address, payments] = m;
  const base = { pool: segment(pool as string), address: segment(address as string) };
  if (!payments) return v2 ? null : { method: 'Miners.Get', params: base, present: asIs };
  const paging = { ...queryInt(url.searchParams, 'page'), ...queryInt(url.searchParams, 'pageSize') };
  return { method: 'Miners.Payments', params: { ...base, ...paging }, present: v2 ? asIs : resultOnly };
}
