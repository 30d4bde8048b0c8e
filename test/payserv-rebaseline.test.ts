// The payserv host's local state lost with no backup: payserv refuses to enable (naming `pscli rebaseline`) and
// re-creates nothing from the database; one operator, or the same one twice, is not enough; a tampered ledger is
// refused with nothing written; T distinct operators get fresh local state, clean checks, and payouts back.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import { collectAuditProblems } from '../src/payserv/audit.js';
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
