import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.js';
import { listMigrations, migrate, MigrationError, migrationStatus, requireCurrentSchema } from '../src/db/migrate.js';
import { openPglite } from '../src/db/pglite.js';
import { openPostgres } from '../src/db/postgres.js';
import { backend, createPgDatabase, freshDb } from './support/db.js';

const open: Db[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});
async function fresh(): Promise<Db> {
  const db = await freshDb();
  open.push(db);
  return db;
}

/** A database with no schema at all, through the real adapter of this back end. */
async function empty(): Promise<Db> {
  if (backend() === 'pglite') {
    const db = await openPglite();
    open.push(db);
    return db;
  }
  const t = await createPgDatabase();
  const db = await openPostgres({ url: t.url, poolSize: 2, statementTimeoutMs: 30_000 });
  const close = db.close;
  open.push(
    Object.assign(db, {
      close: async () => {
        await close();
        await t.drop();
      },
    }),
  );
  return db;
}

describe(`migrations (${backend()})`, () => {
  it('applies every migration once, then nothing', async () => {
    const db = await empty();
    await expect(requireCurrentSchema(db)).rejects.toThrow(/not current.*pscli db migrate/);
    const all = listMigrations().map((m) => m.version);
    expect(await migrate(db)).toEqual(all);
    expect(await migrate(db)).toEqual([]);
    await requireCurrentSchema(db);
    const status = await migrationStatus(db);
    expect(status.map((s) => s.version)).toEqual(all);
    for (const s of status) {
      expect(s.applied).toBe(true);
      expect(s.appliedAt).toBeInstanceOf(Date);
    }
  });

  it('freshDb is migrated', async () => {
    const db = await fresh();
    expect(await migrate(db)).toEqual([]);
    expect((await migrationStatus(db)).every((s) => s.applied)).toBe(true);
  });

  it('refuses a migration whose applied checksum differs', async () => {
    const db = await fresh();
    await db.query("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1");
    await expect(migrate(db)).rejects.toThrow(MigrationError);
    await expect(migrate(db)).rejects.toThrow(/changed after it was applied/);
    await expect(migrationStatus(db)).rejects.toThrow(/changed after it was applied/);
  });

  it('refuses a database that has a migration this code does not know', async () => {
    const db = await fresh();
    await db.query("INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')");
    await expect(migrationStatus(db)).rejects.toThrow(/unknown to this payserv/);
  });
});

const NOW = '2025-01-01T00:00:00Z';

async function seedCoin(db: Db): Promise<number> {
  const [row] = await db.query<{ id: number }>(
    `INSERT INTO coins_coin (tag, name, active, network, decimals, confirmations, withdrawal_fee, min_withdrawal, fee_user_id, updated_at)
     VALUES ('ETH', 'Ether', true, 'mainnet', 18, 12, '0.001', '0.01', 1, $1) RETURNING id`,
    [NOW],
  );
  return row!.id;
}

describe(`append-only triggers (${backend()})`, () => {
  it('refuse UPDATE and DELETE on finances_user_balance_transaction', async () => {
    const db = await fresh();
    const coin = await seedCoin(db);
    await db.query(
      `INSERT INTO finances_user_balance_transaction (id, user_id, coin_id, prev_id, block_hash, type, amount, balance_before, created_at, sig_key_id, signature)
       VALUES (1, 5, $1, 0, 'h1', 'block', '1.5', '0', $2, 'k', '\\x00')`,
      [coin, NOW],
    );
    await expect(db.query("UPDATE finances_user_balance_transaction SET amount = '100' WHERE id = 1")).rejects.toThrow(
      /UPDATE on finances_user_balance_transaction is not allowed/,
    );
    await expect(db.query('DELETE FROM finances_user_balance_transaction WHERE id = 1')).rejects.toThrow(
      /DELETE on finances_user_balance_transaction is not allowed/,
    );
    const [row] = await db.query<{ amount: string }>('SELECT amount FROM finances_user_balance_transaction WHERE id = 1');
    expect(row?.amount).toBe('1.50000000000000000000');
  });

  it('allow only status fields, one step at a time, on finances_withdrawal_transaction', async () => {
    const db = await fresh();
    const coin = await seedCoin(db);
    await db.query(
      `INSERT INTO finances_withdrawal_transaction (id, user_id, coin_id, wallet_id, address, prev_id, amount, fee, debit_before, created_at, status, status_seq, comment, updated_at)
       VALUES (1, 5, $1, 1, '0xabc', 0, '2', '0.001', '0', $2, 'processing', 0, '', $2)`,
      [coin, NOW],
    );
    await db.query(
      "UPDATE finances_withdrawal_transaction SET status = 'sent', status_seq = 1, tx_hash = '0xdead', tx_fee = '0.0001', comment = 'ok', updated_at = now() WHERE id = 1",
    );
    await expect(db.query("UPDATE finances_withdrawal_transaction SET amount = '20', status_seq = 2 WHERE id = 1")).rejects.toThrow(
      /may change only its status fields/,
    );
    await expect(db.query("UPDATE finances_withdrawal_transaction SET address = '0xevil', status_seq = 2 WHERE id = 1")).rejects.toThrow(
      /may change only its status fields/,
    );
    await expect(db.query("UPDATE finances_withdrawal_transaction SET status = 'processed', status_seq = 5 WHERE id = 1")).rejects.toThrow(
      /status_seq must advance by one/,
    );
    await expect(db.query('DELETE FROM finances_withdrawal_transaction WHERE id = 1')).rejects.toThrow(
      /DELETE on finances_withdrawal_transaction is not allowed/,
    );
    const [row] = await db.query<{ status: string; status_seq: number; amount: string; address: string }>(
      'SELECT status, status_seq, amount, address FROM finances_withdrawal_transaction WHERE id = 1',
    );
    expect(row).toEqual({ status: 'sent', status_seq: 1, amount: '2.00000000000000000000', address: '0xabc' });
  });
});
