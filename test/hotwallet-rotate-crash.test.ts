// A hot-wallet rotation's sweep when payserv is SIGKILLed between the sweep's host record and its
// broadcast (a real process, restarted): the same bytes are sent, the old wallet swept exactly once. And
// a sweep record that pays anyone but the new wallet stops payouts with nothing sent.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { rotationPath, type SweepRecord } from '../src/payserv/rotation.js';
import { anvilForFile, balanceOf, minedCount } from './support/chains.js';
import { startRpcProxy } from './support/rpc-proxy.js';
import { asAttacker } from './support/attacker.js';
import { rotationKeys, rotationSeed, rotationToml, sweepOf, untilFinal } from './support/rotation.js';
import { killAllChildren, processLedger, sleep, until } from './support/spawn.js';

afterEach(killAllChildren);

const anvil = anvilForFile({ noMining: true });
const SEED = rotationSeed(2, 6);
const LONG = 180_000;

describe('a rotation sweep across a crash', { timeout: LONG }, () => {
  /** payserv with a rotation pending, killed while the sweep's broadcast is held at the node's door. */
  async function killedBeforeBroadcast() {
    const { url } = await anvil();
    const l = await processLedger(SEED);
    const { old, next } = await rotationKeys(url, l.stateDir);
    const proxy = await startRpcProxy(url);
    onTestFinished(() => proxy.stop());
    const config = l.config('payserv.toml', { extra: rotationToml(proxy.url) });
    proxy.hold('eth_sendRawTransaction', 'request');
    const ps = await l.start(config);
    await ps.client('pscli').call('Utils.Enable');
    await until('the sweep is being broadcast', () => proxy.held() === 1, 30_000, 20);
    await ps.kill();
    const recorded = sweepOf(l.stateDir) as SweepRecord;
    expect(recorded).toMatchObject({ phase: 'sweeping', from: old, to: next });
    expect(await minedCount(url, old)).toBe(0);
    return { url, l, config, old, next, recorded };
  }

  /** payserv restarted and enabled: the recorded sweep goes out, the same bytes, once; nothing more from the old wallet. */
  async function sweptOnce({ url, l, config, old, next, recorded }: Awaited<ReturnType<typeof killedBeforeBroadcast>>) {
    const again = await l.start(config);
    await again.client('pscli').call('Utils.Enable');
    const swept = await untilFinal(url, l.stateDir);
    expect(swept.attempt?.hash).toBe(recorded.attempt?.hash);
    expect(await minedCount(url, old)).toBe(1);
    expect(await balanceOf(url, next)).toBe(BigInt(recorded.value));
    await sleep(2_000); // more monitor ticks
    expect(await minedCount(url, old)).toBe(1);
    await again.stop('SIGTERM');
  }

  it('SIGKILL between the record and the broadcast: the same bytes sent after restart, swept once', async () => {
    await sweptOnce(await killedBeforeBroadcast());
  });

  it('the database rolled back over the sweep (its nonce forgotten) while payserv was down: refused, nothing sent; put back, the same bytes, swept once', async () => {
    const killed = await killedBeforeBroadcast();
    const { url, l, config, old, recorded } = killed;
    // The sweep is not in the payment journal: the rollback takes the nonce store back to before the sweep took its nonce.
    const nonce = (n: number) =>
      l.withDb((db) => asAttacker(db, [[`UPDATE payserv_nonces SET next_nonce = $2 WHERE lower(address) = lower($1)`, [old, n]]]));
    await nonce(0);
    // The host's nonce cache (fed the sweep's nonce from its record) sees the rollback: payserv refuses to start.
    await expect(l.start(config)).rejects.toThrow(
      /the database's next nonce 0 is behind the local cache's 1 .*: the database was rolled back/,
    );
    await sleep(1_500);
    expect(await minedCount(url, old)).toBe(0);
    expect(sweepOf(l.stateDir)).toEqual(recorded);
    // The database put back (restored from its backup): the recorded sweep goes out, the same bytes, once.
    await nonce(1);
    await sweptOnce(killed);
  });

  it('a sweep record naming another destination or amount: payserv refuses to start, nothing sent', async () => {
    const { url, l, config, old, recorded } = await killedBeforeBroadcast();
    const thief = '0x00000000000000000000000000000000000000aa';
    const path = rotationPath(l.stateDir, 'ETH');
    writeFileSync(path, JSON.stringify({ ...recorded, to: thief, value: '1' }));
    // Read at start: payserv refuses to start, naming the record; nothing is signed or sent.
    await expect(l.start(config)).rejects.toThrow(/the sweep's bytes pay .* not 1 to 0x.*refused, nothing sent/);
    await sleep(1_500);
    expect(await minedCount(url, old)).toBe(0);
    expect(await balanceOf(url, thief)).toBe(0n);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ to: thief });
  });
});
