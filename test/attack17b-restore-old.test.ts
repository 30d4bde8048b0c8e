// attack17b (outsider round 2, C2): an OLD backup restored after more payments were made (README "Backup and restore",
// "Unknown spends from the hot wallet"): the restored pair knows none of the later payments, the chain does;
// payserv refuses to start naming the nonces it does not account for, and nobody is paid twice.
import { afterEach, describe, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import { loadConfig } from '../src/config/load.js';
import type { Db } from '../src/db/db.js';
import { openDatabase } from '../src/db/open.js';
import { pkiPaths } from '../src/esman/pki-files.js';
import type { RunningPayserv } from '../src/app/service.js';
import { autopayPool, paidOnChain, startAutopayHost, statuses } from './support/autopay-host.js';
import type { TestDatabase } from './support/db.js';
import { anvilForFile } from './support/chains.js';
import type { TestLedger } from './support/ledger.js';
import { runPscli } from './support/pscli.js';
import { pscliWorkspace } from './support/pscli-world.js';
import { until } from './support/spawn.js';

const anvil = anvilForFile();
const MINERS = 12;
let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
let restored: Db | undefined;
const drop: TestDatabase[] = [];
afterEach(async () => {
  await running?.stop();
  await restored?.close();
  await l?.db.close();
  for (const t of drop.splice(0)) await t.drop();
  running = undefined;
  restored = undefined;
  l = undefined;
});

describe('attack17b: restore of an old backup', { timeout: 240_000 }, () => {
  it('an older backup restored after more payments were made: payserv refuses to start, naming the nonces, and nobody is paid twice', async () => {
    const { url } = await anvil();
    await setAutomine(url, false);
    const pool = await autopayPool(url, { miners: MINERS, firstUser: 8001, seed: 17 });
    const { ledger, hot, payees } = pool;
    l = ledger;
    running = await startAutopayHost(ledger.stateDir, ledger.db, url);
    const env = { PAYSERV_STATE_DIR: ledger.stateDir };
    // The OLD backup, before any payment.
    const old = await runPscli(['--json', 'backup'], env);
    expect(old.code, old.stderr).toBe(EXIT.OK);
    const oldPath = (JSON.parse(old.stdout) as { path: string }).path;
    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    await until(
      'every miner paid on the old host',
      async () => {
        await mine(url, 12);
        const s = await statuses(ledger.db);
        return s.length === MINERS && s.every((x) => x === 'sent');
      },
      90_000,
      500,
    );
    await runPscli(['disable'], env);
    await running.stop();
    running = undefined;
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(payees.map(() => 1));

    // The host is lost; an operator restores the (only, older) backup onto a fresh host.
    const ws = await pscliWorkspace(drop);
    const pscli = (argv: string[]) => runPscli(argv, { ...ws.env, PAYSERV_STATE_DIR: ws.stateDir });
    const r = await pscli(['restore', '--from', oldPath, '--payserv-state-dir', ws.stateDir, '--root', pkiPaths(ledger.stateDir).root]);
    expect(r.code, r.stderr).toBe(EXIT.OK);
    restored = await openDatabase((await loadConfig('pscli', undefined, { stateDir: ws.stateDir, env: ws.env })).database, ws.stateDir);
    // The chain knows twelve payments the restored pair does not: payserv refuses to start, naming them.
    await expect(startAutopayHost(ws.stateDir, restored, url, ws.env.DATABASE_URL)).rejects.toThrow(
      new RegExp(`hot wallet ${hot} used nonces 0\\.\\.${MINERS - 1} on the chain`, 'i'),
    );
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(payees.map(() => 1));
  });
});
