// What both payment sections (pay-eth.ts, pay-zcash.ts) stand on: a coin of their own in the bench
// database, miners with reviewed wallets, credits and requests made through the writer as the pool's
// site and back end make them, and payserv's state machine in this process, called directly (no RPC:
// section 7 times the transport; these time payserv's work and the node's).
import { randomBytes } from 'node:crypto';
import type { Drivers } from '../src/chains/driver.js';
import { LocalCheckpointStore } from '../src/checkpoints/local-store.js';
import { LockKeys } from '../src/data/lock-keys.js';
import type { Db } from '../src/db/db.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { createLogger, type Logger } from '../src/log/index.js';
import { fromBaseUnits, type Amount } from '../src/money/amount.js';
import type { PayoutResult } from '../src/api/payserv.js';
import type { Payserv } from '../src/payserv/context.js';
import type { PaymentJournal } from '../src/journal/journal.js';
import { LockWatch } from '../src/payserv/lock-watch.js';
import { Locks } from '../src/payserv/locks.js';
import type { CoinPolicy } from '../src/payserv/policy.js';
import { ServiceState } from '../src/payserv/state.js';
import { creditBlock } from '../src/writer/blocks.js';
import { CREDITS_PER_BLOCK_MAX } from '../src/writer/credits.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { requestWithdrawal } from '../src/writer/withdrawals.js';
import type { Pki } from './ledger.js';
import { fmt, progress, throttled } from './report.js';

/** Wallets added and signed per database transaction (as the Process section does). */
const WALLETS_PER_TX = 500;
/** Miners per block: as large as a block may be, the pool's fee credit included. */
const MINERS_PER_BLOCK = CREDITS_PER_BLOCK_MAX - 1;
/** Withdrawals whose reply is not the one expected, kept as examples for a failure message. */
const ODD_KEPT_MAX = 5;

export interface PayRequests {
  /** Withdrawal ids, in the order of `addresses`. */
  ids: number[];
  wallets: number;
  credits: number;
  blocks: number;
  ms: number;
}

/**
 * One miner per address, users `firstUser`, `firstUser + 1`, …: a wallet added by the site and signed by an
 * admin, `earned` credited in blocks as large as allowed, and one request of `amountOf(i)` signed by autopay.
 */
export async function payRequests(
  db: Db,
  pki: Pki,
  coin: Signed<Coin>,
  firstUser: number,
  addresses: readonly string[],
  earned: Amount,
  amountOf: (i: number) => Amount,
  label: string,
): Promise<PayRequests> {
  const t0 = performance.now();
  const tick = throttled();
  const wallets: { id: number; address: string }[] = [];
  for (let from = 0; from < addresses.length; from += WALLETS_PER_TX) {
    const n = Math.min(WALLETS_PER_TX, addresses.length - from);
    await db.transaction(async (tx) => {
      for (let i = from; i < from + n; i++) {
        const w = await addWallet(tx, { userId: firstUser + i, coinId: coin.id, address: addresses[i] as string });
        await signWallet(tx, pki.admin, w.id);
        wallets.push({ id: w.id, address: w.address });
      }
    });
    tick(() => `${label}: ${fmt.int(wallets.length)} / ${fmt.int(addresses.length)} wallets`);
  }
  let credits = 0;
  let blocks = 0;
  for (let from = 0; from < addresses.length; from += MINERS_PER_BLOCK) {
    const n = Math.min(MINERS_PER_BLOCK, addresses.length - from);
    const shares = Array.from({ length: n }, (_, k) => ({ userId: firstUser + from + k, amount: earned }));
    const blockHash = `0x${randomBytes(32).toString('hex')}`;
    const out = await creditBlock(db, pki.admin, coin, {
      blockHash,
      shares,
      poolFee: fromBaseUnits(BigInt(1_000 + blocks), coin.decimals),
    });
    credits += out.credits.length;
    blocks++;
  }
  const ids: number[] = [];
  for (const [i, w] of wallets.entries()) {
    const req = await db.transaction((tx) =>
      requestWithdrawal(tx, pki.autopay, {
        userId: firstUser + i,
        coinId: coin.id,
        walletId: w.id,
        address: w.address,
        amount: amountOf(i),
        fee: coin.withdrawalFee,
      }),
    );
    ids.push(req.id);
    tick(() => `${label}: ${fmt.int(ids.length)} / ${fmt.int(wallets.length)} withdrawal requests`);
  }
  return { ids, wallets: wallets.length, credits, blocks, ms: performance.now() - t0 };
}

