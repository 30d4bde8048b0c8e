// payserv as the executable it ships as (`node bin/payserv.mjs --config FILE`), over real mutual TLS:
// it starts disabled and refuses payouts until an operator enables it; the ACL and the TLS gate hold
// against the wrong identity and foreign or missing certificates; every call that reached a handler is
// in the audit trail; SIGTERM lets calls in flight finish and leaves every withdrawal's status and its
// signed history in agreement; two processes on one database and one state directory never move one
// withdrawal twice; and a lock holder that crashes leaves no lock behind.
import { request } from 'node:https';
import { afterEach, describe, expect, it } from 'vitest';
import { LockKeys } from '../src/data/lock-keys.js';
import type { Db } from '../src/db/db.js';
import { canMove } from '../src/ledger/status.js';
import type { WithdrawalStatus } from '../src/ledger/records.js';
import type { PayoutResult } from '../src/api/payserv.js';
import { collectAuditProblems } from '../src/payserv/audit.js';
import { Locks, withdrawalLock } from '../src/payserv/locks.js';
import { initPki } from '../src/esman/pki-files.js';
import { RpcClient, RpcTransportError } from '../src/rpc/client.js';
import { RPC, RpcError } from '../src/api/jsonrpc.js';
import type { SeedOptions } from '../src/writer/seed.js';
import { backend } from './support/backend.js';
import { ethRequests } from './support/miners.js';
import { killAllChildren, processLedger, REPO, sleep, spawnNode, tlsOf, until, type PayservChild } from './support/spawn.js';
import { tmpStateDir } from './support/tmp.js';

afterEach(killAllChildren);

const SEED: SeedOptions = {
  users: 6,
  blocks: 2,
  withdrawals: 3,
  coins: ['ETH', 'ZEC'],
  minersPerBlock: 0.6,
  declineShare: 0.3,
  corrections: 1,
  seed: 11,
};

// ---- ledger fixtures ---------------------------------------------------------------------------------

/**
 * `n` withdrawal requests of 1 ETH, each by a miner of its own (so no two share an account, whose
 * checkpoint each call advances), with a signed wallet and 20 ETH credited. The first `pending` of them are
 * moved to pending (what Process leaves for a manager); the rest stay processing. Returns their ids in order.
 */
interface Entry {
  seq: number;
  status: WithdrawalStatus;
}

interface WithdrawalRow {
  id: number;
  status: WithdrawalStatus;
  status_seq: number;
  history: Entry[];
}

async function withdrawals(db: Db): Promise<Map<number, WithdrawalRow>> {
  const rows = await db.query<{ id: number; status: WithdrawalStatus; status_seq: number }>(
    'SELECT id, status, status_seq FROM finances_withdrawal_transaction ORDER BY id',
  );
  const sigs = await db.query<{ withdrawal_id: number; seq: number; status: WithdrawalStatus }>(
    'SELECT withdrawal_id, seq, status FROM finances_withdrawal_signatures ORDER BY withdrawal_id, seq',
  );
  const out = new Map<number, WithdrawalRow>(rows.map((r) => [r.id, { ...r, history: [] }]));
  for (const s of sigs) {
    const w = out.get(s.withdrawal_id);
    if (!w) throw new Error(`signature row for withdrawal ${s.withdrawal_id}, which does not exist`);
    w.history.push({ seq: s.seq, status: s.status });
  }
  return out;
}

/** Every withdrawal's status and status_seq are those of the last of its signature rows, numbered 0..n, each a legal move. */
function historyProblems(ws: Map<number, WithdrawalRow>): string[] {
  const out: string[] = [];
  for (const w of ws.values()) {
    const seqs = w.history.map((e) => e.seq);
    if (seqs.join() !== seqs.map((_, i) => i).join()) out.push(`withdrawal ${w.id}: signature seqs ${seqs.join(',')}`);
    const last = w.history[w.history.length - 1];
    if (!last || last.status !== w.status || last.seq !== w.status_seq) {
      out.push(`withdrawal ${w.id}: status ${w.status}/${w.status_seq} without its signed entry (last: ${JSON.stringify(last ?? null)})`);
    }
    for (let i = 1; i < w.history.length; i++) {
      const [a, b] = [w.history[i - 1] as Entry, w.history[i] as Entry];
      if (!canMove(a.status, b.status)) out.push(`withdrawal ${w.id}: ${a.status} → ${b.status} is not a legal move`);
    }
  }
  return out;
}

