// One schedule: a seed's generator chooses, step by step, the next operation (a miner's request,
// Process, Approve, Decline, Resend, Check, SendCoin, an autopay run, resolve, the chain moving on, the
// clock moving on, a node forgetting a transaction, a clean restart), which withdrawal it works on, and
// whether a fault is injected at one of the fault points the operation reaches (and which). A crash
// restarts payserv and runs the operator's recovery; after every step the money invariants are asserted;
// at the end the world is settled (confirmations mined, every payment checked, halted coins resolved) and
// the ledger is held against the chain. A schedule may carry one tamper of the database attacker's: from
// then on payserv either stops itself (or the operator's checks name it) or nothing may have changed.
import { resolveCoin } from '../../src/autopay/resolve.js';
import { runAutopay } from '../../src/autopay/run.js';
import { restoreFromJournal } from '../../src/payserv/payments/restore.js';
import { mine, dropTransaction } from '../../src/devnet/anvil.js';
import { AUTOPAY } from '../../src/data/ops/autopay.js';
import { formatProblem } from '../../src/ledger/problem.js';
import { parseAmount } from '../../src/money/amount.js';
import type { FaultInfo, FaultPoint } from '../../src/payserv/faults.js';
import {
  approveWithdrawal,
  checkWithdrawal,
  declineRequest,
  processWithdrawal,
  resendWithdrawal,
  sendCoin,
} from '../../src/payserv/payouts.js';
import { RpcError } from '../../src/api/jsonrpc.js';
import { zcashP2pkhAddress } from '../../src/chains/address.js';
import { randomBytes } from 'node:crypto';
import {
  applicable,
  CheckpointHistory,
  clearNodeFaults,
  HeldLocks,
  inject,
  isTamper,
  NODE_FAULTS,
  short,
  SimulatedCrash,
  TAMPERS,
  type FaultContext,
  type FaultKind,
  type Tamper,
  type Where,
} from './faults.js';
import { Observer } from './invariants.js';
import { Rng } from './rng.js';
import { AUTOPAY_THRESHOLD, REPLACE_AFTER_MS, TAGS, type Tag, type World } from './world.js';

export interface ScheduleOptions {
  /** Operations in the schedule (bounded: each is one call, or one chain or clock move). */
  steps: number;
  backend: 'pglite' | 'postgres';
  /** Chance of a fault at each boundary an operation reaches (at most one fault per operation). */
  faultRate?: number;
  /** Share of schedules that carry one tamper of the database attacker's. */
  attackRate?: number;
}

export interface ScheduleReport {
  seed: number;
  steps: number;
  ops: Record<string, number>;
  /** Faults injected, by kind. */
  faults: Record<string, number>;
  /** Fault points reached (boundaries), by point. */
  boundaries: Record<string, number>;
  restarts: number;
  /** The tamper, if the schedule carried one that did something. */
  tamper: string | null;
  /** How the tamper was caught: a fail-stop, the operator's checks, a refused restart (null: not caught, and it changed nothing). */
  detected: string | null;
  /** A tamper the operator's checks named after a restart and `journal restore` repaired, the schedule going on. */
  repaired: string | null;
  lines: string[];
  ms: number;
}

/** An invariant broken: the seed, what broke, and the schedule that led there. */
export class SimViolation extends Error {
  override name = 'SimViolation';

  constructor(
    readonly seed: number,
    readonly problems: readonly string[],
    readonly lines: readonly string[],
    readonly logTail: readonly string[],
  ) {
    super(
      `seed ${seed}: ${problems.length} invariant(s) broken:\n  ${problems.join('\n  ')}\nschedule:\n  ${lines.join('\n  ')}\npayserv's last log lines:\n  ${logTail.join('\n  ')}`,
    );
  }
}

