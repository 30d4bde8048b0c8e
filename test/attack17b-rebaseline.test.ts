// Outside attack on pscli rebaseline (README "Lost local state"): the T-operator gate and who counts; regression tests of
// C1/H1/H2 (the host's own anchor decides lost state, not the database) and L5 (a reason is one line of plain text).
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import { revokeOperator } from '../src/esman/pki-files.js';
import { backend } from './support/db.js';
import { asAttacker, COIN_CHECKPOINTS, STATUS_SIGNATURES, USER_CHECKPOINTS, WITHDRAWALS, type Edit } from './support/attacker.js';
import type { TestLedger } from './support/ledger.js';
import type { Run } from './support/pscli.js';
import { localCheckpoints, lostHostForFile, withStatus } from './support/lost-host.js';

const lostHost = lostHostForFile(['alice', 'bob', 'carol']);

/** As a database attacker: the approved withdrawal rolled back to pending (its last signed status entry deleted), then `more`. */
async function rollBackApproval(ledger: TestLedger, more: Edit[]): Promise<void> {
  const w = (
    await ledger.db.query<{ id: number; status_seq: number }>(
      `SELECT id, status_seq FROM ${WITHDRAWALS} WHERE status = 'approved' ORDER BY id LIMIT 1`,
    )
  )[0] as { id: number; status_seq: number };
  await asAttacker(ledger.db, [
    [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq = $2`, [w.id, w.status_seq]],
    [
      `UPDATE ${WITHDRAWALS} SET status = 'pending', status_seq = status_seq - 1,
            comment = (SELECT comment FROM ${STATUS_SIGNATURES} s WHERE s.withdrawal_id = $1 AND s.seq = $2 - 1) WHERE id = $1`,
      [w.id, w.status_seq],
    ],
    ...more,
  ]);
}

describe(`attack17b: rebaseline (${backend()})`, { timeout: 120_000 }, () => {
  it('a confirmation by an operator revoked afterwards must not count towards T', async () => {
    const { as, ledger } = await lostHost();
    expect((await as('alice', ['rebaseline', '--reason', 'disk died'])).stdout).toMatch(/1 of 2 confirmations/);
    await revokeOperator(ledger.stateDir, 'alice', {});
    // alice is now refused herself...
    const a2 = await as('alice', ['status']);
    expect(a2.stderr + a2.stdout).toMatch(/revoked/);
    // ...so bob alone must not complete the rebaseline with her old confirmation (outsider round 3: a reason payserv
    // accepts, so payserv is asked; a 2-character one was refused by pscli before).
    const b = await as('bob', ['rebaseline', '--reason', 'starting the count again']);
    expect(b.code, b.stderr).toBe(EXIT.OK);
    expect(b.stdout).toMatch(/1 of 2 confirmations/);
    expect(b.stdout).not.toMatch(/REBASELINED|alice/);
    expect(localCheckpoints(ledger)).toBe(0);
    // Another operator not revoked completes it with bob.
    const c = await as('carol', ['rebaseline', '--reason', 'confirmed with bob']);
    expect(c.stdout).toMatch(/^REPLY: \[REBASELINED\].*confirmed by bob.*carol/);
    expect(c.stdout).not.toMatch(/alice/);
    expect(localCheckpoints(ledger)).toBeGreaterThan(0);
  });

  it('a database attacker who empties the checkpoints and the audit trail while the local state (anchor included) is lost: still refused', async () => {
    const { as, ledger, approved } = await lostHost(
      // The attacker also rolls the approved withdrawal back to pending: its last signed status entry deleted.
      (ledger) =>
        rollBackApproval(ledger, [
          `DELETE FROM ${USER_CHECKPOINTS}`,
          `DELETE FROM ${COIN_CHECKPOINTS}`,
          `ALTER TABLE payserv_audit DISABLE TRIGGER USER`,
          `DELETE FROM payserv_audit`,
          `ALTER TABLE payserv_audit ENABLE TRIGGER USER`,
        ]),
      ['checkpoints', 'journal', 'audit', 'nonces', 'chains', 'local-state.json'],
    );
    const en = await as('alice', ['enable']);
    const again = await as('bob', ['approve', String(approved)]);
    // The database has ledger history and the host no anchor: lost, whatever the database says of checkpoints.
    expect({ code: en.code, out: en.stdout + en.stderr }).toMatchObject({ code: EXIT.PROBLEMS });
    expect(en.stderr).toMatch(/rebaseline_required/);
    expect(en.stderr).toMatch(/no local-state anchor/);
    expect(again.stdout).not.toMatch(/APPROVED|SENDING/);
    expect(await withStatus(ledger, 'approved')).not.toContain(approved);
    expect(localCheckpoints(ledger)).toBe(0);
    expect(existsSync(join(ledger.stateDir, 'local-state.json'))).toBe(false);
  });

  it('bad input: rebaseline without --reason, with an empty, a huge or a control-character reason', async () => {
    const { as, ledger } = await lostHost();
    const outs: Record<string, Run> = {};
    outs.none = await as('alice', ['rebaseline']);
    outs.empty = await as('alice', ['rebaseline', '--reason', '']);
    outs.blank = await as('alice', ['rebaseline', '--reason', '   ']);
    outs.ansi = await as('alice', ['rebaseline', '--reason', '\u001b[2J\u001b[31mfake\nREPLY: [REBASELINED] x']);
    outs.huge = await as('alice', ['rebaseline', '--reason', 'x'.repeat(2_000_000)]);
    outs.extra = await as('alice', ['rebaseline', '--reason', 'r', 'extra']);
    outs.unknownFlag = await as('alice', ['rebaseline', '--reason', 'r', '--yes']);
    for (const k of ['none', 'empty', 'blank', 'extra', 'unknownFlag', 'ansi', 'huge']) expect(outs[k]?.code, k).toBe(EXIT.USAGE);
    expect(outs.ansi?.stderr).toMatch(/--reason: one line of plain text/);
    // control characters: not a second, forged REPLY line in the operator's terminal or the alert
    expect(outs.ansi?.stdout ?? '').not.toMatch(/\nREPLY: \[REBASELINED\]/);
    const alerts = await ledger.db.query<{ reason: string }>(`SELECT reason FROM payserv_alerts WHERE kind = 'rebaseline'`);
    for (const a of alerts) expect(a.reason.includes('\u001b')).toBe(false);
    expect(localCheckpoints(ledger)).toBe(0);
  });

  it('only checkpoints/user lost (the coin checkpoints and the audit head survive): still refused until rebaselined', async () => {
    const { as, ledger } = await lostHost(undefined, ['checkpoints/user', 'checkpoints/wallet']);
    const coinFiles = readdirSync(join(ledger.stateDir, 'checkpoints', 'coin'));
    const en = await as('alice', ['enable']);
    expect(en.code).toBe(EXIT.PROBLEMS);
    expect(en.stderr).toMatch(/rebaseline_required.*user_checkpoints/s);
    const [next] = await withStatus(ledger, 'processing');
    expect((await as('alice', ['process', String(next)])).stdout).not.toMatch(/PENDING/);
    // The way out: a rebaseline that writes the lost user checkpoints and keeps the verified coin checkpoints.
    expect((await as('alice', ['rebaseline', '--reason', 'user checkpoints lost'])).stdout).toMatch(/1 of 2 confirmations/);
    expect((await as('bob', ['rebaseline', '--reason', 'checked the books'])).stdout).toMatch(/REBASELINED/);
    expect(localCheckpoints(ledger)).toBeGreaterThan(0);
    expect(readdirSync(join(ledger.stateDir, 'checkpoints', 'coin'))).toEqual(coinFiles);
    expect(await ledger.check('balanceerrors')).toEqual([]);
    expect((await as('alice', ['enable'])).code).toBe(EXIT.OK);
  });

  it("one account's local checkpoint file lost: caught", async () => {
    const { as, ledger } = await lostHost(undefined, []);
    const user = join(ledger.stateDir, 'checkpoints', 'user');
    const coin = readdirSync(user)[0] as string;
    const file = readdirSync(join(user, coin))[0] as string;
    rmSync(join(user, coin, file));
    const en = await as('alice', ['enable']);
    const checks = await ledger.check('balanceerrors');
    console.log('one checkpoint lost, enable:', en.code, en.stdout.trim(), en.stderr.trim(), 'checks:', checks);
    expect(en.code !== EXIT.OK || checks.length > 0).toBe(true);
  });

  it('only checkpoints/user lost and a database attacker deletes the user checkpoints and rolls an approval back: refused', async () => {
    const { as, ledger, approved } = await lostHost(
      (ledger) => rollBackApproval(ledger, [`DELETE FROM ${USER_CHECKPOINTS}`]),
      ['checkpoints/user', 'checkpoints/wallet'],
    );
    const en = await as('alice', ['enable']);
    const again = await as('bob', ['approve', String(approved)]);
    expect(en.code).toBe(EXIT.PROBLEMS);
    expect(en.stderr).toMatch(/rebaseline_required/);
    expect(again.stdout).not.toMatch(/APPROVED/);
    expect(await withStatus(ledger, 'approved')).not.toContain(approved);
    expect(localCheckpoints(ledger)).toBe(0);
  });
});
