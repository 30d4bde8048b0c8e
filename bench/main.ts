// `npm run bench`: verification performance of a signed ledger built through the writer.
//  1. full verification rate (runCheck 'balances') over BENCH_CREDITS credits in many accounts, beside the
//     raw Ed25519 verification rate of the same key type, in the same process;
//  2. incremental verification of one (user, coin) from its checkpoint with a few new credits, for a
//     1,000-row history and a BENCH_BIG-row one (the ratio should stay near 1);
//  3. peak memory of the full check.
// Readable lines on stdout, progress on stderr, and a final JSON summary as the last stdout line.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { advanceUserCheckpoint } from '../src/checkpoints/advance.js';
import { LocalCheckpointStore } from '../src/checkpoints/local-store.js';
import { runCheck } from '../src/checks/run.js';
import { AccountVerifier, EMPTY_ACCOUNT } from '../src/ledger/account.js';
import { encodeCredit } from '../src/ledger/encoding.js';
import { formatProblem, type Problem } from '../src/ledger/problem.js';
import type { Credit, Signed } from '../src/ledger/records.js';
import { getCredit, lastCreditOf, streamAllCredits } from '../src/store/reads.js';
import { verifyAccount } from '../src/verify/account.js';
import { withIncomeFlags } from '../src/verify/batch.js';
import { openView } from '../src/verify/view.js';
import { measureEd25519 } from './crypto-rate.js';
import { openBenchDatabase, type BenchDatabase } from './database.js';
import {
  BIG_USER, buildManyAccounts, buildSingleAccounts, creditNewBlocks, FIRST_USER, planManyAccounts, setUpCoin, setUpPki, SMALL_USER,
} from './ledger.js';
import { MemorySampler } from './memory.js';
import { fmt, heading, line, median, progress, quantile, round, throttled } from './report.js';
import { loadSettings, USAGE, type BenchSettings } from './settings.js';

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
  const cleanup = () => (cleaning ??= (async () => {
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
    return await runBench(s, bench, stateDir, started);
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function runBench(s: BenchSettings, bench: BenchDatabase, stateDir: string, started: number): Promise<number> {
  const { db } = bench;
  const plan = planManyAccounts(s.credits, s.creditsPerAccount, s.blockSize);
  heading('payserv bench');
  line('back end', `${db.kind}: ${bench.where}`);
  line('scale (BENCH_CREDITS)', `${fmt.int(plan.credits)} credits over ${fmt.int(plan.accounts)} accounts, ${fmt.int(plan.blockSize)} miners per block`);
  line('single-account histories', `small ${fmt.int(s.smallHistory)} rows, large ${fmt.int(s.bigHistory)} rows (target), ${s.newCredits} new credits after the checkpoint`);
  line('machine', `node ${process.version}, ${(await import('node:os')).cpus().length} CPUs`);

  const pki = await setUpPki(stateDir, db);
  const coinA = await setUpCoin(db, pki.admin, 'BENCHA');
  const coinB = await setUpCoin(db, pki.admin, 'BENCHB');
  let problemsSeen = 0;
  const failures: string[] = [];

  // ── 1. Build the many-accounts ledger ──
  progress(`building ${fmt.int(plan.credits)} credits in blocks of ${plan.blockSize}`);
  const tick = throttled();
  const build = await buildManyAccounts(db, pki.admin, coinA, plan, (rows, blocks) => tick(() => `build: ${fmt.int(rows)} rows, ${blocks} blocks`));
  heading('1. build (writer: creditBlock, one block per transaction, every row signed)');
  line('rows written', `${fmt.int(build.rows)} credits (${fmt.int(build.rows - build.blocks)} miners' + ${build.blocks} fee) + ${build.incomeRows} income rows`);
  line('build time', `${fmt.s(build.ms)}, ${fmt.rate(rate(build.rows + build.incomeRows, build.ms))} rows written and signed`);

  // ── 2. Raw Ed25519 rate, same key type, same process ──
  const sample = (await getCredit(db, (await lastCreditOf(db, FIRST_USER, coinA.id))?.id ?? 0)) as Signed<Credit>;
  const messageBytes = encodeCredit(sample).length;
  progress(`raw Ed25519 over ${messageBytes}-byte messages`);
  const view0 = await openView(db, pki.trust, new LocalCheckpointStore(stateDir));
  const adminCert = pki.trust.check(pki.adminCertPem);
  const raw = measureEd25519(pki.admin, adminCert.cert.publicKey, messageBytes);

  // ── 3. Full check with memory sampling ──
  progress('full check (runCheck balances)');
  const view = await openView(db, pki.trust, new LocalCheckpointStore(stateDir));
  const sampler = new MemorySampler(50);
  const problems: Problem[] = [];
  const tickCheck = throttled();
  sampler.start();
  const t0 = performance.now();
  const summary = await runCheck(view, 'balances', {}, (p) => problems.push(p), (_what, done) => {
    sampler.sample();
    tickCheck(() => `full check: ${fmt.int(done)} / ${fmt.int(plan.accounts + 1)} accounts, ${fmt.s(performance.now() - t0)}`);
  });
  const fullMs = performance.now() - t0;
  const mem = sampler.stop();
  problemsSeen += summary.problems;
  if (summary.problems) failures.push(`full check: ${summary.problems} problems, e.g. ${problems.slice(0, 3).map(formatProblem).join('; ')}`);
  const checked = summary.counts.credits ?? 0;
  if (checked !== build.rows) failures.push(`full check verified ${checked} credits, the build wrote ${build.rows}`);
  const fullRate = rate(checked, fullMs);
  heading("2. full verification (runCheck(view, 'balances'))");
  line('credits verified', `${fmt.int(checked)} in ${fmt.int(summary.counts.accounts ?? 0)} accounts, ${summary.problems} problems`);
  line('full check time', `${fmt.s(fullMs)}, ${fmt.rate(fullRate)}`);
  line('raw Ed25519 verify (node:crypto, same key)', `${fmt.rate(raw.verifyPerSec)} over ${raw.messageBytes}-byte messages (${fmt.int(raw.verifications)} verifications)`);
  line('raw Ed25519 sign (for the build)', fmt.rate(raw.signPerSec));
  line('ratio full check / raw verify', `${fmt.ratio(fullRate / raw.verifyPerSec)}`);

  // Where the rest of the time goes: the same rows read without verification, and verified without reading.
  progress('decomposition: stream only');
  const t1 = performance.now();
  let streamed = 0;
  const kept: Signed<Credit>[] = [];
  for await (const [c] of withIncomeFlags(db, streamAllCredits(db))) {
    streamed++;
    if (kept.length < 20_000) kept.push(c);
  }
  const streamMs = performance.now() - t1;
  const t2 = performance.now();
  let v: AccountVerifier | null = null;
  for (const c of kept) {
    if (!v || v.userId !== c.userId || v.coinId !== c.coinId) {
      v?.finish();
      v = new AccountVerifier(c.userId, c.coinId, view0.book, EMPTY_ACCOUNT, null, coinA.feeUserId);
    }
    v.credit(c, true);
  }
  const verifyOnlyMs = performance.now() - t2;
  const inMemRate = rate(kept.length, verifyOnlyMs);
  const streamRate = rate(streamed, streamMs);
  line('read only (stream + income flags, no verify)', `${fmt.rate(streamRate)} (${fmt.int(streamed)} rows in ${fmt.s(streamMs)})`);
  line('verify only (AccountVerifier, rows in memory)', `${fmt.rate(inMemRate)} (${fmt.int(kept.length)} rows)`);
  line('model 1/(1/read + 1/verify)', `${fmt.rate(1 / (1 / streamRate + 1 / inMemRate))} (measured full check: ${fmt.rate(fullRate)})`);

  heading('3. peak memory of the full check (peak minus baseline after GC)');
  line('RSS', `+${fmt.mb(mem.delta.rss)} (baseline ${fmt.mb(mem.baseline.rss)}, peak ${fmt.mb(mem.peak.rss)})`);
  line('V8 heap used', `+${fmt.mb(mem.delta.heapUsed)} (baseline ${fmt.mb(mem.baseline.heapUsed)}, peak ${fmt.mb(mem.peak.heapUsed)})`);
  line('external (incl. ArrayBuffers)', `+${fmt.mb(mem.delta.external)} (peak ${fmt.mb(mem.peak.external)})`);
  line('samples', `${mem.samples} over ${fmt.s(fullMs)}`);

  // ── 4. Single-account histories ──
  progress(`building single-account histories: large ${fmt.int(s.bigHistory)}, small ${fmt.int(s.smallHistory)} (budget ${s.bigBudgetSeconds} s)`);
  const tickBig = throttled();
  const tBig = performance.now();
  const single = await buildSingleAccounts(db, pki.admin, coinB,
    { bigTarget: s.bigHistory, smallTarget: s.smallHistory, others: s.bigOthers, blocksPerTx: s.blocksPerTx, budgetMs: s.bigBudgetSeconds * 1000 },
    (r) => tickBig(() => `single-account build: ${fmt.int(r.bigRows)} / ${fmt.int(s.bigHistory)} large-account rows, ${fmt.rate(rate(r.blocks, performance.now() - tBig))} blocks`));
  heading('4. single-account histories (writer: appendIncome, several blocks per transaction)');
  line('blocks', `${fmt.int(single.blocks)} (each: 1 income row + ${s.bigOthers} other users' credits + the account(s)), ${single.blocksPerTx} blocks per transaction`);
  line('rows written', `${fmt.int(single.rows)} credits + ${fmt.int(single.incomeRows)} income rows`);
  line('build time', `${fmt.s(single.ms)}, ${fmt.rate(rate(single.blocks, single.ms))} blocks, ${fmt.rate(rate(single.rows + single.incomeRows, single.ms))} rows`);
  line('large account history', `${fmt.int(single.bigRows)} rows${single.stoppedByBudget ? ` (STOPPED BY THE ${s.bigBudgetSeconds} s BUDGET; target ${fmt.int(s.bigHistory)}, which would take ~${fmt.s(single.ms * s.bigHistory / Math.max(1, single.bigRows))})` : ''}`);
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
    if (r.problems.length) throw new Error(`incremental verification of user ${userId}: ${r.problems.slice(0, 3).map(formatProblem).join('; ')}`);
    if (!r.checkpoint || r.state.lastCreditId !== expectLast.get(userId)) throw new Error(`incremental verification of user ${userId} did not start from its checkpoint or end at its last credit`);
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
  line(`small: ${fmt.int(single.smallRows)}-row history`, `${fmt.ms(incSmall)} (min ${fmt.ms(Math.min(...times.small))}, p90 ${fmt.ms(quantile(times.small, 0.9))})`);
  line(`large: ${fmt.int(single.bigRows)}-row history`, `${fmt.ms(incBig)} (min ${fmt.ms(Math.min(...times.big))}, p90 ${fmt.ms(quantile(times.big, 0.9))})`);
  line('ratio large / small', fmt.ratio(incBig / incSmall));
  line('full verification of the large one, for scale', `${fmt.s(advBig.ms)} (×${fmt.int(advBig.ms / incBig)} the incremental one)`);

  // ── 6. Appending to a coin whose chain head is far behind another coin's ──
  // appendIncome reads the coin's last income by `WHERE coin_id = $1 ORDER BY id DESC LIMIT 1`.
  const appendTimes = async (coin: typeof coinA) => {
    const ts: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await creditNewBlocks(db, pki.admin, coin, [FIRST_USER], 1);
      ts.push(performance.now() - t);
    }
    return median(ts);
  };
  const appendB = await appendTimes(coinB);
  const appendA = await appendTimes(coinA);
  heading('6. appending one 1-credit block (creditBlock), median of 5');
  line(`to BENCHB (last income is the newest row)`, fmt.ms(appendB));
  line(`to BENCHA (last income behind ${fmt.int(single.incomeRows)} BENCHB rows)`, fmt.ms(appendA));
  line('ratio', fmt.ratio(appendA / appendB));

  const totalMs = performance.now() - started;
  heading('run');
  line('total run time', fmt.s(totalMs));
  if (failures.length) for (const f of failures) line('FAILURE', f);

  const json = {
    bench: 'payserv',
    backend: db.kind,
    node: process.version,
    scale: { credits: plan.credits, accounts: plan.accounts, creditsPerAccount: s.creditsPerAccount, blockSize: plan.blockSize },
    build: { creditRows: build.rows, incomeRows: build.incomeRows, blocks: build.blocks, seconds: round(build.ms / 1000), rowsPerSec: Math.round(rate(build.rows + build.incomeRows, build.ms)) },
    fullCheck: {
      credits: checked, accounts: summary.counts.accounts ?? 0, problems: summary.problems, seconds: round(fullMs / 1000), rowsPerSec: Math.round(fullRate),
      rawVerifyPerSec: Math.round(raw.verifyPerSec), rawSignPerSec: Math.round(raw.signPerSec), messageBytes: raw.messageBytes,
      ratioToRawVerify: round(fullRate / raw.verifyPerSec, 3),
      readOnlyRowsPerSec: Math.round(streamRate), verifyOnlyRowsPerSec: Math.round(inMemRate),
    },
    memory: {
      rssPeakMinusBaselineMiB: round(mem.delta.rss / 2 ** 20), heapUsedPeakMinusBaselineMiB: round(mem.delta.heapUsed / 2 ** 20),
      externalPeakMinusBaselineMiB: round(mem.delta.external / 2 ** 20), rssBaselineMiB: round(mem.baseline.rss / 2 ** 20), samples: mem.samples,
    },
    singleAccountBuild: {
      blocks: single.blocks, creditRows: single.rows, seconds: round(single.ms / 1000), blocksPerSec: Math.round(rate(single.blocks, single.ms)),
      blocksPerTx: single.blocksPerTx, stoppedByBudget: single.stoppedByBudget,
    },
    incremental: {
      newCredits: s.newCredits, reps: s.reps,
      small: { history: single.smallRows, medianMs: round(incSmall, 3), minMs: round(Math.min(...times.small), 3), p90Ms: round(quantile(times.small, 0.9), 3) },
      large: { history: single.bigRows, medianMs: round(incBig, 3), minMs: round(Math.min(...times.big), 3), p90Ms: round(quantile(times.big, 0.9), 3) },
      ratioLargeToSmall: round(incBig / incSmall, 3),
      firstCheckpointSeconds: { small: round(advSmall.ms / 1000, 2), large: round(advBig.ms / 1000, 2) },
    },
    appendMs: { headIsNewest: round(appendB, 2), headBehindOtherCoin: round(appendA, 2), otherCoinIncomeRows: single.incomeRows },
    totalSeconds: round(totalMs / 1000),
    problems: problemsSeen,
    failures,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);
  return failures.length ? 1 : 0;
}
