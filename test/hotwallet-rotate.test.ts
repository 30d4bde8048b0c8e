// A hot-wallet rotation on anvil, against payserv as the executable it ships as: the next key beside the
// current one, payouts waiting, the payment in flight from the old wallet settled first, the old balance
// swept to the new address exactly once (also when payserv is SIGKILLed between the sweep's record and
// its broadcast), and the payouts after it paid from the new wallet.
import { afterEach, describe, expect, it } from 'vitest';
import { mine, setBalance } from '../src/devnet/anvil.js';
import { createHotKey, nextHotKeyPath } from '../src/keys/hot-wallet.js';
import type { PayoutResult } from '../src/api/payserv.js';
import { hotAddress, rotationSeed, rotationToml, sweepOf, untilFinal } from './support/rotation.js';
import { anvilForFile, balanceOf, minedCount } from './support/chains.js';
import { ethRequests } from './support/miners.js';
import { killAllChildren, processLedger, sleep, type PayservChild } from './support/spawn.js';

afterEach(killAllChildren);

const anvil = anvilForFile({ noMining: true });
const SEED = rotationSeed(3, 5);
const LONG = 180_000;
const FUNDS = 10n ** 20n;

const call = (ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check' | 'PayServ.Resend', id: number) =>
  ps.client('pscli').call<PayoutResult>(method, [id]);

describe('pscli hotwallet rotate: payserv sweeps the old wallet to the new one', { timeout: LONG }, () => {
  it('with a payment in flight: it settles first, one sweep, then payouts come from the new wallet', async () => {
    const { url } = await anvil();
    const ids: number[] = [];
    const l = await processLedger(SEED, ethRequests(2, 2, 8101, ids));
    const [first, second] = ids as [number, number];
    await createHotKey(l.stateDir, 'ETH');
    const old = await hotAddress(l.stateDir);
    await setBalance(url, old, FUNDS);
    const config = l.config('payserv.toml', { extra: rotationToml(url) });
    const ps = await l.start(config);
    await ps.client('pscli').call('Utils.Enable');
    expect((await call(ps, 'PayServ.Approve', first)).reply).toBe('SENDING');
    await ps.stop('SIGTERM');

    // The rotation: a next key (what `pscli hotwallet rotate` makes in a development state directory), payserv restarted.
    const nextPath = nextHotKeyPath(l.stateDir, 'ETH');
    await createHotKey(l.stateDir, 'ETH', nextPath);
    const next = await hotAddress(l.stateDir, nextPath);
    const again = await l.start(config);
    await again.client('pscli').call('Utils.Enable');
    // The monitor's rotation step may hold the coin's send lock a moment: a busy answer is asked again.
    let waits = await call(again, 'PayServ.Approve', second);
    for (let i = 0; waits.code === 'busy' && i < 50; i++) {
      await sleep(100);
      waits = await call(again, 'PayServ.Approve', second);
    }
    expect(waits, JSON.stringify(waits)).toMatchObject({ reply: 'SEND_RETRY' });
    expect(waits.message).toMatch(/hot wallet rotation/);
    // The first payment is in the node's pool, not mined: the sweep waits for it.
    await sleep(2_500);
    expect(sweepOf(l.stateDir)).toBeNull();

    const swept = await untilFinal(url, l.stateDir);
    expect(swept).toMatchObject({ from: old, to: next, phase: 'final' });
    expect((await call(again, 'PayServ.Check', first)).reply).toBe('SENT');
    expect(await minedCount(url, old)).toBe(2);
    expect(await balanceOf(url, next)).toBe(BigInt(swept.value));
    // What stays is less than the fee reserve (21,000 gas at the fee cap): the old balance, less the payment, swept.
    expect(await balanceOf(url, old)).toBeLessThan(21_000n * 200_000_000_000n);

    const paid = await call(again, 'PayServ.Resend', second);
    expect(paid.reply).toBe('SENDING');
    await mine(url, 2);
    expect((await call(again, 'PayServ.Check', second)).reply).toBe('SENT');
    expect(await minedCount(url, next)).toBe(1);
    expect(await minedCount(url, old)).toBe(2);
    await again.stop('SIGTERM');

    // After a restart the rotation stays done: the record says final, the new wallet pays at once.
    const third = await l.start(config);
    expect(sweepOf(l.stateDir)?.phase).toBe('final');
    await third.stop('SIGTERM');
    expect(await minedCount(url, old)).toBe(2);
    await l.withDb(async (db) => expect(await l.check(db, 'balanceerrors')).toEqual([]));
  });
});
