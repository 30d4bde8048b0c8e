import { LocalCheckpointStore } from '../checkpoints/local-store.js';
import type { Db } from '../db/db.js';
import { requireCurrentSchema } from '../db/migrate.js';
import { loadTrust } from '../esman/pki-files.js';
import { openView, type LedgerView } from '../verify/view.js';
import { requireDataChosen, requireDatabaseChosen, withData, withDb, type Context } from './context.js';
import { CliError, EXIT } from './exit.js';
import { parseAmount, type Amount } from '../money/amount.js';
import { CREDITS_PER_BLOCK_MAX } from '../writer/credits.js';

function trustOf(ctx: Context) {
  try {
    return loadTrust(ctx.stateDir);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.USAGE);
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

/** The checks: a view of the ledger read through dbgw when pscli has a [dbgw] table, else from the database. */
export async function withLedgerView<T>(ctx: Context, fn: (view: LedgerView) => Promise<T>): Promise<T> {
  requireDataChosen(ctx);
  const trust = trustOf(ctx);
  return withData(ctx, async (data) => fn(await openView(data, trust, new LocalCheckpointStore(ctx.stateDir))));
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
