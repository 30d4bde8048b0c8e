// Backup.Take's database dump and pscli restore's load, on a ledger of BENCH_BACKUP_ROWS credits (rows shaped
// like real ones: 20-digit-scale amounts, a 64-byte signature, a timestamp), in a database of the section's own:
// rows/s each way, and the peak RSS and heap over the baseline, which must stay bounded by a page (dump) or
// a batch (restore) whatever the number of rows. The rows are written by SQL: their signatures are not
// checked by a backup, and signing 200k credits would time the signer, not the backup.
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { loadDump } from '../src/cli/pscli/backup.js';
import { dumpDatabase } from '../src/payserv/backup.js';
import { DATABASE_FILE } from '../src/state/backup.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import { collectGarbage, MemorySampler, type MemoryReport } from './memory.js';
import { fmt, heading, line, progress, round } from './report.js';

export interface BackupPhase {
  rows: number;
  ms: number;
  rowsPerSec: number;
  peakRssDelta: number;
  peakHeapDelta: number;
  /** Heap still used after a full GC at the end, over the baseline: what the phase kept. */
  retainedHeap: number;
  /** Peak heap live after a GC, over the baseline (see measured). */
  liveHeap: number;
}

export interface BackupSummary {
  rows: number;
  fileBytes: number;
  dump: BackupPhase;
  restore: BackupPhase;
}

export interface BackupOutcome {
  summary: BackupSummary | null;
  failures: string[];
}

/** Above this much live heap over the baseline the dump or the load holds more than a page: a table is in memory. */
const HEAP_BOUND = 32 * 2 ** 20;
const FILL_CHUNK = 50_000;

async function fill(db: BenchDatabase['db'], rows: number): Promise<void> {
  await db.exec(`INSERT INTO coins_coin (tag, name, active, network, decimals, confirmations, withdrawal_fee, min_withdrawal, fee_user_id, updated_at)
    VALUES ('BAK', 'Backup bench', true, 'testnet', 18, 1, '0.001', '0.01', 1, now())`);
  for (let from = 1; from <= rows; from += FILL_CHUNK) {
    const to = Math.min(rows, from + FILL_CHUNK - 1);
    await db.exec(`INSERT INTO finances_user_balance_transaction
        (id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature)
      SELECT g, 1000 + g % 5000, (SELECT id FROM coins_coin WHERE tag = 'BAK'), g, md5(g::text) || md5((g + 1)::text), 'block',
             (g::numeric * 1.00000000000000000001)::numeric(50,20), (g::numeric / 7)::numeric(50,20),
             '2026-01-01'::timestamptz + g * interval '1 second', repeat('a', 64), decode(repeat(md5(g::text), 4), 'hex')
      FROM generate_series(${from}, ${to}) g`);
    progress(`backup bench: ${fmt.int(to)} of ${fmt.int(rows)} rows written`);
  }
}

/**
 * The peak heap a phase holds live: a full GC every LIVE_EVERY_MS, heap used right after it. The sampler's
 * peak counts garbage V8 has not yet collected (it grows with the run's length whatever is kept); this one
 * grows only with what the phase keeps, so a table held in memory shows here.
 */
const LIVE_EVERY_MS = 500;

async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number; mem: MemoryReport; live: number }> {
  const sampler = new MemorySampler();
  sampler.start();
  const base = process.memoryUsage().heapUsed;
  let live = 0;
  const gc = setInterval(() => {
    collectGarbage();
    live = Math.max(live, process.memoryUsage().heapUsed - base);
  }, LIVE_EVERY_MS);
  const t0 = performance.now();
  try {
    const value = await fn();
    const ms = performance.now() - t0;
    return { value, ms, mem: sampler.stop(), live };
  } finally {
    clearInterval(gc);
    sampler.stop();
  }
}

const phase = (rows: number, { ms, mem, live }: { ms: number; mem: MemoryReport; live: number }): BackupPhase => ({
  rows,
  ms: round(ms),
  rowsPerSec: round(rows / (ms / 1000)),
  peakRssDelta: mem.delta.rss,
  peakHeapDelta: mem.delta.heapUsed,
  retainedHeap: mem.retainedHeapUsed,
  liveHeap: live,
});

export async function runBackupSection(stateDir: string, serverUrl: string | undefined, rows: number): Promise<BackupOutcome> {
  heading(`14. backup dump and restore load (bench/backup.ts; ${fmt.int(rows)} credits; peak memory over the baseline after GC)`);
  const failures: string[] = [];
  const source = await openBenchDatabase(await mkdtemp(join(stateDir, 'backup-src-')), serverUrl);
  let target: BenchDatabase | null = null;
  try {
    await fill(source.db, rows);
    const dir = await mkdtemp(join(stateDir, 'backup-'));
    const dump = await measured(() => dumpDatabase(source.db, join(dir, DATABASE_FILE)));
    const total = Object.values(dump.value.tables).reduce((a, b) => a + b, 0);
    target = await openBenchDatabase(await mkdtemp(join(stateDir, 'backup-dst-')), serverUrl);
    const dst = target.db;
    const load = await measured(() => dst.transaction((tx) => loadDump(tx, dir, dump.value)));
    const summary: BackupSummary = {
      rows: total,
      fileBytes: dump.value.bytes,
      dump: phase(total, dump),
      restore: phase(load.value, load),
    };
    line('database.jsonl', `${fmt.int(total)} rows, ${fmt.mb(dump.value.bytes)}`);
    for (const [name, p] of [
      ['dump (keyset pages, one snapshot)', summary.dump],
      ['restore (streamed, batches, one transaction)', summary.restore],
    ] as const) {
      line(
        name,
        `${fmt.rate(p.rowsPerSec)} (${fmt.s(p.ms)}), peak RSS +${fmt.mb(p.peakRssDelta)}, heap +${fmt.mb(p.peakHeapDelta)}, live heap +${fmt.mb(p.liveHeap)}, kept +${fmt.mb(p.retainedHeap)}`,
      );
      if (p.liveHeap > HEAP_BOUND) failures.push(`backup: ${name} held ${fmt.mb(p.liveHeap)} of live heap: more than a page`);
    }
    if (load.value !== total) failures.push(`backup: restored ${load.value} rows of ${total}`);
    return { summary, failures };
  } finally {
    await target?.dispose();
    await source.dispose();
  }
}
