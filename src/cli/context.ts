// What every command needs before doing anything: its configuration, a logger and the state directory;
// and the database, opened late (most failures should not cost a connection) and always closed.
import type { Command } from 'commander';
// The configuration, the logger and the database clients (zod, pino, pg, PGlite) are imported when a
// command runs, not when pscli starts: `pscli --help` and a usage error stay fast.
import type { Data } from '../data/data.js';
import type { Db } from '../db/db.js';
import type { Config, Env } from '../config/load.js';
import { isDemoDir } from '../demo/state-dir.js';
import type { Logger } from '../log/index.js';
import { CliError, EXIT, type ExitCode } from './exit.js';

export interface Writer {
  write(text: string): unknown;
}

/** The process's streams and environment; tests substitute their own. */
export interface Io {
  stdout: Writer;
  stderr: Writer;
  env: Env;
}

export function defaultIo(partial: Partial<Io> = {}): Io {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, ...partial };
}

/** The global options of pscli, as commander parses them. */
export interface GlobalOptions {
  config?: string | undefined;
  stateDir?: string | undefined;
  json?: boolean | undefined;
}

export interface Context {
  config: Config<'pscli'>;
  log: Logger;
  stateDir: string;
  json: boolean;
  io: Io;
  /** Command output (stdout): the one thing scripts parse. */
  print(text: string): void;
  /** The one JSON document a --json command prints. */
  printJson(doc: unknown): void;
}

export async function openContext(opts: GlobalOptions, io: Io = defaultIo()): Promise<Context> {
  const [{ loadConfig }, { createLogger }] = await Promise.all([import('../config/load.js'), import('../log/index.js')]);
  const config = await loadConfig('pscli', opts.config, { env: io.env, stateDir: opts.stateDir });
  // Logs go to the same stderr as error lines, so a test capturing one captures both.
  const log = createLogger('pscli', config.log.level, { write: (s: string) => void io.stderr.write(s) });
  log.debug({ file: config.file, stateDir: config.stateDir }, 'configuration loaded');
  return {
    config,
    log,
    stateDir: config.stateDir,
    json: opts.json === true,
    io,
    print: (text) => void io.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    printJson: (doc) => void io.stdout.write(`${JSON.stringify(doc, null, 2)}\n`),
  };
}

/**
 * For pscli's read-only work (checks, audit verify): through dbgw when pscli.toml has a [dbgw] table
 * (production: pscli holds no database credentials), else the database itself, schema checked.
 */
export async function withData<T>(ctx: Context, fn: (data: Data) => Promise<T>): Promise<T> {
  requireDataChosen(ctx);
  const gw = ctx.config.dbgw;
  if (!gw) {
    const { requireCurrentSchema } = await import('../db/migrate.js');
    return withDb(ctx, async (db) => {
      await requireCurrentSchema(db);
      return fn(db);
    });
  }
  const [{ openDbgw }, { dbgwData }, { pscliTls }] = await Promise.all([
    import('../dbgw/client.js'),
    import('../dbgw/data.js'),
    import('./tls.js'),
  ]);
  const client = await openDbgw({ host: gw.host, port: gw.port, tls: pscliTls(ctx), timeoutMs: gw.timeout_ms }).catch((e: Error) => {
    throw new CliError(`dbgw: ${e.message}`, EXIT.RUNTIME);
  });
  const data = dbgwData(client, { log: ctx.log });
  ctx.log.debug({ where: data.where }, 'reading through dbgw');
  try {
    return await fn(data);
  } finally {
    await data.close();
  }
}

/**
 * Without a url, the embedded database: only by choice ([database] embedded = true) or in a state
 * directory the demo made (its marker inside). Anywhere else a missing DATABASE_URL would otherwise
 * give an operator a new, empty ledger in STATE/db and answers about it: refused, nothing created.
 */
export function requireDatabaseChosen(ctx: Context): void {
  const { url, embedded } = ctx.config.database;
  if (url || embedded || isDemoDir(ctx.stateDir)) return;
  throw new CliError(
    'no database configured: set [database] url in pscli.toml (or DATABASE_URL)' +
      `${ctx.config.dbgw ? '' : ', or a [dbgw] table for the checks'}; the embedded trial database needs [database] embedded = true`,
    EXIT.USAGE,
  );
}

/**
 * A development state directory: the demo's (its marker inside) or one whose [database] embedded = true says
 * it is a trial. Only there may pscli keep a secret in a plain file (a hot-wallet key); production keeps them in esman's store.
 */
export function isDevelopmentStateDir(ctx: Context): boolean {
  return ctx.config.database.embedded || isDemoDir(ctx.stateDir);
}

/** What withData reads from is configured (dbgw, or a database as requireDatabaseChosen asks): checked before any other work. */
export function requireDataChosen(ctx: Context): void {
  if (!ctx.config.dbgw) requireDatabaseChosen(ctx);
}

/** The database itself: the pool's writer tools and migrations, which never go through dbgw. */
export async function withDb<T>(ctx: Context, fn: (db: Db) => Promise<T>): Promise<T> {
  requireDatabaseChosen(ctx);
  const { openDatabase } = await import('../db/open.js');
  const db = await openDatabase(ctx.config.database, ctx.stateDir);
  ctx.log.debug({ where: db.where }, 'database opened');
  try {
    return await fn(db);
  } finally {
    await db.close();
  }
}

// Commander has no slot for per-run state, so the root program is the key: one run, one Io, one exit code.
interface RunState {
  io: Io;
  exitCode: ExitCode;
}
const runs = new WeakMap<Command, RunState>();

function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

export function beginRun(program: Command, io: Io): RunState {
  const state: RunState = { io, exitCode: EXIT.OK };
  runs.set(program, state);
  return state;
}

/**
 * Wraps a command's implementation as a commander action: opens the context from the global options,
 * and records the exit code it returns (nothing = 0). Read arguments from `cmd.args`, options from `cmd.opts()`.
 */
export function action(fn: (ctx: Context, cmd: Command) => Promise<ExitCode | void>) {
  return async (...args: unknown[]): Promise<void> => {
    const cmd = args[args.length - 1] as Command;
    const state = runs.get(rootOf(cmd));
    const ctx = await openContext(cmd.optsWithGlobals<GlobalOptions>(), state?.io);
    const code = await fn(ctx, cmd);
    if (state) state.exitCode = code ?? EXIT.OK;
  };
}
