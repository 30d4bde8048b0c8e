// Process throughput: payserv started in this process on the bench database, called over mutual TLS 1.3
// as pscli, on a ledger of many users of one coin (ETH) built through the writer:
//  (a) the round trip of an empty call (Utils.Version), which still pays for TLS, HTTP, JSON-RPC, the
//      ACL and the audit trail's append (a database row and an fsync'd head file);
//  (b) PayServ.Process one call at a time over the same TLS connection: verify the account from its
//      checkpoint and the coin's pool income, decide by the policy, sign the status change, write the
//      account's checkpoint (local file, fsync'd, and database row);
//  (c) the same with 8 calls at a time over 8 connections.
// Every request is by a distinct user, so each call does the whole path on its own account.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import type { Agent } from 'node:https';
import { loadConfig } from '../src/config/load.js';
import type { Db } from '../src/db/db.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { createLogger } from '../src/log/index.js';
import { fromBaseUnits, toBaseUnits } from '../src/money/amount.js';
import type { PayoutResult } from '../src/api/payserv.js';
import { startPayserv } from '../src/app/service.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import { RpcClient, rpcRoundTrip } from '../src/rpc/client.js';
import { creditBlock } from '../src/writer/blocks.js';
import { CREDITS_PER_BLOCK_MAX } from '../src/writer/credits.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { requestWithdrawal } from '../src/writer/withdrawals.js';
import { setUpCoin, type Pki } from './ledger.js';
import { fmt, heading, line, median, progress, quantile, round, throttled } from './report.js';
import { PROCESS_WARMUP_CALLS } from './settings.js';
import { prng } from '../src/writer/seed.js';

/** The Process ledger's users: PROCESS_FIRST_USER, PROCESS_FIRST_USER + 1, … (apart from the other sections' users). */
export const PROCESS_FIRST_USER = 2_000_001;
/** Each user is credited once in each of this many rounds of large blocks. */
const CREDIT_ROUNDS = 2;
/** Miners per block: as large as a block may be, the pool's fee credit included. */
const MINERS_PER_BLOCK = CREDITS_PER_BLOCK_MAX - 1;
const WALLETS_PER_TX = 500;
const EMPTY_CALLS = 500;
const CONCURRENCY = 8;
const DECIMALS = 8;
/** Approves every request this ledger holds (balances are below 3 ETH) and their 24 h totals. */
const POLICY = { amount_max: '10', user_daily_max: '10', coin_daily_max: '1000000000', wallet_age_hours_min: 0 };

export interface ProcessSettings {
  users: number;
  calls: number;
}

interface Latencies {
  calls: number;
  perSec: number;
  p50Ms: number;
  p99Ms: number;
  replies: Record<string, number>;
}

export interface ProcessSummary {
  users: number;
  callsPerRun: number;
  build: {
    wallets: number;
    walletsSeconds: number;
    creditRows: number;
    blocks: number;
    creditsSeconds: number;
    requests: number;
    requestsSeconds: number;
    seconds: number;
  };
  /** The first Process call: it also makes the coin's first checkpoint over the whole pool income. */
  firstProcessMs: number;
  empty: { calls: number; medianMs: number; p99Ms: number };
  sequential: Latencies;
  concurrent: Latencies & { concurrency: number; speedup: number };
  /** Process p50 (one at a time) minus the empty call's median. */
  processMinusEmptyMs: number;
  /** Handler time of the one-at-a-time Process calls as payserv's audit trail records it (whole ms; no transport, no audit append). */
  serverHandlerMs: { p50: number; p99: number };
  /** TLS connections opened: by the single-connection client for (a) and (b) (must be 1), and by the other for (c). */
  connections: { single: number; concurrent: number };
  withdrawalsByStatus: Record<string, number>;
  /** EXPLAIN ANALYZE of the policy's coin-wide 24 h total, in short. */
  coinTotalPlan: string;
  /** The 1-minute load average when the section started and ended (the machine may be shared). */
  loadAvgStartEnd: [number, number];
  seconds: number;
}

export interface ProcessOutcome {
  summary: ProcessSummary;
  failures: string[];
}

/** User i's credit in round r, in base units: 0.5 to 1.5 ETH. */
const creditUnits = (i: number, r: number): bigint => 50_000_000n + BigInt((i * 7919 + r * 104_729) % 100_000_000);
const balanceUnits = (i: number): bigint => {
  let b = 0n;
  for (let r = 0; r < CREDIT_ROUNDS; r++) b += creditUnits(i, r);
  return b;
};

