// dbgw's open transactions and sessions: each holds one database connection for the caller that began
// it, between calls. One whose caller goes quiet (crashed, cut off) is rolled back and its connection
// dropped after idle_ms, so an abandoned transaction never commits half its writes and an abandoned
// advisory lock is released as if its holder's connection had died. A dbgw restart loses them all: the
// server rolls back what their connections held, and the caller's next call names an unknown session.
import { randomBytes } from 'node:crypto';
import { holdOpen } from '../data/hold.js';
import type { Db, Queryable } from '../db/db.js';
import type { Logger } from '../log/index.js';
import { RPC, RpcError } from '../api/jsonrpc.js';

export type SessionMode = 'transaction' | 'session';

interface Session {
  mode: SessionMode;
  q: Queryable;
  lastUsed: number;
  /** Calls running or queued on it: never expired under one. */
  busy: number;
  /** The last call queued: one connection runs one statement at a time, so calls on it go in order. */
  tail: Promise<unknown>;
  /** Ends it: commits (or releases) when `commit`, else rolls back (or drops the connection). */
  finish(commit: boolean): Promise<void>;
}

/** Connections of the pool kept for single statements (see setPoolSize). */
const SINGLE_STATEMENT_RESERVE = 2;

export class Sessions {
  readonly #open = new Map<string, Session>();
  readonly #sweeper: NodeJS.Timeout;
  /** Sessions open or opening, and how many may be. */
  #held = 0;
  #limit = Number.POSITIVE_INFINITY;
  readonly #waiting: (() => void)[] = [];

  constructor(
    private readonly idleMs: number,
    private readonly log: Logger,
  ) {
    this.#sweeper = setInterval(() => this.#sweep(), Math.max(250, Math.floor(idleMs / 4)));
    this.#sweeper.unref();
  }

  get size(): number {
    return this.#open.size;
  }

  /**
   * Sessions never take the whole pool: a transaction waiting for a lock whose holder still needs a
   * single statement (outside its own transaction) would otherwise wait for a connection nobody frees.
   */
  setPoolSize(poolSize: number): void {
    this.#limit = Math.max(1, poolSize - SINGLE_STATEMENT_RESERVE);
  }

  async #acquire(): Promise<void> {
    if (this.#held < this.#limit) {
      this.#held++;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  #release(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#held--;
  }

  /** Takes a connection and holds it open (the callback style of Db, kept pending until finish). */
  async begin(db: Db, mode: SessionMode): Promise<string> {
    await this.#acquire();
    const s = await this.#hold(db, mode).catch((e: unknown) => {
      this.#release();
      throw e;
    });
    const id = randomBytes(16).toString('hex');
    this.#open.set(id, s);
    return id;
  }

  async #hold(db: Db, mode: SessionMode): Promise<Session> {
    const h = await holdOpen<Queryable>((fn) => (mode === 'transaction' ? db.transaction(fn) : db.withSession(fn)));
    return { mode, q: h.q, lastUsed: Date.now(), busy: 0, tail: Promise.resolve(), finish: h.release };
  }

  /** Runs fn on the session's connection. */
  async use<T>(id: string, fn: (q: Queryable) => Promise<T>): Promise<T> {
    const s = this.#get(id);
    s.busy++;
    s.lastUsed = Date.now();
    const run = s.tail.then(() => fn(s.q));
    s.tail = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      s.busy--;
      s.lastUsed = Date.now();
    }
  }

  touch(id: string): void {
    this.#get(id).lastUsed = Date.now();
  }

  /** Commits (a transaction's COMMIT may still fail: that error is the caller's answer) or rolls back. */
  async end(id: string, commit: boolean): Promise<void> {
    const s = this.#get(id);
    this.#open.delete(id);
    try {
      await s.finish(commit);
    } finally {
      this.#release();
    }
  }

  /** Rolls back every open session (dbgw stopping). */
  async closeAll(): Promise<void> {
    clearInterval(this.#sweeper);
    const all = [...this.#open.values()];
    this.#open.clear();
    await Promise.all(
      all.map((s) =>
        s
          .finish(false)
          .catch(() => undefined)
          .finally(() => this.#release()),
      ),
    );
  }

  #get(id: string): Session {
    const s = this.#open.get(id);
    if (!s) throw new RpcError(RPC.INVALID_PARAMS, `unknown session ${id}: it ended, was rolled back as abandoned, or dbgw restarted`);
    return s;
  }

  #sweep(): void {
    const now = Date.now();
    for (const [id, s] of this.#open) {
      if (s.busy > 0 || now - s.lastUsed < this.idleMs) continue;
      this.#open.delete(id);
      this.log.warn(
        { session: id, mode: s.mode, idle_ms: now - s.lastUsed },
        'session abandoned by its caller: rolled back, connection dropped',
      );
      void s
        .finish(false)
        .catch(() => undefined)
        .finally(() => this.#release());
    }
  }
}
