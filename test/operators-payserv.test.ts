// Per-operator identities against a running payserv (and dbgw) over mutual TLS: each person's certificate is
// granted what the shared pscli identity is, the audit trail names the person for each call, a revoked
// operator is refused (and the refusal audited), a renewed certificate works, an expiring one is warned of.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import type { Env } from '../src/config/load.js';
import { createLogger } from '../src/log/index.js';
import type { RunningPayserv } from '../src/app/service.js';
import { AuditTrail, collectAuditProblems, lastAuditRows } from '../src/payserv/audit.js';
import { openDatabase } from '../src/db/open.js';
import { backend, describeOncePerSuite, type TestDatabase } from './support/db.js';
import { startTestDbgw } from './support/dbgw.js';
import { tmpStateDir } from './support/tmp.js';
import { initPki, operatorTlsPaths, pkiPaths } from '../src/esman/pki-files.js';
import { RpcClient } from '../src/rpc/client.js';
import { RPC } from '../src/api/jsonrpc.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { runPscli, type Run } from './support/pscli.js';
import { payservForPscli, pscliWorkspace } from './support/pscli-world.js';

let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
const dropLater: TestDatabase[] = [];
afterEach(async () => {
  await running?.stop();
  await l?.db.close();
  running = undefined;
  l = undefined;
  await Promise.all(dropLater.splice(0).map((t) => t.drop()));
});

type As = (operator: string | null, argv: string[]) => Promise<Run>;

async function setUp(): Promise<{ as: As; ledger: TestLedger }> {
  l = await testLedger();
  await l.checkpointAll();
  running = await payservForPscli(l);
  const dir = l.stateDir;
  const as: As = (operator, argv) => {
    const env: Env = { PAYSERV_STATE_DIR: dir, ...(operator ? { PSCLI_OPERATOR: operator } : {}) };
    return runPscli(argv, env);
  };
  return { as, ledger: l };
}

const firstProcessing = async (ledger: TestLedger): Promise<number> => {
  const [r] = await ledger.db.query<{ id: number }>(
    `SELECT id FROM finances_withdrawal_transaction WHERE status = 'processing' ORDER BY id LIMIT 1`,
  );
  return r?.id as number;
};

/** The trail as `pscli audit list` reads it (its own test below runs the command against a database pscli can open). */
const auditList = (ledger: TestLedger) => lastAuditRows(ledger.db, 100);

describe(`operators against payserv (${backend()})`, { timeout: 120_000 }, () => {
  it('two operators act; the audit trail names each; the shared identity records as before', async () => {
    const { as, ledger } = await setUp();
    for (const name of ['alice', 'bob']) expect((await as(null, ['pki', 'issue', '--operator', name])).code).toBe(EXIT.OK);
    const id = await firstProcessing(ledger);
    expect((await as('alice', ['enable'])).stdout).toMatch(/^payouts ENABLED since/);
    expect((await as('bob', ['process', String(id)])).stdout).toMatch(/^REPLY: \[PENDING\]/);
    expect((await as('alice', ['approve', String(id)])).stdout).toMatch(/^REPLY: \[APPROVED\]/);
    expect((await as(null, ['isprocessing', String(id)])).code).toBe(EXIT.OK);
    const rows = await auditList(ledger);
    expect(rows.map((r) => [r.client, r.method, r.target])).toEqual([
      ['pscli (operator alice)', 'Utils.Enable', ''],
      ['pscli (operator bob)', 'PayServ.Process', String(id)],
      ['pscli (operator alice)', 'PayServ.Approve', String(id)],
      ['pscli (pscli tls)', 'Utils.IsProcessing', String(id)],
    ]);
    // The ledger's signed status history says who approved, too.
    expect((await as(null, ['transinfo', String(id)])).stdout).toMatch(/\. approved at .* — approved by pscli \(operator alice\)/);
    expect(await collectAuditProblems(ledger.db, ledger.stateDir)).toEqual([]);
  });

  it('a revoked operator is refused on the next call (forbidden, audited, nothing done); the others still work', async () => {
    const { as, ledger } = await setUp();
    await as(null, ['pki', 'issue', '--operator', 'alice']);
    await as(null, ['pki', 'issue', '--operator', 'mallory']);
    await as('alice', ['enable']);
    const id = await firstProcessing(ledger);
    expect((await as('mallory', ['status'])).code).toBe(EXIT.OK);
    expect((await as(null, ['pki', 'revoke', '--operator', 'mallory'])).code).toBe(EXIT.OK);
    const refused = await as('mallory', ['process', String(id)]);
    expect(refused.code).toBe(EXIT.PROBLEMS);
    expect(refused.stderr).toMatch(/forbidden: the certificate of operator mallory is revoked/);
    expect(await firstProcessing(ledger)).toBe(id);
    expect((await as('alice', ['process', String(id)])).stdout).toMatch(/^REPLY: \[PENDING\]/);
    const rows = await auditList(ledger);
    expect(rows.find((r) => r.client === 'pscli (operator mallory)' && r.method === 'PayServ.Process')).toMatchObject({
      reply: 'ERROR -32001',
      code: 'forbidden',
    });
    // A list forged without the CA key (mallory taken out) refuses every operator; the shared identity is not an operator.
    const path = join(ledger.stateDir, 'pki', 'revoked.json');
    const doc = JSON.parse((await import('node:fs')).readFileSync(path, 'utf8')) as object;
    writeFileSync(path, JSON.stringify({ ...doc, revoked: [] }));
    expect((await as('mallory', ['status'])).stderr).toMatch(/revocation list cannot be trusted/);
    expect((await as('alice', ['status'])).stderr).toMatch(/revocation list cannot be trusted/);
    expect((await as(null, ['status'])).code).toBe(EXIT.OK);
  });

  it('a renewed certificate works; pscli status warns of one expiring within 30 days', async () => {
    const { as, ledger } = await setUp();
    await as(null, ['pki', 'issue', '--operator', 'alice', '--days', '10']);
    await as('alice', ['enable']);
    const warned = await as('alice', ['status']);
    expect(warned.code).toBe(EXIT.OK);
    expect(warned.stdout).toMatch(
      /\nWARNING certificate operator alice expires in 9 day\(s\), on .*: renew it \(pscli pki renew --operator alice\)\n$/,
    );
    expect(await as(null, ['pki', 'renew', '--operator', 'alice', '--new-key', '--days', '365'])).toMatchObject({ code: EXIT.OK });
    const after = await as('alice', ['--json', 'status']);
    expect(after.code).toBe(EXIT.OK);
    expect(JSON.parse(after.stdout)).toMatchObject({ enabled: true, certificates_expiring: [] });
    // enable, then status twice (Utils.Status, Autopay.Status, Utils.ListLocks each): all alice's, before and after renewal.
    const clients = (await auditList(ledger)).map((r) => r.client);
    expect(clients).toHaveLength(7);
    expect(new Set(clients)).toEqual(new Set(['pscli (operator alice)']));
  });
});

