import { existsSync, readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { LocalCheckpointStore, LocalStoreError } from '../checkpoints/local-store.js';
import type { Data } from '../data/data.js';
import { LEDGER } from '../data/ops/ledger.js';
import type { Db } from '../db/db.js';
import { requireCurrentSchema } from '../db/migrate.js';
import { loadTrust } from '../esman/pki-files.js';
import { openView, type LedgerView } from '../verify/view.js';
import { requireDataChosen, requireDatabaseChosen, withData, withDb, type Context } from './context.js';
import { CliError, EXIT } from './exit.js';
import { parseAmount, type Amount } from '../money/amount.js';
import { CREDITS_PER_BLOCK_MAX } from '../writer/credits.js';

/** The pinned root of the state directory; missing or unreadable, a usage error naming the file. */
export function trustOf(ctx: Context) {
  try {
    return loadTrust(ctx.stateDir);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.USAGE);
  }
}

/** A file pscli reads from its state directory: missing, a usage error naming it (never a raw ENOENT). */
export function readStateFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CliError(`${what} ${code === 'ENOENT' ? 'not found' : `cannot be read (${code})`} at ${path}`, EXIT.USAGE);
  }
}

/** The pool's writer tools: the database itself (schema must be current), the pinned root and the local checkpoint store. */
export async function withLedger<T>(ctx: Context, fn: (db: Db, view: LedgerView) => Promise<T>): Promise<T> {
  requireDatabaseChosen(ctx);
  const trust = trustOf(ctx);
  return withDb(ctx, async (db) => {
    await requireCurrentSchema(db);
    return fn(db, await openView(db, trust, new LocalCheckpointStore(ctx.stateDir)));
  });
}

/** payserv's local checkpoint store, read by pscli: a write there would be pscli forging payserv's evidence. */
class ReadOnlyCheckpointStore extends LocalCheckpointStore {
  override putUser(): Promise<void> {
    return this.refuse();
  }
  override putCoin(): Promise<void> {
    return this.refuse();
  }
  override putWallets(): Promise<void> {
    return this.refuse();
  }
  private refuse(): Promise<void> {
    return Promise.reject(new LocalStoreError(`local checkpoint store ${this.root}: read-only for pscli`));
  }
}

/** Where a command reads payserv's local store (checkpoints, journal, audit head), and whether the operator said so. */
export interface PayservStateDir {
  dir: string;
  given: boolean;
}

/** The option of every command that reads payserv's local store. */
export function payservStateDirOption(cmd: Command): Command {
  return cmd.option(
    '--payserv-state-dir <dir>',
    "payserv's state directory, read only: its local checkpoints, journal and audit head (default: pscli's state directory)",
  );
}

/** --payserv-state-dir (checked to be a directory), else pscli's own state directory (one directory in development). */
export function payservStateDir(ctx: Context, cmd: Command): PayservStateDir {
  const given = cmd.opts<{ payservStateDir?: string }>().payservStateDir;
  if (given === undefined) return { dir: ctx.stateDir, given: false };
  if (!existsSync(given) || !statSync(given).isDirectory())
    throw new CliError(
      `--payserv-state-dir: ${JSON.stringify(given)} is not a directory (payserv's state directory, e.g. /var/lib/payserv)`,
      EXIT.USAGE,
    );
  return { dir: given, given: true };
}

/** Whether the database holds a checkpoint, which payserv made together with its local copy. */
async function anyCheckpoint(data: Data, coinIds: Iterable<number>): Promise<boolean> {
  if ((await data.query(LEDGER.userCheckpointsPage, [0, 0, 1])).length) return true;
  for (const id of coinIds) if ((await data.query(LEDGER.coinCheckpoint, [id])).length) return true;
  return false;
}

/**
 * Checkpoints in the database and no local store where pscli looked: pscli's state directory is not payserv's
 * (production: /var/lib/pscli and /var/lib/payserv). Every checkpoint would read as tampering; the operator is told where to look.
 */
async function requireLocalStore(data: Data, view: LedgerView, where: PayservStateDir): Promise<void> {
  if (where.given || existsSync(view.local.root) || !(await anyCheckpoint(data, view.coins.keys()))) return;
  throw new CliError(
    `no local checkpoint store in ${where.dir}: give payserv's state directory with --payserv-state-dir (production: /var/lib/payserv)`,
    EXIT.USAGE,
  );
}

/**
 * A view of the ledger read through dbgw when pscli has a [dbgw] table, else from the database. `local`: the command
 * reads payserv's local store (the checks, balance), from that directory; without it, pscli's own state directory.
 */
