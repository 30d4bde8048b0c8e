import { autopayFor } from '../autopay/service.js';
import { autopayStatus } from '../autopay/status.js';
import { ALERTS } from '../data/ops/alerts.js';
import { DASHBOARD, type DashboardWithdrawal } from '../data/ops/dashboard.js';
import { METRICS } from '../data/ops/metrics.js';
import { formatAmount, fromBaseUnits } from '../money/amount.js';
import type { Payserv } from '../payserv/context.js';
import type { Monitor } from '../payserv/monitor.js';
import { loadCoins } from '../store/reads.js';

// What the dashboard's overview shows, read when the page is asked for: payserv's state in memory, the
// monitor's last tick, and a few LIMITed queries (src/data/ops/dashboard.ts). A part that fails is shown
// as failed with its reason; the others are still shown.

/** A node's balance read that has not answered by then is shown as not answered: a page never hangs on a node. */
const NODE_READ_MS = 5_000;

export type Part<T> = { ok: true; value: T } | { ok: false; error: string };

export interface HotWallet {
  coin: string;
  balance: Part<string>;
}

export interface Overview {
  now: Date;
  state: ReturnType<Payserv['state']['status']> & { failStopped: boolean };
  withdrawals: Part<{ tag: string; status: string; n: string }[]>;
  pending: Part<DashboardWithdrawal[]>;
  inFlight: Part<DashboardWithdrawal[]>;
  recent: Part<DashboardWithdrawal[]>;
  autopay: Part<Awaited<ReturnType<typeof autopayStatus>>['coins']>;
  wallets: HotWallet[];
  nodes: { coin: string; ok: boolean | null; reason: string | null; at: Date | null }[];
  checks: ReturnType<Monitor['lastReport']>;
  alerts: Part<{ id: number; at: Date; kind: string; reason: string }[]>;
  audit: Part<{ id: number; at: Date; client: string; method: string; target: string; reply: string; code: string | null }[]>;
}

async function part<T>(read: () => Promise<T>): Promise<Part<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

function withinMs<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

async function hotWallets(ps: Payserv): Promise<HotWallet[]> {
  if (!ps.drivers.size) return [];
  const decimals = await part(async () => new Map((await loadCoins(ps.db)).map((c) => [c.tag, c.decimals])));
  return Promise.all(
    [...ps.drivers].map(async ([coin, driver]) => ({
      coin,
      balance: await part(async () => {
        const units = await withinMs(driver.spendable(ps.db), NODE_READ_MS, `${coin} hot wallet`);
        const d = decimals.ok ? decimals.value.get(coin) : undefined;
        return d === undefined ? `${units} base units` : formatAmount(fromBaseUnits(units, d));
      }),
    })),
  );
}

export async function readOverview(ps: Payserv, monitor: Monitor | null, rows: number): Promise<Overview> {
  const s = ps.state.status();
  const health = monitor?.nodeHealth();
  const [withdrawals, pending, inFlight, recent, autopay, wallets, alerts, audit] = await Promise.all([
    part(() => ps.db.query(METRICS.withdrawalsByStatus)),
    part(() => ps.db.query(DASHBOARD.pending, [rows])),
    part(() => ps.db.query(DASHBOARD.inFlight, [rows])),
    part(() => ps.db.query(DASHBOARD.recentSent, [rows])),
    part(async () => (await autopayStatus(ps, autopayFor(ps).last())).coins),
    hotWallets(ps),
    part(() => ps.db.query(ALERTS.newest, [Math.min(rows, 20)])),
    part(() => ps.db.query(DASHBOARD.audit, [rows])),
  ]);
  return {
    now: ps.now(),
    state: { ...s, failStopped: ps.state.failStopped },
    withdrawals,
    pending,
    inFlight,
    recent,
    autopay,
    wallets,
    nodes: [...ps.drivers.keys()].map((coin) => {
      const n = health?.get(coin);
      return { coin, ok: n?.ok ?? null, reason: n?.reason ?? null, at: n?.at ?? null };
    }),
    checks: monitor?.lastReport() ?? null,
    alerts,
    audit,
  };
}
