// payserv: the payment service, in the foreground (systemd runs it: deploy/payserv.service). It starts
// with payouts disabled; SIGTERM stops taking calls and lets the ones in flight finish (bounded).
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log/index.js';
import { startPayserv } from '../payserv/service.js';
import { errorLine, EXIT, exitCodeOf } from './exit.js';

/** After the grace period, how long closing the database may take before the process exits anyway. */
const STOP_MARGIN_MS = 5_000;

export async function main(argv: string[]): Promise<number> {
  const program = new Command('payserv')
    .description('payserv: verifies withdrawals against the signed ledger and pays them exactly once')
    .option('--config <file>', 'configuration file (default: $PAYSERV_CONFIG, else <state dir>/payserv.toml if present)')
    .option('--state-dir <dir>', 'state directory (default: $PAYSERV_STATE_DIR, else the config, else $XDG_STATE_HOME/payserv)')
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
    const o = program.opts<{ config?: string; stateDir?: string }>();
    const config = await loadConfig('payserv', o.config, { stateDir: o.stateDir });
    const log = createLogger('payserv', config.log.level);
    // Until it runs, a signal only ends the wait for esman manager's key.
    const locked = new AbortController();
    const abort = () => locked.abort();
    process.once('SIGTERM', abort).once('SIGINT', abort);
    let running;
    try {
      running = await startPayserv(config, log, undefined, locked.signal);
    } catch (e) {
      if (!locked.signal.aborted) throw e;
      log.warn({}, 'stopped before start: no key was received');
      return EXIT.OK;
    } finally {
      process.off('SIGTERM', abort).off('SIGINT', abort);
    }
    await new Promise<void>((resolve) => {
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        log.warn({ signal }, 'stopping: finishing calls in flight');
        // A call still running after the grace period (a query waiting on a lock, up to statement_timeout)
        // keeps its database connection, and closing the pool waits for it: the stop is bounded here instead.
        // Its transaction is rolled back when the connection drops; the ledger tells what it did.
        const deadlineMs = config.rpc.shutdown_grace_ms + STOP_MARGIN_MS;
        setTimeout(() => {
          log.error({ signal, deadlineMs }, 'stop did not finish in time: exiting with calls still holding database connections');
          process.exit(EXIT.RUNTIME);
        }, deadlineMs).unref();
        running.stop().then(resolve, (e: unknown) => {
          log.error({ err: (e as Error).message }, 'unclean stop');
          resolve();
        });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
      // The address line lets a supervisor (or a test) know where it listens. Only after the handlers: a
      // signal that arrives before any handler exists kills the process outright, without a clean stop.
      process.stdout.write(`payserv listening on ${running.server.address}:${running.server.port}\n`);
    });
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof CommanderError)) process.stderr.write(`${errorLine('payserv', e)}\n`);
    return exitCodeOf(e);
  }
}
