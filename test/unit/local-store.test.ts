import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalCheckpointStore, LocalStoreError } from '../../src/checkpoints/local-store.js';
import { tmpStateDir } from '../support/tmp.js';

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('LocalCheckpointStore', () => {
  it('round-trips user and coin checkpoints, canonically written', async () => {
    const dir = await tmpStateDir();
    const store = new LocalCheckpointStore(dir);
    expect(await store.getUser(7, 1)).toBeNull();
    expect(await store.getCoin(1)).toBeNull();
    const rec = { version: 2, credit_total: '1.50000000000000000000', nested: { a: [1, 2] } };
    await store.putUser(7, 1, rec);
    await store.putCoin(1, { version: 1 });
    expect(await store.getUser(7, 1)).toEqual(rec);
    expect(await store.getCoin(1)).toEqual({ version: 1 });
    const file = join(dir, 'checkpoints', 'user', '1', '7.json');
    expect(await readFile(file, 'utf8')).toBe(JSON.stringify(rec));
    await store.putUser(7, 1, { version: 3 });
    expect(await store.getUser(7, 1)).toEqual({ version: 3 });
  });

  it('creates files 0600 and directories 0700, leaving no temporary file', async () => {
    const dir = await tmpStateDir();
    const store = new LocalCheckpointStore(dir);
    for (let i = 1; i <= 5; i++) await store.putUser(i, 2, { i });
    const userDir = join(dir, 'checkpoints', 'user', '2');
    expect((await readdir(userDir)).sort()).toEqual(['1.json', '2.json', '3.json', '4.json', '5.json']);
    expect((await stat(join(userDir, '1.json'))).mode & 0o777).toBe(0o600);
    for (const d of [join(dir, 'checkpoints'), join(dir, 'checkpoints', 'user'), userDir]) {
      expect((await stat(d)).mode & 0o777).toBe(0o700);
    }
  });

  it("lists users and coins by streaming the tree, skipping a crashed write's temp file", async () => {
    const dir = await tmpStateDir();
    const store = new LocalCheckpointStore(dir);
    await store.putUser(1, 1, {});
    await store.putUser(2, 1, {});
    await store.putUser(1, 3, {});
    await store.putCoin(1, {});
    await store.putCoin(3, {});
    await writeFile(join(dir, 'checkpoints', 'user', '1', '.abc.tmp'), '{');
    const users = (await collect(store.listUsers())).sort((a, b) => a.coinId - b.coinId || a.userId - b.userId);
    expect(users).toEqual([
      { userId: 1, coinId: 1 },
      { userId: 2, coinId: 1 },
      { userId: 1, coinId: 3 },
    ]);
    expect((await collect(store.listCoins())).sort()).toEqual([1, 3]);
    expect(await collect(new LocalCheckpointStore(join(dir, 'empty')).listUsers())).toEqual([]);
  });

  it('names the file that is not valid JSON', async () => {
    const dir = await tmpStateDir();
    const store = new LocalCheckpointStore(dir);
    await store.putCoin(4, { ok: true });
    const file = join(dir, 'checkpoints', 'coin', '4.json');
    await writeFile(file, '{"ok": tru');
    await expect(store.getCoin(4)).rejects.toThrow(LocalStoreError);
    await expect(store.getCoin(4)).rejects.toThrow(file);
    await writeFile(file, '[1]');
    await expect(store.getCoin(4)).rejects.toThrow(`${file} does not hold a JSON object`);
  });

  it('names an entry whose name does not parse', async () => {
    const dir = await tmpStateDir();
    const store = new LocalCheckpointStore(dir);
    await store.putUser(1, 1, {});
    const bad = join(dir, 'checkpoints', 'user', '1', 'x7.json');
    await writeFile(bad, '{}');
    await expect(collect(store.listUsers())).rejects.toThrow(bad);
    const badCoin = join(dir, 'checkpoints', 'user', 'eth');
    await mkdir(badCoin);
    await writeFile(bad.replace('x7', '007'), '{}');
    await expect(collect(store.listUsers())).rejects.toThrow(LocalStoreError);
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 53])('refuses the bad id %s, naming it', async (id) => {
    const store = new LocalCheckpointStore(await tmpStateDir());
    await expect(store.getUser(id, 1)).rejects.toThrow(`bad user id ${id}`);
    await expect(store.putUser(1, id, {})).rejects.toThrow(`bad coin id ${id}`);
    await expect(store.getCoin(id)).rejects.toThrow(LocalStoreError);
  });
});
