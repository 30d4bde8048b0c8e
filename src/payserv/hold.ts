import { AsyncLocalStorage } from 'node:async_hooks';

// The backup's quiet point. Every piece of work that changes payserv's local state together with the
// database (an RPC call with its audit row, an autopay run, a monitor tick) runs inside `work`; a
// backup runs inside `quiet`, which waits until no work is in progress, lets new work wait (never
// fail), runs, and lets the waiting work go on. Work nested in work (autopay calling a payout) is the
// same work: it never waits for a quiet that waits for it.

export class HoldTimeout extends Error {
  override name = 'HoldTimeout';
}

export class Hold {
  #active = 0;
  /** Resolved when the current quiet ends; null while none is held or asked for. */
  #quiet: Promise<void> | null = null;
  /** Called when the last work in progress ends while a quiet waits for it. */
  #drained: (() => void) | null = null;
  readonly #inside = new AsyncLocalStorage<true>();

  /** Whether a quiet is asked for or held (new work waits). */
  get holding(): boolean {
    return this.#quiet !== null;
  }

  /** How many pieces of work are in progress. */
  get active(): number {
    return this.#active;
  }

  async work<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#inside.getStore()) return fn();
    while (this.#quiet) await this.#quiet;
    this.#active++;
    try {
      return await this.#inside.run(true, fn);
    } finally {
      this.#active--;
      if (this.#active === 0) this.#drained?.();
    }
  }

  /**
   * Runs fn once no work is in progress, with new work waiting until it ends. Gives up with HoldTimeout
   * when work is still in progress after `waitMs` (nothing was done, the work goes on). fn is given a
   * deadline signal of `holdMs`: the quiet ends when fn ends, and fn must stop at the signal.
   */
  async quiet<T>(waitMs: number, holdMs: number, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
    if (this.#inside.getStore()) throw new HoldTimeout('a backup cannot be taken from inside a call that changes state');
    while (this.#quiet) await this.#quiet;
    let end!: () => void;
    this.#quiet = new Promise<void>((r) => (end = r));
    try {
      if (this.#active > 0) {
        let timer: NodeJS.Timeout | undefined;
        const drained = new Promise<boolean>((r) => (this.#drained = () => r(true)));
        const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), waitMs)));
        const ok = await Promise.race([drained, late]);
        clearTimeout(timer);
        this.#drained = null;
        if (!ok) throw new HoldTimeout(`${this.#active} call(s) or run(s) still in progress after ${waitMs} ms: nothing was taken`);
      }
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(new HoldTimeout(`the hold reached its bound of ${holdMs} ms: released`)), holdMs);
      try {
        return await fn(ac.signal);
      } finally {
        clearTimeout(timer);
      }
    } finally {
      this.#quiet = null;
      end();
    }
  }
}