export interface PayservLog {
  log: Logger;
  /** payserv's error lines (level ≥ 50), the first few: any is a bench failure. */
  errors: string[];
}

/** payserv's logger at info, as it runs: lines are formatted (its cost is payserv's) and dropped, errors kept. */
export function payservLog(): PayservLog {
  const errors: string[] = [];
  const log = createLogger('payserv', 'info', {
    write: (text: string) => {
      const level = Number(/"level":(\d+)/.exec(text)?.[1] ?? 0);
      if (level >= 50 && errors.length < ODD_KEPT_MAX) errors.push(text.trim());
    },
  });
  return { log, errors };
}

/** payserv's state machine on the bench database, payouts enabled, alerts dropped (a fail-stop still disables it). */
export function localPayserv(
  db: Db,
  stateDir: string,
  pki: Pki,
  log: Logger,
  drivers: Drivers,
  policies: Record<string, CoinPolicy>,
  journal: PaymentJournal,
): Payserv {
  const alerts = { raise: async () => undefined };
  const state = new ServiceState(log, alerts);
  state.enable('bench');
  const locks = new Locks(db, LockKeys.of(pki.payserv), { log });
  return {
    db,
    trust: pki.trust,
    local: new LocalCheckpointStore(stateDir),
    journal,
    signers: { payserv: pki.payserv, admin: pki.admin },
    drivers,
    policies: new Map(Object.entries(policies)),
    autopay: new Map(),
    state,
    locks,
    lockWatch: new LockWatch({ locks, alerts, log, heldMaxMs: 300_000 }),
    log,
    now: () => new Date(),
  };
}

export interface Calls {
  /** Per call, in order. */
  times: number[];
  wallMs: number;
  /** Replies counted by kind. */
  replies: Map<string, number>;
  /** A few calls whose reply was not the one expected: id, reply, message. */
  odd: string[];
}

/** `call` on each id one after the other, timing each; a reply other than `expect` is tallied and kept as an example. */
export async function callEach(
  ids: readonly number[],
  expect: string,
  call: (id: number) => Promise<PayoutResult>,
  label: string,
): Promise<Calls> {
  const times: number[] = [];
  const replies = new Map<string, number>();
  const odd: string[] = [];
  const tick = throttled();
  const t0 = performance.now();
  for (const id of ids) {
    const t = performance.now();
    const r = await call(id);
    times.push(performance.now() - t);
    replies.set(r.reply, (replies.get(r.reply) ?? 0) + 1);
    if (r.reply !== expect && odd.length < ODD_KEPT_MAX) odd.push(`${id}: ${r.reply} ${r.message ?? ''}`.trim());
    tick(() => `${label}: ${fmt.int(times.length)} / ${fmt.int(ids.length)}`);
  }
  return { times, wallMs: performance.now() - t0, replies, odd };
}

export const repliesText = (m: ReadonlyMap<string, number>) => [...m].map(([k, v]) => `${fmt.int(v)} ${k}`).join(', ');

export const perSec = (n: number, ms: number) => (ms > 0 ? n / (ms / 1000) : 0);

/** A failure: on stderr at once (a long run should not hide it until the end), on stdout where it happened, and in the list. */
export function failureReporter(
  section: string,
  line: (label: string, value: string) => void,
): { failures: string[]; loud: (what: string) => void } {
  const failures: string[] = [];
  return {
    failures,
    loud: (what) => {
      failures.push(`${section}: ${what}`);
      progress(`!!! ${section.toUpperCase()} BENCH FAILURE: ${what}`);
      line('!!! FAILURE', what);
    },
  };
}
