import type { Data, DataTx } from '../data/data.js';
import { holdOpen, type Held } from '../data/hold.js';
import { LOCKS } from '../data/ops/locks.js';

// One call at a time per withdrawal, and one sending call at a time per coin — within this process
// (a map) and across payserv processes on one database (a session-level advisory lock, which the
// server drops by itself when the holder's connection dies: a crashed holder leaves nothing behind).
//
// Every advisory lock of this process is taken on ONE shared connection, held while any lock is: a
// connection per held lock would let as many concurrent calls as the pool has connections take them
// all, and then wait forever for one more to do their work.

export interface HeldLock {
  name: string;
  /** What holds it: the method and the client. */
  holder: string;
  since: Date;
}

export class LockBusy extends Error {
  override name = 'LockBusy';
}

/** The shared lock connection while anyone uses it; `users` counts holders (and callers taking a lock) on it. */
interface LockSession {
  session: Promise<Held<DataTx>>;
  users: number;
  /** A query on it failed: it may have lost its locks, so it is closed rather than reused. */
  broken: boolean;
}

export class Locks {
  readonly #db: Data;
  readonly #held = new Map<string, HeldLock>();
  #shared: LockSession | null = null;

  constructor(db: Data) {
    this.#db = db;
  }

  /** Joins the shared lock connection, opening it if nobody holds it (synchronously counted, so it cannot close under us). */
  #join(): LockSession {
    if (!this.#shared) {
      // A broken connection is dropped (destroyed), so it is never handed to anyone else.
      const session = holdOpen<DataTx>((fn) => this.#db.withSession(fn));
      session.catch(() => undefined);
      this.#shared = { session, users: 0, broken: false };
    }
    this.#shared.users++;
    return this.#shared;
  }

  /** Leaves it; the last one out gives the connection back. A broken one is never joined again. */
  #leave(s: LockSession, broken: boolean): void {
    s.users--;
    s.broken ||= broken;
    if (this.#shared === s && (s.broken || s.users === 0)) this.#shared = null;
    if (s.users === 0) void s.session.then((x) => x.release(!s.broken), () => undefined).catch(() => undefined);
  }

  /** Runs fn holding the named lock, or throws LockBusy at once if anyone holds it: a caller retries, it never queues. */
  async with<T>(name: string, holder: string, fn: () => Promise<T>): Promise<T> {
    if (this.#held.has(name)) throw new LockBusy(`${name} is held by ${this.#held.get(name)?.holder}`);
    const lock: HeldLock = { name, holder, since: new Date() };
    this.#held.set(name, lock);
    try {
      if (this.#db.kind === 'pglite') return await fn();
      const shared = this.#join();
      let broken = true;
      try {
        const s = (await shared.session).q;
        const [r] = await s.query(LOCKS.tryLock, [name]);
        broken = false;
        if (!r?.ok) throw new LockBusy(`${name} is held by another payserv process`);
        try {
          return await fn();
        } finally {
          broken = true;
          await s.query(LOCKS.unlock, [name]);
          broken = false;
        }
      } finally {
        this.#leave(shared, broken);
      }
    } finally {
      this.#held.delete(name);
    }
  }

  /** Whether anyone (this process or another) holds the lock right now. */
  async isHeld(name: string): Promise<boolean> {
    if (this.#held.has(name)) return true;
    if (this.#db.kind === 'pglite') return false;
    return this.#db.withSession(async (s) => {
      const [r] = await s.query(LOCKS.tryLock, [name]);
      if (r?.ok) await s.query(LOCKS.unlock, [name]);
      return !r?.ok;
    });
  }

  /** The locks this process holds. */
  list(): HeldLock[] {
    return [...this.#held.values()];
  }

  /** How many payserv advisory locks other processes hold (their names are hashes, so only a count). */
  async heldElsewhere(): Promise<number> {
    if (this.#db.kind === 'pglite') return 0;
    const [r] = await this.#db.query(LOCKS.heldElsewhere);
    return Math.max(0, (r?.n ?? 0) - this.#held.size);
  }
}

export const withdrawalLock = (id: number) => `withdrawal:${id}`;
export const coinSendLock = (tag: string) => `send:${tag}`;
/** Held by an autopay run of the coin for its whole length, and by resolve: never both at once. */
export const autopayLock = (tag: string) => `autopay:${tag}`;
