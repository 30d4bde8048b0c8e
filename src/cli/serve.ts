// The foreground life of a service (payserv, dbgw): announce where it listens, then on SIGTERM or
// SIGINT stop once, bounded: past `deadlineMs` the process exits anyway.
import type { Logger } from '../log/index.js';
import { EXIT } from './exit.js';

/** After the grace period, how long closing the database may take before the process exits anyway. */
export const STOP_MARGIN_MS = 5_000;

export interface Serving {
  /** The line a supervisor (or a test) waits for, e.g. "payserv listening on 127.0.0.1:7443". */
  announce: string;
  log: Logger;
  /** Stops taking calls, lets the ones in flight finish, closes what it holds. */
  stop(): Promise<void>;
  deadlineMs: number;
}

export function serveUntilSignal(s: Serving): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      s.log.warn({ signal }, 'stopping: finishing calls in flight');
      // A call still running after the grace period (a query waiting on a lock) keeps its database
      // connection, and closing the pool waits for it: the stop is bounded here instead. Its
      // transaction is rolled back when the connection drops; the ledger tells what it did.
      setTimeout(() => {
        s.log.error({ signal, deadlineMs: s.deadlineMs }, 'stop did not finish in time: exiting with calls still holding database connections');
        process.exit(EXIT.RUNTIME);
      }, s.deadlineMs).unref();
      s.stop().then(resolve, (e: unknown) => {
        s.log.error({ err: (e as Error).message }, 'unclean stop');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    // Only after the handlers: a signal that arrives before any handler exists kills the process outright.
    process.stdout.write(`${s.announce}\n`);
  });
}
