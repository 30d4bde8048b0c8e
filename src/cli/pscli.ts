// pscli: the operator's command line. Each command group is a module under ./pscli/ exporting register().
import { Command, CommanderError } from 'commander';
import { beginRun, defaultIo, type Io } from './context.js';
import { CliError, errorLine, EXIT, exitCodeOf } from './exit.js';
import { PACKAGE_VERSION } from './version.js';

interface CommandModule {
  register(program: Command): void;
}

/** The command groups, in help order. Adding one is one line here. */
const loadCommands = (): Promise<CommandModule[]> =>
  Promise.all([
    import('./pscli/db.js'),
    import('./pscli/pki.js'),
    import('./pscli/hotwallet.js'),
    import('./pscli/ledger.js'),
    import('./pscli/checks.js'),
    import('./pscli/accounts.js'),
    import('./pscli/payserv.js'),
    import('./pscli/audit.js'),
    import('./pscli/backup.js'),
  ]);

export function buildProgram(io: Io): Command {
  // Subcommands made with program.command() inherit exitOverride and the output settings.
  return new Command('pscli')
    .description('payserv operator tool')
    .version(PACKAGE_VERSION, '--version', 'print the version of payserv')
    .option('--config <file>', 'configuration file (default: $PAYSERV_CONFIG, else <state dir>/pscli.toml if present)')
    .option('--state-dir <dir>', 'state directory (default: $PAYSERV_STATE_DIR, else the config, else $XDG_STATE_HOME/payserv)')
    .option('--json', 'print one JSON document on stdout instead of text')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // Commander says "error: ..."; every payserv error line says "pscli: ...".
      outputError: (s, write) => write(`pscli: ${s.replace(/^error: /, '')}`),
    });
}

/**
 * A database refusal the commands' own checks did not foresee, in plain words: the operator learns that
 * nothing was written and which rule said no, not PostgreSQL's wording. Anything else is passed on.
 */
function plainDbRefusal(e: unknown): unknown {
  const { code, constraint } = (e ?? {}) as { code?: unknown; constraint?: unknown };
  if (typeof code !== 'string' || !/^2[23][0-9A-Z]{3}$/.test(code)) return e;
  const rule = typeof constraint === 'string' ? ` (${constraint})` : '';
  return code.startsWith('23')
    ? new CliError(
        `the database refused the change${rule}: it is already there or conflicts with a row that is; nothing changed`,
        EXIT.PROBLEMS,
      )
    : new CliError(`the database refused a value it cannot store${rule}: check the options; nothing changed`, EXIT.USAGE);
}

export async function main(argv: string[], io: Partial<Io> = {}): Promise<number> {
  const fullIo = defaultIo(io);
  try {
    const program = buildProgram(fullIo);
    for (const m of await loadCommands()) m.register(program);
    const run = beginRun(program, fullIo);
    await program.parseAsync(argv, { from: 'user' });
    return run.exitCode;
  } catch (thrown) {
    const e = plainDbRefusal(thrown);
    // Commander has already printed its own message (or the help it was asked for).
    if (!(e instanceof CommanderError)) fullIo.stderr.write(`${errorLine('pscli', e)}\n`);
    return exitCodeOf(e);
  }
}
