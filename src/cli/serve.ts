// The foreground life of a service (payserv, dbgw): its command line, its configuration and logger,
// then announce where it listens and, on SIGTERM or SIGINT, stop once, bounded: past the grace period
// and a margin the process exits anyway.
import { StoppedBeforeStart } from '../app/open-data.js';
import { Command, CommanderError } from 'commander';
import { loadConfig, type Config } from '../config/load.js';
import { createLogger, type Logger } from '../log/index.js';
import { errorLine, EXIT, exitCodeOf } from './exit.js';
import { PACKAGE_VERSION } from './version.js';

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
        s.log.error(
          { signal, deadlineMs: s.deadlineMs },
          'stop did not finish in time: exiting with calls still holding database connections',
        );
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

/**
 * Runs a service's start, which may wait for esman manager's key: until it returns, SIGTERM or SIGINT only
 * ends that wait, and the service stops before it ran (null, logged).
 */
export async function startUnlessSignalled<T>(log: Logger, start: (signal: AbortSignal) => Promise<T>): Promise<T | null> {
  const locked = new AbortController();
  const abort = () => locked.abort();
  process.once('SIGTERM', abort).once('SIGINT', abort);
  try {
    return await start(locked.signal);
  } catch (e) {
    if (!locked.signal.aborted) throw e;
    log.warn({}, e instanceof StoppedBeforeStart ? e.message : 'stopped before start: no key was received');
    return null;
  } finally {
    process.off('SIGTERM', abort).off('SIGINT', abort);
  }
}

export interface Started {
  server: { address: string; port: number; reloadCertificate?: () => unknown };
  stop(): Promise<void>;
}

/**
 * `service [--config FILE] [--state-dir DIR]`: loads the configuration, starts the service (`start`
 * answers null when it ended before running, having logged why), serves until a signal.
 */
export async function runService<S extends 'payserv' | 'dbgw' | 'intake'>(
  argv: string[],
  service: S,
  description: string,
  start: (config: Config<S>, log: Logger) => Promise<Started | null>,
): Promise<number> {
  const program = new Command(service)
    .description(description)
    .option('--config <file>', `configuration file (default: $PAYSERV_CONFIG, else <state dir>/${service}.toml if present)`)
    .option('--state-dir <dir>', 'state directory (default: $PAYSERV_STATE_DIR, else the config, else $XDG_STATE_HOME/payserv)')
    .version(PACKAGE_VERSION, '--version', 'print the version of payserv')
    .exitOverride()
    // Commander says "error: ..."; every error line of a service names it, as pscli's do.
    .configureOutput({ outputError: (s, write) => write(`${service}: ${s.replace(/^error: /, '')}`) });
  // SIGHUP (systemctl reload): look for a renewed certificate now. Handled from the start, so that one
  // arriving while the service still waits for its key is not Node's default, which ends the process.
  let running: Started | null = null;
  const hup = () => void running?.server.reloadCertificate?.();
  process.on('SIGHUP', hup);
  try {
    program.parse(argv, { from: 'user' });
    const o = program.opts<{ config?: string; stateDir?: string }>();
    const config = await loadConfig(service, o.config, { stateDir: o.stateDir });
    const log = createLogger(service, config.log.level);
    const started = (running = await start(config, log));
    if (!started) return EXIT.OK;
    await serveUntilSignal({
      announce: `${service} listening on ${started.server.address}:${started.server.port}`,
      log,
      stop: () => started.stop(),
      deadlineMs: config.rpc.shutdown_grace_ms + STOP_MARGIN_MS,
    });
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof CommanderError)) process.stderr.write(`${errorLine(service, e)}\n`);
    return exitCodeOf(e);
  } finally {
    process.off('SIGHUP', hup);
  }
}
