// The adversarial harness (test/sim) and the payment journal, measured:
//  (a) schedules per second: BENCH_SIM_SCHEDULES seeds (1, 2, …), each a world of its own (a fresh
//      database, PKI, node stand-in, payserv) driven through BENCH_SIM_STEPS operations with faults
//      injected, recovered and checked, on an anvil of the section's own; world set-up included;
//  (b) the journal's cost per payment: PaymentJournal.recordAttempt per record (an append and an fsync),
//      beside the same line appended with no fsync, in the state directory's file system;
//  (c) the same on the payment path: Approve → broadcast of ETH withdrawals one after the other, every
//      other one with the journal's record made a no-op (what a payment costs without it), on anvil.
import { randomBytes } from 'node:crypto';
import { mkdtemp, open, statfs } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { startAnvil, type Anvil } from '../src/devnet/anvil.js';
import type { Db } from '../src/db/db.js';
import { PaymentJournal } from '../src/journal/journal.js';
import { encodeRecord, type JournalAttempt } from '../src/journal/record.js';
import { parseAmount } from '../src/money/amount.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { createPgliteFrom, makeSnapshot } from '../test/support/pglite-snapshot.js';
import { describeTally, emptyTally, runSeed, tally } from '../test/sim/run.js';
import { World } from '../test/sim/world.js';
import { openBenchDatabase } from './database.js';
import { failureReporter } from './pay-setup.js';
import { fmt, heading, line, median, progress, quantile, round } from './report.js';

export interface SimBenchSettings {
  schedules: number;
  steps: number;
  journalRecords: number;
  journalPayments: number;
}

export interface SimSummary {
  backend: string;
  schedules: number;
  steps: number;
  faults: number;
  restarts: number;
  tampers: number;
  caught: number;
  schedulesPerSec: number;
  operationsPerSec: number;
  journal: {
    records: number;
    recordMeanMs: number;
    recordP50Ms: number;
    recordP99Ms: number;
    appendNoSyncMeanMs: number;
    fileSystem: string;
  };
  approve: {
    payments: number;
    withJournalMedianMs: number;
    withoutJournalMedianMs: number;
    withJournalMeanMs: number;
    withoutJournalMeanMs: number;
    journalShareOfApprove: number;
  };
  loadAvgStartEnd: [number, number];
  seconds: number;
}

export interface SimOutcome {
  failures: string[];
  summary: SimSummary | null;
}

/** A signed EIP-1559 transfer is about this long. */
const ETH_TX_BYTES = 115;

