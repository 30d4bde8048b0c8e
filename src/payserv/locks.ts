import type { Data, DataTx } from '../data/data.js';
import { holdOpen, type Held } from '../data/hold.js';
import type { LockKeys } from '../data/lock-keys.js';
import { LOCKS, type LockHolderRow } from '../data/ops/locks.js';
import type { Logger } from '../log/index.js';

// One call at a time per withdrawal, and one sending call at a time per coin — within this process
// (a map) and across payserv processes on one database (a session-level advisory lock, which the
// server drops by itself when the holder's connection dies: a crashed holder leaves nothing behind).
// A lock's key is derived from its name and payserv's key (src/data/lock-keys.ts): another payserv
// process with the same key serialises with this one, and nobody without it can take the lock.
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

/** A database session other than this process's lock connection holding one of our locks. */
export type ForeignHolder = Omit<LockHolderRow, 'key'> & { name: string };

/** A lock the database refused us because another session held it: when first, and by whom if the server said. */
export interface Refusal {
  at: Date;
  pid: number | null;
}

/** Refused locks remembered for the lock report (src/payserv/lock-watch.ts), oldest dropped first past this. */
const REFUSALS_MAX = 256;

export interface LocksOptions {
  /** Where a refusal by another session is logged (a warning naming the lock and the session). */
  log?: Logger;
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
  readonly #keys: LockKeys;
  readonly #log: Logger | undefined;
  readonly #held = new Map<string, HeldLock>();
  /** For each lookup of foreign holders in flight: every lock this process held or took meanwhile (its rows are ours). */
  readonly #lookups = new Set<Set<string>>();
  readonly #refused = new Map<string, Refusal>();
  #shared: LockSession | null = null;

  constructor(db: Data, keys: LockKeys, opts: LocksOptions = {}) {
    this.#db = db;
    this.#keys = keys;
    this.#log = opts.log;
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
    if (s.users === 0)
      void s.session
        .then(
          (x) => x.release(!s.broken),
          () => undefined,
        )
        .catch(() => undefined);
  }

  /** Runs fn holding the named lock, or throws LockBusy at once if anyone holds it: a caller retries, it never queues. */
  async with<T>(name: string, holder: string, fn: () => Promise<T>): Promise<T> {
    if (this.#held.has(name)) throw new LockBusy(`${name} is held by ${this.#held.get(name)?.holder}`);
    const lock: HeldLock = { name, holder, since: new Date() };
    this.#held.set(name, lock);
    for (const seen of this.#lookups) seen.add(name);
    try {
      if (this.#db.kind === 'pglite') return await fn();
      const shared = this.#join();
      let broken = true;
      try {
        const s = (await shared.session).q;
        const key = this.#keys.key(name);
        const [r] = await s.query(LOCKS.tryLock, [key]);
        broken = false;
        if (!r?.ok) {
          await this.#refusedBy(name);
          throw new LockBusy(`${name} is held by another payserv process`);
        }
        try {
          return await fn();
        } finally {
          broken = true;
          await s.query(LOCKS.unlock, [key]);
          broken = false;
        }
      } finally {
        this.#leave(shared, broken);
      }
    } finally {
      this.#held.delete(name);
    }
  }

  /**
   * Another session holds it: the warning an operator needs (who denies payserv the lock), and a
   * refusal for the lock report. Only ever adds to a LockBusy, so it never throws.
   */
  async #refusedBy(name: string): Promise<void> {
    // The server refused us, so whoever holds it is not this process.
    const holders = await this.#holders([name], new Set()).catch(() => []);
    const first = holders[0];
    this.#log?.warn(
      {
        lock: name,
        pids: holders.map((h) => h.pid),
        backend_start: first?.backend_start,
        state_change: first?.state_change,
        application_name: first?.application_name,
      },
      `lock ${name} is held by another database session${first ? ` (pid ${holders.map((h) => h.pid).join(', ')})` : ''}: the call was told to try again`,
    );
    // The first refusal by a session dates the episode; another session starts a new one.
    const prev = this.#refused.get(name);
    this.#refused.delete(name);
    this.#refused.set(name, prev && (!first || prev.pid === first.pid) ? prev : { at: new Date(), pid: first?.pid ?? null });
    // Oldest first (insertion order, each refusal moved to the end): a flood of refusals keeps the newest.
    for (const old of this.#refused.keys()) {
      if (this.#refused.size <= REFUSALS_MAX) break;
      this.#refused.delete(old);
    }
  }

  /** Whether anyone (this process or another) holds the lock right now. Reads pg_locks: taking the lock to see would refuse a real caller meanwhile. */
  async isHeld(name: string): Promise<boolean> {
    if (this.#held.has(name)) return true;
    if (this.#db.kind === 'pglite') return false;
    return (await this.#db.query(LOCKS.holders, [[this.#keys.key(name)]])).length > 0;
  }

  /**
   * Sessions other than this process's lock connection that hold any of the named locks. Empty on the
   * embedded database: one process, whose locks are all in the map. A lock this process held or took at
   * any moment of the lookup is left out: the row the server showed may have been ours.
   */
  async foreignHolders(names: Iterable<string>): Promise<ForeignHolder[]> {
    const seen = new Set(this.#held.keys());
    this.#lookups.add(seen);
    try {
      return await this.#holders(names, seen);
    } finally {
      this.#lookups.delete(seen);
    }
  }

  async #holders(names: Iterable<string>, ours: ReadonlySet<string>): Promise<ForeignHolder[]> {
    if (this.#db.kind === 'pglite') return [];
    const byKey = new Map<string, string>();
    for (const name of names) byKey.set(this.#keys.key(name), name);
    if (!byKey.size) return [];
    const rows = await this.#db.query(LOCKS.holders, [[...byKey.keys()]]);
    const out: ForeignHolder[] = [];
    for (const { key, ...r } of rows) {
      const name = byKey.get(key);
      if (name !== undefined && !ours.has(name)) out.push({ name, ...r });
    }
    return out;
  }

  /** Locks the database refused this process because another session held them, until forgotten. */
  refusals(): ReadonlyMap<string, Refusal> {
    return this.#refused;
  }

  /** The lock report found it free: the refusal is over. */
  forgetRefusal(name: string): void {
    this.#refused.delete(name);
  }

  /** The locks this process holds. */
  list(): HeldLock[] {
    return [...this.#held.values()];
  }

  /** How many advisory locks other sessions hold on this database (any key: a count, not names). */
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
