import { LocalCheckpointStore } from '../checkpoints/local-store.js';
import type { Db } from '../db/db.js';
import { requireCurrentSchema } from '../db/migrate.js';
import { loadTrust } from '../esman/pki-files.js';
import { openView, type LedgerView } from '../verify/view.js';
import { withData, withDb, type Context } from './context.js';
import { CliError, EXIT } from './exit.js';

function trustOf(ctx: Context) {
  try {
    return loadTrust(ctx.stateDir);
  } catch (e) {
    throw new CliError((e as Error).message, EXIT.USAGE);
  }
}

/** The pool's writer tools: the database itself (schema must be current), the pinned root and the local checkpoint store. */
export async function withLedger<T>(ctx: Context, fn: (db: Db, view: LedgerView) => Promise<T>): Promise<T> {
  const trust = trustOf(ctx);
  return withDb(ctx, async (db) => {
    await requireCurrentSchema(db);
    return fn(db, await openView(db, trust, new LocalCheckpointStore(ctx.stateDir)));
  });
}

/** The checks: a view of the ledger read through dbgw when pscli has a [dbgw] table, else from the database. */
export async function withLedgerView<T>(ctx: Context, fn: (view: LedgerView) => Promise<T>): Promise<T> {
  const trust = trustOf(ctx);
  return withData(ctx, async (data) => fn(await openView(data, trust, new LocalCheckpointStore(ctx.stateDir))));
}

/** Parses a positive integer option, naming it when it is not one. */
export function positiveInt(name: string, value: unknown): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new CliError(`${name} must be a positive integer, got ${JSON.stringify(value)}`, EXIT.USAGE);
  return n;
}

/** A coin given by tag or id. */
export function coinIdOf(view: LedgerView, value: unknown): number {
  const s = String(value ?? '');
  for (const c of view.coins.values()) if (c.tag === s.toUpperCase() || String(c.id) === s) return c.id;
  throw new CliError(`unknown coin ${JSON.stringify(s)}; known: ${[...view.coins.values()].map((c) => c.tag).join(', ') || 'none'}`, EXIT.USAGE);
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