/** `k` distinct indices below `n`, in random order (a partial Fisher–Yates shuffle). */
function distinct(n: number, k: number, rnd: () => number): number[] {
  const xs = Uint32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(rnd() * (n - i));
    const t = xs[i] as number;
    xs[i] = xs[j] as number;
    xs[j] = t;
  }
  return Array.from(xs.subarray(0, k));
}

/** A pscli client, and a count of the TLS connections it opens (the agent is the client's own). */
function pscliClient(stateDir: string, port: number, maxSockets: number): { client: RpcClient; connections: () => number } {
  const p = pkiPaths(stateDir);
  const client = new RpcClient({
    host: '127.0.0.1',
    port,
    timeoutMs: 120_000,
    maxSockets,
    tls: {
      certPem: readFileSync(p.tlsCert('pscli'), 'utf8'),
      keyPem: readFileSync(p.tlsKey('pscli'), 'utf8'),
      caPem: readFileSync(p.root, 'utf8'),
    },
  });
  let opened = 0;
  const agent = (client as unknown as { agent: Agent }).agent;
  const create = agent.createConnection.bind(agent);
  agent.createConnection = ((...args: Parameters<Agent['createConnection']>) => {
    opened++;
    return create(...args);
  }) as Agent['createConnection'];
  return { client, connections: () => opened };
}

const latencies = (times: readonly number[], wallMs: number, replies: Map<string, number>): Latencies => ({
  calls: times.length,
  perSec: Math.round(times.length / (wallMs / 1000)),
  p50Ms: round(median(times), 2),
  p99Ms: round(quantile(times, 0.99), 2),
  replies: Object.fromEntries(replies),
});

/** PayServ.Process over `ids`, `concurrency` calls at a time; every reply (or exception) tallied. */
async function processAll(client: RpcClient, ids: readonly number[], concurrency: number, onDone: (n: number) => void) {
  const times: number[] = [];
  const replies = new Map<string, number>();
  const odd: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as number;
      const t = performance.now();
      let reply: string;
      try {
        const r = await client.call<PayoutResult>('PayServ.Process', [id]);
        reply = r.reply;
        if (reply !== 'APPROVED' && odd.length < 5) odd.push(`${id}: ${reply} ${r.status ?? ''} ${r.message ?? ''}`.trim());
      } catch (e) {
        reply = `THROWN ${(e as Error).name}`;
        if (odd.length < 5) odd.push(`${id}: ${(e as Error).message}`);
      }
      times.push(performance.now() - t);
      replies.set(reply, (replies.get(reply) ?? 0) + 1);
      onDone(times.length);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, ids.length) }, worker));
  return { times, wallMs: performance.now() - t0, replies, odd };
}

/** A copy of sumSince's query in src/payserv/payouts.ts (not exported), to show its plan. */
const COIN_24H_SQL = `SELECT coalesce(sum(amount), 0)::text AS total FROM finances_withdrawal_transaction
     WHERE coin_id = $1 AND ($2::bigint IS NULL OR user_id = $2) AND parent_id IS NULL AND created_at > $3
       AND status IN ('approved', 'sending', 'sent', 'send_error', 'send_retry')`;

/** EXPLAIN ANALYZE in one line: the scan(s), rows read, execution time. */
async function planOf(db: Db, sql: string, params: unknown[]): Promise<string> {
  const lines = (await db.query(`EXPLAIN (ANALYZE) ${sql}`, params)).map((r) => String(Object.values(r)[0]).trim());
  const scans = lines
    .filter((l) => /Scan/.test(l))
    .map((l) =>
      l
        .replace(/^->\s*/, '')
        .replace(/\s+\(cost=[^)]*\)/, '')
        .replace(/\s+\(actual time=[^ ]+ rows=(\d+)[^)]*\)/, ' ($1 rows)'),
    );
  const exec = lines.find((l) => /Execution Time/.test(l))?.replace(/^.*Time:\s*/, '');
  return `${scans.join(' <- ') || lines[0] || '?'}${exec ? `, ${exec}` : ''}`;
}

const repliesText = (m: Map<string, number>) => [...m].map(([k, v]) => `${fmt.int(v)} ${k}`).join(', ');

