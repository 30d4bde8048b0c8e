// The local-state anchor (src/state/local-anchor.ts, README "Lost local state"): first start, the one-time migration of
// an older state directory, and what its absence or a recorded part missing means.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectLostState } from '../src/payserv/rebaseline.js';
import { readAnchor, writeAnchor } from '../src/state/local-anchor.js';
import { backend } from './support/db.js';
import { testLedger, type TestLedger } from './support/ledger.js';

let l: TestLedger | undefined;
afterEach(async () => {
  await l?.db.close();
  l = undefined;
});
const dropAnchor = (ledger: TestLedger) => rmSync(join(ledger.stateDir, 'local-state.json'));

describe(`local-state anchor (${backend()})`, { timeout: 60_000 }, () => {
  it('an empty ledger without an anchor is a first start: whole, anchored', async () => {
    l = await testLedger(null);
    dropAnchor(l);
    expect((await detectLostState(l.db, l.local)).reasons).toEqual([]);
    expect((await readAnchor(l.stateDir))?.origin).toBe('first_start');
  });

  it('an older state directory (no anchor) holding its checkpoints is anchored once (migration) with the parts it holds', async () => {
    l = await testLedger();
    await l.checkpointAll();
    dropAnchor(l);
    expect((await detectLostState(l.db, l.local)).reasons).toEqual([]);
    expect(await readAnchor(l.stateDir)).toMatchObject({ origin: 'migration', parts: ['user_checkpoints', 'coin_checkpoints'] });
  });

  it('no anchor and no checkpoints on a ledger with history (even one no payserv checkpointed): lost', async () => {
    l = await testLedger();
    dropAnchor(l);
    const lost = await detectLostState(l.db, l.local);
    expect(lost).toMatchObject({ userCheckpoints: true, coinCheckpoints: true });
    expect(lost.reasons.join()).toMatch(/no local-state anchor/);
    expect(await readAnchor(l.stateDir)).toBeNull();
  });

  it('a part the anchor records missing is lost, whatever the database holds; a damaged anchor is a loss, never "none"', async () => {
    l = await testLedger();
    await l.checkpointAll();
    expect((await readAnchor(l.stateDir))?.parts).toEqual(['user_checkpoints', 'coin_checkpoints']);
    await writeAnchor(l.stateDir, 'seed', ['audit_head']);
    const lost = await detectLostState(l.db, l.local);
    expect(lost).toMatchObject({ auditHead: true, checkpoints: false });
    expect(lost.reasons.join()).toMatch(/records audit_head as written/);
    rmSync(join(l.stateDir, 'checkpoints', 'coin'), { recursive: true });
    expect(await detectLostState(l.db, l.local)).toMatchObject({ coinCheckpoints: true, userCheckpoints: false });
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(l.stateDir, 'local-state.json'), '{"format":"x"}');
    // Damaged: lost (which parts it recorded is unknown), never "nothing lost"; the file is left for the operators.
    const damaged = await detectLostState(l.db, l.local);
    expect(damaged).toMatchObject({ coinCheckpoints: true, userCheckpoints: false });
    expect(damaged.reasons.join()).toMatch(/not a payserv local-state anchor .*cannot tell which parts/);
    await expect(readAnchor(l.stateDir)).rejects.toThrow(/not a payserv local-state anchor/);
  });
});
