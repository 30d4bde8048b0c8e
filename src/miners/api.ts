import { intakeRefusal } from '../api/intake.js';
import {
  MINERS_ACL,
  MINERS_METHODS,
  minersRoute,
  type MinersMethod,
  type MinersParams,
  type MinerStats,
  type PaymentsPage,
} from '../api/miners.js';
import type { Config } from '../config/load.js';
import { hasNoHistory } from '../intake/balance.js';
import type { Intake } from '../intake/context.js';
import { refusalCodeOf } from '../api/jsonrpc.js';
import { integrityAlert } from '../intake/handlers.js';
import { verifyRememberedAccount } from '../intake/heads.js';
import { intakeView, verifiedCoin } from '../intake/ledger.js';
import type { Extend, IntakeExtension } from '../intake/service.js';
import { checkHistory } from '../ledger/history.js';
import { sub } from '../money/amount.js';
import { derivedUserId } from '../pools/user-id.js';
import { accountPaymentsPage, type WithdrawalWithHistory } from '../store/reads.js';
import { confirmationsByCoin, type ConfirmationsOf } from './confirmations.js';
import { isPayment, pageCount, PaymentTally, paymentOf, statsOf, utcDayStart, type MinersPool } from './payments.js';

// The miners' API served by the intake (README "The miners' API"): each answer comes from an account
// verified from the start of its history, against payserv's signed checkpoint and the furthest state this
// host already verified (src/intake/heads.ts), so a ledger cut back is refused; a page's rows are checked again
// against their signed histories (they are read by another statement), and an account or a row that does
// not verify is refused as `integrity`, never shown. Confirmations are the node's, asked per page.

interface Deps {
  intake: Intake;
  pools: ReadonlyMap<string, MinersPool>;
  confirmations: ReadonlyMap<string, ConfirmationsOf>;
  /** The furthest state of each miner's account this host has verified: an account that went backwards is refused. */
  now: () => Date;
}

function poolOf(d: Deps, id: string): MinersPool {
  const pool = d.pools.get(id);
  if (!pool) throw intakeRefusal('unknown_pool', `unknown pool ${id}: no [miners.pools.${id}] table`, { pool: id });
  return pool;
}

/** The ledger user an address names: derived as the MiningCore adapter derives it, or the pool's own id. */
function userOf(pool: MinersPool, coinTag: string, address: string): number {
  if (pool.users === 'miningcore') return derivedUserId(`miningcore:${pool.id}`, coinTag, address);
  const id = /^[1-9]\d{0,15}$/.test(address) ? Number(address) : NaN;
  if (!Number.isSafeInteger(id))
    throw intakeRefusal('unknown_user', `pool ${pool.id} names users by id (users = "id"): ${address} is not a user id`, { pool: pool.id });
  return id;
}

/** The miner's account, verified whole; `seen` tallies its withdrawals in the same pass. */
async function verifiedMiner(d: Deps, p: { pool: string; address: string }, seen: (w: WithdrawalWithHistory) => void) {
  const pool = poolOf(d, p.pool);
  const view = await intakeView(d.intake, d.intake.db);
  const coin = verifiedCoin(view, pool.coin);
  const userId = userOf(pool, coin.tag, p.address);
  const r = await verifyRememberedAccount(view, d.intake.heads, userId, coin, seen);
  const balance = sub(r.creditTotal, r.debitTotal);
  if (hasNoHistory(r))
    throw intakeRefusal('unknown_user', `unknown miner ${p.address} in pool ${pool.id}: no credit or withdrawal`, { pool: pool.id });
  return { pool, view, coin, userId, balance };
}

async function minerStats(d: Deps, p: MinersParams<'Miners.Get'>): Promise<MinerStats> {
  const tally = new PaymentTally(utcDayStart(d.now()));
  const { pool, balance } = await verifiedMiner(d, p, (w) => tally.add(w.withdrawal, w.history));
  return statsOf(pool, balance, tally);
}

async function minerPayments(d: Deps, p: MinersParams<'Miners.Payments'>): Promise<PaymentsPage> {
  const tally = new PaymentTally(utcDayStart(d.now()));
  const { pool, view, coin, userId } = await verifiedMiner(d, p, (w) => tally.add(w.withdrawal, w.history));
  const rows = await accountPaymentsPage(d.intake.db, userId, coin.id, p.pageSize, p.page * p.pageSize);
  for (const { withdrawal: w, history } of rows) {
    const faults = checkHistory(w, history, view.book);
    if (faults.length || !isPayment(w))
      throw intakeRefusal('integrity', `withdrawal ${w.id} of miner ${p.address}: ${faults[0] ?? `${w.status} is not a payment`}`, {
        pool: pool.id,
        withdrawal: w.id,
      });
  }
  const confirmationsOf = d.confirmations.get(coin.tag);
  const confirmations = await Promise.all(
    rows.map(({ withdrawal: w }) => (confirmationsOf && w.txHash ? confirmationsOf(w.txHash) : null)),
  );
  return {
    result: rows.map(({ withdrawal, history }, i) => paymentOf(pool, withdrawal, history, confirmations[i] ?? null)),
    success: true,
    pageCount: pageCount(tally.count, p.pageSize),
  };
}

/** HTTP statuses of the GET paths' refusals: an unknown pool, coin or miner is not found; a ledger that does not verify, a conflict. */
function refusalStatus(error: { data?: unknown }): number {
  const code = (error.data as { code?: unknown } | undefined)?.code;
  if (code === 'unknown_pool' || code === 'unknown_user' || code === 'unknown_coin') return 404;
  if (code === 'integrity') return 409;
  return 500;
}

function poolsOf(config: Config<'intake'>['miners']): Map<string, MinersPool> {
  return new Map(
    Object.entries(config.pools).map(([id, p]) => [
      id,
      { id, coin: p.coin, users: p.users, txLink: p.tx_link, addressLink: p.address_link },
    ]),
  );
}

/** The miners' API as an extension of the intake's listener ([miners.pools.ID] names what it serves). */
export function minersApi(config: Config<'intake'>, now: () => Date = () => new Date()): Extend<MinersMethod> {
  return (intake, nodeAuth): IntakeExtension<MinersMethod> => {
    const d: Deps = {
      intake,
      pools: poolsOf(config.miners),
      confirmations: confirmationsByCoin(config.coins, nodeAuth),
      now,
    };
    return {
      contract: { methods: MINERS_METHODS, allowed: (identity, m) => MINERS_ACL[identity](m) },
      routes: (url) => {
        const r = minersRoute(url);
        return r ? { ...r, refusalStatus } : null;
      },
      handle: async (method, params) => {
        try {
          return method === 'Miners.Get'
            ? await minerStats(d, params as MinersParams<'Miners.Get'>)
            : await minerPayments(d, params as MinersParams<'Miners.Payments'>);
        } catch (e) {
          if (refusalCodeOf(e) === 'integrity') integrityAlert(intake, method, (e as Error).message);
          throw e;
        }
      },
    };
  };
}
