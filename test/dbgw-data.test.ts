// payserv's data access through dbgw (the dbgw project): only named operations with bound parameters
// cross; SQL-looking text is data; refusals for anyone but payserv, unknown operations and malformed
// parameters; sessions a caller abandons are rolled back; dbgw restarted under a running payserv.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { EXIT } from '../src/cli/exit.js';
import { afterEach, describe, expect, it } from 'vitest';
import { CATALOG } from '../src/data/catalog.js';
import { ALERTS } from '../src/data/ops/alerts.js';
import { LockKeys } from '../src/data/lock-keys.js';
import { LOCKS } from '../src/data/ops/locks.js';
import type { Db } from '../src/db/db.js';
import type { RunningDbgw } from '../src/dbgw/service.js';
import { createLogger } from '../src/log/index.js';
import { Alerts, listAlerts } from '../src/alerts/alerts.js';
import { AuditTrail, collectAuditProblems } from '../src/payserv/audit.js';
import { LockWatch } from '../src/payserv/lock-watch.js';
import { Locks } from '../src/payserv/locks.js';
import { processWithdrawal } from '../src/payserv/payouts.js';
import { RpcClient } from '../src/rpc/client.js';
import { RPC, RpcError } from '../src/api/jsonrpc.js';
import { urlOf } from './support/db.js';
import { dbgwDataAt, overDbgw, startTestDbgw } from './support/dbgw.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { testPayserv } from './support/payserv.js';
import { runPscli } from './support/pscli.js';
import { tlsOf, until } from './support/spawn.js';

/** The appends' lock key payserv derives from its own key; any fixed key serves a test (the appends of one test share it). */
const TEST_AUDIT_KEY = '7311';

/** Text that would do harm if it were ever spliced into SQL. */
const SQL_TEXTS = [
  "'); DROP TABLE payserv_canary; --",
  "x' OR '1'='1",
  '$1; DELETE FROM coins_coin; SELECT $2',
  '"; TRUNCATE finances_withdrawal_transaction CASCADE; --\\',
];

let ledger: TestLedger | undefined;
const gateways: RunningDbgw[] = [];
const clients: RpcClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const g of gateways.splice(0)) await g.stop();
  await ledger?.db.close();
  ledger = undefined;
});

async function gateway(tune?: Parameters<typeof startTestDbgw>[1]): Promise<{ l: TestLedger; gw: RunningDbgw }> {
  ledger = await testLedger();
  const gw = await startTestDbgw(ledger.stateDir, tune);
  gateways.push(gw);
  return { l: ledger, gw };
}

function client(l: TestLedger, gw: RunningDbgw, identity: 'payserv' | 'pscli' | 'backend' = 'payserv'): RpcClient {
  const c = new RpcClient({
    host: '127.0.0.1',
    port: gw.server.port,
    tls: tlsOf(l.stateDir, identity),
    timeoutMs: 30_000,
    serverIdentity: 'dbgw',
  });
  clients.push(c);
  return c;
}

async function refusal(p: Promise<unknown>): Promise<RpcError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RpcError);
  return e as RpcError;
}

