// The audit trail: a hash chain of RPC calls whose head is also kept in the state directory. Every way
// a database attacker can touch the rows (change, delete, insert, reorder, roll back, append) is found
// and named on the right row; the pscli check is silent on a clean trail.
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import type { Env } from '../src/config/load.js';
import type { Db } from '../src/db/db.js';
import { openDatabase } from '../src/db/open.js';
import type { Problem } from '../src/ledger/problem.js';
import { createLogger } from '../src/log/index.js';
import {
  AuditError,
  auditHash,
  auditHeadPath,
  AuditTrail,
  collectAuditProblems,
  readAuditHead,
  verifyAudit,
  type AuditEntry,
  type AuditRow,
} from '../src/payserv/audit.js';
import { backend, freshDb, type TestDatabase } from './support/db.js';
import { tmpStateDir } from './support/tmp.js';
import { runPscli } from './support/pscli.js';
import { pscliWorkspace } from './support/pscli-world.js';

/** The appends' lock key payserv derives from its own key; any fixed key serves a test (the appends of one test share it). */
const TEST_AUDIT_KEY = '7311';

const open: Db[] = [];
const dropLater: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
  await Promise.all(dropLater.splice(0).map((t) => t.drop()));
});

async function fresh(): Promise<Db> {
  const db = await freshDb();
  open.push(db);
  return db;
}

const log = createLogger('test', 'silent');

function entry(i: number): AuditEntry {
  return {
    client: `backend CN=pool-admin-${i % 3}`,
    method: i % 2 ? 'PayServ.Process' : 'PayServ.SendCoin',
    target: i % 2 ? String(1000 + i) : 'ETH',
    reply: i % 4 ? 'PENDING' : 'SENT',
    durationMs: 10 + i,
    at: new Date(Date.UTC(2025, 0, 1, 0, 0, i, 123)),
  };
}

interface Setup {
  db: Db;
  stateDir: string;
  trail: AuditTrail;
}

async function setup(n: number): Promise<Setup> {
  const db = await fresh();
  const stateDir = await tmpStateDir();
  const trail = new AuditTrail({ db, stateDir, log, lockKey: TEST_AUDIT_KEY });
  for (let i = 1; i <= n; i++) await trail.record(entry(i));
  return { db, stateDir, trail };
}

interface DbRow {
  [k: string]: unknown;
  id: number;
  at: Date;
  client: string;
  method: string;
  target: string;
  reply: string;
  duration_ms: number;
  prev_hash: Uint8Array | null;
  hash: Uint8Array;
}

async function rows(db: Db): Promise<AuditRow[]> {
  const r = await db.query<DbRow>(
    'SELECT id, at, client, method, target, reply, duration_ms, prev_hash, hash FROM payserv_audit ORDER BY id',
  );
  return r.map((x) => ({
    id: x.id,
    at: x.at,
    client: x.client,
    method: x.method,
    target: x.target,
    reply: x.reply,
    durationMs: x.duration_ms,
    prevHash: x.prev_hash && new Uint8Array(x.prev_hash),
    hash: new Uint8Array(x.hash),
  }));
}

const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString('hex'));

/** Page size 2: every finding also crosses keyset page boundaries. */
const verify = (s: Pick<Setup, 'db' | 'stateDir'>, maxProblems?: number) =>
  collectAuditProblems(s.db, s.stateDir, { pageSize: 2, ...(maxProblems ? { maxProblems } : {}) });
const brief = (ps: Problem[]) => ps.map((p) => ({ row: p.row, code: p.code }));

/** As a database attacker: the append-only triggers are off while sql runs. */
async function attack(db: Db, sql: string, params: unknown[] = []): Promise<void> {
  await db.exec('ALTER TABLE payserv_audit DISABLE TRIGGER USER');
  await db.query(sql, params);
  await db.exec('ALTER TABLE payserv_audit ENABLE TRIGGER USER');
}