describe(`pscli audit list (${backend()})`, { timeout: 120_000 }, () => {
  it('shows the newest calls with who made each, oldest first; --json for machines', async () => {
    const { stateDir, env } = await pscliWorkspace(dropLater);
    expect((await runPscli(['db', 'migrate'], env)).code).toBe(EXIT.OK);
    expect((await runPscli(['audit', 'list'], env)).stdout).toBe('the audit trail is empty\n');
    const db = await openDatabase({ url: env.DATABASE_URL }, stateDir);
    try {
      const trail = new AuditTrail({ db, stateDir, log: createLogger('payserv', 'silent'), lockKey: '7312' });
      await trail.record({ client: 'pscli (operator alice)', method: 'Utils.Enable', reply: 'OK', durationMs: 3 });
      await trail.record({
        client: 'pscli (operator bob)',
        method: 'PayServ.Approve',
        target: '7',
        reply: 'ERROR -32001',
        code: 'forbidden',
        durationMs: 1,
      });
      await trail.record({ client: 'pscli (pscli tls)', method: 'Utils.Status', reply: 'OK', durationMs: 2 });
    } finally {
      await db.close();
    }
    const text = await runPscli(['audit', 'list', '--last', '2'], env);
    expect(text.code).toBe(EXIT.OK);
    expect(text.stdout).toMatch(
      /^\d+ \S+Z pscli \(operator bob\) PayServ\.Approve 7: ERROR -32001 \(forbidden\)\n\d+ \S+Z pscli \(pscli tls\) Utils\.Status: OK\n$/,
    );
    const json = JSON.parse((await runPscli(['--json', 'audit', 'list'], env)).stdout) as { client: string }[];
    expect(json.map((r) => r.client)).toEqual(['pscli (operator alice)', 'pscli (operator bob)', 'pscli (pscli tls)']);
    expect(await runPscli(['audit', 'list', '--last', '0'], env)).toMatchObject({
      code: EXIT.USAGE,
      stderr: expect.stringContaining('--last'),
    });
  });
});

describeOncePerSuite('operators against dbgw', () => {
  it("dbgw grants an operator pscli's calls and refuses a revoked one on the next call", async () => {
    const stateDir = await tmpStateDir();
    await initPki(stateDir, { rootDays: 30, leafDays: 30 });
    const run = (argv: string[]) => runPscli(argv, { PAYSERV_STATE_DIR: stateDir });
    await run(['pki', 'issue', '--operator', 'alice']);
    const gw = await startTestDbgw(stateDir);
    const o = operatorTlsPaths(stateDir, 'alice');
    const tls = {
      certPem: readFileSync(o.cert, 'utf8'),
      keyPem: readFileSync(o.key, 'utf8'),
      caPem: readFileSync(pkiPaths(stateDir).root, 'utf8'),
    };
    const alice = new RpcClient({ host: '127.0.0.1', port: gw.server.port, tls, timeoutMs: 10_000, serverIdentity: 'dbgw' });
    try {
      expect(await alice.call('Dbgw.Status')).toMatchObject({ connected: false });
      // pscli's rights, not payserv's: no handing over a database.
      await expect(alice.call('Dbgw.Connect', { url: 'postgres://x@127.0.0.1/none' })).rejects.toMatchObject({ code: RPC.FORBIDDEN });
      expect((await run(['pki', 'revoke', '--operator', 'alice'])).code).toBe(EXIT.OK);
      await expect(alice.call('Dbgw.Status')).rejects.toMatchObject({
        code: RPC.FORBIDDEN,
        message: expect.stringMatching(/^forbidden: the certificate of operator alice is revoked/),
      });
    } finally {
      alice.close();
      await gw.stop();
    }
  });
});