const LEDGER_TABLES = [
  'crypto_certs',
  'coins_coin',
  'users_userwallets',
  'finances_proxypool_transactions',
  'finances_user_balance_transaction',
  'finances_withdrawal_transaction',
  'finances_withdrawal_signatures',
  'finances_user_balance_checkpoints',
  'finances_coin_checkpoints',
  'payserv_alerts',
];

/** Each table but the audit trail, as a row count and a digest of every row's text. */
async function digest(db: Db): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of LEDGER_TABLES) {
    const [r] = await db.query<{ n: number; h: string }>(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) AS h FROM ${t} x`,
    );
    out[t] = `${r?.n} ${r?.h}`;
  }
  return out;
}

interface AuditLine {
  client: string;
  method: string;
  target: string;
  reply: string;
  /** A refusal's code; null when the call was not refused. */
  code: string | null;
}

const auditLines = (db: Db) =>
  db.query<AuditLine & Record<string, unknown>>('SELECT client, method, target, reply, code FROM payserv_audit ORDER BY id');

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    const v = await p;
    throw new Error(`expected a refusal, got ${JSON.stringify(v)}`);
  } catch (e) {
    return e as Error;
  }
}

/** One POST with no client certificate at all (RpcClient always presents one). Resolves with what came back, or the error. */
function callWithoutCertificate(port: number, caPem: string): Promise<{ status?: number; body?: string; error?: NodeJS.ErrnoException }> {
  const body = JSON.stringify({ jsonrpc: '2.0', method: 'Utils.Status', id: 1 });
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/',
        agent: false,
        ca: caPem,
        minVersion: 'TLSv1.3',
        timeout: 20_000,
        headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ error }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error }));
    req.end(body);
  });
}

const logsWith = (ps: PayservChild, msg: string) => ps.logs().filter((l) => l.msg === msg);

const DISABLED_AT_START = /^payouts are disabled: payserv starts disabled: run the checks, then `pscli enable`$/;
const BUSY = (id: number) => `withdrawal ${id} is being handled by another call; try again`;

// A payserv process starts in seconds on a loaded 2-core machine (tsx, PGlite from disk): generous, bounded.
const LONG = 240_000;

// ---- 1 ---------------------------------------------------------------------------------------------------

describe('a payserv process over RPC', { timeout: LONG }, () => {
  it('starts disabled and refuses payouts; only pscli enables it; foreign and missing certificates are refused; every call is audited, those refused before any work too', async () => {
    const ids: number[] = [];
    const l = await processLedger(SEED, ethRequests(1, 0, 7001, ids));
    const id = ids[0] as number;
    const config = l.config('payserv.toml');
    const before = await l.withDb(async (db) => ({ digest: await digest(db), withdrawals: await withdrawals(db) }));
    expect(before.withdrawals.get(id)?.history).toEqual([{ seq: 0, status: 'processing' }]);

    // A second PKI with the same identity names: its pscli certificate, presented to a server that pins ours.
    const otherDir = await tmpStateDir('payserv-other-ca-');
    await initPki(otherDir, { rootDays: 30, leafDays: 30 });
    const ours = tlsOf(l.stateDir, 'pscli');
    const foreign = { ...tlsOf(otherDir, 'pscli'), caPem: ours.caPem };

    // --- Started: disabled. Refusals change nothing. ---
    let ps = await l.start(config);
    let pscli = ps.client('pscli');
    let back = ps.client('backend');
    expect(await pscli.call('Utils.Status')).toMatchObject({
      enabled: false,
      reason: expect.stringMatching(/^payserv starts disabled/),
      fail_stops: 0,
      journal: { attempts: 0, writer: true },
    });

    const off = await back.call<PayoutResult>('PayServ.Process', [id]);
    expect(off).toEqual({ reply: 'ERROR', code: 'disabled', id, status: null, message: expect.stringMatching(DISABLED_AT_START) });

    for (const method of ['Utils.Enable', 'Check.Balances'] as const) {
      const e = await rejection(back.call(method));
      expect(e, e.message).toBeInstanceOf(RpcError);
      expect((e as RpcError).code).toBe(RPC.FORBIDDEN);
      expect(e.message).toBe(`forbidden: backend may not call ${method}`);
    }

    const other = ps.client('pscli', { tls: foreign });
    const f = await rejection(other.call('Utils.Enable'));
    expect(f, f.message).toBeInstanceOf(RpcTransportError);
    const none = await callWithoutCertificate(ps.port, ours.caPem);
    expect(none.status, `no certificate, yet an HTTP answer: ${none.body}`).toBeUndefined();
    expect(none.error).toBeInstanceOf(Error);

    // Still disabled: the backend's Enable and the foreign pscli's did not take.
    expect(await pscli.call('Utils.Status')).toMatchObject({ enabled: false, fail_stops: 0 });
    await until('both TLS refusals logged', () => logsWith(ps, 'TLS handshake refused').length >= 2, 10_000);
    expect(
      logsWith(ps, 'rpc request')
        .filter((x) => x.code === RPC.FORBIDDEN)
        .map((x) => [x.identity, x.method]),
    ).toEqual([
      ['backend', 'Utils.Enable'],
      ['backend', 'Check.Balances'],
    ]);
    expect(await ps.stop('SIGTERM')).toBe(0);

    const phase1: AuditLine[] = [
      { client: 'pscli (pscli tls)', method: 'Utils.Status', target: '', reply: 'OK', code: null },
      { client: 'backend (backend tls)', method: 'PayServ.Process', target: String(id), reply: 'ERROR', code: 'disabled' },
      // Refused before any work, and in the trail all the same.
      { client: 'backend (backend tls)', method: 'Utils.Enable', target: '', reply: `ERROR ${RPC.FORBIDDEN}`, code: 'forbidden' },
      { client: 'backend (backend tls)', method: 'Check.Balances', target: '', reply: `ERROR ${RPC.FORBIDDEN}`, code: 'forbidden' },
      { client: 'pscli (pscli tls)', method: 'Utils.Status', target: '', reply: 'OK', code: null },
    ];
    await l.withDb(async (db) => {
      expect(await digest(db)).toEqual(before.digest);
      expect(await auditLines(db)).toEqual(phase1);
      expect(await collectAuditProblems(db, l.stateDir)).toEqual([]);
    });

    // --- Restarted: disabled again. pscli enables it; Process then runs; the backend still may not enable or check. ---
    ps = await l.start(config);
    pscli = ps.client('pscli');
    back = ps.client('backend');
    expect(await pscli.call('Utils.Status')).toMatchObject({ enabled: false, reason: expect.stringMatching(/^payserv starts disabled/) });
    expect(await pscli.call('Utils.Enable')).toMatchObject({ enabled: true, reason: null });
    for (const method of ['Utils.Enable', 'Check.Balances'] as const) {
      expect(await rejection(back.call(method))).toMatchObject({ code: RPC.FORBIDDEN });
    }
    const done = await back.call<PayoutResult>('PayServ.Process', [id]);
    expect(done).toMatchObject({ reply: 'PENDING', id, status: 'pending' });
    expect(await pscli.call('Utils.Status')).toMatchObject({ enabled: true, fail_stops: 0 });
    expect(await ps.stop('SIGTERM')).toBe(0);
    expect(logsWith(ps, 'FAIL-STOP: payouts disabled until an operator investigates and enables them')).toEqual([]);

    await l.withDb(async (db) => {
      const after = await withdrawals(db);
      // Only the processed withdrawal moved, by one signed entry.
      for (const [wid, w] of before.withdrawals) {
        if (wid !== id) expect(after.get(wid), `withdrawal ${wid}`).toEqual(w);
      }
      expect(after.get(id)).toMatchObject({
        status: 'pending',
        status_seq: 1,
        history: [
          { seq: 0, status: 'processing' },
          { seq: 1, status: 'pending' },
        ],
      });
      expect(after.size).toBe(before.withdrawals.size);
      expect(historyProblems(after)).toEqual([]);
      expect(await l.check(db, 'balanceerrors')).toEqual([]);
      expect(await auditLines(db)).toEqual([
        ...phase1,
        { client: 'pscli (pscli tls)', method: 'Utils.Status', target: '', reply: 'OK', code: null },
        { client: 'pscli (pscli tls)', method: 'Utils.Enable', target: '', reply: 'OK', code: null },
        { client: 'backend (backend tls)', method: 'Utils.Enable', target: '', reply: `ERROR ${RPC.FORBIDDEN}`, code: 'forbidden' },
        { client: 'backend (backend tls)', method: 'Check.Balances', target: '', reply: `ERROR ${RPC.FORBIDDEN}`, code: 'forbidden' },
        // PENDING carries `policy`, which is no refusal: no code is audited.
        { client: 'backend (backend tls)', method: 'PayServ.Process', target: String(id), reply: 'PENDING', code: null },
        { client: 'pscli (pscli tls)', method: 'Utils.Status', target: '', reply: 'OK', code: null },
      ]);
      expect(await collectAuditProblems(db, l.stateDir)).toEqual([]);
    });
  });
});

// ---- 2 ---------------------------------------------------------------------------------------------------

type Settled =
  | { kind: 'result'; r: PayoutResult }
  | { kind: 'rpc'; code: number; message: string }
  | { kind: 'transport'; mayHaveRun: boolean; message: string };

async function settle(p: Promise<PayoutResult>): Promise<Settled> {
  try {
    return { kind: 'result', r: await p };
  } catch (e) {
    if (e instanceof RpcError) return { kind: 'rpc', code: e.code, message: e.message };
    if (e instanceof RpcTransportError) return { kind: 'transport', mayHaveRun: e.mayHaveRun, message: e.message };
    throw e;
  }
}

describe('SIGTERM with calls in flight', { timeout: LONG }, () => {
  it('exits 0 within the grace period; every call is answered or fails as transport; statuses and signed history agree', async () => {
    const ids: number[] = [];
    // 5 pending requests (for Approve), 5 processing (for Process), and 2 more processing for calls made once it is stopping.
    const l = await processLedger(SEED, ethRequests(12, 5, 7101, ids));
    const graceMs = 20_000;
    const ps = await l.start(l.config('payserv.toml', { shutdownGraceMs: graceMs }));
    const pscli = ps.client('pscli');
    expect(await pscli.call('Utils.Enable')).toMatchObject({ enabled: true });
    // Open the connections first, so the calls below are on the wire at once rather than waiting on handshakes.
    await Promise.all(ids.slice(0, 10).map(() => pscli.call('Utils.Version')));

    const calls = ids.map((id, i) => ({ id, method: i < 5 ? ('PayServ.Approve' as const) : ('PayServ.Process' as const), late: i >= 10 }));
    const start = (c: (typeof calls)[number]): WithdrawalStatus => (c.method === 'PayServ.Approve' ? 'pending' : 'processing');
    const inFlight = calls.filter((c) => !c.late).map((c) => settle(pscli.call<PayoutResult>(c.method, [c.id])));
    // SIGTERM once the first call is answered (so the handlers are running), or after 300 ms at most.
    await Promise.race([Promise.race(inFlight), sleep(300)]);
    const t0 = Date.now();
    ps.proc.kill('SIGTERM');
    // Calls made once it is stopping: refused (by the server, or at the door) and not run.
    await until('payserv logs that it is stopping', () => logsWith(ps, 'stopping: finishing calls in flight').length > 0, 10_000, 5);
    const late = calls.filter((c) => c.late).map((c) => settle(pscli.call<PayoutResult>(c.method, [c.id])));
    const code = await ps.waitExit(graceMs + 30_000);
    const took = Date.now() - t0;
    const settled = [...(await Promise.all(inFlight)), ...(await Promise.all(late))];

    expect(code).toBe(0);
    expect(took).toBeLessThan(graceMs);
    expect(logsWith(ps, 'stopping: finishing calls in flight')).toHaveLength(1);
    expect(logsWith(ps, 'rpc server closed with handlers still running')).toEqual([]);
    expect(logsWith(ps, 'unclean stop')).toEqual([]);
    expect(logsWith(ps, 'payserv stopped')).toHaveLength(1);
    // Calls were in flight when SIGTERM came, and were answered during the grace period.
    const log = ps.logs();
    const stopping = log.findIndex((x) => x.msg === 'stopping: finishing calls in flight');
    const answeredAfter = log
      .slice(stopping)
      .filter((x) => x.msg === 'rpc request' && x.code === 0 && String(x.method).startsWith('PayServ.'));
    expect(answeredAfter.length, 'calls answered after SIGTERM').toBeGreaterThan(0);

    // After the exit nothing listens there: a new call is not even sent.
    const after = await rejection(pscli.call('Utils.Status'));
    expect(after).toBeInstanceOf(RpcTransportError);
    expect(after.message).toMatch(/connection refused/);
    expect((after as RpcTransportError).mayHaveRun).toBe(false);

    await l.withDb(async (db) => {
      const ws = await withdrawals(db);
      expect(historyProblems(ws)).toEqual([]);
      expect(await l.check(db, 'balanceerrors')).toEqual([]);
      expect(await collectAuditProblems(db, l.stateDir)).toEqual([]);
      const audited = await auditLines(db);
      for (const [i, s] of settled.entries()) {
        const c = calls[i] as (typeof calls)[number];
        const w = ws.get(c.id) as WithdrawalRow;
        const moved = c.method === 'PayServ.Approve' ? 'approved' : 'pending';
        const what = `${c.method} ${c.id}${c.late ? ' (late)' : ''}: ${JSON.stringify(s)}`;
        const ran = audited.some((a) => a.method === c.method && a.target === String(c.id));
        if (s.kind === 'result') {
          // Answered: the reply is what the ledger now says, with its signed entry.
          expect(s.r, what).toMatchObject({ id: c.id, status: moved, reply: moved.toUpperCase() });
          expect(
            w.history.map((e) => e.status),
            what,
          ).toEqual(c.method === 'PayServ.Approve' ? ['processing', 'pending', 'approved'] : ['processing', 'pending']);
          expect(ran, what).toBe(true);
        } else if (s.kind === 'rpc') {
          // Refused while shutting down: not run.
          expect(s.code, what).toBe(RPC.SHUTTING_DOWN);
          expect(w.status, what).toBe(start(c));
          expect(ran, what).toBe(false);
        } else if (!s.mayHaveRun) {
          expect(w.status, what).toBe(start(c));
          expect(ran, what).toBe(false);
        } else {
          // May have run: if it did, wholly (status and entry together, checked above).
          expect([start(c), moved], what).toContain(w.status);
        }
        // Made once it was stopping: never run. (Refused with SHUTTING_DOWN, or at the door; a call written onto a
        // keep-alive connection the closing server had just dropped is reset, and the client cannot tell it did not run.)
        if (c.late) {
          expect(s.kind === 'rpc' || s.kind === 'transport', what).toBe(true);
          expect([ran, w.status], what).toEqual([false, start(c)]);
        }
      }
      // The answered calls are the point of the test: some must have been in flight when SIGTERM came.
      expect(settled.filter((s) => s.kind === 'result').length, JSON.stringify(settled)).toBeGreaterThan(0);
    });
  });
});

describe.runIf(backend() === 'postgres')('SIGTERM with a call stuck past the grace period', { timeout: LONG }, () => {
  it('still exits, soon after the grace period; the stuck call is rolled back whole', async () => {
    const ids: number[] = [];
    const l = await processLedger(SEED, ethRequests(1, 0, 7151, ids));
    const id = ids[0] as number;
    const graceMs = 2_000;
    // statement_timeout (30 s in these configs) is what would otherwise end the stuck call, and the stop with it.
    const ps = await l.start(l.config('payserv.toml', { shutdownGraceMs: graceMs }));
    const pscli = ps.client('pscli');
    expect(await pscli.call('Utils.Enable')).toMatchObject({ enabled: true });

    // Another session holds the withdrawal's row, so Process blocks in its status change.
    await l.withDb(async (db) => {
      let release = () => {};
      const holding = new Promise<void>((r) => (release = r));
      let locked = () => {};
      const isLocked = new Promise<void>((r) => (locked = r));
      const held = db.transaction(async (tx) => {
        await tx.query('SELECT id FROM finances_withdrawal_transaction WHERE id = $1 FOR UPDATE', [id]);
        locked();
        await holding;
      });
      try {
        await isLocked;
        const call = settle(pscli.call<PayoutResult>('PayServ.Process', [id]));
        await until(
          'Process waits on the row lock',
          async () =>
            (
              await db.query(
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE finances_withdrawal_transaction%'",
              )
            ).length > 0,
          30_000,
        );
        const t0 = Date.now();
        const code = await ps.stop('SIGTERM', 60_000);
        const took = Date.now() - t0;
        expect(code).toBe(3); // EXIT.RUNTIME: the stop could not finish cleanly
        expect(took).toBeLessThan(graceMs + 15_000);
        expect(logsWith(ps, 'rpc server closed with handlers still running')).toHaveLength(1);
        expect(logsWith(ps, 'stop did not finish in time: exiting with calls still holding database connections')).toHaveLength(1);
        const s = await call;
        expect(s.kind === 'transport' && s.mayHaveRun, JSON.stringify(s)).toBe(true);
      } finally {
        release();
        await held;
      }
      // Its transaction died with its connection: no status without its entry, nothing half done.
      const ws = await withdrawals(db);
      expect(ws.get(id)?.history.map((e) => e.status)).toEqual(['processing']);
      expect(historyProblems(ws)).toEqual([]);
      expect(await l.check(db, 'balanceerrors')).toEqual([]);
    });
  });
});

// ---- 3 ---------------------------------------------------------------------------------------------------

const KINDS = ['PayServ.Approve', 'PayServ.Resend', 'PayServ.Decline', 'PayServ.Send'] as const;
type Kind = (typeof KINDS)[number];

/** 50 calls, the four kinds in equal numbers (±1), in a fixed shuffled order. */
function mixed(n: number): Kind[] {
  const out = Array.from({ length: n }, (_, i) => KINDS[i % KINDS.length] as Kind);
  let a = 12345;
  for (let i = out.length - 1; i > 0; i--) {
    a = (Math.imul(a, 1103515245) + 12345) >>> 0;
    const j = a % (i + 1);
    [out[i], out[j]] = [out[j] as Kind, out[i] as Kind];
  }
  return out;
}

/** Opens `n` connections of `c` at once (their TLS handshakes done), so that calls sent next are all on the wire together. */
async function warm(c: RpcClient, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n }, () => c.call('Utils.Version')));
}

describe.runIf(backend() === 'postgres')('two payserv processes on one database and one state directory', { timeout: LONG }, () => {
  it('50 mixed calls on one pending withdrawal split across both: one move; then 20 withdrawals approved through both, each once', async () => {
    const ids: number[] = [];
    const l = await processLedger(SEED, ethRequests(21, 21, 7201, ids));
    const [a, b] = await Promise.all([l.start(l.config('a.toml')), l.start(l.config('b.toml'))]);
    expect(a.port).not.toBe(b.port);
    const clients = [a, b].map((ps) => ps.client('pscli', { maxSockets: 40 }));
    for (const c of clients) expect(await c.call('Utils.Enable')).toMatchObject({ enabled: true });
    // One of the two writes the payment journal; the other only reads it.
    const writers = await Promise.all(
      clients.map(async (c) => (await c.call<{ journal: { writer: boolean } }>('Utils.Status')).journal.writer),
    );
    expect(writers.sort()).toEqual([false, true]);

    // --- 50 calls on one withdrawal, alternating processes, all on the wire at once. ---
    const id = ids[0] as number;
    const kinds = mixed(50);
    await Promise.all(clients.map((c) => warm(c, 25)));
    const results = await Promise.all(kinds.map((k, n) => settle((clients[n % 2] as RpcClient).call<PayoutResult>(k, [id]))));
    const served = results.flatMap((s, n) => {
      expect(s.kind, JSON.stringify(s)).toBe('result');
      const r = (s as { r: PayoutResult }).r;
      expect(r.id).toBe(id);
      return r.reply === 'ERROR' ? [] : [{ kind: kinds[n] as Kind, r }];
    });
    // Exactly one call moved it; every other one was refused (busy, or for the status it then found).
    expect(
      served.map((s) => [s.kind, s.r.reply]),
      JSON.stringify(served),
    ).toHaveLength(1);
    const won = served[0] as { kind: Kind; r: PayoutResult };
    expect(
      won.kind === 'PayServ.Approve' ? ['APPROVED', 'approved'] : won.kind === 'PayServ.Decline' ? ['DECLINED', 'processed'] : ['?', '?'],
    ).toEqual([won.r.reply, won.r.status]);
    for (const s of results) {
      const r = (s as { r: PayoutResult }).r;
      if (r.reply === 'ERROR') expect(['busy', 'wrong_status'], r.message).toContain(r.code);
    }
    expect(results.filter((s) => s.kind === 'result' && s.r.reply === 'ERROR' && s.r.code === 'busy').length).toBeGreaterThan(0);

    await l.withDb(async (db) => {
      const w = (await withdrawals(db)).get(id) as WithdrawalRow;
      expect(w.history.map((e) => e.seq)).toEqual([0, 1, 2]);
      expect(w.history.map((e) => e.status)).toEqual(['processing', 'pending', won.r.status]);
      const reversals = await db.query('SELECT id FROM finances_withdrawal_transaction WHERE parent_id = $1', [id]);
      expect(reversals).toHaveLength(won.kind === 'PayServ.Decline' ? 1 : 0);
      const dup = await db.query(
        'SELECT withdrawal_id, seq FROM finances_withdrawal_signatures GROUP BY withdrawal_id, seq HAVING count(*) > 1',
      );
      expect(dup).toEqual([]);
      expect(historyProblems(await withdrawals(db))).toEqual([]);
      expect(await l.check(db, 'balanceerrors')).toEqual([]);
    });

    // --- 20 distinct withdrawals, each approved through both processes at once. ---
    const twenty = ids.slice(1);
    await Promise.all(clients.map((c) => warm(c, 20)));
    const approvals = await Promise.all(
      twenty.flatMap((wid) => clients.map((c) => settle(c.call<PayoutResult>('PayServ.Approve', [wid])))),
    );
    for (const [n, s] of approvals.entries()) {
      const wid = twenty[Math.floor(n / 2)] as number;
      expect(s.kind, JSON.stringify(s)).toBe('result');
      const r = (s as { r: PayoutResult }).r;
      // The loser of each pair was busy, or came after and found it approved (Approve answers that unchanged).
      if (r.reply === 'ERROR') expect(r.code, r.message).toBe('busy');
      else expect(r).toMatchObject({ reply: 'APPROVED', id: wid, status: 'approved' });
    }
    for (const [k, wid] of twenty.entries()) {
      const pair = approvals.slice(2 * k, 2 * k + 2).map((s) => (s as { r: PayoutResult }).r.reply);
      expect(pair, `withdrawal ${wid}`).toContain('APPROVED');
    }
    await l.withDb(async (db) => {
      const all = await withdrawals(db);
      for (const wid of twenty)
        expect(
          all.get(wid)?.history.map((e) => e.status),
          `withdrawal ${wid}`,
        ).toEqual(['processing', 'pending', 'approved']);
      expect(historyProblems(all)).toEqual([]);
      expect(await l.check(db, 'balanceerrors')).toEqual([]);
    });
    // One call after another (each is audited before it is answered), so the last append is also the last local head written.
    for (const c of clients) expect(await c.call('Utils.Status')).toMatchObject({ enabled: true, fail_stops: 0 });
    expect(await a.stop('SIGTERM')).toBe(0);
    expect(await b.stop('SIGTERM')).toBe(0);
    await l.withDb(async (db) => {
      // Both processes appended to one trail, each after the other's rows: one chain, its head in the shared state directory.
      expect(await collectAuditProblems(db, l.stateDir)).toEqual([]);
    });
  });
});

// ---- 4 ---------------------------------------------------------------------------------------------------

/** A node process that takes Locks.with(name) on the database and then blocks forever. */
const LOCK_HOLDER = `
const { openPostgres } = await import(new URL('src/db/postgres.ts', process.env.REPO_URL).href);
const { Locks } = await import(new URL('src/payserv/locks.ts', process.env.REPO_URL).href);
const { LockKeys } = await import(new URL('src/data/lock-keys.ts', process.env.REPO_URL).href);
const { loadSigner } = await import(new URL('src/esman/pki-files.ts', process.env.REPO_URL).href);
const db = await openPostgres({ url: process.env.DATABASE_URL, poolSize: 2, statementTimeoutMs: 30000 });
setInterval(() => {}, 1 << 30);
// Another payserv process: the same key, so the same lock keys.
await new Locks(db, LockKeys.of(loadSigner(process.env.STATE_DIR, 'payserv'))).with(process.env.LOCK_NAME, 'a process about to crash', async () => {
  process.stdout.write('locked\\n');
  await new Promise(() => {});
});
`;

describe.runIf(backend() === 'postgres')('a crashed lock holder', { timeout: LONG }, () => {
  it('leaves no lock behind: once it is killed, the withdrawal is free and Process runs', async () => {
    const ids: number[] = [];
    const l = await processLedger(SEED, ethRequests(1, 0, 7301, ids));
    const id = ids[0] as number;
    const ps = await l.start(l.config('payserv.toml'));
    const pscli = ps.client('pscli');
    expect(await pscli.call('Utils.Enable')).toMatchObject({ enabled: true });

    const holder = spawnNode(['--import', 'tsx', '--input-type=module', '-e', LOCK_HOLDER], {
      DATABASE_URL: l.databaseUrl,
      LOCK_NAME: withdrawalLock(id),
      REPO_URL: new URL(`file://${REPO}/`).href,
      STATE_DIR: l.stateDir,
    });
    await holder.waitForLine(/^locked$/, 30_000);

    await l.withDb(async (db) => {
      expect(await new Locks(db, LockKeys.of(l.signers.payserv)).isHeld(withdrawalLock(id))).toBe(true);
    });
    expect(await pscli.call('Utils.IsProcessing', [id])).toEqual({ id, processing: true });
    expect(await pscli.call('Utils.ListLocks')).toMatchObject({ held: [], held_elsewhere: expect.any(Number) });
    expect(await pscli.call<PayoutResult>('PayServ.Process', [id])).toEqual({
      reply: 'ERROR',
      code: 'busy',
      id,
      status: null,
      message: BUSY(id),
    });

    holder.proc.kill('SIGKILL');
    expect((await holder.exited).signal).toBe('SIGKILL');
    await until(
      'the lock is released',
      async () => !(await pscli.call<{ processing: boolean }>('Utils.IsProcessing', [id])).processing,
      30_000,
      200,
    );
    await l.withDb(async (db) => {
      expect(await new Locks(db, LockKeys.of(l.signers.payserv)).isHeld(withdrawalLock(id))).toBe(false);
    });
    expect(await pscli.call<PayoutResult>('PayServ.Process', [id])).toMatchObject({ reply: 'PENDING', id, status: 'pending' });
    expect(await ps.stop('SIGTERM')).toBe(0);
    await l.withDb(async (db) => {
      const all = await withdrawals(db);
      expect(all.get(id)?.history.map((e) => e.status)).toEqual(['processing', 'pending']);
      expect(historyProblems(all)).toEqual([]);
      expect(await l.check(db, 'balanceerrors')).toEqual([]);
      expect(await collectAuditProblems(db, l.stateDir)).toEqual([]);
    });
  });
});