/** A row with a valid hash, linked to `prev`: what an attacker who knows the algorithm can forge. */
async function forge(db: Db, id: number, prev: Uint8Array | null, reply = 'APPROVED'): Promise<Uint8Array> {
  const r = {
    id,
    at: new Date(Date.UTC(2025, 5, 1)),
    client: 'backend CN=evil',
    method: 'PayServ.Approve',
    target: '42',
    reply,
    durationMs: 1,
    prevHash: prev,
  };
  const hash = auditHash(r);
  await attack(
    db,
    'INSERT INTO payserv_audit (id, at, client, method, target, reply, duration_ms, prev_hash, hash) VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7, $8, $9)',
    [id, r.at.toISOString(), r.client, r.method, r.target, r.reply, r.durationMs, prev && Buffer.from(prev), Buffer.from(hash)],
  );
  return hash;
}

describe(`audit trail (${backend()})`, () => {
  it('appends a chain that verifies clean, with the head in the state directory (0600 in a 0700 directory)', async () => {
    const s = await setup(5);
    const all = await rows(s.db);
    expect(all.map((r) => r.id)).toEqual([1, 2, 3, 4, 5]);
    expect(all[0]?.prevHash).toBeNull();
    for (let i = 1; i < all.length; i++) expect(hex(all[i]!.prevHash)).toBe(hex(all[i - 1]!.hash));
    for (const r of all) expect(hex(auditHash(r))).toBe(hex(r.hash));
    expect(all[2]).toMatchObject({
      client: 'backend CN=pool-admin-0',
      method: 'PayServ.Process',
      target: '1003',
      reply: 'PENDING',
      durationMs: 13,
      at: entry(3).at,
    });
    expect(await readAuditHead(s.stateDir)).toEqual({ id: 5, hash: hex(all[4]!.hash) });
    expect(JSON.parse(await readFile(auditHeadPath(s.stateDir), 'utf8'))).toEqual({ id: 5, hash: hex(all[4]!.hash) });
    expect((await stat(auditHeadPath(s.stateDir))).mode & 0o777).toBe(0o600);
    expect((await stat(join(s.stateDir, 'audit'))).mode & 0o777).toBe(0o700);
    expect(await verify(s)).toEqual([]);
  });

  it('is clean on a fresh state directory with an empty table (no head file yet)', async () => {
    const s = await setup(0);
    expect(await readAuditHead(s.stateDir)).toBeNull();
    expect(await verify(s)).toEqual([]);
  });

  it('serialises 30 concurrent record() calls into one clean chain of 30 rows', async () => {
    const s = await setup(0);
    await Promise.all(Array.from({ length: 30 }, (_, i) => s.trail.record(entry(i + 1))));
    const all = await rows(s.db);
    expect(all).toHaveLength(30);
    expect(await verify(s)).toEqual([]);
    expect((await readAuditHead(s.stateDir))?.id).toBe(all[29]?.id);
  });

  it('serialises two writers of one database (as two processes would be) through the advisory lock', async () => {
    const s = await setup(0);
    const other = new AuditTrail({ db: s.db, stateDir: await tmpStateDir(), log, lockKey: TEST_AUDIT_KEY });
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? s.trail : other).record(entry(i + 1))));
    expect(await rows(s.db)).toHaveLength(20);
    // The chain is whole; each state directory's head just does not cover the other writer's last rows.
    const chain = (await verify(s)).filter((p) => p.code !== 'audit_unrecorded');
    expect(chain).toEqual([]);
  });

  it('stores NUL as U+FFFD instead of failing the record, and verifies clean', async () => {
    const s = await setup(0);
    await s.trail.record({ client: 'pscli CN=op', method: 'Utils.Status', reply: 'ERROR: bad\0byte', durationMs: 1.6 });
    const [r] = await rows(s.db);
    expect(r).toMatchObject({ reply: 'ERROR: bad\uFFFDbyte', target: '', durationMs: 2 });
    expect(await verify(s)).toEqual([]);
  });

  it("keeps a refusal's code in its row, hashed with it: rows without one still verify, a code changed or removed breaks its row", async () => {
    const s = await setup(2);
    await s.trail.record({ ...entry(3), reply: 'ERROR', code: 'wrong_status' });
    await s.trail.record({ ...entry(4), reply: 'ERROR -32602', code: 'bad_params' });
    await s.trail.record(entry(5));
    const coded = await s.db.query<{ id: number; code: string | null }>('SELECT id, code FROM payserv_audit ORDER BY id');
    expect(coded).toEqual([
      { id: 1, code: null },
      { id: 2, code: null },
      { id: 3, code: 'wrong_status' },
      { id: 4, code: 'bad_params' },
      { id: 5, code: null },
    ]);
    expect(await verify(s)).toEqual([]);
    // Not a code: refused, nothing recorded.
    await expect(s.trail.record({ ...entry(6), reply: 'ERROR', code: 'Wrong Status' })).rejects.toThrow(
      /audit record: bad code "Wrong Status"/,
    );
    expect(await rows(s.db)).toHaveLength(5);
    await attack(s.db, "UPDATE payserv_audit SET code = 'busy' WHERE id = 3");
    await attack(s.db, 'UPDATE payserv_audit SET code = NULL WHERE id = 4');
    await attack(s.db, "UPDATE payserv_audit SET code = 'forbidden' WHERE id = 5");
    expect(brief(await verify(s))).toEqual([
      { row: 'id=3', code: 'audit_changed' },
      { row: 'id=4', code: 'audit_changed' },
      { row: 'id=5', code: 'audit_changed' },
    ]);
  });

  it('hashes an unambiguous encoding', () => {
    const base = { id: 1, at: new Date(0), client: 'ab', method: 'c', target: '', reply: 'x', durationMs: 0, prevHash: null };
    const h = (r: Omit<AuditRow, 'hash'>) => hex(auditHash(r));
    expect(h({ ...base, client: 'a', method: 'bc' })).not.toBe(h(base));
    expect(h({ ...base, prevHash: new Uint8Array(0) })).not.toBe(h(base));
    expect(h({ ...base, id: 2 })).not.toBe(h(base));
    expect(h({ ...base, at: new Date(1) })).not.toBe(h(base));
  });

  describe('finds tampering on the right row', () => {
    it("a changed reply: that row's hash no longer matches", async () => {
      const s = await setup(5);
      await attack(s.db, "UPDATE payserv_audit SET reply = 'SENT' WHERE id = 3");
      const ps = await verify(s);
      expect(brief(ps)).toEqual([{ row: 'id=3', code: 'audit_changed' }]);
      expect(ps[0]?.detail).toMatch(/does not match the row's contents/);
    });

    it('a changed row whose hash was recomputed: the next row no longer links to it', async () => {
      const s = await setup(5);
      const all = await rows(s.db);
      const r3 = { ...all[2]!, reply: 'SENT' };
      await attack(s.db, 'UPDATE payserv_audit SET reply = $1, hash = $2 WHERE id = 3', [r3.reply, Buffer.from(auditHash(r3))]);
      expect(brief(await verify(s))).toEqual([{ row: 'id=4', code: 'audit_link' }]);
    });

    it('a deleted middle row: the row after the gap is named', async () => {
      const s = await setup(5);
      await attack(s.db, 'DELETE FROM payserv_audit WHERE id = 3');
      const ps = await verify(s);
      expect(brief(ps)).toEqual([{ row: 'id=4', code: 'audit_link' }]);
      expect(ps[0]?.detail).toMatch(/previous row id=2: rows between them were deleted/);
    });

    it('a deleted first row', async () => {
      const s = await setup(5);
      await attack(s.db, 'DELETE FROM payserv_audit WHERE id = 1');
      expect(brief(await verify(s))).toEqual([{ row: 'id=2', code: 'audit_link' }]);
    });

    it('a deleted last row: the chain is whole, and the local head catches it', async () => {
      const s = await setup(5);
      await attack(s.db, 'DELETE FROM payserv_audit WHERE id = 5');
      const ps = await verify(s);
      expect(brief(ps)).toEqual([{ row: 'id=5', code: 'audit_head_missing' }]);
      expect(ps[0]?.detail).toContain(auditHeadPath(s.stateDir));
      expect(ps[0]?.detail).toMatch(/rolled back or truncated/);
    });

    it('an inserted row, even with a valid hash linked to its predecessor', async () => {
      const s = await setup(2);
      await s.db.query("SELECT nextval(pg_get_serial_sequence('payserv_audit', 'id'))"); // a gap at id 3, as a failed append leaves
      await s.trail.record(entry(4));
      await s.trail.record(entry(5));
      expect((await rows(s.db)).map((r) => r.id)).toEqual([1, 2, 4, 5]);
      expect(await verify(s)).toEqual([]);
      await forge(s.db, 3, (await rows(s.db))[1]!.hash);
      const ps = await verify(s);
      expect(brief(ps)).toEqual([{ row: 'id=3', code: 'audit_inserted' }]);
      expect(ps[0]?.detail).toMatch(/next row id=4 links past it to id=2/);
    });

    it('an inserted row with a made-up hash', async () => {
      const s = await setup(2);
      await s.db.query("SELECT nextval(pg_get_serial_sequence('payserv_audit', 'id'))");
      await s.trail.record(entry(4));
      await attack(
        s.db,
        "INSERT INTO payserv_audit (id, at, client, method, target, reply, duration_ms, prev_hash, hash) VALUES (3, now(), 'x', 'y', '', 'SENT', 0, NULL, $1)",
        [Buffer.alloc(32, 7)],
      );
      expect(brief(await verify(s))).toEqual([{ row: 'id=3', code: 'audit_changed' }]);
    });

    it("reordered rows (two rows' contents swapped): both are named, nothing else", async () => {
      const s = await setup(5);
      await attack(
        s.db,
        `UPDATE payserv_audit a SET at = b.at, client = b.client, method = b.method, target = b.target, reply = b.reply,
        duration_ms = b.duration_ms, prev_hash = b.prev_hash, hash = b.hash
        FROM payserv_audit b WHERE (a.id, b.id) IN ((2, 3), (3, 2))`,
      );
      const ps = await verify(s);
      expect(brief(ps)).toEqual([
        { row: 'id=2', code: 'audit_changed' },
        { row: 'id=3', code: 'audit_changed' },
      ]);
    });

    it('a trail rolled back to a shorter prefix; and record() then refuses to bury it', async () => {
      const s = await setup(6);
      await attack(s.db, 'DELETE FROM payserv_audit WHERE id > 3');
      expect(brief(await verify(s))).toEqual([{ row: 'id=6', code: 'audit_head_missing' }]);
      await expect(s.trail.record(entry(7))).rejects.toThrow(/row id=6 named by the local head is gone.*refusing to append/);
      // Another process (its own view of the head, from the file) refuses too; nothing was appended.
      await expect(new AuditTrail({ db: s.db, stateDir: s.stateDir, log, lockKey: TEST_AUDIT_KEY }).record(entry(7))).rejects.toThrow(
        AuditError,
      );
      expect(await rows(s.db)).toHaveLength(3);
    });

    it('a rolled-back trail continued with forged rows: the head row differs', async () => {
      const s = await setup(4);
      await attack(s.db, 'DELETE FROM payserv_audit WHERE id > 2');
      let prev = (await rows(s.db))[1]!.hash;
      for (const id of [3, 4, 5]) prev = await forge(s.db, id, prev);
      expect(brief(await verify(s))).toEqual([
        { row: 'id=4', code: 'audit_head_mismatch' },
        { row: 'id=5', code: 'audit_unrecorded' },
      ]);
      await expect(s.trail.record(entry(9))).rejects.toThrow(/another hash \(rewritten\)/);
    });

    it('a row appended by someone else after the head is reported; our next append covers it', async () => {
      const s = await setup(3);
      await new AuditTrail({ db: s.db, stateDir: await tmpStateDir(), log, lockKey: TEST_AUDIT_KEY }).record(entry(4));
      const ps = await verify(s);
      expect(ps).toEqual([
        {
          table: 'payserv_audit',
          row: 'id=4',
          code: 'audit_unrecorded',
          detail: 'not recorded in the local head (written by another process or after a crash)',
        },
      ]);
      await s.trail.record(entry(5));
      expect(await verify(s)).toEqual([]);
    });

    it('rows without any local head are reported (a state directory that is not fresh, or a foreign one)', async () => {
      const s = await setup(3);
      const elsewhere = await tmpStateDir();
      const ps = await verify({ db: s.db, stateDir: elsewhere });
      expect(brief(ps)).toEqual([
        { row: 'head', code: 'audit_no_head' },
        { row: 'id=1', code: 'audit_unrecorded' },
        { row: 'id=2', code: 'audit_unrecorded' },
        { row: 'id=3', code: 'audit_unrecorded' },
      ]);
      expect(ps[0]?.detail).toContain(auditHeadPath(elsewhere));
    });

    it('a head that points into an emptied table', async () => {
      const s = await setup(2);
      await attack(s.db, 'DELETE FROM payserv_audit');
      expect(brief(await verify(s))).toEqual([{ row: 'id=2', code: 'audit_head_missing' }]);
    });

    it('stops listing after maxProblems, says how many more, and still checks the head', async () => {
      const s = await setup(10);
      await attack(s.db, "UPDATE payserv_audit SET reply = 'X'");
      await attack(s.db, 'DELETE FROM payserv_audit WHERE id = 10');
      const ps = await verify(s, 3);
      expect(brief(ps)).toEqual([
        { row: 'id=1', code: 'audit_changed' },
        { row: 'id=2', code: 'audit_changed' },
        { row: 'id=3', code: 'audit_changed' },
        { row: 'id=10', code: 'audit_head_missing' },
        { row: 'more', code: 'audit_unlisted' },
      ]);
      expect(ps[4]?.detail).toMatch(/^6 further findings not listed/);
    });

    it('accepts rows a live payserv appends (and covers with its head) while the check runs', async () => {
      const s = await setup(4);
      await attack(s.db, "UPDATE payserv_audit SET reply = 'X' WHERE id = 1"); // a finding, so the generator yields early
      await new AuditTrail({ db: s.db, stateDir: await tmpStateDir(), log, lockKey: TEST_AUDIT_KEY }).record(entry(5)); // not covered by our head when the check starts
      const seen: Problem[] = [];
      for await (const p of verifyAudit(s.db, s.stateDir, { pageSize: 2 })) {
        seen.push(p);
        if (seen.length === 1) await s.trail.record(entry(6)); // the head moves to 6, covering 5
      }
      expect(brief(seen)).toEqual([{ row: 'id=1', code: 'audit_changed' }]);
    });
  });

  it('names a damaged head file, in verify and in record()', async () => {
    const s = await setup(2);
    const path = auditHeadPath(s.stateDir);
    await writeFile(path, '{"id": 2, "hash": "ab');
    await expect(verify(s)).rejects.toThrow(AuditError);
    await expect(verify(s)).rejects.toThrow(`${path} is not valid JSON`);
    await expect(new AuditTrail({ db: s.db, stateDir: s.stateDir, log, lockKey: TEST_AUDIT_KEY }).record(entry(3))).rejects.toThrow(path);
    await writeFile(path, '{"id": "2", "hash": "00"}');
    await expect(verify(s)).rejects.toThrow(`${path} does not hold { id: positive integer, hash: 64 hex digits }`);
    await writeFile(path, 'null');
    await expect(verify(s)).rejects.toThrow(path);
  });
});

