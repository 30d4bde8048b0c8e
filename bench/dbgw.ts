// dbgw against in-process access, in one run, on a PostgreSQL database of its own (payserv_bench_dbgw_<random>,
// dropped at the end, also on failure; no server there: the section is skipped):
//  (a) per call: BENCH_DBGW_CALLS LEDGER.credit lookups of varied ids, one at a time (median, p99, calls/s)
//      and 8 at a time (calls/s);
//  (b) per streamed row: streamAllCredits over BENCH_DBGW_ROWS credits (keyset pages of 2,000 rows, each row
//      parsed), with payserv's peak heap and RSS (MemorySampler) and dbgw's RSS growth (/proc/<pid>/status);
//  (c) the ratios dbgw / in process.
// In process: openPostgres, a pool of 4. dbgw: `node bin/dbgw.mjs` as a child with its own [database] url (a pool
// of 4 too), payserv's side openDbgw + dbgwData over mutual TLS. The credits are written by set-based SQL, one
// statement per FILL_BATCH rows: valid in shape, not signed (nothing here verifies; the section measures reading).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Data, DataTx } from '../src/data/data.js';
import { LEDGER } from '../src/data/ops/ledger.js';
import { rowToWire } from '../src/data/wire.js';
import { packageRoot } from '../src/config/package-root.js';
import { redactUrl, type Db } from '../src/db/db.js';
import { migrate } from '../src/db/migrate.js';
import { openPostgres } from '../src/db/postgres.js';
import { openDbgw } from '../src/dbgw/client.js';
import { dbgwData } from '../src/dbgw/data.js';
import { createLogger } from '../src/log/index.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import { streamAllCredits } from '../src/store/reads.js';
import { onServer } from './database.js';
import { FIRST_USER, setUpCoin, setUpPki } from './ledger.js';
import { MemorySampler, type MemoryReport } from './memory.js';
import { failureReporter } from './pay-setup.js';
import { fmt, heading, line, median, progress, quantile, round, throttled } from './report.js';

const USERS_MAX = 10_000;
const FILL_BATCH = 100_000;
const POOL_SIZE = 4;
const CONCURRENCY = 8;
const WARMUP_CALLS = 50;
const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 30_000;
const REPO = packageRoot();

// $1..$2: ids; $3: first user; $4: users; $5: coin; $6: key id. Row g is user $3 + g % $4 in block g / $4, so
// each block credits every user once and prev_id is the user's previous row (0 for the first).
const FILL_SQL = `INSERT INTO finances_user_balance_transaction
    (id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature)
  SELECT g, $3::bigint + g % $4, $5, CASE WHEN g > $4 THEN g - $4 ELSE 0 END, '0x' || encode(sha256(int8send(g / $4)), 'hex'), 'block',
         (1000 + g * 7919 % 1000000)::numeric / 100000000, (g / $4)::numeric / 1000,
         timestamptz '2024-01-01 00:00:00+00' + g * interval '1 second', $6, sha512(int8send(g))
  FROM generate_series($1::bigint, $2::bigint) AS g`;

export interface DbgwSettings {
  /** The PostgreSQL server (DATABASE_URL, else DBGW_DEFAULT_SERVER of settings.ts). */
  serverUrl: string;
  rows: number;
  calls: number;
}

interface CallFigures {
  medianUs: number;
  p99Us: number;
  perSec: number;
  concurrentPerSec: number;
}
interface StreamFigures {
  seconds: number;
  rowsPerSec: number;
  usPerRow: number;
  payservHeapPeakMiB: number;
  payservRssPeakMiB: number;
  payservHeapKeptMiB: number;
}

export interface DbgwSummary {
  database: string;
  rows: number;
  users: number;
  tableMiB: number;
  rowsJsonMiB: number;
  fill: { seconds: number; rowsPerSec: number; rowsPerStatement: number };
  gateway: { startSeconds: number; poolSize: number };
  perCall: { calls: number; concurrency: number; inProcess: CallFigures; dbgw: CallFigures; ratioMedian: number; ratioConcurrent: number };
  stream: {
    inProcess: StreamFigures;
    dbgw: StreamFigures & { gatewayRssGrowthMiB: number | null; gatewayPeakGrowthMiB: number | null; gatewayPeakReset: boolean };
    ratio: number;
  };
  loadAvgStartEnd: [number, number];
  seconds: number;
}

export interface DbgwOutcome {
  failures: string[];
  summary: DbgwSummary | { skipped: string } | null;
}