export async function runProcessSection(db: Db, stateDir: string, pki: Pki, s: ProcessSettings): Promise<ProcessOutcome> {
  const t0 = performance.now();
  const loadStart = loadavg()[0] as number;
  const failures: string[] = [];
  const loud = (what: string) => {
    failures.push(what);
    process.stderr.write(`\n!!! PROCESS BENCH FAILURE: ${what}\n\n`);
    line('!!! FAILURE', what);
  };
  const coin: Signed<Coin> = await setUpCoin(db, pki.admin, 'ETH');

  // ── Wallets: added by the pool site, reviewed and signed by an admin ──
  progress(`process: ${fmt.int(s.users)} ETH wallets (addWallet + signWallet, ${WALLETS_PER_TX} per transaction)`);
  const tick = throttled();
  const tw = performance.now();
  const wallets: { id: number; address: string }[] = [];
  for (let from = 0; from < s.users; from += WALLETS_PER_TX) {
    const n = Math.min(WALLETS_PER_TX, s.users - from);
    await db.transaction(async (tx) => {
      for (let i = from; i < from + n; i++) {
        const w = await addWallet(tx, { userId: PROCESS_FIRST_USER + i, coinId: coin.id, address: `0x${randomBytes(20).toString('hex')}` });
        await signWallet(tx, pki.admin, w.id);
        wallets.push({ id: w.id, address: w.address });
      }
    });
    tick(() => `process: ${fmt.int(wallets.length)} / ${fmt.int(s.users)} wallets, ${fmt.s(performance.now() - tw)}`);
  }
  const walletsMs = performance.now() - tw;

  // ── Credits: CREDIT_ROUNDS rounds of large blocks, each user once per round ──
  const tc = performance.now();
  let creditRows = 0;
  let blocks = 0;
  for (let r = 0; r < CREDIT_ROUNDS; r++) {
    for (let from = 0; from < s.users; from += MINERS_PER_BLOCK) {
      const n = Math.min(MINERS_PER_BLOCK, s.users - from);
      const shares = Array.from({ length: n }, (_, k) => ({
        userId: PROCESS_FIRST_USER + from + k,
        amount: fromBaseUnits(creditUnits(from + k, r), DECIMALS),
      }));
      const out = await creditBlock(db, pki.admin, coin, {
        blockHash: `0x${randomBytes(32).toString('hex')}`,
        shares,
        poolFee: fromBaseUnits(BigInt(1_000_000 + blocks), DECIMALS),
      });
      creditRows += out.credits.length;
      blocks++;
      tick(() => `process: ${fmt.int(creditRows)} credits in ${blocks} blocks, ${fmt.s(performance.now() - tc)}`);
    }
  }
  const creditsMs = performance.now() - tc;

  // ── Withdrawal requests (autopay), each by a distinct random user, for an amount within the balance ──
  const rnd = prng(20240601);
  const picked = distinct(s.users, 2 * s.calls + PROCESS_WARMUP_CALLS, rnd);
  const minUnits = toBaseUnits(coin.minWithdrawal, DECIMALS);
  const tr = performance.now();
  const ids: number[] = [];
  for (const i of picked) {
    const w = wallets[i] as { id: number; address: string };
    const units = minUnits + (BigInt(Math.floor(rnd() * 1e6)) * (balanceUnits(i) - minUnits)) / 1_000_000n;
    const req = await db.transaction((tx) =>
      requestWithdrawal(tx, pki.autopay, {
        userId: PROCESS_FIRST_USER + i,
        coinId: coin.id,
        walletId: w.id,
        address: w.address,
        amount: fromBaseUnits(units, DECIMALS),
        fee: coin.withdrawalFee,
      }),
    );
    ids.push(req.id);
    tick(() => `process: ${fmt.int(ids.length)} / ${fmt.int(picked.length)} withdrawal requests`);
  }
  const requestsMs = performance.now() - tr;
  const buildMs = performance.now() - tw;
  const warmIds = ids.slice(0, PROCESS_WARMUP_CALLS);
  const seqIds = ids.slice(PROCESS_WARMUP_CALLS, PROCESS_WARMUP_CALLS + s.calls);
  const concIds = ids.slice(PROCESS_WARMUP_CALLS + s.calls);

  heading(
    `7. Process throughput (payserv in process, mutual TLS 1.3, pscli; ${fmt.int(s.users)} ETH users, ${fmt.int(s.calls)} calls per run; each request is its user's first payout, so no account checkpoint yet)`,
  );
  line(
    'build: wallets (addWallet + signWallet)',
    `${fmt.int(wallets.length)} in ${fmt.s(walletsMs)}, ${fmt.rate(wallets.length / (walletsMs / 1000))}`,
  );
  line(
    'build: credits (creditBlock)',
    `${fmt.int(creditRows)} credits in ${blocks} blocks of up to ${fmt.int(MINERS_PER_BLOCK)} miners, ${fmt.s(creditsMs)}`,
  );
  line(
    'build: withdrawal requests (requestWithdrawal)',
    `${fmt.int(ids.length)} by distinct users in ${fmt.s(requestsMs)} (${PROCESS_WARMUP_CALLS} warm-up + 2 x ${fmt.int(s.calls)})`,
  );
  line('build time', fmt.s(buildMs));

  // ── payserv on the same open database ──
  const config = await loadConfig('payserv', undefined, { stateDir, env: {} });
  config.rpc.port = 0;
  config.policy = { ETH: POLICY };
  const errors: string[] = [];
  const sink = {
    write: (text: string) => {
      const level = Number(/"level":(\d+)/.exec(text)?.[1] ?? 0);
      if (level >= 50 && errors.length < 10) errors.push(text.trim());
    },
  };
  const running = await startPayserv(config, createLogger('payserv', config.log.level, sink), db);
  const single = pscliClient(stateDir, running.server.port, 1);
  const multi = pscliClient(stateDir, running.server.port, CONCURRENCY);
  try {
    const { client } = single;
    await client.call('Utils.Enable');
    for (let i = 0; i < 5; i++) await rpcRoundTrip(client);

    progress(`process: ${PROCESS_WARMUP_CALLS} warm-up Process calls (the first makes the coin's checkpoint)`);
    const tFirst = performance.now();
    const warm = await processAll(client, warmIds.slice(0, 1), 1, () => undefined);
    const firstMs = performance.now() - tFirst;
    const warmRest = await processAll(client, warmIds.slice(1), 1, () => undefined);
    for (const [k, v] of warmRest.replies) warm.replies.set(k, (warm.replies.get(k) ?? 0) + v);
    if ((warm.replies.get('APPROVED') ?? 0) !== warmIds.length)
      loud(`warm-up Process replies: ${repliesText(warm.replies)}; e.g. ${[...warm.odd, ...warmRest.odd].slice(0, 3).join(' | ')}`);

    // (a) the empty call
    progress(`process: ${EMPTY_CALLS} empty calls (Utils.Version)`);
    const empty: number[] = [];
    for (let i = 0; i < EMPTY_CALLS; i++) empty.push(await rpcRoundTrip(client));

    // (b) one at a time, same connection
    progress(`process: ${fmt.int(s.calls)} Process calls, one at a time`);
    const tickB = throttled();
    const seq = await processAll(client, seqIds, 1, (n) => tickB(() => `process: ${fmt.int(n)} / ${fmt.int(s.calls)} one at a time`));
    const singleConnections = single.connections();

    // (c) CONCURRENCY at a time over CONCURRENCY connections (opened before timing)
    await Promise.all(Array.from({ length: CONCURRENCY }, () => rpcRoundTrip(multi.client)));
    progress(`process: ${fmt.int(s.calls)} Process calls, ${CONCURRENCY} at a time`);
    const tickC = throttled();
    const conc = await processAll(multi.client, concIds, CONCURRENCY, (n) =>
      tickC(() => `process: ${fmt.int(n)} / ${fmt.int(s.calls)} ${CONCURRENCY} at a time`),
    );

    // On the connections (c) just used: the single client's one may have been dropped as idle meanwhile.
    const status = await multi.client.call<{ enabled: boolean; reason: string | null }>('Utils.Status');
    const byStatus = Object.fromEntries(
      (
        await db.query<{ status: string; n: number }>(
          'SELECT status, count(*)::bigint AS n FROM finances_withdrawal_transaction WHERE coin_id = $1 GROUP BY status ORDER BY status',
          [coin.id],
        )
      ).map((r) => [r.status, r.n]),
    );
    const handler = (
      await db.query<{ duration_ms: number }>(
        "SELECT duration_ms FROM payserv_audit WHERE method = 'PayServ.Process' AND target = ANY($1::text[])",
        [seqIds.map(String)],
      )
    ).map((r) => r.duration_ms);
    // The policy's coin-wide 24 h total, as Process asks it (src/payserv/payouts.ts sumSince, user null): its plan shows
    // whether it reads only the last day's rows or every approved/sent withdrawal of the coin ever made.
    const coinTotalPlan = await planOf(db, COIN_24H_SQL, [coin.id, null, new Date(Date.now() - 86_400_000)]);

    const seqL = latencies(seq.times, seq.wallMs, seq.replies);
    const concL = latencies(conc.times, conc.wallMs, conc.replies);
    const emptyMedian = median(empty);
    const minus = median(seq.times) - emptyMedian;
    line('first Process call (makes the coin checkpoint)', `${fmt.ms(firstMs)} (over ${blocks} income rows and ${blocks} fee credits)`);
    line(`(a) empty call (Utils.Version) x ${EMPTY_CALLS}`, `median ${fmt.ms(emptyMedian)}, p99 ${fmt.ms(quantile(empty, 0.99))}`);
    line('(b) Process, one at a time', `${fmt.rate(seqL.perSec)}, p50 ${fmt.ms(seqL.p50Ms)}, p99 ${fmt.ms(seqL.p99Ms)}`);
    line('    replies', repliesText(seq.replies));
    line(
      `(c) Process, ${CONCURRENCY} at a time (${CONCURRENCY} connections)`,
      `${fmt.rate(concL.perSec)}, p50 ${fmt.ms(concL.p50Ms)}, p99 ${fmt.ms(concL.p99Ms)} (x${(concL.perSec / seqL.perSec).toFixed(2)} the one-at-a-time rate)`,
    );
    line('    replies', repliesText(conc.replies));
    line(
      'breakdown: Process p50 - empty round trip',
      `${fmt.ms(minus)} of payserv's work per Process (audit trail's handler time: p50 ${handler.length ? median(handler) : '?'} ms, p99 ${handler.length ? quantile(handler, 0.99) : '?'} ms, whole ms)`,
    );
    line('TLS connections opened', `${singleConnections} for (a) and (b) (single-connection client), ${multi.connections()} for (c)`);
    line(
      'load average (1 min) at the start / end',
      `${loadStart.toFixed(2)} / ${(loadavg()[0] as number).toFixed(2)} on ${cpus().length} CPUs`,
    );
    line("policy's coin 24 h total query (sumSince)", coinTotalPlan);
    line(
      'ETH withdrawals by status after the run',
      Object.entries(byStatus)
        .map(([k, v]) => `${fmt.int(v)} ${k}`)
        .join(', '),
    );
    line('payserv after the run', status.enabled ? 'enabled' : `DISABLED: ${status.reason}`);

    if ((seq.replies.get('APPROVED') ?? 0) !== seqIds.length)
      loud(`one-at-a-time Process replies: ${repliesText(seq.replies)}; e.g. ${seq.odd.slice(0, 3).join(' | ')}`);
    if ((conc.replies.get('APPROVED') ?? 0) !== concIds.length)
      loud(`${CONCURRENCY}-at-a-time Process replies: ${repliesText(conc.replies)}; e.g. ${conc.odd.slice(0, 3).join(' | ')}`);
    if (singleConnections !== 1) loud(`the single-connection client opened ${singleConnections} TLS connections for (a) and (b), not 1`);
    if (!status.enabled) loud(`payserv disabled itself: ${status.reason}`);
    if (errors.length) loud(`payserv logged ${errors.length} error(s), e.g. ${errors[0]}`);

    return {
      failures,
      summary: {
        users: s.users,
        callsPerRun: s.calls,
        build: {
          wallets: wallets.length,
          walletsSeconds: round(walletsMs / 1000),
          creditRows,
          blocks,
          creditsSeconds: round(creditsMs / 1000),
          requests: ids.length,
          requestsSeconds: round(requestsMs / 1000),
          seconds: round(buildMs / 1000),
        },
        firstProcessMs: round(firstMs, 1),
        empty: { calls: EMPTY_CALLS, medianMs: round(emptyMedian, 3), p99Ms: round(quantile(empty, 0.99), 3) },
        sequential: seqL,
        concurrent: { ...concL, concurrency: CONCURRENCY, speedup: round(concL.perSec / seqL.perSec, 2) },
        processMinusEmptyMs: round(minus, 2),
        serverHandlerMs: { p50: handler.length ? median(handler) : -1, p99: handler.length ? quantile(handler, 0.99) : -1 },
        connections: { single: singleConnections, concurrent: multi.connections() },
        loadAvgStartEnd: [round(loadStart, 2), round(loadavg()[0] as number, 2)],
        withdrawalsByStatus: byStatus,
        coinTotalPlan,
        seconds: round((performance.now() - t0) / 1000),
      },
    };
  } finally {
    single.client.close();
    multi.client.close();
    await running.stop();
  }
}
