// `npm run bench`: verification performance of a signed ledger built through the writer.
//  1. full verification rate (runCheck 'balances') over BENCH_CREDITS credits in many accounts, beside the
//     raw Ed25519 verification rate of the same key type, in the same process;
//  2. incremental verification of one (user, coin) from its checkpoint with a few new credits, for a
//     1,000-row history and a BENCH_BIG-row one (the ratio should stay near 1);
//  3. peak memory of the full check;
//  4. PayServ.Process throughput: payserv in process, called over mutual TLS (bench/process.ts; BENCH_PROCESS=0 skips it);
//  5. on-chain payouts: Ethereum Approve → Check on anvil beside the node's raw eth_sendRawTransaction rate (bench/pay-eth.ts;
//     BENCH_PAY_ETH=0 skips it), and a Zcash SendCoin batch built and signed in process, then end to end on the node
//     stand-in (bench/pay-zcash.ts; BENCH_PAY_ZCASH=0 skips it);
//  6. the esman key store: scrypt per share at log2N 16, 17 (the default) and 18, unlock of a (3,2) set and
//     its store, the loopback key hand-over to payserv, and the store's atomic save (bench/esman.ts; BENCH_ESMAN=0 skips it);
//  7. dbgw against in-process access, in one run on a PostgreSQL database of its own: per call (LEDGER.credit, one
//     and 8 at a time) and per streamed row (streamAllCredits over BENCH_DBGW_ROWS credits), with the memory of
//     both sides while streaming, dbgw a child process (bench/dbgw.ts; BENCH_DBGW=0 skips it; no PostgreSQL: skipped);
//  8. the adversarial harness's schedules per second, and the payment journal's cost per record (fsync included) and
//     per Approve -> broadcast against none (bench/sim.ts; BENCH_SIM=0 skips it).
//  9. Blocks.Credit through the intake (calls/s, credits/s), and one oep mirror interval at start-up against one in the
//     steady state (bench/intake.ts; BENCH_INTAKE=0 skips it).
// 10. Backup.Take's database dump and pscli restore's load of BENCH_BACKUP_ROWS credits: rows/s, peak RSS and heap
//     (bench/backup.ts; BENCH_BACKUP=0 skips it).
//  0. start-up of `pscli --help`, fresh processes, median and p95 (bench/startup.ts; BENCH_STARTUP=0 skips it).
// Readable lines on stdout, progress on stderr, and a final JSON summary as the last stdout line.
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { advanceUserCheckpoint } from '../src/verify/advance.js';
import { LocalCheckpointStore } from '../src/checkpoints/local-store.js';
import { runCheck } from '../src/checks/run.js';
import { encodeCredit } from '../src/ledger/encoding.js';
import { formatProblem, type Problem } from '../src/ledger/problem.js';
import type { Credit, Signed } from '../src/ledger/records.js';
import { getCredit, lastCreditOf } from '../src/store/reads.js';
import { verifyAccount } from '../src/verify/account.js';
import { openView } from '../src/verify/view.js';
import { measureEd25519 } from './crypto-rate.js';
import { inMemory, readOnly, type InMemory } from './decompose.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import {
  BIG_USER,
  buildManyAccounts,
  buildSingleAccounts,
  creditNewBlocks,
  FIRST_USER,
  planManyAccounts,
  setUpCoin,
  setUpPki,
  SMALL_USER,
} from './ledger.js';
import { MemorySampler } from './memory.js';
import { runDbgwSection, type DbgwOutcome } from './dbgw.js';
import { runEsmanSection, type EsmanOutcome } from './esman.js';
import { runIntakeSection, type IntakeOutcome } from './intake.js';
import { runBackupSection, type BackupOutcome } from './backup.js';
import { runPayEthSection, type PayEthOutcome } from './pay-eth.js';
import { runPayZcashSection, type PayZcashOutcome } from './pay-zcash.js';
import { runPayBtcSection, type PayBtcOutcome } from './pay-btc.js';
import { runProcessSection, type ProcessOutcome } from './process.js';
import { runSimSection, type SimOutcome } from './sim.js';
import { runStartupSection, type StartupOutcome } from './startup.js';
import { fmt, heading, line, median, progress, quantile, round, throttled } from './report.js';
import { DBGW_DEFAULT_SERVER, loadSettings, USAGE, type BenchSettings } from './settings.js';