/** Every table's row count: what an injected statement would change. */
async function tableCounts(db: Db): Promise<Record<string, number>> {
  const tables = await db.query<{ t: string }>("SELECT tablename AS t FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  const out: Record<string, number> = {};
  for (const { t } of tables) out[t] = (await db.query<{ n: number }>(`SELECT count(*)::bigint AS n FROM "${t}"`))[0]?.n ?? -1;
  return out;
}

describe.runIf(overDbgw())('dbgw: named operations only', { timeout: 120_000 }, () => {
  it('refuses a client without a certificate, other identities, unknown operations, wrong arity and malformed parameters', async () => {
    const { l, gw } = await gateway();
    const payserv = client(l, gw);
    expect(await payserv.call('Dbgw.Connect', { url: urlOf(l.db) })).toMatchObject({ connected: true });

    // No certificate: the TLS handshake is refused before any request is read.
    const ca = tlsOf(l.stateDir, 'payserv').caPem;
    const noCert = await new Promise<string>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port: gw.server.port, ca, servername: 'dbgw' }, () => {
        s.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
      });
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString()));
      s.on('error', (e) => resolve(`error ${e.message}`));
      s.on('close', () => resolve(got === '' ? 'closed' : got));
    });
    expect(noCert).not.toMatch(/HTTP\/1\.1 200/);
    expect(noCert).not.toMatch(/"result"/);

    // pscli may read (see below), never write; the pool's back end may do nothing at all.
    const q = { op: 'ledger.coins', params: [1000] };
    expect((await refusal(client(l, gw, 'pscli').call('Dbgw.Query', { op: 'checkpoints.lock', params: ['x'] }))).code).toBe(RPC.FORBIDDEN);
    expect((await refusal(client(l, gw, 'backend').call('Dbgw.Query', q))).code).toBe(RPC.FORBIDDEN);
    expect((await refusal(client(l, gw, 'backend').call('Dbgw.Version'))).code).toBe(RPC.FORBIDDEN);
    expect((await payserv.call<{ rows: unknown[] }>('Dbgw.Query', q)).rows.length).toBeGreaterThan(0);

    const bad: [Record<string, unknown>, RegExp][] = [
      [{ op: 'ledger.dropEverything', params: [] }, /unknown operation "ledger.dropEverything"/],
      [{ op: 'SELECT * FROM coins_coin', params: [] }, /unknown operation/],
      [{ op: 'ledger.coins', params: [] }, /takes 1 parameters, not 0/],
      [{ op: 'ledger.coins', params: [1, 2] }, /takes 1 parameters, not 2/],
      [{ op: 'ledger.coins', params: [{ sql: 'DROP TABLE coins_coin' }] }, /params/],
      [{ op: 'ledger.coins', params: [1], sql: 'DROP TABLE coins_coin' }, /sql/],
      [{ op: 'ledger.coins', params: [1], session: "1' OR '1'='1" }, /session/],
    ];
    for (const [params, message] of bad) {
      const e = await refusal(payserv.call('Dbgw.Query', params));
      expect(e.code, JSON.stringify(params)).toBe(RPC.INVALID_PARAMS);
      expect(e.message, JSON.stringify(params)).toMatch(message);
    }
    expect((await refusal(payserv.call('Dbgw.Query', { op: 'ledger.coins', params: [1], session: 'ab'.repeat(16) }))).message).toMatch(
      /unknown session/,
    );
    expect((await payserv.call<{ sessions: number }>('Dbgw.Status')).sessions).toBe(0);
  });

  it('SQL-looking text in every parameter of every operation is bound as data: nothing injected ran, nothing changed', async () => {
    const { l, gw } = await gateway();
    await l.db.exec('CREATE TABLE payserv_canary (n int); INSERT INTO payserv_canary VALUES (1)');
    const payserv = client(l, gw);
    await payserv.call('Dbgw.Connect', { url: urlOf(l.db) });
    const before = await tableCounts(l.db);
    let calls = 0;
    let refusedByDatabase = 0;
    for (const op of CATALOG.values()) {
      for (let i = 0; i < op.arity; i++) {
        const params = Array.from({ length: op.arity }, (_, j) => (j === i ? SQL_TEXTS[(i + calls) % SQL_TEXTS.length] : null));
        // Each in a transaction rolled back: a write that stores the text is undone, so counts compare.
        const { session } = await payserv.call<{ session: string }>('Dbgw.Begin', { mode: 'transaction' });
        try {
          await payserv.call('Dbgw.Query', { op: op.name, params, session });
        } catch (e) {
          // The only failure allowed is the database refusing a value of the wrong type: never anything else.
          expect(e, op.name).toBeInstanceOf(RpcError);
          expect((e as RpcError).code, `${op.name}: ${(e as Error).message}`).toBe(RPC.DB_ERROR);
          refusedByDatabase++;
        }
        await payserv.call('Dbgw.End', { session, commit: false });
        calls++;
      }
    }
    expect(calls).toBeGreaterThan(100);
    expect(refusedByDatabase).toBeLessThan(calls);
    expect(await tableCounts(l.db)).toEqual(before);
    expect((await l.db.query<{ n: number }>('SELECT n FROM payserv_canary'))[0]?.n).toBe(1);
    expect(await l.check('balanceerrors')).toEqual([]);
  });

  it('stores SQL-looking text and gives it back unchanged: the audit trail and the alerts, through dbgw', async () => {
    const { l, gw } = await gateway();
    const data = await dbgwDataAt(l.stateDir, gw.server.port, urlOf(l.db));
    const log = createLogger('payserv', 'silent');
    const audit = new AuditTrail({ db: data, stateDir: l.stateDir, log, lockKey: TEST_AUDIT_KEY });
    for (const text of SQL_TEXTS) await audit.record({ client: text, method: text, target: text, reply: text, durationMs: 1 });
    const rows = await l.db.query<{ client: string; method: string; target: string; reply: string }>(
      'SELECT client, method, target, reply FROM payserv_audit ORDER BY id',
    );
    expect(rows).toEqual(SQL_TEXTS.map((t) => ({ client: t, method: t, target: t, reply: t })));
    expect(await collectAuditProblems(data, l.stateDir)).toEqual([]);

    const alerts = new Alerts({ db: data, log });
    // An alert's kind is a word (the schema says so); its reason and details are free text and JSON.
    for (const text of SQL_TEXTS)
      expect((await alerts.raise('fail_stop', text, { [text]: text, nested: { bytes: { $b: text } } })).id).not.toBeNull();
    const back = (await listAlerts(data, 10)).reverse();
    expect(back.map((a) => [a.kind, a.reason, a.details])).toEqual(
      SQL_TEXTS.map((t) => ['fail_stop', t, { [t]: t, nested: { bytes: { $b: t } } }]),
    );
    await data.close();
  });
});

