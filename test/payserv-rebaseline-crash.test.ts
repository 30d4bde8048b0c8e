// `pscli rebaseline` cut in the middle of its staged write (src/payserv/rebaseline.ts; README "Lost local state"): payserv
// dies after the fresh state is staged, or after one lost tree of several was moved into place. After the restart the
// state directory is the old one (still refused) or the new one complete, never a mix the checks pass: a tree the
// rebaseline was installing and did not finish is recorded in the anchor, so the host is refused until rebaselined again.
// And a damaged anchor (STATE/local-state.json) is a lost state with its reason: payserv starts, refuses to pay, and
// only a rebaseline gives payouts back.
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunningPayserv } from '../src/app/service.js';
import { EXIT } from '../src/cli/exit.js';
import type { Env } from '../src/config/load.js';
import type { FaultPoint } from '../src/payserv/faults.js';
import { readAnchor } from '../src/state/local-anchor.js';
import { backend } from './support/db.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { runPscli, type Run } from './support/pscli.js';
import { payservForPscli } from './support/pscli-world.js';

let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
afterEach(async () => {
  await running?.stop();
  await l?.db.close();
  running = undefined;
  l = undefined;
});

type As = (operator: string | null, argv: string[]) => Promise<Run>;

class Crash extends Error {}

/** A payserv that worked (operators issued, one withdrawal approved), stopped, `lost` removed from its state directory, restarted. */
async function host(lost: string[]): Promise<{ as: As; ledger: TestLedger; restart: () => Promise<void> }> {
  const ledger = await testLedger();
  l = ledger;
  await ledger.checkpointAll();
  running = await payservForPscli(ledger);
  const as: As = (operator, argv) =>
    runPscli(argv, { PAYSERV_STATE_DIR: ledger.stateDir, ...(operator ? { PSCLI_OPERATOR: operator } : {}) } as Env);
  for (const name of ['alice', 'bob']) expect((await as(null, ['pki', 'issue', '--operator', name])).code).toBe(EXIT.OK);
  expect((await as('alice', ['enable'])).code).toBe(EXIT.OK);
  const [first] = await ledger.db.query<{ id: number }>(`SELECT id FROM finances_withdrawal_transaction WHERE status = 'processing'`);
  expect((await as('alice', ['process', String(first?.id)])).stdout).toMatch(/^REPLY: \[PENDING\]/);
  const restart = async () => {
    await running?.stop();
    running = await payservForPscli(ledger);
  };
  await running.stop();
  running = undefined;
  for (const p of lost) rmSync(join(ledger.stateDir, p), { recursive: true, force: true });
  running = await payservForPscli(ledger);
  return { as, ledger, restart };
}

const files = (dir: string): number => (existsSync(dir) ? readdirSync(dir, { recursive: true }).length : 0);
const tree = (ledger: TestLedger, name: string) => files(join(ledger.stateDir, 'checkpoints', name));

/** The whole state directory lost (its anchor too): both confirmations, the second killed at `point` (`step`: which tree). */
async function cutRebaseline(point: FaultPoint, step?: string) {
  const h = await host(['checkpoints', 'journal', 'audit', 'nonces', 'chains', 'local-state.json']);
  expect((await h.as('alice', ['rebaseline', '--reason', 'disk died'])).stdout).toMatch(/\[CONFIRMED\]/);
  (running as RunningPayserv).ps.faults = {
    at: async (p, info) => {
      if (p === point && (step === undefined || info.step === step)) throw new Crash(`killed at ${p} ${info.step ?? ''}`);
    },
  };
  const cut = await h.as('bob', ['rebaseline', '--reason', 'same ledger']);
  expect(cut.stdout).not.toMatch(/REBASELINED/);
  await h.restart();
  return h;
}

