// Outside attack on pscli restore (README "Backup and restore"): a complete, self-consistent backup made by
// ANOTHER installation (the attacker's own PKI, ledger and keys), put on the backup media in place of the
// real one. Regression (M1): restore requires --root, the operator's own copy of the pinned root, and never
// adopts the backup's. And (M2): an audit row appended by a database attacker makes a backup fail: the
// refusal fail-stops payouts (fail_stop alert) and `pscli status` reports the failed backup.
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT } from '../src/cli/exit.js';
import type { RunningPayserv } from '../src/app/service.js';
import type { TestDatabase } from './support/db.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { runPscli } from './support/pscli.js';
import { payservForPscli, pscliWorkspace } from './support/pscli-world.js';

const open: TestLedger[] = [];
const runs: RunningPayserv[] = [];
const drop: TestDatabase[] = [];
afterEach(async () => {
  for (const r of runs.splice(0)) await r.stop();
  for (const l of open.splice(0)) await l.db.close();
  for (const t of drop.splice(0)) await t.drop();
});

async function backupOf(): Promise<{ l: TestLedger; path: string }> {
  const l = await testLedger();
  open.push(l);
  await l.checkpointAll();
  const r = await payservForPscli(l);
  runs.push(r);
  const b = await runPscli(['--json', 'backup'], { PAYSERV_STATE_DIR: l.stateDir });
  expect(b.code, b.stderr).toBe(EXIT.OK);
  return { l, path: (JSON.parse(b.stdout) as { path: string }).path };
}

describe('attack17b: a foreign backup', { timeout: 120_000 }, () => {
  it("another installation's backup: refused with the operator's root, and without --root (nothing written)", async () => {
    const ours = await backupOf();
    const theirs = await backupOf();
    const ws = await pscliWorkspace(drop);
    const pscli = (argv: string[]) => runPscli(argv, { ...ws.env, PAYSERV_STATE_DIR: ws.stateDir });
    const pinned = () =>
      existsSync(join(ws.stateDir, 'pki', 'root.crt')) ? readFileSync(join(ws.stateDir, 'pki', 'root.crt'), 'utf8') : '';
    // With the operator's own root: the foreign signer does not chain to it.
    const withRoot = await pscli([
      'restore',
      '--from',
      theirs.path,
      '--payserv-state-dir',
      ws.stateDir,
      '--root',
      pkiPaths(ours.l.stateDir).root,
    ]);
    expect(withRoot.code).toBe(EXIT.PROBLEMS);
    expect(withRoot.stderr).toMatch(/backup refused \[backup_tampered\]: the manifest's signer/);
    // Without --root: refused before anything is read, naming the flag.
    const r = await pscli(['restore', '--from', theirs.path, '--payserv-state-dir', ws.stateDir]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/--root FILE is required/);
    expect(pinned()).toBe('');
    // Our own backup with our root: restored, our root pinned.
    const ok = await pscli(['restore', '--from', ours.path, '--payserv-state-dir', ws.stateDir, '--root', pkiPaths(ours.l.stateDir).root]);
    expect(ok.code, ok.stderr).toBe(EXIT.OK);
    expect(pinned()).toBe(readFileSync(pkiPaths(ours.l.stateDir).root, 'utf8'));
  });

  it('backup files keep the key files private; an audit row appended by a database attacker: backup refused, fail-stop, status says so', async () => {
    const ours = await backupOf();
    const loose: string[] = [];
    const walk = (d: string): void => {
      for (const n of readdirSync(d)) {
        const p = join(d, n);
        const st = statSync(p);
        if (st.isDirectory()) {
          if (st.mode & 0o077) loose.push(`${p} dir ${(st.mode & 0o777).toString(8)}`);
          walk(p);
        } else if (st.mode & 0o077) loose.push(`${p} ${(st.mode & 0o777).toString(8)}`);
      }
    };
    walk(ours.path);
    const keys = loose.filter((x) => /\.key |storage|database\.jsonl|payments\.jsonl/.test(x));
    expect(keys).toEqual([]);
    const env = { PAYSERV_STATE_DIR: ours.l.stateDir };
    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    const st0 = await runPscli(['status'], env);
    expect(st0.stdout).toMatch(/last backup: \S+ taken at /);
    // A database attacker appends one audit row (the trigger allows INSERT).
    await ours.l.db.query(
      `INSERT INTO payserv_audit (at, client, method, target, reply, duration_ms, prev_hash, hash) VALUES (now(), 'x', 'y', '', 'OK', 1, $1, $1)`,
      [Buffer.alloc(32, 7)],
    );
    const b = await runPscli(['backup'], env);
    expect(b.code).toBe(EXIT.PROBLEMS);
    expect(b.stderr).toMatch(/backup_failed.*not the local head.*audit_unrecorded.*fail-stopped/);
    // Payouts fail-stopped, the alert raised, and status names the failed backup.
    const st = await runPscli(['status'], env);
    expect(st.code).toBe(EXIT.PROBLEMS);
    expect(st.stdout).toMatch(/payouts DISABLED/);
    expect(st.stdout).toMatch(/reason: integrity failure: backup: the audit trail's newest row/);
    expect(st.stdout).toMatch(/last backup FAILED at \S+ \[backup_failed\]/);
    const json = JSON.parse((await runPscli(['--json', 'status'], env)).stdout) as { last_backup: { ok: boolean; code: string } };
    expect(json.last_backup).toMatchObject({ ok: false, code: 'backup_failed' });
    const alerts = await ours.l.db.query<{ kind: string; reason: string }>(`SELECT kind, reason FROM payserv_alerts ORDER BY id`);
    expect(alerts.some((a) => a.kind === 'fail_stop' && /backup: the audit trail/.test(a.reason))).toBe(true);
    // Nothing kept: no partial backup directory beside the good one.
    expect(readdirSync(join(ours.l.stateDir, 'backups')).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});
