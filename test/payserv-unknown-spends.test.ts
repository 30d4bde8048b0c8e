// A hot wallet's spends that payserv has no record of (README, Unknown spends from the hot wallet): an older
// backup restored after more payments, and the hot wallet's key used outside payserv. Nothing is paid twice.
import type { Hex } from 'viem';
import { describe, expect, it } from 'vitest';
import { mine } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import { anvilForFile, sendOutside } from './support/chains.js';
import { runPscli } from './support/pscli.js';
import { restoreOntoFreshHost } from './support/pscli-world.js';
import { until } from './support/spawn.js';
import {
  autopayRunClosedAfterEach,
  openRestored,
  paidOnChain,
  startAutopayHost,
  startAutopayPool,
  statuses,
  takeBackup,
  untilStatusCounts,
} from './support/autopay-host.js';

const anvil = anvilForFile();
const MINERS = 9;
const h = autopayRunClosedAfterEach();

describe('spends from the hot wallet that payserv has no record of', { timeout: 180_000 }, () => {
  it('an older backup restored after more payments: payserv refuses to start naming the unknown nonces; the key used outside: payouts fail-stop', async () => {
    const { url } = await anvil();
    const { ledger, key, hot, payees, running } = await startAutopayPool(h, url, { miners: MINERS, firstUser: 8101, seed: 21 });
    const env = { PAYSERV_STATE_DIR: ledger.stateDir };
    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    // Three in flight (nonces 0..2): the backup. Then three more sent (nonces 3..5), payouts stopped, all six mined.
    await untilStatusCounts(ledger.db, { sending: 3 });
    const old = await takeBackup(env);
    await mine(url, 12);
    await untilStatusCounts(ledger.db, { sent: 3, sending: 3 });
    expect((await runPscli(['disable'], env)).code).toBe(EXIT.OK);
    await running.stop();
    h.running = undefined;
    await mine(url, 12);
    const paid = [...(await paidOnChain(url, payees)).values()];
    expect(paid.every((n) => n <= 1)).toBe(true);
    const paidCount = paid.filter((n) => n === 1).length;
    expect(paidCount).toBe(6);

    // The older pair restored (whole and signed: the restore finds nothing wrong with it).
    const ws = await restoreOntoFreshHost(h.drop, old, ledger.stateDir);
    const db = await openRestored(h, ws);
    // The withdrawals paid after the backup look unpaid in it: payserv must not start paying from it.
    await expect(startAutopayHost(ws.stateDir, db, url, ws.env.DATABASE_URL)).rejects.toThrow(
      new RegExp(`hot wallet ${hot} used nonces 3\\.\\.${paidCount - 1} on the chain.*nonce 3 0x[0-9a-f]{64} to 0x`, 'i'),
    );
    expect((await statuses(db)).filter((s) => s === 'sent' || s === 'sending')).toHaveLength(3);
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(paid);

    // The honest host restarts cleanly; the key used outside payserv (the nonce after its last): the next payout fail-stops.
    const live = await startAutopayHost(ledger.stateDir, ledger.db, url);
    h.running = live;
    await sendOutside(url, key as Hex, paidCount);
    await mine(url, 1);
    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    await until('payouts fail-stopped', async () => live.ps.state.failStopped, 30_000, 200);
    expect(live.ps.state.status().reason).toMatch(new RegExp(`used nonces ${paidCount}\\.\\.${paidCount} on the chain`));
    await mine(url, 12);
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(paid);
  });
});
