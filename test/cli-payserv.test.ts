// pscli against a running payserv over mutual TLS: replies printed as the original did, --json for
// machines, an ERROR reply or a refused call exits 1, and nothing is changed by a refused call.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import { loadConfig, type Env } from '../src/config/load.js';
import { createLogger } from '../src/log/index.js';
import { startPayserv, type RunningPayserv } from '../src/app/service.js';
import { collectAuditProblems } from '../src/payserv/audit.js';
import pg from 'pg';
import { LockKeys } from '../src/data/lock-keys.js';
import { withdrawalLock } from '../src/payserv/locks.js';
import { backend, testPgUrl, urlOf } from './support/db.js';
import { dbgwDataAt, overDbgw, startTestDbgw } from './support/dbgw.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { runPscli, type Run } from './support/pscli.js';
import { payservForPscli } from './support/pscli-world.js';

let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
afterEach(async () => {
  await running?.stop();
  await l?.db.close();
  running = undefined;
  l = undefined;
});

/** A test ledger, a payserv serving it (admin key loaded), and pscli configured to reach it. */
async function setUp(): Promise<{ run: (argv: string[]) => Promise<Run>; ledger: TestLedger }> {
  l = await testLedger();
  await l.checkpointAll();
  running = await payservForPscli(l);
  const env: Env = { PAYSERV_STATE_DIR: l.stateDir };
  const run = (argv: string[]): Promise<Run> => runPscli(argv, env);
  return { run, ledger: l };
}

const processing = async (ledger: TestLedger) =>
  (await ledger.db.query<{ id: number }>(`SELECT id FROM finances_withdrawal_transaction WHERE status = 'processing' ORDER BY id`)).map(
    (r) => r.id,
  );

