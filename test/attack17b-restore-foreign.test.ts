// Outside attack on pscli restore (README "Backup and restore"): a complete, self-consistent backup made by
// ANOTHER installation (the attacker's own PKI, ledger and keys), put on the backup media in place of the
// real one. Restore checks the manifest's signature against "the root: --root, default the backup's".
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
  it("another installation's backup restored without --root installs the attacker's pinned root", async () => {
    const ours = await backupOf();
    const theirs = await backupOf();
    const ws = await pscliWorkspace(drop);
    const pscli = (argv: string[]) => runPscli(argv, { ...ws.env, PAYSERV_STATE_DIR: ws.stateDir });
    // With the operator's own root: refused (held).
    const withRoot = await pscli([
      'restore',
      '--from',
      theirs.path,
      '--payserv-state-dir',
      ws.stateDir,
      '--root',
      pkiPaths(ours.l.stateDir).root,
    ]);
    console.log('with --root:', withRoot.code, withRoot.stderr.trim());
    expect(withRoot.code).toBe(EXIT.PROBLEMS);
    // Without --root (the README's optional flag): the backup vouches for itself.
    const r = await pscli(['restore', '--from', theirs.path, '--payserv-state-dir', ws.stateDir]);
    console.log('without --root:', r.code, r.stdout.trim(), r.stderr.trim());
    const pinned = existsSync(join(ws.stateDir, 'pki', 'root.crt')) ? readFileSync(join(ws.stateDir, 'pki', 'root.crt'), 'utf8') : '';
    const foreignRootPinned = pinned === readFileSync(pkiPaths(theirs.l.stateDir).root, 'utf8');
    console.log('foreign root now pinned on the restored host:', foreignRootPinned);
    // Expected: a restore onto a fresh host demands the operator's own copy of the pinned root (or at least
    // refuses a backup whose root is not one the operator named).
    expect(r.code).not.toBe(EXIT.OK);
    expect(foreignRootPinned).toBe(false);
  });

  it('backup files keep the key files private; an audit row appended by a database attacker blocks every backup', async () => {
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
    console.log('group/other-readable in the backup:', loose);
    const keys = loose.filter((x) => /\.key |storage|database\.jsonl|payments\.jsonl/.test(x));
    // A database attacker appends one audit row (the trigger allows INSERT).
    await ours.l.db.query(
      `INSERT INTO payserv_audit (at, client, method, target, reply, duration_ms, prev_hash, hash) VALUES (now(), 'x', 'y', '', 'OK', 1, $1, $1)`,
      [Buffer.alloc(32, 7)],
    );
    const b = await runPscli(['backup'], { PAYSERV_STATE_DIR: ours.l.stateDir });
    console.log('backup after an appended audit row:', b.code, b.stdout.trim(), b.stderr.trim());
    const st = await runPscli(['status'], { PAYSERV_STATE_DIR: ours.l.stateDir });
    console.log('status:', st.code, st.stdout.trim().split('\n').slice(0, 3).join(' | '));
    expect(keys).toEqual([]);
    expect(b.code).toBe(EXIT.OK);
  });
});
