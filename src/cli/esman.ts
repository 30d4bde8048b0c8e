// esman: the encrypted key store's manager. Errors are one line `esman: [code] …` with no secret; exit 1
// when esman refused (wrong passphrase, altered file, missing item), 2 for a bad command line.
import { Command, CommanderError } from 'commander';
import { EsmanError } from '../esman/errors.js';
import { register, type EsmanIo } from './esman/commands.js';
import { closePassphraseInputs } from './esman/input.js';
import { EXIT, errorLine } from './exit.js';
import { PACKAGE_VERSION } from './version.js';

/** `esman: [code] message`: the code for scripts, the message for the operator. */
function esmanErrorLine(e: unknown): string {
  const line = errorLine('esman', e);
  return e instanceof EsmanError ? line.replace(/^esman: /, `esman: [${e.code}] `) : line;
}

/** What `guardProcess` needs of a process: its events and its exit. */
export interface GuardedProcess {
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (e: unknown) => void): unknown;
  exit(code: number): never;
}

/**
 * Last resorts of the esman process. A reader gone from stdout (`esman list | head -1`: EPIPE) is no error:
 * the output is dropped and the command still finishes its work (a rekey is never cut half-way) with its own
 * exit code. Anything else left unhandled is one line `esman: [internal] …`, exit 3, never a stack trace.
 */
export function guardProcess(proc: GuardedProcess, io: EsmanIo): void {
  const internal = (e: unknown) => {
    try {
      io.stderr.write(`${errorLine('esman', e).replace(/^esman: /, 'esman: [internal] ')}\n`);
    } finally {
      proc.exit(EXIT.RUNTIME);
    }
  };
  const closedPipe = (e: NodeJS.ErrnoException) => e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED';
  io.stdout.on('error', (e: NodeJS.ErrnoException) => void (closedPipe(e) || internal(e)));
  io.stderr.on('error', () => undefined);
  proc.on('uncaughtException', internal);
  proc.on('unhandledRejection', internal);
}

export async function main(
  argv: string[],
  io: EsmanIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  if (io.stdout === process.stdout) guardProcess(process, io);
  const program = new Command('esman')
    .description('encrypted key store: Shamir-shared master key, named items, key hand-over to payserv')
    .version(PACKAGE_VERSION, '--version', 'print the version of payserv')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      outputError: (s, write) => write(`esman: ${s.replace(/^error: /, '')}`),
    });
  register(program, io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.OK;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    io.stderr.write(`${esmanErrorLine(e)}\n`);
    if (!(e instanceof EsmanError)) return EXIT.RUNTIME;
    return e.usage ? EXIT.USAGE : EXIT.PROBLEMS;
  } finally {
    closePassphraseInputs();
  }
}