describe(`pscli → payserv (${backend()})`, { timeout: 120_000 }, () => {
  it('drives a withdrawal: disabled, enable, process, transinfo, approve, send — replies as the original printed them', async () => {
    const { run, ledger } = await setUp();
    const [id] = await processing(ledger);
    expect(await run(['status'])).toMatchObject({
      code: EXIT.PROBLEMS,
      stdout: expect.stringMatching(/^payouts DISABLED since .*\nreason: payserv starts disabled/),
    });
    const refused = await run(['process', String(id)]);
    expect(refused).toMatchObject({
      code: EXIT.PROBLEMS,
      stdout: expect.stringMatching(/^REPLY: \[ERROR\] disabled: payouts are disabled/),
    });
    expect((await processing(ledger))[0]).toBe(id);
    expect((await run(['enable'])).stdout).toMatch(/^payouts ENABLED since/);
    expect(await run(['process', String(id)])).toMatchObject({
      code: EXIT.OK,
      stdout: expect.stringMatching(/^REPLY: \[PENDING\]\nMESSAGE: waits for a manager/),
    });
    const info = await run(['transinfo', String(id)]);
    expect(info.code).toBe(EXIT.OK);
    expect(info.stdout).toMatch(
      new RegExp(`^withdrawal ${id}: user \\d+, [\\d.]+ \\w+ \\(fee [\\d.]+\\) to \\S+ \\(wallet \\d+\\)\\nstatus pending`),
    );
    expect(info.stdout).toMatch(/\n {2}0\. processing at .*\n {2}1\. pending at /);
    const approved = JSON.parse((await run(['--json', 'approve', String(id)])).stdout) as { reply: string; status: string };
    expect(approved).toMatchObject({ reply: 'APPROVED', status: 'approved' });
    expect((await run(['send', String(id)])).stdout).toMatch(/^REPLY: \[SENT\]/);
    expect(await run(['send', String(id)])).toMatchObject({
      code: EXIT.PROBLEMS,
      stdout: expect.stringMatching(/^REPLY: \[ERROR\] wrong_status: withdrawal \d+ is sent; Send takes/),
    });
    const again = await run(['--json', 'send', String(id)]);
    expect({ code: again.code, reply: JSON.parse(again.stdout) as unknown }).toMatchObject({
      code: EXIT.PROBLEMS,
      reply: { reply: 'ERROR', code: 'wrong_status', status: 'sent' },
    });
    // The payment journal holds nothing the database lost.
    expect(await run(['journal', 'restore'])).toMatchObject({
      code: EXIT.OK,
      stdout: 'nothing to restore: every journaled payment is in the database\n',
    });
    expect((await run(['listlocks'])).stdout).toBe('no locks held\n');
    expect((await run(['isprocessing', String(id)])).stdout).toBe(`withdrawal ${id} is not being processed\n`);
    // Autopay is off in this payserv's configuration: said so, nothing run (issue 15, item 9).
    const off = "autopay is disabled in payserv's configuration ([autopay] enabled = false, or no [autopay.coins.*] table)";
    expect(await run(['autopay', 'run', '--coin', 'ETH'])).toEqual({
      code: EXIT.PROBLEMS,
      stdout: '',
      stderr: `pscli: ${off}: nothing was run\n`,
    });
    // A status query says it too, and exits 1 as run does (README: autopay disabled is 1).
    expect(await run(['autopay', 'status'])).toMatchObject({ code: EXIT.PROBLEMS, stdout: `${off}\n` });
    expect(await ledger.check('balanceerrors')).toEqual([]);
    // Every call above is in the audit trail's hash chain, and its local head matches (pscli audit verify has its own tests).
    expect(await collectAuditProblems(ledger.db, ledger.stateDir)).toEqual([]);
  });

  it('signs a reviewed wallet, applies a correction, and refuses bad input naming it, changing nothing', async () => {
    const { run, ledger } = await setUp();
    await run(['enable']);
    const [w] = await ledger.db.query<{ id: number }>(
      `INSERT INTO users_userwallets (user_id, coin_id, address, created_at, updated_at) SELECT 5001, id, '0x52908400098527886E0F7030069857D2E4169EE7', now(), now() FROM coins_coin WHERE tag = 'ETH' RETURNING id`,
    );
    expect((await run(['signwallet', String(w?.id)])).stdout).toBe(`wallet ${w?.id} (0x52908400098527886E0F7030069857D2E4169EE7) signed\n`);
    const corr = await run([
      'createcorrection',
      '--user',
      '1001',
      '--coin',
      'ETH',
      '--amount',
      '0.25',
      '--pool',
      '0.3',
      '--comment',
      'missed share',
    ]);
    expect(corr).toMatchObject({
      code: EXIT.OK,
      stdout: expect.stringMatching(/^correction applied: credit \d+ of 0\.25, pool income \d+\n$/),
    });
    expect(await ledger.check('balanceerrors')).toEqual([]);
    const before = await ledger.db.query('SELECT count(*)::bigint AS n FROM finances_user_balance_transaction');
    // An id, coin or wallet that does not exist is usage (2) wherever it is found, by pscli or by payserv
    // (README's exit code table); a refusal of a well-formed call is 1.
    for (const [argv, code, message] of [
      [['process', 'abc'], EXIT.USAGE, /id must be a positive integer/],
      [
        ['createcorrection', '--user', '1001', '--coin', 'ETH', '--amount', '1e3'],
        EXIT.USAGE,
        /^pscli: --amount: not a decimal number: "1e3"/,
      ],
      [
        ['createcorrection', '--user', '1001', '--coin', 'NOPE', '--amount', '1'],
        EXIT.USAGE,
        /refused Corrections\.Apply: unknown_coin: unknown coin NOPE/,
      ],
      [
        ['createcorrection', '--user', '1001', '--coin', 'ETH', '--amount', '-1000000'],
        EXIT.PROBLEMS,
        /refused Corrections\.Apply: balance_short: the correction would take user 1001's credits below their debits/,
      ],
      [['signwallet', '999999'], EXIT.USAGE, /refused Wallets\.Sign: unknown_wallet: unknown wallet id 999999/],
      [['isprocessing', '999999'], EXIT.USAGE, /^pscli: payserv refused Utils\.IsProcessing: unknown_id: unknown withdrawal id 999999/],
      [['process', '999999'], EXIT.USAGE, /^REPLY: \[ERROR\] unknown_id: /],
      [['sendcoin', 'NOPE'], EXIT.USAGE, /^REPLY: \[ERROR\] unknown_coin: unknown coin NOPE/],
      [['resolve', '--coin', 'NOPE'], EXIT.USAGE, /refused Autopay\.Resolve: unknown_coin: unknown coin "NOPE"/],
    ] as const) {
      const r = await run([...argv]);
      expect(r.code, `${argv.join(' ')}: ${r.stdout}${r.stderr}`).toBe(code);
      expect(r.stdout + r.stderr, argv.join(' ')).toMatch(message);
    }
    expect(await ledger.db.query('SELECT count(*)::bigint AS n FROM finances_user_balance_transaction')).toEqual(before);
  });

  it.runIf(backend() === 'postgres')(
    'status and listlocks report a lock another session holds (pid, since when), exit 1, and the lock_held alert is stored once',
    async () => {
      const { run, ledger } = await setUp();
      await run(['enable']);
      const [id] = (await processing(ledger)) as [number];
      // A session holding the withdrawal's real key (as someone with payserv's key could): the key computed with the secret.
      const [{ name }] = (await ledger.db.query<{ name: string }>('SELECT current_database() AS name')) as [{ name: string }];
      const url = new URL(testPgUrl());
      url.pathname = `/${name}`;
      const sql = new pg.Client({ connectionString: url.toString() });
      await sql.connect();
      try {
        const pid = (await sql.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number;
        const key = LockKeys.of(ledger.signers.payserv).key(withdrawalLock(id));
        expect((await sql.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::bigint) AS ok', [key])).rows[0]?.ok).toBe(true);
        expect(await run(['status'])).toMatchObject({ code: EXIT.OK, stdout: expect.stringMatching(/^payouts ENABLED since \S+\n$/) });

        expect(await run(['process', String(id)])).toMatchObject({
          code: EXIT.PROBLEMS,
          stdout: `REPLY: [ERROR] busy: withdrawal ${id} is being handled by another call; try again\n`,
        });
        const line = new RegExp(
          `^LOCK withdrawal:${id} HELD by database session pid ${pid} \\(ExclusiveLock\\), not this payserv: seen since \\S+ \\(\\d+ s\\); session started \\S+`,
          'm',
        );
        const status = await run(['status']);
        expect(status.code).toBe(EXIT.PROBLEMS);
        expect(status.stdout).toMatch(/^payouts ENABLED since /);
        expect(status.stdout).toMatch(line);
        const json = JSON.parse((await run(['--json', 'status'])).stdout) as {
          enabled: boolean;
          locks_reported: Array<{ lock: string; pid: number; holder: string }>;
        };
        expect(json).toMatchObject({ enabled: true, locks_reported: [{ lock: `withdrawal:${id}`, pid, holder: 'foreign' }] });
        const list = await run(['listlocks']);
        expect(list.code).toBe(EXIT.PROBLEMS);
        expect(list.stdout).toMatch(line);
        // Three reports, one episode: one alert row; payouts were never disabled.
        const alerts = await ledger.db.query<{ reason: string }>("SELECT reason FROM payserv_alerts WHERE kind = 'lock_held'");
        expect(alerts).toEqual([{ reason: expect.stringContaining(`lock withdrawal:${id} is held by database session pid ${pid}`) }]);

        await sql.query('SELECT pg_advisory_unlock_all()');
        expect(await run(['status'])).toMatchObject({ code: EXIT.OK, stdout: expect.stringMatching(/^payouts ENABLED since \S+\n$/) });
        expect(await run(['process', String(id)])).toMatchObject({ code: EXIT.OK, stdout: expect.stringMatching(/^REPLY: \[PENDING\]/) });
      } finally {
        await sql.end();
      }
    },
  );

  it('says clearly when payserv cannot be reached', async () => {
    const { run, ledger } = await setUp();
    await running?.stop();
    running = undefined;
    const r = await run(['status']);
    expect(r.code).toBe(EXIT.RUNTIME);
    expect(r.stderr).toMatch(/^pscli: .*127\.0\.0\.1:\d+/);
    void ledger;
  });
});

describe.runIf(overDbgw())('pscli status with payserv cut off from dbgw (issue 15, item 9)', { timeout: 120_000 }, () => {
  it('says "dbgw unreachable" instead of an internal error, exit 3; and reads normally while dbgw is up', async () => {
    l = await testLedger();
    await l.checkpointAll();
    const gw = await startTestDbgw(l.stateDir);
    const data = await dbgwDataAt(l.stateDir, gw.server.port, urlOf(l.db));
    try {
      const config = await loadConfig('payserv', undefined, { stateDir: l.stateDir, env: {} });
      config.rpc.port = 0;
      running = await startPayserv(config, createLogger('payserv', 'silent'), data);
      writeFileSync(join(l.stateDir, 'pscli.toml'), `[payserv]\nport = ${running.server.port}\n`);
      const env: Env = { PAYSERV_STATE_DIR: l.stateDir };
      const up = JSON.parse((await runPscli(['--json', 'status'], env)).stdout) as { data: { reachable: boolean } };
      expect(up.data.reachable).toBe(true);
      const [w] = await processing(l);
      // Enabled, so that process gets as far as its data (disabled, it refuses before any read).
      expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
      await gw.stop();
      const down = await runPscli(['status'], env);
      expect(down.code).toBe(EXIT.RUNTIME);
      expect(down.stdout).toMatch(
        /^payouts ENABLED since .*\ndbgw unreachable: payserv cannot read PostgreSQL through dbgw at 127\.0\.0\.1:\d+ \(.*\)\n$/,
      );
      expect(down.stdout + down.stderr).not.toMatch(/internal error/);
      // Calls that need the data: a coded refusal, exit 3 (a retry may succeed), never "internal error".
      for (const argv of [
        ['process', String(w)],
        ['isprocessing', String(w)],
        ['transinfo', String(w)],
      ]) {
        const r = await runPscli(argv, env);
        expect(r, argv.join(' ')).toMatchObject({
          code: EXIT.RUNTIME,
          stderr: expect.stringMatching(
            /^pscli: payserv refused \S+: database_unavailable: the database \(PostgreSQL through dbgw at 127\.0\.0\.1:\d+\) is unreachable: nothing was done \(code -32011\)\n$/,
          ),
        });
      }
      // Stopping payouts never needs the data; starting them does: refused, exit 3, payouts stay off.
      const off = await runPscli(['disable'], env);
      expect([off.code, off.stdout]).toEqual([EXIT.OK, expect.stringMatching(/^payouts DISABLED since [^]*\ndbgw unreachable: /)]);
      const on = await runPscli(['enable'], env);
      expect(on).toMatchObject({
        code: EXIT.RUNTIME,
        stderr: expect.stringMatching(
          /^pscli: payserv refused Utils\.Enable: database_unavailable: the database \(PostgreSQL through dbgw at 127\.0\.0\.1:\d+\) is unreachable \(.*\): payouts stay disabled \(code -32011\)\n$/,
        ),
      });
      expect(running.ps.state.status().enabled).toBe(false);
    } finally {
      await running?.stop();
      running = undefined;
      await data.close();
    }
  });
});
