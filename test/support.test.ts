// The test harness itself: freshDb must behave like the databases payserv really opens.
import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../src/db/db.js';
import { openPglite } from '../src/db/pglite.js';
import { backend, freshDb } from './support/db.js';

const open: Db[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
});

const TYPES_SQL = `SELECT 9007199254740991::bigint AS big, 1.25::numeric(50,20) AS num, '2025-01-02T03:04:05.678Z'::timestamptz AS ts,
  '\\x0102'::bytea AS bin, 7::integer AS int, 'x'::text AS txt, true AS bool, NULL::bigint AS nothing`;

describe(`freshDb (${backend()})`, () => {
  it('is the project back end, and returns the same JS types as openPglite', async () => {
    const db = await freshDb();
    open.push(db);
    expect(db.kind).toBe(backend());
    const reference = await openPglite();
    open.push(reference);
    const [a] = await db.query(TYPES_SQL);
    const [b] = await reference.query(TYPES_SQL);
    // BYTEA: pg returns a Buffer, PGlite a plain Uint8Array. Both are Uint8Arrays (the documented type),
    // but deep equality tells them apart, so compare the bytes.
    for (const row of [a, b]) {
      expect(row?.bin).toBeInstanceOf(Uint8Array);
      row!.bin = Uint8Array.from(row!.bin as Uint8Array);
    }
    expect(a).toEqual(b);
    expect(a).toEqual({
      big: 9007199254740991,
      num: '1.25000000000000000000',
      ts: new Date('2025-01-02T03:04:05.678Z'),
      bin: new Uint8Array([1, 2]),
      int: 7,
      txt: 'x',
      bool: true,
      nothing: null,
    });
    await expect(db.query('SELECT 9007199254740993::bigint AS big')).rejects.toThrow(/out of the exact range/);
  });

  it('gives each caller its own database', async () => {
    const [a, b] = await Promise.all([freshDb(), freshDb()]);
    open.push(a!, b!);
    await a!.query("INSERT INTO crypto_certs (key_id, role, cert_pem) VALUES (repeat('a', 64), 'r', 'p')");
    expect(await b!.query('SELECT * FROM crypto_certs')).toEqual([]);
  });

  it('commits a transaction that resolves and rolls back one that throws', async () => {
    const db = await freshDb();
    open.push(db);
    const insert = "INSERT INTO crypto_certs (key_id, role, cert_pem) VALUES (repeat($1, 64), 'r', 'p')";
    await db.transaction(async (tx) => void (await tx.query(insert, ['a'])));
    await expect(
      db.transaction(async (tx) => {
        await tx.query(insert, ['b']);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect((await db.query<{ role: string }>('SELECT key_id FROM crypto_certs')).length).toBe(1);
  });
});
