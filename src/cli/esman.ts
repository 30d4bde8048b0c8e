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

export async function main(
  argv: string[],
  io: EsmanIo = { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
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
    return e.code === 'bad_option' ? EXIT.USAGE : EXIT.PROBLEMS;
  } finally {
    closePassphraseInputs();
  }
}