const mean = (xs: readonly number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** A fresh database per world: a migrated PGlite snapshot, or a database of its own on the PostgreSQL server (dropped after). */
function databases(stateDir: string, serverUrl: string | undefined): () => Promise<Db> {
  if (serverUrl) {
    return async () => {
      const b = await openBenchDatabase(await mkdtemp(join(stateDir, 'sim-db-')), serverUrl);
      return Object.assign(b.db, { close: () => b.dispose() });
    };
  }
  let snapshot: Promise<Blob> | null = null;
  return async () => createPgliteFrom(await (snapshot ??= makeSnapshot()));
}

function journalRecord(i: number, from: string): Omit<JournalAttempt, 'k' | 'at'> {
  const hash = `0x${randomBytes(32).toString('hex')}`;
  // The size of a signed ETH transfer: the journal keeps the bytes themselves.
  return {
    coin: 'ETH',
    hash,
    payment: hash,
    withdrawals: [[i + 1, 3, 10_000 + i, 1]],
    from,
    nonce: String(i),
    inputs: [],
    raw: `0x${randomBytes(ETH_TX_BYTES).toString('hex')}`,
  };
}

export async function runSimSection(stateDir: string, serverUrl: string | undefined, s: SimBenchSettings): Promise<SimOutcome> {
  const t0 = performance.now();
  const loadStart = loadavg()[0] as number;
  const newDb = databases(stateDir, serverUrl);
  const backend = serverUrl ? 'postgres' : 'pglite';
  heading(`12. the adversarial harness and the payment journal (${backend}; ${s.schedules} schedules of ${s.steps} operations)`);
  const { failures, loud } = failureReporter('sim', line);
  let anvil: Anvil;
  try {
    anvil = await startAnvil({ noMining: true });
  } catch (e) {
    loud(`anvil did not start (BENCH_SIM=0 skips this section): ${(e as Error).message}`);
    return { failures, summary: null };
  }
  try {
    // ── (a) schedules per second ──
    // The PGlite snapshot is made once, before the clock starts (the suite makes it once per run too).
    await (await newDb()).close();
    const total = emptyTally();
    const tSim = performance.now();
    for (let seed = 1; seed <= s.schedules; seed++) {
      progress(`sim: schedule ${seed} / ${s.schedules}`);
      try {
        tally(
          total,
          await runSeed(
            seed,
            { db: newDb, stateDir: () => mkdtemp(join(stateDir, 'sim-')), anvilUrl: anvil.url },
            { steps: s.steps, backend },
          ),
        );
      } catch (e) {
        loud(`seed ${seed}: ${(e as Error).message.split('\n').slice(0, 4).join(' | ')}`);
      }
    }
    const simMs = performance.now() - tSim;
    const [first, ...rest] = describeTally(total, simMs);
    line('(a) harness (world set-up included)', first ?? '');
    for (const l of rest) line('', l);
    line('    operations per second', `${(total.steps / (simMs / 1000)).toFixed(1)}/s`);

    // ── (b) recordAttempt per record, fsync included ──
    const jdir = await mkdtemp(join(stateDir, 'journal-'));
    const journal = await PaymentJournal.open(jdir);
    const from = `0x${randomBytes(20).toString('hex')}`;
    const times: number[] = [];
    for (let i = 0; i < s.journalRecords; i++) {
      const r = journalRecord(i, from);
      const t = performance.now();
      await journal.recordAttempt(r, new Date());
      times.push(performance.now() - t);
    }
    const plain = await open(join(jdir, 'plain.jsonl'), 'a');
    const plainTimes: number[] = [];
    try {
      for (let i = 0; i < s.journalRecords; i++) {
        const text = encodeRecord({ k: 'attempt', ...journalRecord(i, from), at: new Date().toISOString() });
        const t = performance.now();
        await plain.write(text);
        plainTimes.push(performance.now() - t);
      }
    } finally {
      await plain.close();
    }
    await PaymentJournal.closeAll();
    const fs = await statfs(jdir).then(
      (x) => `type 0x${x.type.toString(16)}`,
      () => 'unknown',
    );
    line(
      '(b) journal: recordAttempt (append + fsync)',
      `mean ${fmt.ms(mean(times))}, p50 ${fmt.ms(median(times))}, p99 ${fmt.ms(quantile(times, 0.99))} over ${fmt.int(times.length)} records (file system ${fs})`,
    );
    line('    the same line appended, no fsync', `mean ${fmt.ms(mean(plainTimes))}`);

    // ── (c) Approve → broadcast with and without the journal's record ──
    progress(`sim: ${s.journalPayments} ETH payments, every other one without the journal`);
    const db = await newDb();
    const world = await World.create({ db, stateDir: await mkdtemp(join(stateDir, 'sim-pay-')), anvilUrl: anvil.url });
    const withJ: number[] = [];
    const withoutJ: number[] = [];
    try {
      const ids: number[] = [];
      for (let i = 0; i < s.journalPayments; i++) ids.push(await world.request(await world.manualMiner('ETH'), parseAmount('0.3')));
      for (const id of ids) {
        const p = await processWithdrawal(world.ps, id, 'bench');
        if (p.reply !== 'APPROVED') loud(`Process of ${id}: ${p.reply} ${p.message ?? ''}`);
      }
      const j = world.ps.journal;
      const record = j.recordAttempt.bind(j);
      for (const [i, id] of ids.entries()) {
        const without = i % 2 === 1;
        if (without) j.recordAttempt = async () => undefined;
        const t = performance.now();
        const r = await approveWithdrawal(world.ps, id, 'bench');
        (without ? withoutJ : withJ).push(performance.now() - t);
        j.recordAttempt = record;
        if (r.reply !== 'SENDING') loud(`Approve of ${id}: ${r.reply} ${r.message ?? ''}`);
      }
    } finally {
      await world.close();
      await db.close();
    }
    const share = (mean(withJ) - mean(withoutJ)) / mean(withJ);
    line(
      '(c) Approve -> broadcast, with the journal',
      `p50 ${fmt.ms(median(withJ))}, mean ${fmt.ms(mean(withJ))} (${withJ.length} payments)`,
    );
    line(
      '    without (record made a no-op)',
      `p50 ${fmt.ms(median(withoutJ))}, mean ${fmt.ms(mean(withoutJ))} (${withoutJ.length} payments)`,
    );
    line(
      "    the journal's share of an Approve",
      `${(100 * share).toFixed(1)} % (mean difference ${fmt.ms(mean(withJ) - mean(withoutJ))}; recordAttempt alone ${fmt.ms(mean(times))})`,
    );
    line(
      'load average (1 min) at the start / end',
      `${loadStart.toFixed(2)} / ${(loadavg()[0] as number).toFixed(2)} on ${cpus().length} CPUs`,
    );

    const faults = Object.values(total.faults).reduce((a, b) => a + b, 0);
    return {
      failures,
      summary: {
        backend,
        schedules: total.schedules,
        steps: total.steps,
        faults,
        restarts: total.restarts,
        tampers: total.tampers,
        caught: total.detected,
        schedulesPerSec: round(total.schedules / (simMs / 1000), 3),
        operationsPerSec: round(total.steps / (simMs / 1000), 1),
        journal: {
          records: times.length,
          recordMeanMs: round(mean(times), 3),
          recordP50Ms: round(median(times), 3),
          recordP99Ms: round(quantile(times, 0.99), 3),
          appendNoSyncMeanMs: round(mean(plainTimes), 3),
          fileSystem: fs,
        },
        approve: {
          payments: withJ.length + withoutJ.length,
          withJournalMedianMs: round(median(withJ), 2),
          withoutJournalMedianMs: round(median(withoutJ), 2),
          withJournalMeanMs: round(mean(withJ), 2),
          withoutJournalMeanMs: round(mean(withoutJ), 2),
          journalShareOfApprove: round(share, 3),
        },
        loadAvgStartEnd: [round(loadStart, 2), round(loadavg()[0] as number, 2)],
        seconds: round((performance.now() - t0) / 1000),
      },
    };
  } finally {
    await anvil.stop();
  }
}