describe.runIf(overDbgw())('pscli through dbgw', { timeout: 120_000 }, () => {
  it('runs the checks and the audit verification with no database credentials, and may only read', async () => {
    const { l, gw } = await gateway();
    await client(l, gw).call('Dbgw.Connect', { url: urlOf(l.db) });
    writeFileSync(join(l.stateDir, 'pscli.toml'), `[dbgw]\nport = ${gw.server.port}\n`);
    const env = { PAYSERV_STATE_DIR: l.stateDir };
    const clean = await runPscli(['checkbalanceerrors'], env);
    expect([clean.code, clean.stdout, clean.stderr]).toEqual([EXIT.OK, '', '']);
    expect((await runPscli(['audit', 'verify'], env)).code).toBe(EXIT.OK);

    // The attacker doubles a credit in the database: pscli, reading through dbgw, says so.
    await l.db.exec(`ALTER TABLE finances_user_balance_transaction DISABLE TRIGGER USER;
      UPDATE finances_user_balance_transaction SET amount = amount * 2 WHERE id = (SELECT min(id) FROM finances_user_balance_transaction WHERE type = 'block')`);
    const found = await runPscli(['checkbalanceerrors'], env);
    expect(found.code).toBe(EXIT.PROBLEMS);
    expect(found.stdout).toMatch(/finances_user_balance_transaction id=\d+: signature does not match the record/);

    // pscli's identity reads, never writes, never holds a session.
    const pscli = client(l, gw, 'pscli');
    expect((await pscli.call<{ rows: unknown[] }>('Dbgw.Query', { op: 'ledger.coins', params: [1000] })).rows.length).toBeGreaterThan(0);
    const write = await refusal(
      pscli.call('Dbgw.Query', { op: ALERTS.insert.name, params: [{ $d: new Date().toISOString() }, 'fail_stop', 'x', '{}'] }),
    );
    expect([write.code, write.message]).toEqual([
      RPC.FORBIDDEN,
      'pscli may run read-only operations only, outside a session: not alerts.insert',
    ]);
    expect((await refusal(pscli.call('Dbgw.Begin', { mode: 'transaction' }))).code).toBe(RPC.FORBIDDEN);
    expect(await l.db.query('SELECT id FROM payserv_alerts')).toEqual([]);

    // Without a reachable dbgw it says so, exit 3, and changes nothing.
    await gw.stop();
    gateways.splice(0);
    const down = await runPscli(['checkbalanceerrors'], env);
    expect(down.code).toBe(EXIT.RUNTIME);
    expect(down.stderr).toMatch(/dbgw.*connection refused/);
  });
});

