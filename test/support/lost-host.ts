// A payserv host that worked and then lost its local state, for the rebaseline tests: pscli as each operator
// against it, and what the database and the state directory hold afterwards.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import type { RunningPayserv } from '../../src/app/service.js';
import { EXIT } from '../../src/cli/exit.js';
import type { Env } from '../../src/config/load.js';
import { WITHDRAWALS } from './attacker.js';
import { testLedger, type TestLedger } from './ledger.js';
import { runPscli, type Run } from './pscli.js';
import { payservForPscli } from './pscli-world.js';

/** pscli run as `operator` (none: no PSCLI_OPERATOR) against the host. */
export type As = (operator: string | null, argv: string[]) => Promise<Run>;

export const withStatus = async (ledger: TestLedger, status: string): Promise<number[]> =>
  (await ledger.db.query<{ id: number }>(`SELECT id FROM ${WITHDRAWALS} WHERE status = $1 ORDER BY id`, [status])).map((r) => r.id);

/** How many user checkpoints the host keeps in its state directory. */
export const localCheckpoints = (ledger: TestLedger): number =>
  existsSync(join(ledger.stateDir, 'checkpoints', 'user'))
    ? readdirSync(join(ledger.stateDir, 'checkpoints', 'user')).flatMap((c) => readdirSync(join(ledger.stateDir, 'checkpoints', 'user', c)))
        .length
    : 0;

type LostHost = (
  beforeRestart?: (l: TestLedger) => Promise<void>,
  lost?: string[],
) => Promise<{ as: As; ledger: TestLedger; approved: number; restart: () => Promise<void>; payserv: () => RunningPayserv }>;

/**
 * Call at a file's top level. Its lostHost(): a payserv that worked (`operators` issued, one withdrawal approved),
 * then lost the parts `lost` of its state directory, `beforeRestart` run, and restarted on what is left; its
 * restart() stops and starts payserv again on the same state; payserv() is the one running. The host is stopped and its ledger closed after each test.
 */
export function lostHostForFile(operators: string[]): LostHost {
  let l: TestLedger | undefined;
  let running: RunningPayserv | undefined;
  afterEach(async () => {
    await running?.stop();
    await l?.db.close();
    running = undefined;
    l = undefined;
  });
  return async (beforeRestart, lost = ['checkpoints', 'journal', 'audit', 'nonces', 'chains']) => {
    const ledger = await testLedger();
    l = ledger;
    await ledger.checkpointAll();
    running = await payservForPscli(ledger);
    const dir = ledger.stateDir;
    const as: As = (operator, argv) => runPscli(argv, { PAYSERV_STATE_DIR: dir, ...(operator ? { PSCLI_OPERATOR: operator } : {}) } as Env);
    for (const name of operators) expect((await as(null, ['pki', 'issue', '--operator', name])).code).toBe(EXIT.OK);
    expect((await as('alice', ['enable'])).code).toBe(EXIT.OK);
    const [first] = await withStatus(ledger, 'processing');
    expect((await as('alice', ['process', String(first)])).stdout).toMatch(/^REPLY: \[PENDING\]/);
    expect((await as('alice', ['approve', String(first)])).stdout).toMatch(/^REPLY: \[APPROVED\]/);
    await running.stop();
    running = undefined;
    // The host's local state is gone; the pinned root, the certificates and pscli.toml are kept (README: the state directory).
    for (const p of lost) rmSync(join(dir, p), { recursive: true, force: true });
    if (beforeRestart) await beforeRestart(ledger);
    running = await payservForPscli(ledger);
    const restart = async () => {
      await running?.stop();
      running = await payservForPscli(ledger);
    };
    return { as, ledger, approved: first as number, restart, payserv: () => running as RunningPayserv };
  };
}
