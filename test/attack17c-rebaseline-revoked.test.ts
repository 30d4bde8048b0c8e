// Attack (issue 17, outsider round 3): a revoked operator's rebaseline confirmation still counts towards T.
//
// Severity: high.
// Promise broken (README "Lost local state: pscli rebaseline", "PKI"): fresh local state is written only once
// `[rebaseline] confirmations` distinct operators confirmed; a revoked operator is refused "from the next call on".
// Revoking alice does not take back the confirmation payserv holds for her in memory, so bob alone completes it.
// The regression test meant for this (test/attack17b-rebaseline.test.ts, "a confirmation by an operator revoked
// afterwards must not count towards T") passes for the wrong reason: bob's `--reason ok` is 2 characters, refused
// as usage (exit 2) before payserv is asked; with a valid reason the rebaseline completes.
//
// Steps: the host's local state is lost; alice's key is stolen (or alice is the insider) and confirms the ledger the
// database attacker prepared. The operators notice and revoke alice: her next call is refused (`revoked`). bob, the
// one honest operator, runs `pscli rebaseline` to start over: payserv answers REBASELINED "confirmed by alice, bob"
// and writes the fresh local state. One unrevoked operator rebaselined.
//
// Fix: at each confirmation (and before writing), drop every confirmation whose operator the revocation check now
// refuses (the same operatorRefusal the RPC server asks), and log it; make the attack17b test use a valid reason.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT } from '../src/cli/exit.js';
import type { Env } from '../src/config/load.js';
import type { RunningPayserv } from '../src/app/service.js';
import { revokeOperator } from '../src/esman/pki-files.js';
import { backend } from './support/db.js';
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

describe(`attack17c: rebaseline after a revocation (${backend()})`, { timeout: 120_000 }, () => {
  it("a revoked operator's confirmation completes the rebaseline with one other operator", async () => {
    l = await testLedger();
    await l.checkpointAll();
    running = await payservForPscli(l);
    const dir = l.stateDir;
    const as = (operator: string | null, argv: string[]) =>
      runPscli(argv, { PAYSERV_STATE_DIR: dir, ...(operator ? { PSCLI_OPERATOR: operator } : {}) } as Env);
    for (const name of ['alice', 'bob']) expect((await as(null, ['pki', 'issue', '--operator', name])).code).toBe(EXIT.OK);
    expect((await as('alice', ['enable'])).code).toBe(EXIT.OK);
    await running.stop();
    running = undefined;
    for (const p of ['checkpoints', 'journal', 'audit', 'nonces', 'chains']) rmSync(join(dir, p), { recursive: true, force: true });
    running = await payservForPscli(l);

    expect((await as('alice', ['rebaseline', '--reason', 'disk died, no backup'])).stdout).toMatch(/1 of 2 confirmations/);
    await revokeOperator(dir, 'alice', {});
    const refused = await as('alice', ['status']);
    expect(refused.stderr + refused.stdout).toMatch(/revoked/);

    const b = await as('bob', ['rebaseline', '--reason', 'starting the count again without alice']);
    expect(b.code, b.stderr).toBe(EXIT.OK);
    expect(b.stdout).toMatch(/^REPLY: \[REBASELINED\].*confirmed by alice .*bob/);
    expect(readdirSync(join(dir, 'checkpoints', 'user')).length).toBeGreaterThan(0);
    expect(existsSync(join(dir, 'audit', 'head.json'))).toBe(true);
  });
});