describe.runIf(overDbgw())('dbgw: sessions and restarts', { timeout: 120_000 }, () => {
  it('a transaction or a lock session its caller abandons is rolled back after idle_ms: the rows are gone, the lock free', async () => {
    const { l, gw } = await gateway((c) => (c.sessions.idle_ms = 1_000));
    const payserv = client(l, gw);
    await payserv.call('Dbgw.Connect', { url: urlOf(l.db) });
    const tx = (await payserv.call<{ session: string }>('Dbgw.Begin', { mode: 'transaction' })).session;
    await payserv.call('Dbgw.Query', {
      op: ALERTS.insert.name,
      params: [{ $d: new Date().toISOString() }, 'abandoned', 'never committed', '{}'],
      session: tx,
    });
    const lock = (await payserv.call<{ session: string }>('Dbgw.Begin', { mode: 'session' })).session;
    const keys = LockKeys.of(l.signers.payserv);
    const held = await payserv.call<{ rows: { ok: boolean }[] }>('Dbgw.Query', {
      op: LOCKS.tryLock.name,
      params: [keys.key('withdrawal:1')],
      session: lock,
    });
    expect(held.rows[0]?.ok).toBe(true);
    const idleInTransaction = async () =>
      (
        await l.db.query<{ n: number }>(
          "SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE datname = current_database() AND state = 'idle in transaction'",
        )
      )[0]?.n;
    expect(await idleInTransaction()).toBe(1);
    const other = await dbgwDataAt(l.stateDir, gw.server.port, urlOf(l.db));
    try {
      expect(await new Locks(other, keys).isHeld('withdrawal:1')).toBe(true);
      // The caller goes quiet: no Touch, no call.
      await until(
        'dbgw gives up on both sessions',
        async () => (await payserv.call<{ sessions: number }>('Dbgw.Status')).sessions === 0,
        10_000,
        100,
      );
      expect(await l.db.query("SELECT id FROM payserv_alerts WHERE kind = 'abandoned'")).toEqual([]);
      expect(await idleInTransaction()).toBe(0);
      expect(await new Locks(other, keys).isHeld('withdrawal:1')).toBe(false);
      expect(
        (await refusal(payserv.call('Dbgw.Query', { op: LOCKS.unlock.name, params: [keys.key('withdrawal:1')], session: lock }))).message,
      ).toMatch(/unknown session/);
      // A session its caller keeps alive outlives idle_ms many times over.
      await other.transaction(async (t) => {
        await t.query(ALERTS.insert, [new Date(), 'kept', 'alive', '{}']);
        await new Promise((r) => setTimeout(r, 3_000));
      });
      expect(await l.db.query("SELECT id FROM payserv_alerts WHERE kind = 'kept'")).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('dbgw restarted under a running payserv: calls in flight fail, nothing is half-written, and payserv carries on once dbgw is back', async () => {
    const t = await testPayserv();
    ledger = t.ledger;
    const l = t.ledger;
    let gw = await startTestDbgw(l.stateDir);
    const port = gw.server.port;
    const data = await dbgwDataAt(l.stateDir, port, urlOf(l.db));
    const locks = new Locks(data, LockKeys.of(l.signers.payserv));
    t.ps = {
      ...t.ps,
      db: data,
      locks,
      lockWatch: new LockWatch({ locks, alerts: { raise: async () => undefined }, log: t.ps.log, heldMaxMs: 300_000 }),
    };
    const ids = (
      await l.db.query<{ id: number }>(`SELECT id FROM finances_withdrawal_transaction WHERE status = 'processing' ORDER BY id LIMIT 2`)
    ).map((r) => r.id);
    const [first, second] = ids as [number, number];
    const snapshot = () =>
      l.db
        .query(`SELECT w.id, w.status, (SELECT count(*)::bigint FROM finances_withdrawal_signatures s WHERE s.withdrawal_id = w.id) AS sigs
      FROM finances_withdrawal_transaction w ORDER BY w.id`);
    const before = await snapshot();

    // A transaction in flight when dbgw goes: its first write is rolled back with it, the rest never runs.
    const inFlight = data.transaction(async (tx) => {
      await tx.query(ALERTS.insert, [new Date(), 'in_flight', 'written before the restart', '{}']);
      await gw.stop();
      await tx.query(ALERTS.insert, [new Date(), 'in_flight', 'after', '{}']);
    });
    await expect(inFlight).rejects.toThrow(/through dbgw at .*(connection refused|connection reset)/);
    expect(await l.db.query("SELECT id FROM payserv_alerts WHERE kind = 'in_flight'")).toEqual([]);

    // dbgw down: a payout call fails (an error, never a half-written status).
    const down = await processWithdrawal(t.ps, first, 'test').then(
      (r) => r.reply,
      (e: Error) => `threw ${e.message}`,
    );
    expect(down).toMatch(/ERROR|threw/);
    expect(await snapshot()).toEqual(before);

    // dbgw back, on the same port, without a database: payserv hands it over again and carries on.
    gw = await startTestDbgw(l.stateDir, (c) => (c.rpc.port = port));
    gateways.push(gw);
    expect(gw.database()).toBeNull();
    for (const id of [first, second]) expect(['PENDING', 'DECLINED']).toContain((await processWithdrawal(t.ps, id, 'test')).reply);
    expect(gw.database()).not.toBeNull();
    expect(await l.check('balanceerrors')).toEqual([]);
    await data.close();
  });
});