/** Refused at the restart with `why`; a full rebaseline then installs both trees, the checks are clean, payouts resume. */
async function refusedThenRebaselined(h: Awaited<ReturnType<typeof host>>, why: RegExp) {
  const enable = await h.as('alice', ['enable']);
  expect(enable.code).toBe(EXIT.PROBLEMS);
  expect(enable.stderr).toMatch(why);
  expect((await h.as('alice', ['rebaseline', '--reason', 'after the crash'])).stdout).toMatch(/\[CONFIRMED\]/);
  expect((await h.as('bob', ['rebaseline', '--reason', 'after the crash'])).stdout).toMatch(/\[REBASELINED\]/);
  expect(tree(h.ledger, 'user')).toBeGreaterThan(0);
  expect(tree(h.ledger, 'coin')).toBeGreaterThan(0);
  expect((await readAnchor(h.ledger.stateDir))?.parts).toEqual(
    expect.arrayContaining(['user_checkpoints', 'coin_checkpoints', 'audit_head']),
  );
  expect(await h.ledger.check('balanceerrors')).toEqual([]);
  expect((await h.as('alice', ['enable'])).code).toBe(EXIT.OK);
  // A restart finds the state whole: nothing asks for a rebaseline again.
  await h.restart();
  const again = await h.as('alice', ['enable']);
  expect(again.stderr).toBe('');
  expect(again.code).toBe(EXIT.OK);
}

describe(`pscli rebaseline cut mid-write (${backend()})`, { timeout: 180_000 }, () => {
  it('killed with the fresh state staged, nothing moved: the old (lost) state, still refused; rebaselined again', async () => {
    const h = await cutRebaseline('rebaseline.staged');
    expect(tree(h.ledger, 'user')).toBe(0);
    expect(tree(h.ledger, 'coin')).toBe(0);
    await refusedThenRebaselined(h, /rebaseline_required: .*no local-state anchor/);
  });

  it('killed with the user tree moved and the coin tree not: the anchor records the missing tree, refused; rebaselined again', async () => {
    const h = await cutRebaseline('rebaseline.moved', 'user');
    expect(tree(h.ledger, 'user')).toBeGreaterThan(0);
    expect(tree(h.ledger, 'coin')).toBe(0);
    await refusedThenRebaselined(h, /rebaseline_required: .*records coin_checkpoints(, wallet_memory)? as written/);
  });

  it('killed with every tree moved, before the audit head and the final anchor: refused (audit head); rebaselined again', async () => {
    const h = await cutRebaseline('rebaseline.moved', 'coin');
    expect(tree(h.ledger, 'coin')).toBeGreaterThan(0);
    expect(existsSync(join(h.ledger.stateDir, 'audit', 'head.json'))).toBe(false);
    await refusedThenRebaselined(h, /rebaseline_required: .*audit trail's local head is missing/);
  });
});

describe(`a damaged local-state anchor (${backend()})`, { timeout: 120_000 }, () => {
  for (const [what, bytes] of [
    ['torn JSON', '{"format":"payserv-local-state/1","parts":["user_'],
    ['another format', '{"format":"x"}'],
    ['JSON null', 'null'],
  ] as const)
    it(`${what}: payserv starts refusing to pay, naming the file; the surviving checkpoints are kept; a rebaseline gives payouts back`, async () => {
      const h = await host([]);
      const users = tree(h.ledger, 'user');
      await running?.stop();
      running = undefined;
      writeFileSync(join(h.ledger.stateDir, 'local-state.json'), bytes);
      running = await payservForPscli(h.ledger);
      const enable = await h.as('alice', ['enable']);
      expect(enable.code).toBe(EXIT.PROBLEMS);
      expect(enable.stderr).toMatch(
        /rebaseline_required: .*local-state\.json (is damaged|is not a payserv local-state anchor).*cannot tell which parts/,
      );
      const [next] = await h.ledger.db.query<{ id: number }>(`SELECT id FROM finances_withdrawal_transaction WHERE status = 'processing'`);
      expect((await h.as('alice', ['process', String(next?.id)])).stdout).toMatch(/^REPLY: \[ERROR\] disabled: .*pscli rebaseline/);
      // A restart does not read the damage as "nothing lost" either.
      await h.restart();
      expect((await h.as('alice', ['enable'])).stderr).toMatch(/rebaseline_required/);
      expect((await h.as('alice', ['rebaseline', '--reason', 'anchor torn by a disk error'])).stdout).toMatch(/\[CONFIRMED\]/);
      expect((await h.as('bob', ['rebaseline', '--reason', 'anchor torn by a disk error'])).stdout).toMatch(/\[REBASELINED\]/);
      expect(tree(h.ledger, 'user')).toBe(users);
      expect((await readAnchor(h.ledger.stateDir))?.parts).toEqual(expect.arrayContaining(['user_checkpoints', 'coin_checkpoints']));
      expect((await h.as('alice', ['enable'])).code).toBe(EXIT.OK);
    });
});
