// Exit codes of every payserv executable, in one place so scripts and monitoring can rely on them.
import { CommanderError } from 'commander';
import type { RefusalCode } from '../api/payserv.js';
import { ConfigError } from '../config/error.js';
import { scrubSecrets } from '../log/scrub.js';
import { PrecisionError } from '../money/precision.js';

export const EXIT = {
  /** Done; for a check: everything verified clean. */
  OK: 0,
  /** The command ran and found problems (a check failed verification). */
  PROBLEMS: 1,
  /** Bad command line or configuration, or the command is not built yet: fix the invocation, do not retry. */
  USAGE: 2,
  /** The command could not do its work (cannot connect, I/O error, unexpected failure): may succeed on retry. */
  RUNTIME: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An expected failure: its message is shown as is, and it chooses the exit code. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.RUNTIME,
  ) {
    super(message);
  }
}

/**
 * payserv's refusals that name something the command line got wrong: an id, coin or wallet that does not
 * exist, or a correction no ledger takes. The README's table counts an unknown coin or user as usage (2), and
 * pscli's local checks say the same of an unknown wallet; a refusal found by payserv exits as if pscli had
 * found it. Every other refusal (busy, disabled, wrong status, ...) is 1: the call was fine, the moment not.
 */
const USAGE_REFUSALS: ReadonlySet<string> = new Set<RefusalCode>(['unknown_id', 'unknown_coin', 'unknown_wallet', 'invalid_correction']);

/**
 * payserv's refusals that say it could not do the work now (its data out of reach, shutting down, too busy, no
 * result in time, or an unexpected failure on its side): runtime failures that may succeed on retry, as for
 * pscli's own, not a refusal of the call.
 */
const RUNTIME_REFUSALS: ReadonlySet<string> = new Set<RefusalCode>([
  'database_unavailable',
  'internal',
  'shutting_down',
  'overloaded',
  'timeout',
]);

/** The exit code of a payserv refusal (an ERROR reply or an RPC error) with this code. */
export function refusalExit(code: string | null | undefined): ExitCode {
  if (code && USAGE_REFUSALS.has(code)) return EXIT.USAGE;
  return code && RUNTIME_REFUSALS.has(code) ? EXIT.RUNTIME : EXIT.PROBLEMS;
}

export function exitCodeOf(e: unknown): ExitCode {
  if (e instanceof CliError) return e.exitCode;
  if (e instanceof ConfigError) return EXIT.USAGE;
  // An amount finer than its coin's decimals: bad input, refused before anything was written.
  if (e instanceof PrecisionError) return EXIT.USAGE;
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  return EXIT.RUNTIME;
}

export { scrubSecrets } from '../log/scrub.js';

// Errors of these kinds are bugs, not conditions an operator can fix: say so instead of passing them off as advice.
const BUG_KINDS = new Set(['TypeError', 'ReferenceError', 'RangeError', 'SyntaxError']);

/** One line for stderr: `prog: message`, no stack trace, no secret. */
export function errorLine(prog: string, e: unknown): string {
  let message: string;
  if (e instanceof Error) message = BUG_KINDS.has(e.name) ? `internal error (${e.name}): ${e.message}` : e.message;
  else message = `unexpected failure: ${String(e)}`;
  return `${prog}: ${scrubSecrets(message)
    .replace(/\s*\n\s*/g, ' ')
    .trim()}`;
}
