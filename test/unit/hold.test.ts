// The backup's quiet point (src/payserv/hold.ts): a backup waits for work in progress, new work waits for
// the backup (never fails), work nested in work never deadlocks, and a quiet that is not reached in time
// gives up with nothing done while the work goes on.
import { describe, expect, it } from 'vitest';
import { Hold, HoldTimeout } from '../../src/payserv/hold.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Hold', () => {
  it('waits for work in progress, holds new work until it ends, and lets it run after', async () => {
    const hold = new Hold();
    const events: string[] = [];
    const first = hold.work(async () => {
      events.push('first start');
      await sleep(50);
      events.push('first end');
    });
    const quiet = hold.quiet(1_000, 1_000, async () => {
      events.push('backup start');
      await sleep(30);
      events.push('backup end');
      return 'taken';
    });
    await sleep(10);
    const second = hold.work(async () => void events.push('second'));
    expect(await quiet).toBe('taken');
    await Promise.all([first, second]);
    expect(events).toEqual(['first start', 'first end', 'backup start', 'backup end', 'second']);
    expect(hold.holding).toBe(false);
  });

  it('nested work is the same work: no deadlock against a waiting backup', async () => {
    const hold = new Hold();
    const events: string[] = [];
    const outer = hold.work(async () => {
      await sleep(20);
      await hold.work(async () => void events.push('inner'));
      events.push('outer end');
    });
    const quiet = hold.quiet(1_000, 1_000, async () => void events.push('backup'));
    await Promise.all([outer, quiet]);
    expect(events).toEqual(['inner', 'outer end', 'backup']);
  });

  it('gives up after wait_ms with nothing done; the work in progress and the waiting work go on', async () => {
    const hold = new Hold();
    let done = false;
    const long = hold.work(async () => {
      await sleep(120);
      done = true;
    });
    let ran = false;
    const quiet = hold.quiet(30, 1_000, async () => void (ran = true));
    const waiting = hold.work(async () => 'after');
    await expect(quiet).rejects.toThrow(HoldTimeout);
    expect(ran).toBe(false);
    expect(await waiting).toBe('after');
    await long;
    expect(done).toBe(true);
  });

  it('the hold is bounded: the backup is told to stop at hold_ms, and the work waiting goes on', async () => {
    const hold = new Hold();
    const quiet = hold.quiet(1_000, 30, async (signal) => {
      while (!signal.aborted) await sleep(5);
      signal.throwIfAborted();
    });
    await sleep(5);
    const waiting = hold.work(async () => 'after');
    await expect(quiet).rejects.toThrow(/reached its bound of 30 ms/);
    expect(await waiting).toBe('after');
  });
});
