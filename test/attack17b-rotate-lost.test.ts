// Outside attack on pscli hotwallet rotate (README "Rotating a hot wallet"): the sweep is final, then the
// host's sweep record (STATE/rotation/ETH.json) is lost before `--finish` (the disk died and the local state
// was rebaselined, or an older backup of the state directory was restored). Nothing may be lost or paid
// twice, and the rotation must not stay pending forever with every payout of the coin waiting.
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mine, setBalance } from '../src/devnet/anvil.js';
import { createHotKey, nextHotKeyPath } from '../src/keys/hot-wallet.js';
import type { PayoutResult } from '../src/api/payserv.js';
import { rotationPath } from '../src/payserv/rotation.js';
import { hotAddress, rotationSeed, rotationToml, sweepOf, untilFinal } from './support/rotation.js';
import { anvilForFile, balanceOf, minedCount } from './support/chains.js';
import { ethRequests } from './support/miners.js';
import { runPscli } from './support/pscli.js';
import { killAllChildren, processLedger, sleep, type PayservChild } from './support/spawn.js';

afterEach(killAllChildren);
const anvil = anvilForFile({ noMining: true });
const call = (ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check' | 'PayServ.Resend', id: number) =>
  ps.client('pscli').call<PayoutResult>(method, [id]);

describe('attack17b: rotation record lost after a final sweep', { timeout: 200_000 }, () => {
  it('payouts resume from the new wallet (or a clear way out); nothing lost, nothing paid twice', async () => {
    const { url } = await anvil();
    const ids: number[] = [];
    const l = await processLedger(rotationSeed(3, 5), ethRequests(2, 2, 8101, ids));
    const [first, second] = ids as [number, number];
    await createHotKey(l.stateDir, 'ETH');
    const old = await hotAddress(l.stateDir);
    await setBalance(url, old, 10n ** 20n);
    const config = l.config('payserv.toml', { extra: rotationToml(url) });
    const nextPath = nextHotKeyPath(l.stateDir, 'ETH');
    await createHotKey(l.stateDir, 'ETH', nextPath);
    const next = await hotAddress(l.stateDir, nextPath);
    const ps = await l.start(config);
    await ps.client('pscli').call('Utils.Enable');
    let r = await call(ps, 'PayServ.Approve', first);
    for (let i = 0; r.code === 'busy' && i < 50; i++) (await sleep(100), (r = await call(ps, 'PayServ.Approve', first)));
    expect(r.reply).toBe('SEND_RETRY');
    const swept = await untilFinal(url, l.stateDir);
    expect(swept).toMatchObject({ from: old, to: next, phase: 'final' });
    await ps.stop('SIGTERM');
    const nextBalance = await balanceOf(url, next);

    // The host record is lost (only it: the rest of the state directory is whole).
    rmSync(dirname(rotationPath(l.stateDir, 'ETH')), { recursive: true, force: true });
    const again = await l.start(config);
    await again
      .client('pscli')
      .call('Utils.Enable')
      .catch((e: Error) => console.log('enable:', e.message));
    for (let i = 0; i < 8; i++) (await mine(url, 1), await sleep(700));
    let paid = await call(again, 'PayServ.Resend', first);
    for (let i = 0; paid.code === 'busy' && i < 50; i++) (await sleep(100), (paid = await call(again, 'PayServ.Resend', first)));
    console.log('Resend after the record was lost:', JSON.stringify(paid));
    const finish = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--finish'], { PAYSERV_STATE_DIR: l.stateDir });
    console.log('--finish:', finish.code, finish.stdout.trim(), finish.stderr.trim());
    console.log('record now:', JSON.stringify(sweepOf(l.stateDir)));
    console.log(
      'balances old/next:',
      await balanceOf(url, old),
      await balanceOf(url, next),
      'mined from old/next:',
      await minedCount(url, old),
      await minedCount(url, next),
    );
    await again.stop('SIGTERM');
    // Nothing lost: the new wallet still holds what was swept (less at most the payment to `first`).
    expect(await balanceOf(url, next)).toBeGreaterThan(nextBalance - 10n ** 19n);
    // Not pending forever: the waiting payout goes out, or --finish gives a way out.
    expect(paid.reply === 'SENDING' || finish.code === 0, 'rotation stuck: payouts wait and --finish is refused').toBe(true);
    void second;
  });
});
