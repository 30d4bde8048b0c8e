// [pools.miningcore] of the intake's configuration: the documented example loads as written, bad values are
// refused naming the key, and the store item that names MiningCore's database is checked like DB.JSON.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { checkItemValue, isKnownItem } from '../../src/esman/item-check.js';
import { MININGCORE_ITEM } from '../../src/esman/items.js';
import { tmpStateDir } from '../support/tmp.js';

async function load(text: string) {
  const dir = await tmpStateDir();
  const file = join(dir, 'intake.toml');
  await writeFile(file, text);
  return loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: dir } });
}

/** config/intake.toml's commented [pools.miningcore] example (or another table's), uncommented. */
function documentedExample(header = '[pools.miningcore]'): string {
  const text = readFileSync(new URL('../../config/intake.toml', import.meta.url), 'utf8');
  const from = text.indexOf(`# ${header}`);
  // To the end of its block: a bare "#" line starts the next example.
  const to = text.indexOf('\n#\n', from);
  return text
    .slice(from, to < 0 ? undefined : to)
    .split('\n')
    .filter((l) => /^# [a-z[]/.test(l))
    .map((l) => l.slice(2))
    .join('\n');
}

describe('[pools.miningcore]', () => {
  it('loads the documented example as written', async () => {
    // Its coin's [coins.ETH] reward check too: an adapter's coin without one is refused at start.
    const c = await load(`${documentedExample('[coins.ETH]')}\n${documentedExample()}`);
    expect(c.pools.miningcore).toEqual({
      database_url: 'postgres://payserv@mc-db.internal:5432/miningcore',
      pool_id: 'eth1',
      coin: 'ETH',
      interval_s: 60,
      fee_address: ['0x0000000000000000000000000000000000000002'],
      from_block_id: 0,
      minimum_payment: '1000000',
    });
  });

  it('is absent unless configured, and refuses bad values naming the key', async () => {
    expect((await load('')).pools.miningcore).toBeUndefined();
    const base = '[pools.miningcore]\npool_id = "eth1"\ncoin = "ETH"\n';
    for (const [extra, key] of [
      ['minimum_payment = 1000000', 'minimum_payment'],
      ['minimum_payment = "1"\nfrom_block_id = -1', 'from_block_id'],
      ['minimum_payment = "1"\ndatabase_url = "mysql://x"', 'database_url'],
      ['minimum_payment = "1"\nfee_address = "0x01"', 'fee_address'],
      ['minimum_payment = "1"\npoolid = "x"', 'poolid'],
    ] as const) {
      const e = await load(base + extra).then(
        () => expect.fail(`expected ${key} refused`),
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as Error).message).toContain(key);
    }
  });

  it(`takes MiningCore's database from the store item ${MININGCORE_ITEM}, checked like DB.JSON`, () => {
    expect(isKnownItem(MININGCORE_ITEM)).toBe(true);
    expect(() => checkItemValue(MININGCORE_ITEM, Buffer.from('{"url":"postgres://mc@db/miningcore"}'))).not.toThrow();
    expect(() => checkItemValue(MININGCORE_ITEM, Buffer.from('postgres://mc@db/miningcore'))).toThrow(MININGCORE_ITEM);
  });
});
