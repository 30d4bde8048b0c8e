// `pscli hotwallet rotate --finish` cut between its steps (src/cli/pscli/hotwallet-rotate.ts): the key switch done, the
// sweep record not yet moved aside (the move fails: a fault at that point). payserv, restarted, pays from the new wallet
// alone and sweeps nothing again; `--finish` run again completes the move; the next rotation starts clean.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import { mine } from '../src/devnet/anvil.js';
import { rotationPath } from '../src/payserv/rotation.js';
import { anvilForFile, balanceOf, minedCount } from './support/chains.js';
import { ethRequests } from './support/miners.js';
import { EMBEDDED, runPscli } from './support/pscli.js';
import { hotAddress, rotationKeys, rotationSeed, rotationToml, sweepOf, untilFinal } from './support/rotation.js';
import { killAllChildren, processLedger, sleep, type PayservChild } from './support/spawn.js';

afterEach(killAllChildren);

const anvil = anvilForFile({ noMining: true });
const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '');

/** The record's move aside fails for the next `seconds`: its every possible target is a directory that holds a file. Returns the unblock. */
function blockArchive(stateDir: string, seconds: number): () => void {
  const path = rotationPath(stateDir, 'ETH');
  const dirs: string[] = [];
  for (let s = -2; s < seconds; s++) {
    const dir = `${path}.done-${stamp(new Date(Date.now() + s * 1000))}`;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'x'), 'x');
    dirs.push(dir);
  }
  return () => dirs.forEach((d) => rmSync(d, { recursive: true }));
}

const call = (ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check' | 'PayServ.Resend', id: number) =>
  ps.client('pscli').call<PayoutResult>(method, [id]);

describe('pscli hotwallet rotate --finish cut between the key switch and the record', { timeout: 240_000 }, () => {
  it('after restart the new wallet alone pays, nothing is swept twice; --finish again completes; the next rotation starts', async () => {
    const { url } = await anvil();
    const ids: number[] = [];
    const l = await processLedger(rotationSeed(2, 9), ethRequests(1, 1, 8401, ids));
    const [waiting] = ids as [number];
    const { old, next } = await rotationKeys(url, l.stateDir);
    const config = l.config('payserv.toml', { extra: rotationToml(url) });
    const ps = await l.start(config);
    await ps.client('pscli').call('Utils.Enable');
    const swept = await untilFinal(url, l.stateDir);
    expect(swept).toMatchObject({ from: old, to: next, phase: 'final' });
    await ps.stop('SIGTERM');
    expect(await minedCount(url, old)).toBe(1);

    const env = { ...EMBEDDED, PAYSERV_STATE_DIR: l.stateDir };
    const unblock = blockArchive(l.stateDir, 30);
    const cut = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--finish'], env);
    expect(cut.code).not.toBe(0);
    // The switch happened (the old key kept as retired), the record did not move.
    expect(await hotAddress(l.stateDir)).toBe(next);
    const wallets = readdirSync(join(l.stateDir, 'wallets'));
    expect(wallets.filter((f) => /^ETH\.retired-\d{8}T\d{6}\.key$/.test(f))).toHaveLength(1);
    expect(wallets).not.toContain('ETH.next.key');
    expect(sweepOf(l.stateDir)?.phase).toBe('final');

    // payserv on the new wallet alone: the waiting payout goes from it; the old wallet sends nothing more.
    const again = await l.start(config);
    await again.client('pscli').call('Utils.Enable');
    let paid = await call(again, 'PayServ.Approve', waiting);
    for (let i = 0; paid.code === 'busy' && i < 50; i++) {
      await sleep(100);
      paid = await call(again, 'PayServ.Approve', waiting);
    }
    expect(paid, JSON.stringify(paid)).toMatchObject({ reply: 'SENDING' });
    await mine(url, 2);
    expect((await call(again, 'PayServ.Check', waiting)).reply).toBe('SENT');
    expect(await minedCount(url, next)).toBe(1);
    await sleep(2_500); // monitor ticks: no rotation step, no sweep
    expect(await minedCount(url, old)).toBe(1);
    expect(await balanceOf(url, next)).toBeGreaterThan(0n);
    await again.stop('SIGTERM');

    // --finish again completes the move; once more, nothing is pending.
    unblock();
    const done = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--finish', '--json'], env);
    expect(done.code, done.stderr).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({ coin: 'ETH', address: next, finished: true, sweep: swept.attempt?.hash });
    expect(sweepOf(l.stateDir)).toBeNull();
    const twice = await runPscli(['hotwallet', 'rotate', '--coin', 'ETH', '--finish'], env);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/no rotation of ETH is pending/);

    // The next rotation: payserv starts on it (no record of the last one in its way) and waits to sweep the new wallet.
    expect((await runPscli(['hotwallet', 'rotate', '--coin', 'ETH'], env)).code).toBe(0);
    const third = await l.start(config);
    expect(sweepOf(l.stateDir)).toBeNull();
    await third.stop('SIGTERM');
    expect(await minedCount(url, old)).toBe(1);
    expect(await minedCount(url, next)).toBe(1);
  });
});
