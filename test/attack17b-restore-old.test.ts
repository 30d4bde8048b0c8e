// attack17b (outsider round 2, C2): an OLD backup restored after more payments were made (README "Backup and restore",
// "Unknown spends from the hot wallet"): the restored pair knows none of the later payments, the chain does;
// payserv refuses to start naming the nonces it does not account for, and nobody is paid twice.
import { describe, expect, it } from 'vitest';
import { mine } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import {
  autopayRunClosedAfterEach,
  openRestored,
  paidOnChain,
  startAutopayHost,
  startAutopayPool,
  statuses,
  takeBackup,
} from './support/autopay-host.js';
import { anvilForFile } from './support/chains.js';
import { runPscli } from './support/pscli.js';
import { restoreOntoFreshHost } from './support/pscli-world.js';
import { until } from './support/spawn.js';

const anvil = anvilForFile();
const MINERS = 12;
const h = autopayRunClosedAfterEach();

describe('attack17b: restore of an old backup', { timeout: 240_000 }, () => {
  it('an older backup restored after more payments were made: payserv refuses to start, naming the nonces, and nobody is paid twice', async () => {
    const { url } = await anvil();
    const { ledger, hot, payees, running } = await startAutopayPool(h, url, { miners: MINERS, firstUser: 8001, seed: 17 });
    const env = { PAYSERV_STATE_DIR: ledger.stateDir };
    // The OLD backup, before any payment.
    const oldPath = await takeBackup(env);
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
    h.running = undefined;
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(payees.map(() => 1));

    // The host is lost; an operator restores the (only, older) backup onto a fresh host.
    const ws = await restoreOntoFreshHost(h.drop, oldPath, ledger.stateDir);
    const restored = await openRestored(h, ws);
    // The chain knows twelve payments the restored pair does not: payserv refuses to start, naming them.
    await expect(startAutopayHost(ws.stateDir, restored, url, ws.env.DATABASE_URL)).rejects.toThrow(
      new RegExp(`hot wallet ${hot} used nonces 0\\.\\.${MINERS - 1} on the chain`, 'i'),
    );
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(payees.map(() => 1));
  });
});
