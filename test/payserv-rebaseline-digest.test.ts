// Regression (issue 17, outsider round 3, medium): pscli rebaseline's digest covered the checkpoints only. It now
// covers every signed row of the ledger (credits, each withdrawal's status chain and status, wallets) and the
// checkpoints, digested before and after the verification walk. The attack as it was found:
//
// Promise broken (README "Lost local state: pscli rebaseline"): "the operator's confirmation counts for that digest
// only: a ledger that changed between two confirmations starts the count again", and the T operators are "the check"
// against a rolled-back database (each compares the ledger with the pool's books before confirming).
//
// Steps: the host's local state is lost; alice verifies the ledger against the pool's books and confirms (1 of 2).
// A database attacker then cuts the part of the ledger no checkpoint covers yet: another miner's newest withdrawal
// request (rows and signed statuses) is deleted (the account's signed chain stays whole, only shorter). bob
// confirms: the ledger verifies, the digest (checkpoints only) is unchanged, so alice's confirmation still counts and
// payserv rebaselines "confirmed by alice, bob" a ledger alice never saw. From now on the rolled-back tail is the
// ledger the fresh local state vouches for (the next checkpoints cement it).
//
// Fixed as the first suggestion (without the audit head: each call appends to the trail). Suggested: bind a confirmation to the whole verified ledger, not only its checkpoints: hash, as the verification streams
// them, every account's newest signed entry (credits, withdrawals with their status_seq and status signature, pool
// income, payment transactions) and the audit trail's last row, so any change between two confirmations restarts
// the count; or re-verify at the write and refuse when anything after the checkpoints differs from what was confirmed.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import type { Env } from '../src/config/load.js';
import type { RunningPayserv } from '../src/app/service.js';
import { backend } from './support/db.js';
import { asAttacker, STATUS_SIGNATURES, USER_CHECKPOINTS, WITHDRAWALS } from './support/attacker.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { runPscli } from './support/pscli.js';
import { payservForPscli } from './support/pscli-world.js';

let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
afterEach(async () => {
  await running?.stop();
  await l?.db.close();
  running = undefined;
  l = undefined;
});

const withStatus = async (ledger: TestLedger, status: string): Promise<number[]> =>
  (await ledger.db.query<{ id: number }>(`SELECT id FROM ${WITHDRAWALS} WHERE status = $1 ORDER BY id`, [status])).map((r) => r.id);

describe(`rebaseline digest covers the ledger's tail (${backend()})`, { timeout: 120_000 }, () => {
  it("a miner's withdrawal deleted between two confirmations: the count starts again, nothing written", async () => {
    l = await testLedger();
    running = await payservForPscli(l);
    const dir = l.stateDir;
    const as = (operator: string | null, argv: string[]) =>
      runPscli(argv, { PAYSERV_STATE_DIR: dir, ...(operator ? { PSCLI_OPERATOR: operator } : {}) } as Env);
    for (const name of ['alice', 'bob']) expect((await as(null, ['pki', 'issue', '--operator', name])).code).toBe(EXIT.OK);
    expect((await as('alice', ['enable'])).code).toBe(EXIT.OK);
    const [id] = await withStatus(l, 'processing');
    expect((await as('alice', ['process', String(id)])).stdout).toMatch(/^REPLY: \[PENDING\]/);
    expect((await as('alice', ['approve', String(id)])).stdout).toMatch(/^REPLY: \[APPROVED\]/);
    await running.stop();
    running = undefined;
    // The disk died: no backup of the state directory.
    for (const p of ['checkpoints', 'journal', 'audit', 'nonces', 'chains']) rmSync(join(dir, p), { recursive: true, force: true });
    running = await payservForPscli(l);

    // alice looks (the ledger as in the pool's books) and confirms.
    expect(await withStatus(l, 'approved')).toContain(id);
    const a = await as('alice', ['rebaseline', '--reason', 'disk died, ledger compared with the books']);
    expect(a.stdout).toMatch(/1 of 2 confirmations/);
    const digestA = /ledger ([0-9a-f]{64})/.exec(a.stdout)?.[1];

    // The database attacker deletes another miner's newest withdrawal request (an account no checkpoint covers yet).
    const [victim] = await l.db.query<{ id: number; user_id: number }>(
      `SELECT w.id, w.user_id FROM ${WITHDRAWALS} w WHERE w.status = 'processing' AND w.user_id NOT IN (SELECT user_id FROM ${USER_CHECKPOINTS})
       AND w.id = (SELECT max(id) FROM ${WITHDRAWALS} x WHERE x.user_id = w.user_id AND x.coin_id = w.coin_id) ORDER BY w.id LIMIT 1`,
    );
    expect(victim).toBeDefined();
    await asAttacker(l.db, [
      [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [victim?.id]],
      [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [victim?.id]],
    ]);

    // bob confirms the ledger as it is now: another digest, the count starts again, nothing is written.
    const b = await as('bob', ['rebaseline', '--reason', 'second confirmation']);
    expect(b.code, b.stderr).toBe(EXIT.OK);
    expect(b.stdout).toMatch(/1 of 2 confirmations/);
    expect(b.stdout).not.toMatch(/REBASELINED|alice/);
    const digestB = /ledger ([0-9a-f]{64})/.exec(b.stdout)?.[1];
    expect(digestB).toMatch(/^[0-9a-f]{64}$/);
    expect(digestB).not.toBe(digestA);
    expect(existsSync(join(dir, 'checkpoints', 'user')) ? readdirSync(join(dir, 'checkpoints', 'user')) : []).toEqual([]);
    // alice, looking again, confirms the ledger as it is now (same digest as bob's): only then is it written.
    const a2 = await as('alice', ['rebaseline', '--reason', 'looked again, the request was withdrawn']);
    expect(a2.stdout).toMatch(/^REPLY: \[REBASELINED\].*confirmed by bob.*alice/);
    expect(/ledger ([0-9a-f]{64})/.exec(a2.stdout)?.[1]).toBe(digestB);
  });
});
