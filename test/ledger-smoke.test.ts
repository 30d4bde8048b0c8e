import { afterEach, describe, expect, it } from 'vitest';
import { testLedger, type TestLedger } from './support/ledger.js';

describe('a seeded, checkpointed ledger', () => {
  let l: TestLedger | undefined;
  afterEach(async () => l?.db.close());

  it('is clean under every check, before and after checkpoints', async () => {
    l = await testLedger();
    expect(l.report?.credits).toBeGreaterThan(20);
    expect(l.report?.declined).toBeGreaterThan(0);
    expect(await l.check('balanceerrors')).toEqual([]);
    await l.checkpointAll();
    expect(await l.check('balanceerrors')).toEqual([]);
    const [{ n }] = (await l.db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM finances_user_balance_checkpoints')) as [
      { n: number },
    ];
    expect(n).toBeGreaterThan(10);
    // A second round (nothing new) is still clean: checkpoints only move forward over verified rows.
    await l.checkpointAll();
    expect(await l.check('balanceerrors')).toEqual([]);
  });
});