interface Gateway {
  pid: number;
  host: string;
  port: number;
  /** SIGTERM, then waits (SIGKILL past STOP_TIMEOUT_MS); null when it stopped cleanly, else what happened. */
  stop(): Promise<string | null>;
}

/** dbgw as a child: `node bin/dbgw.mjs --config FILE`, ready once it prints its listening line. */
async function startGateway(stateDir: string, url: string): Promise<Gateway> {
  const config = join(stateDir, 'dbgw.toml');
  await writeFile(
    config,
    `[rpc]\nport = 0\n\n[database]\nurl = ${JSON.stringify(url)}\npool_size = ${POOL_SIZE}\nstatement_timeout_ms = 3600000\n\n[log]\nlevel = "warn"\n`,
    { mode: 0o600 },
  );
  const env: NodeJS.ProcessEnv = { ...process.env, PAYSERV_STATE_DIR: stateDir };
  for (const k of ['PAYSERV_CONFIG', 'DATABASE_URL', 'NODE_OPTIONS']) delete env[k];
  const proc = spawn(process.execPath, ['bin/dbgw.mjs', '--config', config], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr.setEncoding('utf8').on('data', (s: string) => void (err = (err + s).slice(-4096)));
  const exited = new Promise<string>((resolve) => {
    proc.once('error', (e) => resolve(`could not be started: ${e.message}`));
    proc.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exit code ${code}`));
  });
  const killNow = () => void proc.kill('SIGKILL');
  process.once('exit', killNow);
  const lastWords = () => err.trim().split('\n').slice(-3).join(' | ');
  const stop = async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
    const timer = setTimeout(killNow, STOP_TIMEOUT_MS);
    const how = await exited;
    clearTimeout(timer);
    process.off('exit', killNow);
    return how === 'exit code 0' ? null : `${how}${err ? `: ${lastWords()}` : ''}`;
  };
  try {
    const m = await new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`dbgw did not say it was listening within ${READY_TIMEOUT_MS / 1000} s: ${lastWords()}`)),
        READY_TIMEOUT_MS,
      );
      proc.stdout.setEncoding('utf8').on('data', (s: string) => {
        out += s;
        const found = /dbgw listening on (\S+):(\d+)/.exec(out);
        if (!found) return;
        clearTimeout(timer);
        resolve(found);
      });
      void exited.then((how) => (clearTimeout(timer), reject(new Error(`dbgw ${how} before listening: ${lastWords()}`))));
    });
    return { pid: proc.pid as number, host: m[1] as string, port: Number(m[2]), stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** VmRSS and VmHWM of a process, in bytes; null where /proc is not there. */
function procMemory(pid: number): { rss: number; hwm: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1]) * 1024;
    const m = { rss: kb('VmRSS'), hwm: kb('VmHWM') };
    return Number.isFinite(m.rss) && Number.isFinite(m.hwm) ? m : null;
  } catch {
    return null;
  }
}

/** Resets VmHWM to the current RSS (Linux 4.0+), so the next reading is the peak of what follows. */
function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

async function reachable(url: string): Promise<string | null> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000, application_name: 'payserv-bench' });
  try {
    await c.connect();
    return null;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** `ids` looked up by `concurrency` callers at once; every lookup must find its row. */
async function timeCalls(data: DataTx, ids: readonly number[], concurrency: number) {
  const times: number[] = [];
  let next = 0;
  let missing = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ids.length) {
        const id = ids[next++] as number;
        const t = performance.now();
        const rows = await data.query(LEDGER.credit, [id]);
        times.push(performance.now() - t);
        if (rows.length !== 1 || rows[0]?.id !== id) missing++;
      }
    }),
  );
  return { times, ms: performance.now() - t0, missing };
}

async function timeStream(data: DataTx, label: string): Promise<{ rows: number; ms: number; mem: MemoryReport }> {
  const sampler = new MemorySampler(50);
  const tick = throttled();
  let rows = 0;
  sampler.start();
  const t0 = performance.now();
  for await (const _credit of streamAllCredits(data)) {
    rows++;
    if ((rows & 1023) === 0) {
      sampler.sample();
      tick(() => `dbgw: streaming ${label}, ${fmt.int(rows)} rows, ${fmt.s(performance.now() - t0)}`);
    }
  }
  const ms = performance.now() - t0;
  return { rows, ms, mem: sampler.stop() };
}

const rate = (n: number, ms: number) => (ms > 0 ? n / (ms / 1000) : 0);
const us = (ms: number) => (ms < 1 ? `${Math.round(ms * 1000)} µs` : fmt.ms(ms));
const times = (x: number) => `×${x.toFixed(2)}`;
const mib = (bytes: number) => round(bytes / 2 ** 20);
const plus = (bytes: number) => `${bytes >= 0 ? '+' : ''}${fmt.mb(bytes)}`;

/**
 * The section; `onAbort` holds its teardown while it runs, for the bench's signal handler (a database of
 * its own on the server and a child process must not outlive an interrupted run).
 */
export async function runDbgwSection(o: DbgwSettings, parentDir: string, onAbort: Set<() => Promise<void>>): Promise<DbgwOutcome> {
  const t0 = performance.now();
  const loadStart = loadavg()[0] as number;
  heading(`11. dbgw: cost per call and per streamed row against in-process access (${fmt.int(o.rows)} credits, ${fmt.int(o.calls)} calls)`);
  const { failures, loud } = failureReporter('dbgw', line);
  const where = redactUrl(o.serverUrl);
  const unreachable = await reachable(o.serverUrl);
  if (unreachable) {
    line('skipped', `no PostgreSQL at ${where} (${unreachable}); dbgw serves PostgreSQL only: set DATABASE_URL`);
    return { failures, summary: { skipped: `PostgreSQL at ${where} cannot be reached: ${unreachable}` } };
  }
  const name = `payserv_bench_dbgw_${randomBytes(6).toString('hex')}`;
  const url = new URL(o.serverUrl);
  url.pathname = `/${name}`;
  const dir = join(parentDir, 'dbgw');
  let db: Db | null = null;
  let gw: Gateway | null = null;
  let remote: Data | null = null;
  let created = false;
  let tearing: Promise<void> | null = null;
  const teardown = () =>
    (tearing ??= (async () => {
      await remote?.close().catch(() => undefined);
      const unclean = await gw?.stop().catch((e: unknown) => (e as Error).message);
      if (unclean) loud(`dbgw did not stop cleanly on SIGTERM: ${unclean}`);
      await db?.close().catch(() => undefined);
      if (created) {
        await onServer(o.serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch((e: unknown) =>
          loud(`could not drop ${name}: ${(e as Error).message}`),
        );
      }
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    })());
  onAbort.add(teardown);
  try {
    created = true;
    await onServer(o.serverUrl, (c) => c.query(`CREATE DATABASE ${name}`));
    await mkdir(dir, { recursive: true, mode: 0o700 });
    db = await openPostgres({ url: url.toString(), poolSize: POOL_SIZE, statementTimeoutMs: 3_600_000 });
    await migrate(db);
    const pki = await setUpPki(dir, db);
    const coin = await setUpCoin(db, pki.admin, 'BENCHD');
    line('database', `${redactUrl(url.toString())} (created for this section, dropped at the end)`);

    // ── the credits, by set-based SQL ──
    const users = Math.min(USERS_MAX, o.rows);
    progress(`dbgw: writing ${fmt.int(o.rows)} credits over ${fmt.int(users)} users, ${fmt.int(FILL_BATCH)} per statement`);
    const tick = throttled();
    const tFill = performance.now();
    for (let from = 1; from <= o.rows; from += FILL_BATCH) {
      const to = Math.min(o.rows, from + FILL_BATCH - 1);
      await db.query(FILL_SQL, [from, to, FIRST_USER, users, coin.id, pki.admin.keyId]);
      tick(() => `dbgw: ${fmt.int(to)} / ${fmt.int(o.rows)} credits written`);
    }
    await db.query("SELECT setval('finances_user_balance_transaction_id_seq', $1)", [o.rows]);
    await db.exec('ANALYZE finances_user_balance_transaction');
    const fillMs = performance.now() - tFill;
    const [size] = await db.query<{ bytes: number }>("SELECT pg_total_relation_size('finances_user_balance_transaction')::bigint AS bytes");
    const firstPage = await db.query(LEDGER.creditsPage, [-1, -1, -1, 2000]);
    const jsonBytes = (JSON.stringify(firstPage.map(rowToWire)).length / Math.max(1, firstPage.length)) * o.rows;
    line(
      'credits written (set-based INSERT … SELECT)',
      `${fmt.int(o.rows)} over ${fmt.int(users)} users in ${fmt.s(fillMs)}, ${fmt.rate(rate(o.rows, fillMs))}, one statement per ${fmt.int(FILL_BATCH)} rows, then ANALYZE; table and indexes ${fmt.mb(size?.bytes ?? 0)}`,
    );

    // ── dbgw as a child, payserv's side of it here ──
    progress('dbgw: starting node bin/dbgw.mjs');
    const tStart = performance.now();
    gw = await startGateway(dir, url.toString());
    const startMs = performance.now() - tStart;
    const p = pkiPaths(dir);
    const tls = {
      certPem: readFileSync(p.tlsCert('payserv'), 'utf8'),
      keyPem: readFileSync(p.tlsKey('payserv'), 'utf8'),
      caPem: readFileSync(p.root, 'utf8'),
    };
    remote = dbgwData(await openDbgw({ host: gw.host, port: gw.port, tls, timeoutMs: 600_000 }), {
      log: createLogger('payserv', 'silent'),
    });
    line(
      'dbgw',
      `node bin/dbgw.mjs, pid ${gw.pid}, listening on ${gw.host}:${gw.port} after ${fmt.s(startMs)}; a pool of ${POOL_SIZE} connections on each side`,
    );
    const sides = [
      ['in process', db],
      ['dbgw', remote],
    ] as const;

    // ── (a) per call ──
    const ids = Array.from({ length: o.calls }, (_, i) => 1 + ((i * 7919 + 13) % o.rows));
    progress(`dbgw: ${fmt.int(o.calls)} calls one at a time, then ${CONCURRENCY} at a time, on each side`);
    for (const [, data] of sides) await timeCalls(data, ids.slice(0, WARMUP_CALLS), 1);
    type Timed = Awaited<ReturnType<typeof timeCalls>>;
    const seq: Timed[] = [];
    for (const [, data] of sides) seq.push(await timeCalls(data, ids, 1));
    const conc: Timed[] = [];
    for (const [, data] of sides) conc.push(await timeCalls(data, ids, CONCURRENCY));
    for (const [i, [label]] of sides.entries()) {
      const missing = seq[i]!.missing + conc[i]!.missing;
      if (missing) loud(`${label}: ${missing} of ${2 * o.calls} LEDGER.credit calls did not return their row`);
    }
    const calls = sides.map((_, i): CallFigures => ({
      medianUs: round(median(seq[i]!.times) * 1000),
      p99Us: round(quantile(seq[i]!.times, 0.99) * 1000),
      perSec: Math.round(rate(o.calls, seq[i]!.ms)),
      concurrentPerSec: Math.round(rate(o.calls, conc[i]!.ms)),
    })) as [CallFigures, CallFigures];
    const [cIn, cGw] = calls;
    const ratioMedian = cGw.medianUs / cIn.medianUs;
    const ratioConcurrent = cIn.concurrentPerSec / cGw.concurrentPerSec;
    line(
      `per call, one at a time (LEDGER.credit)`,
      `median of ${fmt.int(o.calls)} ids: in process ${us(cIn.medianUs / 1000)} (p99 ${us(cIn.p99Us / 1000)}), dbgw ${us(cGw.medianUs / 1000)} (p99 ${us(cGw.p99Us / 1000)}): ${times(ratioMedian)}`,
    );
    line('    calls per second, one at a time', `in process ${fmt.rate(cIn.perSec)}, dbgw ${fmt.rate(cGw.perSec)}`);
    line(
      `per call, ${CONCURRENCY} callers at once`,
      `in process ${fmt.rate(cIn.concurrentPerSec)}, dbgw ${fmt.rate(cGw.concurrentPerSec)}: ${times(ratioConcurrent)} the cost per call`,
    );

    // ── (b) per streamed row ──
    progress(`dbgw: streaming all ${fmt.int(o.rows)} credits (streamAllCredits) in process, then through dbgw`);
    const sIn = await timeStream(db, 'in process');
    const peakReset = resetPeak(gw.pid);
    const base = procMemory(gw.pid);
    const sGw = await timeStream(remote, 'through dbgw');
    const gwAfter = procMemory(gw.pid);
    for (const [label, s] of [
      ['in process', sIn],
      ['dbgw', sGw],
    ] as const) {
      if (s.rows !== o.rows) loud(`${label}: streamAllCredits gave ${fmt.int(s.rows)} rows, ${fmt.int(o.rows)} were written`);
    }
    const stream = (s: typeof sIn): StreamFigures => ({
      seconds: round(s.ms / 1000, 2),
      rowsPerSec: Math.round(rate(s.rows, s.ms)),
      usPerRow: round((s.ms * 1000) / Math.max(1, s.rows), 3),
      payservHeapPeakMiB: mib(s.mem.delta.heapUsed),
      payservRssPeakMiB: mib(s.mem.delta.rss),
      payservHeapKeptMiB: mib(s.mem.retainedHeapUsed),
    });
    const fIn = stream(sIn);
    const fGw = stream(sGw);
    const ratioStream = fGw.usPerRow / fIn.usPerRow;
    // With the peak reset, VmHWM after is the peak of the streaming itself; without, it may be older.
    const gwRss = base && gwAfter ? gwAfter.rss - base.rss : null;
    const gwPeak = base && gwAfter ? gwAfter.hwm - base.rss : null;
    line(
      'per streamed row (streamAllCredits)',
      `pages of 2,000, each row parsed: in process ${fIn.usPerRow.toFixed(2)} µs, dbgw ${fGw.usPerRow.toFixed(2)} µs: ${times(ratioStream)}`,
    );
    line(
      '    rows per second',
      `in process ${fmt.rate(fIn.rowsPerSec)} (${fmt.s(sIn.ms)}), dbgw ${fmt.rate(fGw.rowsPerSec)} (${fmt.s(sGw.ms)})`,
    );
    const holders = [
      ...(Math.max(sIn.mem.delta.heapUsed, sGw.mem.delta.heapUsed) >= jsonBytes / 2 ? ['payserv'] : []),
      ...(gwPeak !== null && gwPeak >= jsonBytes / 2 ? ['dbgw'] : []),
    ];
    const verdict = holders.length
      ? `${holders.join(' and ')} grew by half the rows' size (~${fmt.mb(jsonBytes)} as JSON) or more${jsonBytes < 256 * 2 ** 20 ? '; few rows: garbage not yet collected may be all of it' : ''}`
      : `neither holds the rows whole (the rows are ~${fmt.mb(jsonBytes)} as JSON)`;
    line(
      `memory while streaming ${fmt.int(o.rows)} rows`,
      `payserv heap ${plus(sGw.mem.delta.heapUsed)} through dbgw (${plus(sIn.mem.delta.heapUsed)} in process), dbgw RSS ${gwRss === null ? 'not readable' : plus(gwRss)}` +
        `${gwPeak === null ? '' : ` (peak ${plus(gwPeak)}${peakReset ? '' : ', VmHWM not reset: may predate the streaming'})`}: ${verdict}`,
    );
    line(
      '    payserv RSS peak; heap kept after GC',
      `${plus(sGw.mem.delta.rss)} through dbgw, ${plus(sIn.mem.delta.rss)} in process; ${plus(sGw.mem.retainedHeapUsed)}, ${plus(sIn.mem.retainedHeapUsed)}`,
    );
    if (gwAfter) line('    dbgw RSS before / after / peak', `${fmt.mb(base?.rss ?? 0)} / ${fmt.mb(gwAfter.rss)} / ${fmt.mb(gwAfter.hwm)}`);
    line(
      'load average (1 min) at the start / end',
      `${loadStart.toFixed(2)} / ${(loadavg()[0] as number).toFixed(2)} on ${cpus().length} CPUs`,
    );

    return {
      failures,
      summary: {
        database: name,
        rows: o.rows,
        users,
        tableMiB: mib(size?.bytes ?? 0),
        rowsJsonMiB: mib(jsonBytes),
        fill: { seconds: round(fillMs / 1000, 2), rowsPerSec: Math.round(rate(o.rows, fillMs)), rowsPerStatement: FILL_BATCH },
        gateway: { startSeconds: round(startMs / 1000, 2), poolSize: POOL_SIZE },
        perCall: {
          calls: o.calls,
          concurrency: CONCURRENCY,
          inProcess: cIn,
          dbgw: cGw,
          ratioMedian: round(ratioMedian, 2),
          ratioConcurrent: round(ratioConcurrent, 2),
        },
        stream: {
          inProcess: fIn,
          dbgw: {
            ...fGw,
            gatewayRssGrowthMiB: gwRss === null ? null : mib(gwRss),
            gatewayPeakGrowthMiB: gwPeak === null ? null : mib(gwPeak),
            gatewayPeakReset: peakReset,
          },
          ratio: round(ratioStream, 2),
        },
        loadAvgStartEnd: [round(loadStart, 2), round(loadavg()[0] as number, 2)],
        seconds: round((performance.now() - t0) / 1000),
      },
    };
  } catch (e) {
    loud(`dbgw section stopped: ${(e as Error).stack ?? (e as Error).message}`);
    return { failures, summary: null };
  } finally {
    await teardown();
    onAbort.delete(teardown);
  }
}