// pscli against a temp state dir: the embedded database under pglite, a fresh PG database under postgres.

const run = runPscli;

async function withWorkspaceDb<T>(w: { stateDir: string; env: Env }, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDatabase({ url: w.env.DATABASE_URL }, w.stateDir);
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

describe(`pscli audit verify (${backend()})`, { timeout: 180_000 }, () => {
  it('is silent and exits 0 on a clean trail; names the tampered row and exits 1; --json lists it; a damaged head is an error naming the file', async () => {
    const w = await pscliWorkspace(dropLater);
    const { stateDir, env } = w;
    expect((await run(['db', 'migrate'], env)).code).toBe(EXIT.OK);
    expect(await run(['audit', 'verify'], env)).toEqual({ code: EXIT.OK, stdout: '', stderr: '' });
    await withWorkspaceDb(w, async (db) => {
      const trail = new AuditTrail({ db, stateDir, log, lockKey: TEST_AUDIT_KEY });
      for (let i = 1; i <= 4; i++) await trail.record(entry(i));
    });
    expect(await run(['audit', 'verify'], env)).toEqual({ code: EXIT.OK, stdout: '', stderr: '' });
    const clean = JSON.parse((await run(['--json', 'audit', 'verify'], env)).stdout) as { clean: boolean; problems: unknown[] };
    expect(clean).toEqual({ check: 'audit', clean: true, problems: [] });

    await withWorkspaceDb(w, (db) => attack(db, "UPDATE payserv_audit SET reply = 'SENT' WHERE id = 2"));
    const r = await run(['audit', 'verify'], env);
    expect(r.code).toBe(EXIT.PROBLEMS);
    expect(r.stdout).toBe("payserv_audit id=2: hash does not match the row's contents: the row was changed or forged [audit_changed]\n");
    const j = await run(['--json', 'audit', 'verify'], env);
    expect(j.code).toBe(EXIT.PROBLEMS);
    expect(JSON.parse(j.stdout)).toEqual({
      check: 'audit',
      clean: false,
      problems: [expect.objectContaining({ table: 'payserv_audit', row: 'id=2', code: 'audit_changed' })],
    });

    // A production host: pscli's state directory is not payserv's and has no head. Not a finding but the
    // wrong directory: exit 2, naming the option; with it, the head is read from payserv's directory (issue 15).
    const payservDir = await tmpStateDir();
    await rename(join(stateDir, 'audit'), join(payservDir, 'audit'));
    const wrong = await run(['audit', 'verify'], env);
    expect(wrong).toMatchObject({ code: EXIT.USAGE, stdout: '' });
    expect(wrong.stderr).toContain(
      `pscli: no audit head at ${auditHeadPath(stateDir)}, and the trail has rows: payserv keeps its head in its own state directory, not pscli's: give it with --payserv-state-dir DIR`,
    );
    const there = await run(['audit', 'verify', '--payserv-state-dir', payservDir], env);
    expect([there.code, there.stdout]).toEqual([EXIT.PROBLEMS, r.stdout]);
    const missing = await run(['audit', 'verify', '--payserv-state-dir', join(payservDir, 'nope')], env);
    expect(missing.code).toBe(EXIT.USAGE);
    expect(missing.stderr).toMatch(/^pscli: --payserv-state-dir: ".*nope" is not a directory/);
    expect((await run(['audit', 'verify', '--payserv-state-dir', stateDir], env)).code).toBe(EXIT.USAGE);
    await rename(join(payservDir, 'audit'), join(stateDir, 'audit'));

    await writeFile(auditHeadPath(stateDir), 'garbage');
    const bad = await run(['audit', 'verify'], env);
    expect(bad.code).toBe(EXIT.PROBLEMS);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toContain(`pscli: audit trail: local head: ${auditHeadPath(stateDir)} is not valid JSON`);
  });
});