const rate = (n: number, ms: number) => (ms > 0 ? n / (ms / 1000) : 0);

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let s: BenchSettings;
  try {
    s = loadSettings(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const started = performance.now();
  const stateDir = await mkdtemp(join(tmpdir(), 'payserv-bench-'));
  let bench: BenchDatabase | null = null;
  let cleaning: Promise<void> | null = null;
  // What a section running at the time of a signal has to undo (its own database, a child process).
  const onAbort = new Set<() => Promise<void>>();
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const undo of onAbort) await undo().catch((e: unknown) => progress(`cleanup: ${(e as Error).message}`));
      await bench?.dispose().catch((e: unknown) => progress(`cleanup: ${(e as Error).message}`));
      await rm(stateDir, { recursive: true, force: true }).catch(() => undefined);
    })());
  const onSignal = (sig: NodeJS.Signals) => {
    progress(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    bench = await openBenchDatabase(stateDir, s.databaseUrl);
    return await runBench(s, bench, stateDir, started, onAbort);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runBench(
  s: BenchSettings,
  bench: BenchDatabase,
  stateDir: string,
  started: number,
  onAbort: Set<() => Promise<void>>,
): Promise<number> {
  const { db } = bench;
  const plan = planManyAccounts(s.credits, s.creditsPerAccount, s.blockSize);
  heading('payserv bench');
  line('back end', `${db.kind}: ${bench.where}`);
  line(
    'scale (BENCH_CREDITS)',
    `${fmt.int(plan.credits)} credits over ${fmt.int(plan.accounts)} accounts, ${fmt.int(plan.blockSize)} miners per block`,
  );
  line(
    'single-account histories',
    `small ${fmt.int(s.smallHistory)} rows, large ${fmt.int(s.bigHistory)} rows (target), ${s.newCredits} new credits after the checkpoint`,
  );
  line(
    'Process throughput (BENCH_PROCESS_*)',
    s.process
      ? `${fmt.int(s.processUsers)} ETH users, ${fmt.int(s.processCalls)} calls one at a time and again ${fmt.int(s.processCalls)} 8 at a time`
      : 'skipped (BENCH_PROCESS=0)',
  );
  line(
    'Ethereum payouts (BENCH_PAY_ETH*)',
    s.payEth
      ? `${fmt.int(s.payEthWithdrawals)} withdrawals Approve -> Check on anvil, ${fmt.int(2 * s.payEthWithdrawals)} raw transfers`
      : 'skipped (BENCH_PAY_ETH=0)',
  );
  line(
    'Zcash SendCoin batch (BENCH_PAY_ZCASH*)',
    s.payZcash
      ? `${fmt.int(s.payZcashOutputs)} outputs from ${s.payZcashInputs} inputs, ${s.payZcashReps} repetitions of v4 and v5${s.payZcashSendCoin ? ', then SendCoin end to end' : ''}`
      : 'skipped (BENCH_PAY_ZCASH=0)',
  );
  line(
    'esman key store (BENCH_ESMAN)',
    s.esman ? 'scrypt per share at log2N 16/17/18, unlock of a (3,2) set, loopback hand-over, store save' : 'skipped (BENCH_ESMAN=0)',
  );
  line(
    'dbgw against in process (BENCH_DBGW*)',
    s.dbgw
      ? `${fmt.int(s.dbgwRows)} credits streamed, ${fmt.int(s.dbgwCalls)} calls one at a time and again 8 at a time, on each side`
      : 'skipped (BENCH_DBGW=0)',
  );
  line(
    'harness and journal (BENCH_SIM*, BENCH_JOURNAL_*)',
    s.sim
      ? `${s.simSchedules} schedules of ${s.simSteps} operations; ${fmt.int(s.journalRecords)} journal records; ${s.journalPayments} ETH payments with and without the journal`
      : 'skipped (BENCH_SIM=0)',
  );
  line(
    'intake and oep mirror (BENCH_INTAKE*, BENCH_MIRROR_*)',
    s.intake
      ? `${s.intakeBlocks} Blocks.Credit of ${fmt.int(s.intakeCredits)} credits; ${fmt.int(s.mirrorAccounts)} logins x ${s.mirrorWithdrawals} withdrawals mirrored`
      : 'skipped (BENCH_INTAKE=0)',
  );
  line(
    'Bitcoin-family SendCoin on litecoind (BENCH_PAY_BTC*)',
    s.payBtc ? `${fmt.int(s.payBtcOutputs)} outputs, beside the node's sendmany` : 'skipped (BENCH_PAY_BTC=0)',
  );
  line('backup dump and restore (BENCH_BACKUP*)', s.backup ? `${fmt.int(s.backupRows)} credits` : 'skipped (BENCH_BACKUP=0)');
  line('pscli start-up (BENCH_STARTUP*)', s.startup ? `pscli --help ${s.startupRuns} times` : 'skipped (BENCH_STARTUP=0)');
  line(
    'machine',
    `node ${process.version}, ${cpus().length} CPUs, load average ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );

  const failures: string[] = [];
  // ── 0. pscli's start-up, first: a few seconds, on a machine not yet busy with the rest ──
  let startupOut: StartupOutcome | null = null;
  if (s.startup) {
    startupOut = await runStartupSection(s.startupRuns);
    failures.push(...startupOut.failures);
  }

  const pki = await setUpPki(stateDir, db);
  const coinA = await setUpCoin(db, pki.admin, 'BENCHA');
  const coinB = await setUpCoin(db, pki.admin, 'BENCHB');
  let problemsSeen = 0;

  // ── 1. Build the many-accounts ledger ──
  progress(`building ${fmt.int(plan.credits)} credits in blocks of ${plan.blockSize}`);
  const tick = throttled();
  const build = await buildManyAccounts(db, pki.admin, coinA, plan, (rows, blocks) =>
    tick(() => `build: ${fmt.int(rows)} rows, ${blocks} blocks`),
  );
  heading('1. build (writer: creditBlock, one block per transaction, every row signed)');
  line(
    'rows written',
    `${fmt.int(build.rows)} credits (${fmt.int(build.rows - build.blocks)} miners' + ${build.blocks} fee) + ${build.incomeRows} income rows`,
  );
  line('build time', `${fmt.s(build.ms)}, ${fmt.rate(rate(build.rows + build.incomeRows, build.ms))} rows written and signed`);

  // ── 2. Raw Ed25519 rate (before and after the full check: the machine's load may change), same key, same process ──
  const sample = (await getCredit(db, (await lastCreditOf(db, FIRST_USER, coinA.id))?.id ?? 0)) as Signed<Credit>;
  const messageBytes = encodeCredit(sample).length;
  const adminKey = pki.trust.check(pki.adminCertPem).cert.publicKey;
  progress(`raw Ed25519 over ${messageBytes}-byte messages`);
  const rawBefore = measureEd25519(pki.admin, adminKey, messageBytes);
  const loadBefore = loadavg()[0] as number;

  // ── 3. Full check with memory sampling ──
  progress('full check (runCheck balances)');
  const view = await openView(db, pki.trust, new LocalCheckpointStore(stateDir));
  const sampler = new MemorySampler(50);
  const problems: Problem[] = [];
  const tickCheck = throttled();
  sampler.start();
  const t0 = performance.now();
  const summary = await runCheck(
    view,
    'balances',
    {},
    (p) => problems.push(p),
    (_what, done) => {
      sampler.sample();
      tickCheck(() => `full check: ${fmt.int(done)} / ${fmt.int(plan.accounts + 1)} accounts, ${fmt.s(performance.now() - t0)}`);
    },
  );
  const fullMs = performance.now() - t0;
  const mem = sampler.stop();
  const loadAfter = loadavg()[0] as number;
  const rawAfter = measureEd25519(pki.admin, adminKey, messageBytes);
  const rawVerify = (rawBefore.verifyPerSec + rawAfter.verifyPerSec) / 2;
  problemsSeen += summary.problems;
  if (summary.problems)
    failures.push(`full check: ${summary.problems} problems, e.g. ${problems.slice(0, 3).map(formatProblem).join('; ')}`);
  const checked = summary.counts.credits ?? 0;
  if (checked !== build.rows) failures.push(`full check verified ${checked} credits, the build wrote ${build.rows}`);
  const fullRate = rate(checked, fullMs);
  heading("2. full verification (runCheck(view, 'balances'))");
  line('credits verified', `${fmt.int(checked)} in ${fmt.int(summary.counts.accounts ?? 0)} accounts, ${summary.problems} problems`);
  line('full check time', `${fmt.s(fullMs)}, ${fmt.rate(fullRate)}`);
  line(
    'raw Ed25519 verify (node:crypto, same key)',
    `${fmt.rate(rawVerify)} over ${messageBytes}-byte messages (before ${fmt.rate(rawBefore.verifyPerSec)}, after ${fmt.rate(rawAfter.verifyPerSec)})`,
  );
  line('raw Ed25519 sign (what the build pays)', fmt.rate((rawBefore.signPerSec + rawAfter.signPerSec) / 2));
  line('ratio full check / raw verify', fmt.ratio(fullRate / rawVerify));
  line('load average (1 min) before / after', `${loadBefore.toFixed(2)} / ${loadAfter.toFixed(2)} on ${cpus().length} CPUs`);

  let parts: { read: { rows: number; ms: number }; mem: InMemory } | null = null;
  if (s.decompose) {
    progress('decomposition: the same credits streamed without verification');
    const tickRead = throttled();
    const t = performance.now();
    const r = await readOnly(db, 5000, (n) => tickRead(() => `read only: ${fmt.int(n)} rows, ${fmt.s(performance.now() - t)}`));
    const m = inMemory(r.kept, view.book, adminKey, coinA.feeUserId);
    parts = { read: { rows: r.rows, ms: r.ms }, mem: m };
    const readRate = rate(r.rows, r.ms);
    heading('2b. where the full check spends its time');
    line('read only (stream + income flags, no verify)', `${fmt.rate(readRate)} (${fmt.int(r.rows)} rows in ${fmt.s(r.ms)})`);
    line(
      'verify only (AccountVerifier, rows in memory)',
      `${fmt.rate(m.verifierPerSec)} vs raw verify of the same rows ${fmt.rate(m.rawPerSec)}: ratio ${fmt.ratio(m.verifierPerSec / m.rawPerSec)}`,
    );
    line('encodeCredit alone', fmt.rate(m.encodePerSec));
    line(
      'model 1/(1/read + 1/verify)',
      `${fmt.rate(1 / (1 / readRate + 1 / m.verifierPerSec))} (measured full check ${fmt.rate(fullRate)})`,
    );
  }

  heading('3. peak memory of the full check (peak minus baseline after GC)');
  line('RSS', `+${fmt.mb(mem.delta.rss)} (baseline ${fmt.mb(mem.baseline.rss)}, peak ${fmt.mb(mem.peak.rss)})`);
  line('V8 heap used', `+${fmt.mb(mem.delta.heapUsed)} (baseline ${fmt.mb(mem.baseline.heapUsed)}, peak ${fmt.mb(mem.peak.heapUsed)})`);
  line('V8 heap kept after the check (after GC)', `${mem.retainedHeapUsed >= 0 ? '+' : ''}${fmt.mb(mem.retainedHeapUsed)}`);
  line('external (incl. ArrayBuffers)', `+${fmt.mb(mem.delta.external)} (peak ${fmt.mb(mem.peak.external)})`);
  line('samples', `${mem.samples} over ${fmt.s(fullMs)}`);

  // ── 4. Single-account histories ──
  progress(
    `building single-account histories: large ${fmt.int(s.bigHistory)}, small ${fmt.int(s.smallHistory)} (budget ${s.bigBudgetSeconds} s)`,
  );
  const tickBig = throttled();
  const tBig = performance.now();
  const single = await buildSingleAccounts(
    db,
    pki.admin,
    coinB,
    {
      bigTarget: s.bigHistory,
      smallTarget: s.smallHistory,
      others: s.bigOthers,
      blocksPerTx: s.blocksPerTx,
      budgetMs: s.bigBudgetSeconds * 1000,
    },
    (r) =>
      tickBig(
        () =>
          `single-account build: ${fmt.int(r.bigRows)} / ${fmt.int(s.bigHistory)} large-account rows, ${fmt.rate(rate(r.blocks, performance.now() - tBig))} blocks`,
      ),
  );
  heading('4. single-account histories (writer: appendIncome, several blocks per transaction)');
  line(
    'blocks',
    `${fmt.int(single.blocks)} (each: 1 income row + ${s.bigOthers} other users' credits + the account(s)), ${single.blocksPerTx} blocks per transaction`,
  );
  line('rows written', `${fmt.int(single.rows)} credits + ${fmt.int(single.incomeRows)} income rows`);
  line(
    'build time',
    `${fmt.s(single.ms)}, ${fmt.rate(rate(single.blocks, single.ms))} blocks, ${fmt.rate(rate(single.rows + single.incomeRows, single.ms))} rows`,
  );
  line(
    'large account history',
    `${fmt.int(single.bigRows)} rows${single.stoppedByBudget ? ` (STOPPED BY THE ${s.bigBudgetSeconds} s BUDGET; target ${fmt.int(s.bigHistory)}, which would take ~${fmt.s((single.ms * s.bigHistory) / Math.max(1, single.bigRows))})` : ''}`,
  );
  line('small account history', `${fmt.int(single.smallRows)} rows`);

  // First checkpoints: a verification of each whole history (incremental with no checkpoint yet).
  const local = new LocalCheckpointStore(stateDir);
  const cpView = await openView(db, pki.trust, local);
  const advance = async (userId: number) => {
    const t = performance.now();
    const r = await advanceUserCheckpoint(db, cpView, pki.payserv, userId, coinB.id);
    if (!r.ok) throw new Error(`checkpoint of user ${userId}: ${r.problems.slice(0, 3).map(formatProblem).join('; ')}`);
    return { ms: performance.now() - t, checkpoint: r.checkpoint };
  };
  progress('advancing the first checkpoints (verifies each history once)');
  const advSmall = await advance(SMALL_USER);
  const advBig = await advance(BIG_USER);
  line('first checkpoint, small (whole history)', `${fmt.s(advSmall.ms)}, ${fmt.rate(rate(single.smallRows, advSmall.ms))}`);
  line('first checkpoint, large (whole history)', `${fmt.s(advBig.ms)}, ${fmt.rate(rate(single.bigRows, advBig.ms))}`);

  // New credits after the checkpoints, then time incremental verification from them.
  await creditNewBlocks(db, pki.admin, coinB, [BIG_USER, SMALL_USER], s.newCredits);
  const verifyView = await openView(db, pki.trust, local);
  const expectLast = new Map<number, number>();
  for (const u of [SMALL_USER, BIG_USER]) expectLast.set(u, (await lastCreditOf(db, u, coinB.id))?.id ?? -1);
  const once = async (userId: number) => {
    const t = performance.now();
    const r = await verifyAccount(verifyView, userId, coinB.id, 'incremental');
    const ms = performance.now() - t;
    if (r.problems.length)
      throw new Error(`incremental verification of user ${userId}: ${r.problems.slice(0, 3).map(formatProblem).join('; ')}`);
    if (!r.checkpoint || r.state.lastCreditId !== expectLast.get(userId))
      throw new Error(`incremental verification of user ${userId} did not start from its checkpoint or end at its last credit`);
    return ms;
  };
  progress(`incremental verification: ${s.reps} repetitions each, alternating`);
  for (let i = 0; i < 3; i++) {
    await once(SMALL_USER);
    await once(BIG_USER);
  }
  const times = { small: [] as number[], big: [] as number[] };
  for (let i = 0; i < s.reps; i++) {
    times.small.push(await once(SMALL_USER));
    times.big.push(await once(BIG_USER));
  }
  const incSmall = median(times.small);
  const incBig = median(times.big);
  heading(`5. incremental verification from the checkpoint (${s.newCredits} new credits; median of ${s.reps}, after 3 warm-ups)`);
  line(
    `small: ${fmt.int(single.smallRows)}-row history`,
    `${fmt.ms(incSmall)} (min ${fmt.ms(Math.min(...times.small))}, p90 ${fmt.ms(quantile(times.small, 0.9))})`,
  );
  line(
    `large: ${fmt.int(single.bigRows)}-row history`,
    `${fmt.ms(incBig)} (min ${fmt.ms(Math.min(...times.big))}, p90 ${fmt.ms(quantile(times.big, 0.9))})`,
  );
  line('ratio large / small', fmt.ratio(incBig / incSmall));
  line('full verification of the large one, for scale', `${fmt.s(advBig.ms)} (×${fmt.int(advBig.ms / incBig)} the incremental one)`);

  // ── 6. Appending to a coin whose chain head is far behind another coin's ──
  // appendIncome finds the coin's chain head with the query below, and no index has (coin_id, id):
  // the plan is either a backward primary-key scan filtering coin_id, or all of the coin's rows then a sort.
  const lastIncomeSql =
    'SELECT id, amount, balance_before FROM finances_proxypool_transactions WHERE coin_id = $1 ORDER BY id DESC LIMIT 1';
  const planOf = async (coinId: number, analyze: boolean) => {
    const rows = await db.query(`EXPLAIN ${analyze ? '(ANALYZE) ' : ''}${lastIncomeSql}`, [coinId]);
    const lines = rows.map((r) => String(Object.values(r)[0]).trim());
    const scan = (lines.find((l) => /Scan/.test(l)) ?? lines[0] ?? '?').replace(/^->\s*/, '').replace(/\s+\(cost.*$/, '');
    const removed = lines.find((l) => /Rows Removed by Filter/.test(l))?.replace(/^.*Filter:\s*/, '');
    const exec = lines.find((l) => /Execution Time/.test(l))?.replace(/^.*Time:\s*/, '');
    return `${scan}${removed ? `, ${removed} rows removed by filter` : ''}${exec ? `, ${exec}` : ''}`;
  };
  // The first append to BENCHA after BENCHB's whole history: its chain head is now behind every BENCHB income row.
  const planColdA = await planOf(coinA.id, true);
  const tCold = performance.now();
  await creditNewBlocks(db, pki.admin, coinA, [FIRST_USER], 1);
  const coldA = performance.now() - tCold;
  const appendTimes = { a: [] as number[], b: [] as number[] };
  for (let i = 0; i < 10; i++) {
    for (const [coin, ts] of [
      [coinB, appendTimes.b],
      [coinA, appendTimes.a],
    ] as const) {
      const t = performance.now();
      await creditNewBlocks(db, pki.admin, coin, [FIRST_USER], 1);
      ts.push(performance.now() - t);
    }
  }
  const appendA = median(appendTimes.a);
  const appendB = median(appendTimes.b);
  const planB = await planOf(coinB.id, true);
  heading('6. appending one 1-credit block (creditBlock)');
  line(`to BENCHA, first after BENCHB's ${fmt.int(single.incomeRows)} income rows`, `${fmt.ms(coldA)}; chain-head query: ${planColdA}`);
  line('to BENCHB, median of 10 (head is the newest row)', `${fmt.ms(appendB)}; chain-head query: ${planB}`);
  line('to BENCHA, median of 10 alternating with BENCHB', fmt.ms(appendA));

  // ── 7. PayServ.Process throughput over mutual TLS ──
  let processOut: ProcessOutcome | null = null;
  if (s.process) {
    processOut = await runProcessSection(db, stateDir, pki, { users: s.processUsers, calls: s.processCalls });
    failures.push(...processOut.failures);
  }

  // ── 8. Ethereum payouts on anvil; 9. a Zcash SendCoin batch ──
  let payEthOut: PayEthOutcome | null = null;
  if (s.payEth) {
    payEthOut = await runPayEthSection(db, bench.where, stateDir, pki, { withdrawals: s.payEthWithdrawals });
    failures.push(...payEthOut.failures);
  }
  let payZcashOut: PayZcashOutcome | null = null;
  if (s.payZcash) {
    payZcashOut = await runPayZcashSection(db, bench.where, stateDir, pki, {
      outputs: s.payZcashOutputs,
      inputs: s.payZcashInputs,
      reps: s.payZcashReps,
      sendCoin: s.payZcashSendCoin,
    });
    failures.push(...payZcashOut.failures);
  }
  let payBtcOut: PayBtcOutcome | null = null;
  if (s.payBtc) {
    payBtcOut = await runPayBtcSection(db, bench.where, stateDir, pki, { outputs: s.payBtcOutputs });
    failures.push(...payBtcOut.failures);
  }

  // ── 10. the esman key store: unlock, hand-over, save ──
  let esmanOut: EsmanOutcome | null = null;
  if (s.esman) {
    esmanOut = await runEsmanSection(stateDir);
    failures.push(...esmanOut.failures);
  }

  // ── 11. dbgw against in-process access ──
  let dbgwOut: DbgwOutcome | null = null;
  if (s.dbgw) {
    dbgwOut = await runDbgwSection(
      { serverUrl: s.databaseUrl ?? DBGW_DEFAULT_SERVER, rows: s.dbgwRows, calls: s.dbgwCalls },
      stateDir,
      onAbort,
    );
    failures.push(...dbgwOut.failures);
  }

  // ── 12. the adversarial harness; the payment journal's cost ──
  let simOut: SimOutcome | null = null;
  if (s.sim) {
    simOut = await runSimSection(stateDir, s.databaseUrl, {
      schedules: s.simSchedules,
      steps: s.simSteps,
      journalRecords: s.journalRecords,
      journalPayments: s.journalPayments,
    });
    failures.push(...simOut.failures);
  }

  // ── 13. the intake's Blocks.Credit; the oep mirror at start-up and in the steady state ──
  let intakeOut: IntakeOutcome | null = null;
  if (s.intake) {
    intakeOut = await runIntakeSection(stateDir, s.databaseUrl, {
      blocks: s.intakeBlocks,
      creditsPerBlock: s.intakeCredits,
      accounts: s.mirrorAccounts,
      withdrawals: s.mirrorWithdrawals,
    });
    failures.push(...intakeOut.failures);
  }

  // ── 14. Backup.Take's dump and pscli restore's load: rows/s, memory bounded by a page ──
  let backupOut: BackupOutcome | null = null;
  if (s.backup) {
    backupOut = await runBackupSection(stateDir, s.databaseUrl, s.backupRows);
    failures.push(...backupOut.failures);
  }

  const totalMs = performance.now() - started;
  heading('run');
  line('total run time', fmt.s(totalMs));
  if (failures.length) for (const f of failures) line('FAILURE', f);

  const json = {
    bench: 'payserv',
    backend: db.kind,
    node: process.version,
    scale: { credits: plan.credits, accounts: plan.accounts, creditsPerAccount: s.creditsPerAccount, blockSize: plan.blockSize },
    build: {
      creditRows: build.rows,
      incomeRows: build.incomeRows,
      blocks: build.blocks,
      seconds: round(build.ms / 1000),
      rowsPerSec: Math.round(rate(build.rows + build.incomeRows, build.ms)),
    },
    fullCheck: {
      credits: checked,
      accounts: summary.counts.accounts ?? 0,
      problems: summary.problems,
      seconds: round(fullMs / 1000),
      rowsPerSec: Math.round(fullRate),
      rawVerifyPerSec: Math.round(rawVerify),
      rawVerifyBeforeAfter: [Math.round(rawBefore.verifyPerSec), Math.round(rawAfter.verifyPerSec)],
      rawSignPerSec: Math.round((rawBefore.signPerSec + rawAfter.signPerSec) / 2),
      messageBytes,
      ratioToRawVerify: round(fullRate / rawVerify, 3),
      loadAvgBeforeAfter: [round(loadBefore, 2), round(loadAfter, 2)],
      parts: parts && {
        readOnlyRowsPerSec: Math.round(rate(parts.read.rows, parts.read.ms)),
        readOnlySeconds: round(parts.read.ms / 1000),
        verifyOnlyRowsPerSec: Math.round(parts.mem.verifierPerSec),
        rawSameRowsPerSec: Math.round(parts.mem.rawPerSec),
        verifierToRaw: round(parts.mem.verifierPerSec / parts.mem.rawPerSec, 3),
        encodePerSec: Math.round(parts.mem.encodePerSec),
      },
    },
    memory: {
      rssPeakMinusBaselineMiB: round(mem.delta.rss / 2 ** 20),
      heapUsedPeakMinusBaselineMiB: round(mem.delta.heapUsed / 2 ** 20),
      externalPeakMinusBaselineMiB: round(mem.delta.external / 2 ** 20),
      heapRetainedAfterGcMiB: round(mem.retainedHeapUsed / 2 ** 20),
      rssBaselineMiB: round(mem.baseline.rss / 2 ** 20),
      samples: mem.samples,
    },
    singleAccountBuild: {
      blocks: single.blocks,
      creditRows: single.rows,
      seconds: round(single.ms / 1000),
      blocksPerSec: Math.round(rate(single.blocks, single.ms)),
      blocksPerTx: single.blocksPerTx,
      stoppedByBudget: single.stoppedByBudget,
    },
    incremental: {
      newCredits: s.newCredits,
      reps: s.reps,
      small: {
        history: single.smallRows,
        medianMs: round(incSmall, 3),
        minMs: round(Math.min(...times.small), 3),
        p90Ms: round(quantile(times.small, 0.9), 3),
      },
      large: {
        history: single.bigRows,
        medianMs: round(incBig, 3),
        minMs: round(Math.min(...times.big), 3),
        p90Ms: round(quantile(times.big, 0.9), 3),
      },
      ratioLargeToSmall: round(incBig / incSmall, 3),
      firstCheckpointSeconds: { small: round(advSmall.ms / 1000, 2), large: round(advBig.ms / 1000, 2) },
    },
    appendMs: {
      smallCoinFirstAfterBigHistory: round(coldA, 2),
      smallCoinFirstPlan: planColdA,
      bigCoinMedian: round(appendB, 2),
      bigCoinPlan: planB,
      smallCoinMedian: round(appendA, 2),
    },
    process: processOut?.summary ?? null,
    payEth: payEthOut?.summary ?? null,
    payZcash: payZcashOut?.summary ?? null,
    payBtc: payBtcOut?.summary ?? null,
    esman: esmanOut?.summary ?? null,
    dbgw: dbgwOut?.summary ?? null,
    sim: simOut?.summary ?? null,
    intake: intakeOut?.summary ?? null,
    backup: backupOut?.summary ?? null,
    startup: startupOut?.summary ?? null,
    totalSeconds: round(totalMs / 1000),
    loadAvgEnd: round(loadavg()[0] as number, 2),
    problems: problemsSeen,
    failures,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);
  return failures.length ? 1 : 0;
}
