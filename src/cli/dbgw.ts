// dbgw: the database gateway, in the foreground (systemd runs it: deploy/dbgw.service). It serves its
// version call at once and its database operations once it has a database; SIGTERM stops it.
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/load.js';
import { startDbgw } from '../dbgw/service.js';
import { createLogger } from '../log/index.js';
import { errorLine, EXIT, exitCodeOf } from './exit.js';
import { serveUntilSignal, STOP_MARGIN_MS } from './serve.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('dbgw')
    .description('dbgw: the database gateway; the only process holding the database credentials')
    .option('--config <file>', 'configuration file (default: $PAYSERV_CONFIG, else <state dir>/dbgw.toml if present)')
    .option('--state-dir <dir>', 'state directory (default: $PAYSERV_STATE_DIR, else the config, else $XDG_STATE_HOME/payserv)')
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
    const o = program.opts<{ config?: string; stateDir?: string }>();
    const config = await loadConfig('dbgw', o.config, { stateDir: o.stateDir });
    const log = createLogger('dbgw', config.log.level);
    const running = await startDbgw(config, log);
    await serveUntilSignal({
      announce: `dbgw listening on ${running.server.address}:${running.server.port}`, log,
      stop: () => running.stop(), deadlineMs: config.rpc.shutdown_grace_ms + STOP_MARGIN_MS,
    });
    return EXIT.OK;
  } catch (e) {
    if (!(e instanceof CommanderError)) process.stderr.write(`${errorLine('dbgw', e)}\n`);
    return exitCodeOf(e);
  }
}
