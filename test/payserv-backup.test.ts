// Backup and restore (README "Backup and restore"): a backup taken by payserv while autopay pays on anvil,
// restored onto a fresh state directory and an empty database; the checks are clean, payserv started on
// the restored pair settles the payments in flight at the backup and pays the rest, each payee exactly
// once on the chain; a backup mixing two moments, or with a file changed, is refused and changes nothing.
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mine } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import { anvilForFile } from './support/chains.js';
import { runPscli } from './support/pscli.js';
import { pscliWorkspace } from './support/pscli-world.js';
import { until } from './support/spawn.js';
import {
  autopayRunClosedAfterEach,
  openRestored,
  paidOnChain,
  startAutopayHost,
  startAutopayPool,
  statuses,
  takeBackup,
  untilStatusCounts,
} from './support/autopay-host.js';
import { tmpStateDir } from './support/tmp.js';

const anvil = anvilForFile();
const MINERS = 12;
const h = autopayRunClosedAfterEach();

describe('backup and restore', { timeout: 180_000 }, () => {
  it('a backup taken while autopay pays restores onto a fresh host: checks clean, the rest paid, nobody paid twice', async () => {
    const { url } = await anvil();
    const { ledger, payees, running } = await startAutopayPool(h, url, { miners: MINERS, firstUser: 8001, seed: 17 });
    const live = running;
    const env = { PAYSERV_STATE_DIR: ledger.stateDir };

    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    // The first run broadcasts three (automine off: they wait in the mempool, `sending`).
    await untilStatusCounts(ledger.db, { sending: 3 });
    const earlyPath = await takeBackup(env);
    await mine(url, 12);
    // Runs go on every second: the three recorded sent, the next three broadcast and in flight.
    await untilStatusCounts(ledger.db, { sent: 3, sending: 3 });
    // The host is lost right after the backup: inside the hold, payouts stop, so nothing is paid after it.
    const hold = live.ps.hold!;
    const quiet = hold.quiet.bind(hold);
    hold.quiet = (w, h, fn) =>
      quiet(w, h, async (signal) => {
        const r = await fn(signal);
        live.ps.state.disable('test', 'the host is lost after the backup');
        return r;
      });
    const taken = await runPscli(['--json', 'backup'], env);
    expect(taken.code, taken.stderr).toBe(EXIT.OK);
    const backup = JSON.parse(taken.stdout) as { path: string; held_ms: number; audit_head: { id: number } };
    expect(backup.audit_head.id).toBeGreaterThan(0);
    expect(existsSync(join(backup.path, 'manifest.json'))).toBe(true);
    await running.stop();
    h.running = undefined;
    await mine(url, 12);
    // Paid before the host was lost: each once (a run in progress when the backup asked may have paid one more batch).
    const before = [...(await paidOnChain(url, payees)).values()];
    expect(before.every((n) => n <= 1)).toBe(true);
    const paidBefore = before.filter((n) => n === 1).length;
    expect(paidBefore).toBeGreaterThanOrEqual(6);
    expect(paidBefore).toBeLessThan(MINERS);

    // Refused, nothing changed: the database part of one moment with the local part of another; a file changed.
    const ws = await pscliWorkspace(h.drop);
    // Every restore names the operator's own copy of the pinned root (here: the lost host's).
    const root = pkiPaths(ledger.stateDir).root;
    const pscli = (argv: string[]) =>
      runPscli(argv[0] === 'restore' ? [...argv, '--root', root] : argv, { ...ws.env, PAYSERV_STATE_DIR: ws.stateDir });
    const mixed = join(await tmpStateDir(), 'mixed');
    cpSync(backup.path, mixed, { recursive: true });
    cpSync(join(earlyPath, 'database.jsonl'), join(mixed, 'database.jsonl'));
    const target = join(await tmpStateDir(), 'restored');
    // Without --root: refused before anything is read (a backup never vouches for itself).
    let r = await runPscli(['restore', '--from', backup.path, '--payserv-state-dir', target], {
      ...ws.env,
      PAYSERV_STATE_DIR: ws.stateDir,
    });
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/--root FILE is required/);
    r = await pscli(['restore', '--from', mixed, '--payserv-state-dir', target]);
    expect(r.code).toBe(EXIT.PROBLEMS);
    expect(r.stderr).toMatch(/backup refused \[backup_tampered\]: database\.jsonl differs from the manifest/);
    const tampered = join(await tmpStateDir(), 'tampered');
    cpSync(backup.path, tampered, { recursive: true });
    const journal = join(tampered, 'local', 'journal', 'payments.jsonl');
    const text = readFileSync(journal, 'utf8');
    const digit = /\d/.exec(text)!;
    writeFileSync(journal, text.slice(0, digit.index) + String((Number(digit[0]) + 1) % 10) + text.slice(digit.index + 1));
    r = await pscli(['restore', '--from', tampered, '--payserv-state-dir', target]);
    expect(r.code).toBe(EXIT.PROBLEMS);
    expect(r.stderr).toMatch(/backup refused \[backup_tampered\]: local\/journal\/payments\.jsonl differs/);
    const manifest = join(tampered, 'manifest.json');
    cpSync(join(backup.path, 'local', 'journal', 'payments.jsonl'), journal);
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/"payserv_version": "[^"]*"/, '"payserv_version": "9.9.9"'));
    r = await pscli(['restore', '--from', tampered, '--payserv-state-dir', target]);
    expect(r.stderr).toMatch(/backup refused \[backup_tampered\]: the manifest's signature does not verify/);
    // A partial backup (no manifest: a copy cut short), and one with a file added: refused.
    const partial = join(await tmpStateDir(), 'partial');
    cpSync(backup.path, partial, { recursive: true });
    rmSync(join(partial, 'manifest.json'));
    r = await pscli(['restore', '--from', partial, '--payserv-state-dir', target]);
    expect(r.code).toBe(EXIT.PROBLEMS);
    expect(r.stderr).toMatch(/backup refused \[backup_missing\]: the manifest .* is missing/);
    const added = join(await tmpStateDir(), 'added');
    cpSync(backup.path, added, { recursive: true });
    writeFileSync(join(added, 'local', 'checkpoints', 'extra.json'), '{}');
    r = await pscli(['restore', '--from', added, '--payserv-state-dir', target]);
    expect(r.stderr).toMatch(/backup refused \[backup_tampered\]: local\/checkpoints\/extra\.json is not in the manifest/);
    expect(existsSync(target)).toBe(false);

    // The real restore, into the workspace (its embedded database under pglite, a fresh one under postgres).
    r = await pscli(['restore', '--from', backup.path, '--payserv-state-dir', ws.stateDir]);
    expect(r.code, r.stderr).toBe(EXIT.OK);
    expect(r.stdout).toMatch(/^restored backup /);
    r = await pscli(['restore', '--from', backup.path, '--payserv-state-dir', ws.stateDir]);
    expect(r.code).toBe(EXIT.USAGE);
    expect(r.stderr).toMatch(/is not empty/);
    const checks = await pscli(['checkbalanceerrors', '--payserv-state-dir', ws.stateDir]);
    expect(checks.code, checks.stdout + checks.stderr).toBe(EXIT.OK);
    expect(checks.stdout).toBe('');
    const audit = await pscli(['audit', 'verify', '--payserv-state-dir', ws.stateDir]);
    expect(audit.code, audit.stdout + audit.stderr).toBe(EXIT.OK);

    // payserv on the restored pair: the three in flight settle from the chain, the last three are paid.
    const db = await openRestored(h, ws);
    // The backup holds every payment made before it: some sent, the rest in flight (sending), none missing.
    const inBackup = await statuses(db);
    expect(inBackup).toHaveLength(paidBefore);
    expect(inBackup.filter((x) => x === 'sent').length).toBeGreaterThanOrEqual(3);
    expect(inBackup.filter((x) => x === 'sending').length).toBeGreaterThanOrEqual(3);
    h.running = await startAutopayHost(ws.stateDir, db, url, ws.env.DATABASE_URL);
    expect((await runPscli(['enable'], { PAYSERV_STATE_DIR: ws.stateDir })).code).toBe(EXIT.OK);
    await until(
      'every miner paid',
      async () => {
        await mine(url, 12);
        const s = await statuses(db);
        return s.length === MINERS && s.every((x) => x === 'sent');
      },
      60_000,
      500,
    );
    const after = await paidOnChain(url, payees);
    expect([...after.values()]).toEqual(payees.map(() => 1));
    expect(readdirSync(join(ledger.stateDir, 'backups')).filter((n) => n.startsWith('.'))).toEqual([]);
  });
});
