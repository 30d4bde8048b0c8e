// payserv: the payment service, in the foreground (systemd runs it: deploy/payserv.service). It starts
// with payouts disabled; SIGTERM stops taking calls and lets the ones in flight finish (bounded).
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../log/index.js';
import { startPayserv } from '../payserv/service.js';
import { errorLine, EXIT, exitCodeOf } from './exit.js';
import { serveUntilSignal, STOP_MARGIN_MS } from './serve.js';

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
    await serveUntilSignal({
      announce: `payserv listening on ${running.server.address}:${running.server.port}`, log,
      stop: () => running.stop(), deadlineMs: config.rpc.shutdown_grace_ms + STOP_MARGIN_MS,
    });
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof CommanderError)) process.stderr.write(`${errorLine('payserv', e)}\n`);
    return exitCodeOf(e);
  }
}
