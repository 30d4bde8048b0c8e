// Outside tester (postgres). README: "every advisory lock payserv takes ... has a 64-bit key computed in
// payserv" (HMAC with a secret), so nobody can hold one by name, and a lock held by another session is
// reported and alerted. The audit trail's append lock is a constant key (payserv:audit, 0x61756474 =
// "audt"): the attacker holds it from their own session. Every RPC call then waits on it.
import { writeFileSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { backend } from './support/backend.js';
import { ethRequests } from './support/miners.js';
import { killAllChildren, processLedger } from './support/spawn.js';

afterEach(killAllChildren);
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 43 };
const describePg = backend() === 'postgres' && process.env.PAYSERV_TEST_DATA !== 'dbgw' ? describe : describe.skip;

// Was a break (now held): with the attacker holding pg_advisory_lock(1635083380) every call's audit append waits for the
// statement timeout; the call is answered late, its audit row is never written (the trail silently
// loses the call; only an error log line "audit record failed: canceling statement due to statement
// timeout"), payouts stay enabled, no lock_held alert, Utils.ListLocks reports nothing. With the default
// 60 s statement timeout every call takes a minute (DoS) and none is audited.
describePg('the audit trail lock held by the database attacker', { timeout: 120_000 }, () => {
  it('is reported or alerted, and no call goes unaudited', async () => {
    const ids: number[] = [];
    const l = await processLedger(SEED, ethRequests(2, 2, 9800, ids));
    const file = l.config('payserv.toml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('statement_timeout_ms = 30000', 'statement_timeout_ms = 3000'));
    const ps = await l.start(file);
    const c = ps.client('pscli');
    await c.call('Utils.Enable');
    const sql = new pg.Client({ connectionString: l.databaseUrl, application_name: 'mallory' });
    await sql.connect();
    try {
      const auditRows = async () => Number((await sql.query('SELECT count(*)::int AS n FROM payserv_audit')).rows[0].n);
      const before = await auditRows();
      await sql.query('SELECT pg_advisory_lock(1635083380)');
      const t0 = Date.now();
      const r = await c.call<{ reply: string }>('PayServ.Approve', [ids[0]]);
      const took = Date.now() - t0;
      const locks = await c.call<unknown>('Utils.ListLocks').catch((e: Error) => e.message);
      const status = await c.call<Record<string, unknown>>('Utils.Status');
      const alerts = (await sql.query('SELECT kind, reason FROM payserv_alerts')).rows;
      const after = await auditRows();
      console.log(
        'approve',
        r.reply,
        'took',
        took,
        'ms; audit rows',
        before,
        '->',
        after,
        '; listlocks',
        JSON.stringify(locks),
        '; enabled',
        status.enabled,
        '; alerts',
        alerts,
        '; log',
        ps
          .logs()
          .filter((x) => /audit/.test(String(x.msg)))
          .map((x) => [x.level, x.msg, x.err]),
      );
      await sql.query('SELECT pg_advisory_unlock(1635083380)');
      // Safe: either the lock is reported/alerted, or every call was audited.
      const reported = alerts.length > 0 || JSON.stringify(locks).includes('1635083380') || /audt|audit/i.test(JSON.stringify(locks));
      expect(reported || after - before >= 2).toBe(true);
    } finally {
      await sql.end();
    }
  });
});
