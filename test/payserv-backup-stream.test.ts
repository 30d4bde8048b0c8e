// The backup's database part streamed (README "Backup and restore"): a dump of many more rows than one
// page, taken through payserv's data access (in process or through dbgw), loads into an empty database
// row for row (amounts past a float's precision, bytea, timestamps, NULLs, JSONB, text keys); a cut short
// or changed database.jsonl is refused with nothing loaded.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadDump } from '../src/cli/pscli/backup.js';
import { BACKUP_KEYS, BACKUP_TABLES } from '../src/data/ops/backup.js';
import type { Db } from '../src/db/db.js';
import { dumpDatabase } from '../src/payserv/backup.js';
import { BackupError, DATABASE_FILE, sha256File } from '../src/state/backup.js';
import { freshDb } from './support/db.js';
import { payservData } from './support/dbgw.js';
import { testLedger } from './support/ledger.js';
import { tmpStateDir } from './support/tmp.js';

const open: Db[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});

/** Every table's rows as JSON text in key order: what two databases must agree on exactly. */
async function contents(db: Db): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const t of BACKUP_TABLES)
    out[t] = (
      await db.query<{ r: string }>(`SELECT to_jsonb(t)::text AS r FROM ${t} t ORDER BY ${BACKUP_KEYS[t].map(([c]) => c).join(', ')}`)
    ).map((x) => x.r);
  return out;
}

const rowCount = async (db: Db) => Object.values(await contents(db)).reduce((n, rs) => n + rs.length, 0);

describe('backup dump streamed by keyset pages', { timeout: 60_000 }, () => {
  it('pages every table on its primary key, column by column with its type', async () => {
    const db = await freshDb();
    open.push(db);
    for (const t of BACKUP_TABLES) {
      const pk = await db.query<{ col: string; type: string }>(
        `SELECT a.attname AS col, format_type(a.atttypid, NULL) AS type
           FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, n)
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
          WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.n`,
        [t],
      );
      expect(
        pk.map((c) => [c.col, c.type]),
        t,
      ).toEqual(BACKUP_KEYS[t]);
    }
  });

  it('a dump of many pages loads row for row; a cut or changed file is refused and loads nothing', async () => {
    const l = await testLedger({ users: 6, blocks: 3, withdrawals: 4, coins: ['ETH'], seed: 5 });
    open.push(l.db);
    const [eth] = await l.db.query<{ id: number }>(`SELECT id FROM coins_coin WHERE tag = 'ETH'`);
    // Values a float or a re-serialisation would change: 78-digit amounts, NULLs, mixed-case text keys, JSONB.
    await l.db.exec(`
      INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by, reserved_at, released_at, release_why)
        SELECT ${eth!.id}, lpad(to_hex(g), 64, '0'), g % 3, (10::numeric ^ 77 + g)::numeric(78,0), 'w' || g,
               '2026-01-02 03:04:05.678+00'::timestamptz + g * interval '1 second',
               CASE WHEN g % 2 = 0 THEN NULL ELSE now() END, CASE WHEN g % 2 = 0 THEN NULL ELSE 'r' END
        FROM generate_series(1, 53) g;
      INSERT INTO payserv_nonces (chain, address, next_nonce)
        SELECT 'evm:' || (g % 2), CASE WHEN g % 3 = 0 THEN '0xAb' ELSE '0xaB' END || g, 12345678901234567890 + g FROM generate_series(1, 17) g;
      INSERT INTO payserv_alerts (kind, reason, details)
        SELECT 'test_alert', 'r' || g, jsonb_build_object('n', g, 'big', 123456789012345678901234567890) FROM generate_series(1, 23) g;
    `);
    const before = await contents(l.db);
    for (const t of ['payserv_utxo_reservations', 'finances_user_balance_transaction', 'finances_withdrawal_signatures', 'payserv_nonces'])
      expect(before[t]!.length, t).toBeGreaterThan(0);
    const total = Object.values(before).reduce((n, rs) => n + rs.length, 0);

    const data = await payservData(l.db, l.stateDir);
    const dir = await tmpStateDir();
    // A row committed once the snapshot is taken (while the tables stream, as after the hold's release)
    // is not in the dump: on PGlite it waits for the dump's transaction, on PostgreSQL it commits at once.
    let late: Promise<unknown> | undefined;
    const dumped = await dumpDatabase(data, join(dir, DATABASE_FILE), {
      pageSize: 7,
      onSnapshot: () => {
        late = l.db.query(`INSERT INTO payserv_alerts (kind, reason) VALUES ('test_alert', 'late')`);
      },
    });
    await late;
    expect(dumped.tables.payserv_alerts).toBe(23);
    expect(dumped.tables.payserv_utxo_reservations).toBe(53);
    expect(Object.values(dumped.tables).reduce((a, b) => a + b, 0)).toBe(total);
    const file = await sha256File(join(dir, DATABASE_FILE));
    expect(file).toEqual({ sha256: dumped.sha256, bytes: dumped.bytes });
    // Exact in the file too: the amount as PostgreSQL wrote it, not as a float.
    expect(readFileSync(join(dir, DATABASE_FILE), 'utf8')).toContain(
      `"value": 100000000000000000000000000000000000000000000000000000000000000000000000000053`,
    );

    const target = await freshDb();
    open.push(target);
    expect(await target.transaction((tx) => loadDump(tx, dir, file, 5))).toBe(total);
    expect(await contents(target)).toEqual(before);
    // The identity sequences moved past the loaded ids.
    const [next] = await target.query<{ id: string }>(
      `INSERT INTO payserv_alerts (kind, reason) VALUES ('test_alert', 'x') RETURNING id::text`,
    );
    expect(BigInt(next!.id)).toBeGreaterThan(23n);

    // Refused, nothing loaded: a line cut short (the last), a digit changed (valid JSON, found by the hash).
    const empty = await freshDb();
    open.push(empty);
    const text = readFileSync(join(dir, DATABASE_FILE), 'utf8');
    const refusedWith = async (content: string) => {
      writeFileSync(join(dir, DATABASE_FILE), content);
      const e = await empty.transaction((tx) => loadDump(tx, dir, file, 5)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(BackupError);
      expect(await rowCount(empty)).toBe(0);
      return e as BackupError;
    };
    let e = await refusedWith(text.slice(0, text.length - 20));
    expect(e.code).toBe('backup_format');
    expect(e.message).toMatch(/line \d+: not a row/);
    const at = text.indexOf('"value": 1000') + '"value": 1000'.length;
    e = await refusedWith(`${text.slice(0, at)}9${text.slice(at + 1)}`);
    expect(e.code).toBe('backup_tampered');
    expect(e.message).toMatch(/changed while it was loaded/);
    e = await refusedWith(text.replace('"t":"payserv_nonces"', '"t":"payserv_secret"'));
    expect(e.code).toBe('backup_format');
  });
});
