// The payserv host's local state lost with no backup: payserv refuses to enable (naming `pscli rebaseline`) and
// re-creates nothing from the database; one operator, or the same one twice, is not enough; a tampered ledger is
// refused with nothing written; T distinct operators get fresh local state, clean checks, and payouts back. The write
// cut at each of its points, and a damaged anchor, end refused until rebaselined (below).
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import { collectAuditProblems } from '../src/payserv/audit.js';
import type { FaultPoint } from '../src/payserv/faults.js';
import { readAnchor } from '../src/state/local-anchor.js';
import { backend } from './support/db.js';
import { asAttacker, CREDITS } from './support/attacker.js';
import type { TestLedger } from './support/ledger.js';
import { localCheckpoints, lostHostForFile, withStatus } from './support/lost-host.js';

const lostHost = lostHostForFile(['alice', 'bob']);

const alertsOf = async (ledger: TestLedger, kind: string) =>
  ledger.db.query<{ reason: string; details: Record<string, unknown> }>(
    `SELECT reason, details FROM payserv_alerts WHERE kind = $1 ORDER BY id`,
    [kind],
  );

describe(`pscli rebaseline after the host's local state was lost (${backend()})`, { timeout: 120_000 }, () => {
  it('refuses to enable until two distinct operators confirmed; then fresh local state, clean checks, payouts resume, nothing paid twice', async () => {
    const { as, ledger, approved } = await lostHost();
    const enable = await as('alice', ['enable']);
    expect(enable.code).toBe(EXIT.PROBLEMS);
    expect(enable.stderr).toMatch(/rebaseline_required: the payserv host's local state is lost .*pscli rebaseline/);
    const [next] = await withStatus(ledger, 'processing');
    expect((await as('alice', ['process', String(next)])).stdout).toMatch(/^REPLY: \[ERROR\] disabled: .*pscli rebaseline/);
    // Nothing was re-created from the database meanwhile (the calls above were audited, in memory only).
    expect(localCheckpoints(ledger)).toBe(0);
    expect(existsSync(join(ledger.stateDir, 'audit', 'head.json'))).toBe(false);
    expect((await alertsOf(ledger, 'local_state_lost')).length).toBe(1);

    // The shared pscli identity counts for nobody; one operator is not enough, nor the same one twice.
    const shared = await as(null, ['rebaseline', '--reason', 'disk died']);
    expect(shared.code).toBe(EXIT.PROBLEMS);
    expect(shared.stderr).toMatch(/not_operator/);
    const one = await as('alice', ['rebaseline', '--reason', 'disk of payserv-1 died, no backup']);
    expect(one.code).toBe(EXIT.OK);
    expect(one.stdout).toMatch(/^REPLY: \[CONFIRMED\] ledger [0-9a-f]{64}: 1 of 2 confirmations \(alice/);
    const again = await as('alice', ['rebaseline', '--reason', 'really']);
    expect(again.stdout).toMatch(/1 of 2 confirmations/);
    expect(localCheckpoints(ledger)).toBe(0);
    expect((await as('alice', ['enable'])).code).toBe(EXIT.PROBLEMS);

    const two = await as('bob', ['rebaseline', '--reason', 'checked the ticket, same ledger']);
    expect(two.code).toBe(EXIT.OK);
    expect(two.stdout).toMatch(
      /^REPLY: \[REBASELINED\] fresh local state written .*confirmed by alice \(really\), bob \(checked the ticket/,
    );
    expect(localCheckpoints(ledger)).toBeGreaterThan(0);
    expect(existsSync(join(ledger.stateDir, 'audit', 'head.json'))).toBe(true);

    // The checks are clean against the fresh state, the audit trail too; payouts resume.
    expect(await ledger.check('balanceerrors')).toEqual([]);
    expect(await collectAuditProblems(ledger.db, ledger.stateDir)).toEqual([]);
    expect((await as('alice', ['enable'])).code).toBe(EXIT.OK);
    expect((await as('bob', ['process', String(next)])).stdout).toMatch(/^REPLY: \[PENDING\]/);
    expect((await as('bob', ['approve', String(next)])).stdout).toMatch(/^REPLY: \[APPROVED\]/);
    // The withdrawal approved before the loss is approved once: approving again changes nothing.
    expect((await as('bob', ['approve', String(approved)])).stdout).toMatch(/^REPLY: \[APPROVED\]/);
    expect(await withStatus(ledger, 'approved')).toEqual([approved, next as number].sort((a, b) => a - b));
    expect(await ledger.check('balanceerrors')).toEqual([]);

    // Logged and alerted: who confirmed, and why.
    const alerts = await alertsOf(ledger, 'rebaseline');
    expect(alerts.map((a) => a.reason)).toEqual([
      'rebaseline confirmed by alice (1 of 2): disk of payserv-1 died, no backup',
      expect.stringMatching(/^rebaseline done: fresh local state written from the verified ledger, confirmed by alice, bob$/),
    ]);
    expect(alerts[1]?.details).toMatchObject({
      confirmations: [
        { operator: 'alice', reason: 'really' },
        { operator: 'bob', reason: 'checked the ticket, same ledger' },
      ],
    });
    // A whole local state is never rebaselined again.
    expect((await as('alice', ['rebaseline', '--reason', 'again'])).stderr).toMatch(/rebaseline_not_needed/);
  });

  it('a forged credit makes every confirmation refuse, listing it; nothing is written and payouts stay off', async () => {
    const { as, ledger } = await lostHost();
    const [c] = await ledger.db.query<{ id: number }>(`SELECT id FROM ${CREDITS} ORDER BY id DESC LIMIT 1`);
    await asAttacker(ledger.db, [[`UPDATE ${CREDITS} SET amount = amount + 100 WHERE id = $1`, [c?.id]]]);
    for (const who of ['alice', 'bob']) {
      const r = await as(who, ['rebaseline', '--reason', 'disk died']);
      expect(r.code).toBe(EXIT.PROBLEMS);
      expect(r.stdout).toMatch(/^REPLY: \[ERROR\] rebaseline_refused: the ledger does not verify/);
      expect(r.stdout).toMatch(new RegExp(`${CREDITS} id=${c?.id}: .*\\[signature\\]`));
    }
    expect(localCheckpoints(ledger)).toBe(0);
    expect(existsSync(join(ledger.stateDir, 'audit', 'head.json'))).toBe(false);
    expect((await as('alice', ['enable'])).stderr).toMatch(/rebaseline_required/);
    expect((await alertsOf(ledger, 'rebaseline')).map((a) => a.reason)).toContain('rebaseline refused: the ledger does not verify');
  });

  it('only the audit head lost: a checkpoint the database dropped still counts against it (refused); the surviving checkpoints are kept', async () => {
    const { as, ledger } = await lostHost(undefined, ['audit']);
    expect((await as('alice', ['enable'])).stderr).toMatch(/rebaseline_required: .*audit trail's local head is missing/);
    const before = localCheckpoints(ledger);
    expect(before).toBeGreaterThan(0);
    const [cp] = await ledger.db.query<{ user_id: number; coin_id: number }>(
      `SELECT user_id, coin_id FROM finances_user_balance_checkpoints ORDER BY user_id, coin_id LIMIT 1`,
    );
    await asAttacker(ledger.db, [
      [`DELETE FROM finances_user_balance_checkpoints WHERE user_id = $1 AND coin_id = $2`, [cp?.user_id, cp?.coin_id]],
    ]);
    const refused = await as('alice', ['rebaseline', '--reason', 'audit disk died']);
    expect(refused.code).toBe(EXIT.PROBLEMS);
    expect(refused.stdout).toMatch(/\[checkpoint_local\]/);
    expect(existsSync(join(ledger.stateDir, 'audit', 'head.json'))).toBe(false);
    expect(localCheckpoints(ledger)).toBe(before);
  });
});

// `pscli rebaseline` cut in the middle of its staged write: payserv dies after the fresh state is staged, or after one
// lost tree of several was moved into place. After the restart the state directory is the old one (still refused) or
// the new one complete, never a mix the checks pass: a tree the rebaseline was installing and did not finish is
// recorded in the anchor, so the host is refused until rebaselined again. And a damaged anchor (STATE/local-state.json)
// is a lost state with its reason: payserv starts, refuses to pay, and only a rebaseline gives payouts back.
class Crash extends Error {}

const files = (dir: string): number => (existsSync(dir) ? readdirSync(dir, { recursive: true }).length : 0);
const tree = (ledger: TestLedger, name: string) => files(join(ledger.stateDir, 'checkpoints', name));

/** The whole state directory lost (its anchor too): both confirmations, the second killed at `point` (`step`: which tree). */
async function cutRebaseline(point: FaultPoint, step?: string) {
  const h = await lostHost(undefined, ['checkpoints', 'journal', 'audit', 'nonces', 'chains', 'local-state.json']);
  expect((await h.as('alice', ['rebaseline', '--reason', 'disk died'])).stdout).toMatch(/\[CONFIRMED\]/);
  h.payserv().ps.faults = {
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
async function refusedThenRebaselined(h: Awaited<ReturnType<typeof lostHost>>, why: RegExp) {
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
      // Nothing lost; the anchor damaged while payserv is down.
      const h = await lostHost(async (l) => writeFileSync(join(l.stateDir, 'local-state.json'), bytes), []);
      const users = tree(h.ledger, 'user');
      const enable = await h.as('alice', ['enable']);
      expect(enable.code).toBe(EXIT.PROBLEMS);
      expect(enable.stderr).toMatch(
        /rebaseline_required: .*local-state\.json (is damaged|is not a payserv local-state anchor).*cannot tell which parts/,
      );
      const [next] = await withStatus(h.ledger, 'processing');
      expect((await h.as('alice', ['process', String(next)])).stdout).toMatch(/^REPLY: \[ERROR\] disabled: .*pscli rebaseline/);
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
