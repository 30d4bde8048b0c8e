// A connection-scoped callback (a transaction, a session) turned into a handle held open across calls:
// the callback stays pending until the holder releases it. Payserv's advisory-lock session and dbgw's
// sessions are both this.

export interface Held<Q> {
  q: Q;
  /** Ends it: kept (commit, or the connection back to the pool) when ok, else dropped (rollback, or the connection destroyed). Settles with how it ended (a COMMIT can fail). */
  release(ok: boolean): Promise<void>;
}

class Dropped extends Error {}

/** Opens `scope` and hands back its connection; rejects if the scope never opened. */
export function holdOpen<Q>(scope: (fn: (q: Q) => Promise<void>) => Promise<void>): Promise<Held<Q>> {
  return new Promise((resolve, reject) => {
    let opened = false;
    const ended: Promise<void> = scope(
      (q) =>
        new Promise<void>((keep, drop) => {
          opened = true;
          resolve({ q, release: (ok) => (ok ? keep() : drop(new Dropped()), ended) });
        }),
    ).catch((e: unknown) => {
      if (!opened) reject(e as Error);
      else if (!(e instanceof Dropped)) throw e;
    });
    ended.catch(() => undefined);
  });
}