const CALLER = 'sim';
const OPERATOR = 'operator';
/** Settling at the end: rounds of (mine the confirmations, Check everything sending, resolve halted coins). */
const SETTLE_ROUNDS_MAX = 8;
const CONFIRM: Record<Tag, number> = { ETH: 12, ZEC: 10 };
const MANUAL_AMOUNTS = ['0.3', '0.7', '1.5', '2.5'];
/** Rolling back a signed history is the attack the design is most about (DESIGN §8): tried more often than the others. */
const TAMPER_WEIGHT = (k: Tamper) => (k === 'rollback-status' || k === 'rollback-and-push' ? 5 : 1);
/** What the runbook repairs after a crash before enabling: a payment journaled and not committed (`pscli journal restore`), or committed and not yet sent (Check). */
const JOURNAL_REPAIRED: ReadonlySet<string> = new Set(['journal_missing', 'journal_unrecorded']);
/** Crashes injected into one recovery, one inside the other, before the operator's recovery runs clean. */
const RECOVERY_CRASHES_MAX = 2;

interface Row {
  id: number;
  tag: Tag;
  status: string;
}

type Op = { name: string; tag?: Tag; id?: number; run(): Promise<string> };

export async function runSchedule(world: World, seed: number, o: ScheduleOptions): Promise<ScheduleReport> {
  const t0 = performance.now();
  const rng = new Rng(seed);
  const faultRate = o.faultRate ?? 0.3;
  const attack = rng.chance(o.attackRate ?? 0.5);
  // The attacker strikes once there is something to strike at: from a step in the schedule's middle on.
  const attackFrom = attack ? Math.floor(o.steps * (0.15 + 0.5 * rng.next())) : Number.MAX_SAFE_INTEGER;
  const attacking = () => report.steps > attackFrom && !tamperUsed;
  const report: ScheduleReport = {
    seed,
    steps: 0,
    ops: {},
    faults: {},
    boundaries: {},
    restarts: 0,
    tamper: null,
    detected: null,
    repaired: null,
    lines: [],
    ms: 0,
  };
  const line = (s: string) => report.lines.push(s);
  const observer = new Observer(world);
  const attacker = { ETH: `0x${randomBytes(20).toString('hex')}`, ZEC: zcashP2pkhAddress('mainnet', randomBytes(20)) };
  const ctx: FaultContext = { world, rng, backend: o.backend, checkpoints: new CheckpointHistory(), held: new HeldLocks(), attacker };
  let tamperUsed = false;
  let releaseHeldAfter = -1;

  const violation = (problems: readonly string[]) => new SimViolation(seed, problems, report.lines, world.logs.slice(-40));
  const detect = (how: string) => {
    report.detected ??= how;
    line(`   DETECTED: ${how}`);
  };
  /** Something went wrong for payserv: fine if the attacker did something (it was caught), a finding if not. */
  const stopped = (how: string) => {
    if (report.tamper) detect(how);
    else throw violation([`payserv stopped with no tamper in the schedule: ${how}`]);
  };
  const assertMoney = async () => {
    const problems = await observer.money();
    if (problems.length) throw violation(problems);
  };

  const fault = async (kind: FaultKind, where: Where, info: FaultInfo | null): Promise<void> => {
    if (isTamper(kind)) await observer.observe();
    let what: string | null;
    try {
      what = await inject(ctx, kind, where, info);
    } catch (e) {
      if (e instanceof SimulatedCrash) {
        report.faults.crash = (report.faults.crash ?? 0) + 1;
        line(`   ! ${where}: crash (payserv killed)`);
      }
      throw e;
    }
    if (what === null) return;
    report.faults[kind] = (report.faults[kind] ?? 0) + 1;
    line(`   ! ${where}: ${kind}: ${what}`);
    if (isTamper(kind)) {
      tamperUsed = true;
      report.tamper = `${kind} at ${where}: ${what}`;
      if (kind === 'hold-lock') releaseHeldAfter = report.steps + 1;
    }
  };

  const chooseFault = (where: Where, info: FaultInfo | null): FaultKind | null => {
    const tampers = attacking() ? TAMPERS.filter((k) => applicable(k, where, info, o.backend)) : [];
    const nodes = NODE_FAULTS.filter((k) => applicable(k, where, info, o.backend));
    const entries: Array<[FaultKind, number]> = [
      ['crash', applicable('crash', where, info, o.backend) ? 4 : 0],
      ...nodes.map((k): [FaultKind, number] => [k, 4 / nodes.length]),
      ...tampers.map((k): [FaultKind, number] => [k, (5 * TAMPER_WEIGHT(k)) / tampers.reduce((a, x) => a + TAMPER_WEIGHT(x), 0)]),
    ];
    return entries.some(([, w]) => w > 0) ? rng.weighted(entries) : null;
  };

  const rows = async (): Promise<Row[]> =>
    (
      await world.db.query<{ id: number; coin_id: number; status: string }>(
        'SELECT id, coin_id, status FROM finances_withdrawal_transaction WHERE parent_id IS NULL AND user_id >= 50000 ORDER BY id',
      )
    ).map((r) => ({ id: r.id, tag: world.tagOf(r.coin_id) as Tag, status: r.status }));
  const lockState = async (tag: Tag): Promise<string> => (await world.db.query(AUTOPAY.get, [world.coins[tag].id]))[0]?.state ?? 'idle';
  const sendingIds = async () => (await rows()).filter((r) => r.status === 'sending').map((r) => r.id);

  /**
   * The operator after payserv came back, as the runbook says: the checks; a payment the journal holds and
   * the database lost (payserv killed between its journal record and the commit) put back with `pscli
   * journal restore`; enable; Check what is sending; resolve halted coins; the checks again. The first
   * pass may itself be hit (payserv killed again, a node failing); the operator then starts over, or runs
   * Check once more.
   */
  const recover = async (why: string, depth = 0): Promise<void> => {
    report.restarts++;
    try {
      await world.restart();
    } catch (e) {
      return stopped(`payserv refused to start after ${why}: ${(e as Error).message}`);
    }
    const first = (await world.checks()).filter((p) => !JOURNAL_REPAIRED.has(p.code));
    if (first.length) return stopped(`the operator's checks after ${why}: ${first.slice(0, 3).map(formatProblem).join('; ')}`);
    const restored = (await restoreFromJournal(world.ps, OPERATOR)).filter((r) => r.outcome !== 'present');
    for (const r of restored) line(`   journal restore: withdrawal ${r.withdrawal} ${r.outcome}: ${r.detail}`);
    // The checks named what the attacker rolled back (or what the crash left uncommitted): the journal put it back.
    if (restored.length && report.tamper)
      report.repaired ??= `the operator's checks named it after ${why}; journal restore put back ${restored.map((r) => r.withdrawal).join(', ')}`;
    const diverged = restored.filter((r) => r.outcome === 'diverged');
    if (diverged.length) return stopped(`journal restore after ${why}: withdrawal ${diverged[0]?.withdrawal} ${diverged[0]?.detail}`);
    world.ps.state.enable(OPERATOR);
    let injected = depth >= RECOVERY_CRASHES_MAX;
    world.hook = async (point: FaultPoint, info: FaultInfo) => {
      report.boundaries[point] = (report.boundaries[point] ?? 0) + 1;
      if (injected || !rng.chance(faultRate / 2)) return;
      injected = true;
      const kinds: FaultKind[] = (['crash', ...NODE_FAULTS] as FaultKind[]).filter((k) => applicable(k, point, info, o.backend));
      if (kinds.length) await fault(rng.pick(kinds), point, info);
    };
    try {
      await settleOnce();
    } catch (e) {
      if (!world.killed) throw e;
    } finally {
      world.hook = async () => undefined;
      await clearNodeFaults(world);
    }
    const crashed = world.killed;
    if (crashed) return recover(`a crash at ${crashed.point} while recovering from ${why}`, depth + 1);
    if (injected && depth < RECOVERY_CRASHES_MAX) await settleOnce();
    if (!world.ps.state.enabled)
      return stopped(`payserv stopped itself during the recovery after ${why}: ${world.ps.state.status().reason}`);
    const second = await world.checks();
    if (second.length)
      return stopped(`the operator's checks after recovering from ${why}: ${second.slice(0, 3).map(formatProblem).join('; ')}`);
    line(`   recovered (${why}): restart, checks, enable, Check, resolve`);
  };

  /** Check of every payment in flight, resolve of every coin autopay left locked or halted. */
  const settleOnce = async (): Promise<void> => {
    for (const id of await sendingIds()) await checkWithdrawal(world.ps, id, OPERATOR);
    for (const tag of TAGS) if ((await lockState(tag)) !== 'idle') await resolve(tag, OPERATOR);
  };

  const resolve = async (tag: Tag, by: string): Promise<string> => {
    try {
      const r = await resolveCoin(world.ps, tag, by);
      const n = (d: string) => r.resolutions.filter((x) => x.decision === d).length;
      return `paid ${n('paid')}, credited ${n('credited')}, unknown ${n('unknown')}${r.unlocked ? ', unlocked' : ''}`;
    } catch (e) {
      if (e instanceof RpcError) return `refused: ${e.message}`;
      throw e;
    }
  };

  const reply = (r: { reply: string; message?: string | undefined }) =>
    `${r.reply}${r.message && r.reply !== 'SENDING' ? ` (${r.message.slice(0, 120)})` : ''}`;

  const chooseOp = async (): Promise<Op> => {
    const all = await rows();
    const having = (...ss: string[]) => all.filter((r) => ss.includes(r.status));
    const pickOf = (xs: Row[]) => rng.pick(xs);
    const tag = rng.pick(TAGS);
    const entries: Array<[() => Op, number]> = [
      [
        () => {
          const amount = rng.pick(MANUAL_AMOUNTS);
          return {
            name: 'request',
            tag,
            run: async () => `withdrawal ${await world.request(await world.manualMiner(tag), parseAmount(amount))} of ${amount} ${tag}`,
          };
        },
        3,
      ],
      [
        () => {
          const r = pickOf(having('processing'));
          return { name: 'process', tag: r.tag, id: r.id, run: async () => reply(await processWithdrawal(world.ps, r.id, CALLER)) };
        },
        having('processing').length ? 4 : 0,
      ],
      // Approve mostly what waits for a manager; what Process approved is mostly left for SendCoin to batch.
      [
        () => {
          const r = pickOf(having('pending'));
          return { name: 'approve', tag: r.tag, id: r.id, run: async () => reply(await approveWithdrawal(world.ps, r.id, CALLER)) };
        },
        having('pending').length ? 4 : 0,
      ],
      [
        () => {
          const r = pickOf(having('approved'));
          return { name: 'approve', tag: r.tag, id: r.id, run: async () => reply(await approveWithdrawal(world.ps, r.id, CALLER)) };
        },
        having('approved').length ? 1 : 0,
      ],
      [
        () => {
          const r = pickOf(having('pending'));
          return { name: 'decline', tag: r.tag, id: r.id, run: async () => reply(await declineRequest(world.ps, r.id, CALLER)) };
        },
        having('pending').length ? 0.7 : 0,
      ],
      [
        () => {
          const r = pickOf(having('send_error', 'send_retry'));
          return { name: 'resend', tag: r.tag, id: r.id, run: async () => reply(await resendWithdrawal(world.ps, r.id, CALLER)) };
        },
        having('send_error', 'send_retry').length ? 2 : 0,
      ],
      [
        () => {
          const r = pickOf(having('sending'));
          return { name: 'check', tag: r.tag, id: r.id, run: async () => reply(await checkWithdrawal(world.ps, r.id, CALLER)) };
        },
        having('sending').length ? 4 : 0,
      ],
      [
        () => ({
          name: 'sendcoin',
          tag,
          run: async () => {
            const r = await sendCoin(world.ps, tag, CALLER);
            return `${r.reply}: ${r.results.map((x) => `${x.id} ${x.reply}`).join(', ')}`;
          },
        }),
        [0.2, 1.5, 4][Math.min(2, all.filter((r) => r.tag === tag && ['approved', 'send_retry'].includes(r.status)).length)] as number,
      ],
      [
        () => ({
          name: 'credit',
          tag,
          run: async () => {
            const miners = world.autopayMiners[tag].filter(() => rng.chance(0.6));
            const shares = miners.map((m) => ({ userId: m.userId, amount: parseAmount(`0.${2 + rng.int(8)}`) }));
            if (!shares.length) return 'nobody';
            await world.credit(tag, shares);
            return `${shares.length} autopay miner(s) credited`;
          },
        }),
        1.2,
      ],
      [
        () => ({
          name: 'autopay',
          tag,
          run: async () => {
            const r = await runAutopay(
              world.ps,
              tag,
              { threshold: AUTOPAY_THRESHOLD, requirePeers: 0, maxPerRun: 10 },
              `sim run ${report.steps}`,
            );
            return `${r.outcome}${r.reason ? ` (${r.reason.slice(0, 120)})` : ''}: paid ${r.paid.withdrawals.join(', ') || 'none'}`;
          },
        }),
        2,
      ],
      [() => ({ name: 'resolve', tag, run: () => resolve(tag, OPERATOR) }), 0.6],
      [
        () => {
          const n = tag === 'ETH' ? rng.pick([1, 6, 12]) : rng.pick([1, 5, 10, 50]);
          return {
            name: 'mine',
            tag,
            run: async () => {
              if (tag === 'ETH') await mine(world.anvilUrl, n);
              else await world.zcash.mine(n);
              return `${n} ${tag} block(s)`;
            },
          };
        },
        2.5,
      ],
      [
        () => ({
          name: 'time',
          run: async () => {
            world.skewMs += REPLACE_AFTER_MS + 60_000;
            return `the clock jumps ${(REPLACE_AFTER_MS + 60_000) / 60_000} minutes (stale Ethereum payments get replaced)`;
          },
        }),
        0.7,
      ],
      [
        () => ({
          name: 'forget',
          tag,
          run: async () => {
            const h = tag === 'ZEC' ? world.zcash.mempool() : [...world.signed.values()].filter((s) => s.tag === 'ETH').map((s) => s.hash);
            if (!h.length) return 'nothing pending';
            const x = rng.pick(h);
            if (tag === 'ZEC') world.zcash.dropFromMempool(x);
            else await dropTransaction(world.anvilUrl, x).catch(() => undefined);
            return `the ${tag} node forgets ${short(x)}`;
          },
        }),
        0.6,
      ],
      [
        () => ({
          name: 'restart',
          run: async () => {
            await recover('a clean restart');
            return 'restarted';
          },
        }),
        0.3,
      ],
      [
        () => ({
          name: 'attack',
          run: async () => {
            const kinds = TAMPERS.filter((k) => applicable(k, 'between', null, o.backend));
            await fault(rng.weighted(kinds.map((k) => [k, TAMPER_WEIGHT(k)] as const)), 'between', null);
            return 'the attacker edits the database';
          },
        }),
        attacking() && all.length ? 2 : 0,
      ],
    ];
    return rng.weighted(entries)();
  };

  try {
    await steps();
  } catch (e) {
    if (e instanceof SimViolation) throw e;
    // payserv answers a call or fails-stop; an exception out of it is an internal error for its caller, and a finding here.
    throw violation([`threw instead of answering: ${(e as Error).stack ?? String(e)}`.split('\n').slice(0, 6).join('\n    ')]);
  }
  report.ms = performance.now() - t0;
  return report;

  async function steps(): Promise<void> {
    for (let i = 0; i < o.steps && !report.detected; i++) {
      report.steps = i + 1;
      await ctx.checkpoints.capture(world.db);
      const op = await chooseOp();
      report.ops[op.name] = (report.ops[op.name] ?? 0) + 1;
      line(`#${i} ${op.name}${op.tag ? ` ${op.tag}` : ''}${op.id ? ` ${op.id}` : ''}`);
      let injected = false;
      world.hook = async (point: FaultPoint, info: FaultInfo) => {
        report.boundaries[point] = (report.boundaries[point] ?? 0) + 1;
        if (injected || !rng.chance(faultRate)) return;
        injected = true;
        const kind = chooseFault(point, info);
        if (kind) await fault(kind, point, info);
      };
      try {
        const r = await op.run();
        // What a killed process answered, no one heard.
        if (!world.killed) report.lines[report.lines.length - 1] += ` → ${r}`;
      } catch (e) {
        if (!world.killed) throw e;
      } finally {
        world.hook = async () => undefined;
        await clearNodeFaults(world);
        if (releaseHeldAfter >= 0 && releaseHeldAfter <= i) {
          await ctx.held.release();
          releaseHeldAfter = -1;
        }
      }
      const crashed = world.killed;
      if (crashed) {
        // payserv is down: the attacker's moment, if it is to strike in this schedule.
        if (attacking() && rng.chance(0.7)) {
          const kinds = TAMPERS.filter((k) => applicable(k, 'down', crashed.info, o.backend));
          await fault(rng.weighted(kinds.map((k) => [k, TAMPER_WEIGHT(k)] as const)), 'down', crashed.info);
        }
        await recover(`a crash at ${crashed.point}`);
      }
      if (!report.detected && !world.ps.state.enabled) stopped(`fail-stop: ${world.ps.state.status().reason}`);
      await observer.observe();
      await assertMoney();
    }

    await ctx.held.release();
    await clearNodeFaults(world);
    if (!report.detected) await settle(world, report, resolve, lockState, sendingIds, stopped);
    else {
      // Caught: payserv stays stopped. Whatever it handed a node is mined now; the money must still add up.
      await mine(world.anvilUrl, CONFIRM.ETH);
      await world.zcash.mine(CONFIRM.ZEC);
    }
    await observer.observe();
    const problems = [...(await observer.money()), ...(await observer.balances(attacker))];
    if (!report.detected && report.tamper) {
      // The operator's checks at the very end are the last place a tamper may be caught.
      const found = await world.checks();
      if (found.length) detect(`the operator's checks at the end: ${found.slice(0, 3).map(formatProblem).join('; ')}`);
    }
    if (!report.detected) problems.push(...(await observer.ledger()));
    if (problems.length) throw violation(problems);
  }
}

/** The end of a schedule nothing caught: confirmations mined, every payment checked, halted coins resolved, until nothing is in flight. */
async function settle(
  world: World,
  report: ScheduleReport,
  resolve: (tag: Tag, by: string) => Promise<string>,
  lockState: (tag: Tag) => Promise<string>,
  sendingIds: () => Promise<number[]>,
  stopped: (how: string) => void,
): Promise<void> {
  for (let round = 0; round < SETTLE_ROUNDS_MAX && !report.detected; round++) {
    await mine(world.anvilUrl, CONFIRM.ETH);
    await world.zcash.mine(CONFIRM.ZEC);
    const sending = await sendingIds();
    for (const id of sending) await checkWithdrawal(world.ps, id, OPERATOR);
    const locked: Tag[] = [];
    for (const tag of TAGS) if ((await lockState(tag)) !== 'idle') locked.push(tag);
    for (const tag of locked) await resolve(tag, OPERATOR);
    if (!world.ps.state.enabled) return stopped(`fail-stop while settling: ${world.ps.state.status().reason}`);
    if (!sending.length && !locked.length) {
      report.lines.push(`settled in ${round + 1} round(s)`);
      return;
    }
  }
}