export async function withLedgerView<T>(ctx: Context, fn: (view: LedgerView) => Promise<T>, local?: PayservStateDir): Promise<T> {
  requireDataChosen(ctx);
  const trust = trustOf(ctx);
  return withData(ctx, async (data) => {
    const view = await openView(data, trust, new ReadOnlyCheckpointStore(local?.dir ?? ctx.stateDir));
    if (local) await requireLocalStore(data, view, local);
    return fn(view);
  });
}

/** Parses a positive integer option, naming it when it is not one. */
export function positiveInt(name: string, value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0)
    throw new CliError(`${name} must be a positive integer, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return n;
}

/** Parses a whole number option (0 allowed) up to `max`, naming it when it is not one. */
export function wholeNumber(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === 'string' && /^\d{1,16}$/.test(value) ? Number(value) : NaN;
  if (!(n <= max)) throw new CliError(`${name} must be a whole number from 0 to ${max}, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return n;
}

/** A coin tag as the ledger spells it (ETH, ZEC): upper-cased, 2 to 10 letters or digits. */
export function coinTag(name: string, value: unknown): string {
  const tag = String(value ?? '').toUpperCase();
  if (!/^[A-Z0-9]{2,10}$/.test(tag))
    throw new CliError(`${name}: expected a coin tag such as ETH (2 to 10 letters or digits), got ${JSON.stringify(value)}`, EXIT.USAGE);
  return tag;
}

/** An amount as a decimal string ("0.5", "-1" where negative is meaningful), checked as the ledger will read it. */
export function amountOpt(name: string, value: unknown): Amount {
  try {
    return parseAmount(String(value), name);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.USAGE);
  }
}

/**
 * `--credit USER=AMOUNT` values as creditBlock takes them, checked before any I/O so that a bad one is a usage
 * error naming it: each user once, each amount above zero, no more credits than one block holds.
 */
export function creditShares(values: readonly string[]): Array<{ userId: number; amount: Amount }> {
  if (values.length > CREDITS_PER_BLOCK_MAX)
    throw new CliError(`--credit: a block holds at most ${CREDITS_PER_BLOCK_MAX} credits, got ${values.length}`, EXIT.USAGE);
  const seen = new Set<number>();
  return values.map((value) => {
    const name = `--credit ${JSON.stringify(value.slice(0, 80))}`;
    const m = /^(\d+)=(.+)$/.exec(value);
    if (!m) throw new CliError(`${name}: expected USER=AMOUNT`, EXIT.USAGE);
    const userId = positiveInt(`${name}: the user`, m[1]);
    const amount = amountOpt(`${name}: the amount`, m[2]);
    if (amount <= 0n) throw new CliError(`${name}: the amount must be more than 0`, EXIT.USAGE);
    if (seen.has(userId)) throw new CliError(`${name}: user ${userId} is credited twice (a block credits each user once)`, EXIT.USAGE);
    seen.add(userId);
    return { userId, amount };
  });
}

/** A block hash: 64 hex digits, 0x optional, stored as 0x and lower case so one block cannot be credited twice under two spellings. */
export function blockHash(name: string, value: unknown): string {
  const s = String(value ?? '');
  if (!/^(0x)?[0-9a-fA-F]{64}$/.test(s))
    throw new CliError(`${name}: expected a block hash of 64 hex digits (0x optional), got ${JSON.stringify(s.slice(0, 80))}`, EXIT.USAGE);
  return `0x${s.replace(/^0x/, '').toLowerCase()}`;
}

/** A database's SQLSTATE for a unique violation: the row is there already. */
export const isUniqueViolation = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === '23505';

/** A coin given by tag or id. */
export function coinIdOf(view: LedgerView, value: unknown): number {
  const s = String(value ?? '');
  for (const c of view.coins.values()) if (c.tag === s.toUpperCase() || String(c.id) === s) return c.id;
  throw new CliError(
    `unknown coin ${JSON.stringify(s)}; known: ${[...view.coins.values()].map((c) => c.tag).join(', ') || 'none'}`,
    EXIT.USAGE,
  );
}

export interface TerminalProgress {
  (what: string, done: number, total?: number): void;
  /** Clears the progress line. */
  end(): void;
}

/** A progress line on a terminal, nothing otherwise (logs and pipes stay clean). */
export function terminalProgress(ctx: Context): TerminalProgress {
  const tty = (ctx.io.stderr as { isTTY?: boolean }).isTTY === true && !ctx.json;
  let last = 0;
  let shown = false;
  const tick = (what: string, done: number, total?: number) => {
    const now = Date.now();
    if (!tty || now - last < 200) return;
    last = now;
    shown = true;
    ctx.io.stderr.write(`\r\x1b[K${what}: ${done}${total ? `/${total}` : ''}`);
  };
  return Object.assign(tick, { end: () => void (shown && ctx.io.stderr.write('\r\x1b[K')) });
}
