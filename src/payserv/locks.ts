import type { Db } from '../db/db.js';

// One call at a time per withdrawal, and one sending call at a time per coin — within this process
// (a map) and across payserv processes on one database (a session-level advisory lock, which the
// server drops by itself when the holder's connection dies: a crashed holder leaves nothing behind).

export interface HeldLock {
  name: string;
  /** What holds it: the method and the client. */
  holder: string;
  since: Date;
}

export class LockBusy extends Error {
  override name = 'LockBusy';
}

export class Locks {
  readonly #db: Db;
  readonly #held = new Map<string, HeldLock>();

  constructor(db: Db) {
    this.#db = db;
  }

  /** Runs fn holding the named lock, or throws LockBusy at once if anyone holds it: a caller retries, it never queues. */
  async with<T>(name: string, holder: string, fn: () => Promise<T>): Promise<T> {
    if (this.#held.has(name)) throw new LockBusy(`${name} is held by ${this.#held.get(name)?.holder}`);
    const lock: HeldLock = { name, holder, since: new Date() };
    this.#held.set(name, lock);
    try {
      if (this.#db.kind === 'pglite') return await fn();
      return await this.#db.withSession(async (s) => {
        const [r] = await s.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended('payserv:' || $1, 0)) AS ok", [name]);
        if (!r?.ok) throw new LockBusy(`${name} is held by another payserv process`);
        try {
          return await fn();
        } finally {
          await s.query("SELECT pg_advisory_unlock(hashtextextended('payserv:' || $1, 0))", [name]);
        }
      });
    } finally {
      this.#held.delete(name);
    }
  }

  /** Whether anyone (this process or another) holds the lock right now. */
  async isHeld(name: string): Promise<boolean> {
    if (this.#held.has(name)) return true;
    if (this.#db.kind === 'pglite') return false;
    return this.#db.withSession(async (s) => {
      const [r] = await s.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended('payserv:' || $1, 0)) AS ok", [name]);
      if (r?.ok) await s.query("SELECT pg_advisory_unlock(hashtextextended('payserv:' || $1, 0))", [name]);
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
    const [r] = await this.#db.query<{ n: number }>(
      "SELECT count(*)::bigint AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()");
    return Math.max(0, (r?.n ?? 0) - this.#held.size);
  }
}

export const withdrawalLock = (id: number) => `withdrawal:${id}`;
export const coinSendLock = (tag: string) => `send:${tag}`;
