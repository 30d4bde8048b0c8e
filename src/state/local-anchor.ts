// The host's own record of its local state (<state dir>/local-state.json): which parts of it were ever written.
// The database cannot reach it, so whether the local state was lost is never decided by the database alone: a part
// the anchor records but the state directory no longer holds is lost, whatever the database says.
import { join } from 'node:path';
import { readJson, writeJsonAtomic } from './atomic-file.js';

export const ANCHOR_FILE = 'local-state.json';
const FORMAT = 'payserv-local-state/1';

/** The parts of the local state the anchor knows of. */
export const LOCAL_PARTS = ['user_checkpoints', 'coin_checkpoints', 'wallet_memory', 'audit_head', 'journal'] as const;
export type LocalPart = (typeof LOCAL_PARTS)[number];

/** Why an anchor was written: payserv's first start on an empty ledger, an older state directory found whole, a rebaseline, a test/demo seed. */
export type AnchorOrigin = 'first_start' | 'migration' | 'rebaseline' | 'seed';

export interface LocalAnchor {
  format: typeof FORMAT;
  origin: AnchorOrigin;
  created_at: string;
  parts: LocalPart[];
}

export class LocalAnchorError extends Error {
  override name = 'LocalAnchorError';
}

export const anchorPath = (stateDir: string): string => join(stateDir, ANCHOR_FILE);

/** The anchor, or null when the state directory has none; a damaged file is an error naming it (never read as "none"). */
export async function readAnchor(stateDir: string): Promise<LocalAnchor | null> {
  const path = anchorPath(stateDir);
  let v: Partial<LocalAnchor> | null;
  try {
    v = (await readJson(path)) as Partial<LocalAnchor> | null;
  } catch (e) {
    throw new LocalAnchorError(`${path} is damaged (${(e as Error).message}): restore it from a backup, or rebaseline`);
  }
  if (v === null) return null;
  const parts = v.parts;
  if (
    typeof v !== 'object' ||
    v.format !== FORMAT ||
    typeof v.created_at !== 'string' ||
    typeof v.origin !== 'string' ||
    !Array.isArray(parts) ||
    parts.some((p) => !(LOCAL_PARTS as readonly string[]).includes(p))
  )
    throw new LocalAnchorError(`${path} is not a payserv local-state anchor (${FORMAT}): restore it from a backup, or rebaseline`);
  return v as LocalAnchor;
}

/** The anchor as readAnchor reads it, or why it is damaged: for the start's look, which treats damage as a loss. */
export async function inspectAnchor(stateDir: string): Promise<{ anchor: LocalAnchor | null; damaged: string | null }> {
  try {
    return { anchor: await readAnchor(stateDir), damaged: null };
  } catch (e) {
    if (e instanceof LocalAnchorError) return { anchor: null, damaged: e.message };
    throw e;
  }
}

/** One anchor update at a time per state directory in this process (stores of one directory share the file). */
const updating = new Map<string, Promise<unknown>>();

function serialized<T>(stateDir: string, fn: () => Promise<T>): Promise<T> {
  const job = (updating.get(stateDir) ?? Promise.resolve()).then(fn);
  updating.set(
    stateDir,
    job.catch(() => undefined),
  );
  return job;
}

/**
 * Records `part` as written in an existing anchor; a state directory without one is left without (only a start, a
 * rebaseline or a seed creates it). Whether the anchor now records it.
 */
export function markAnchor(stateDir: string, part: LocalPart): Promise<boolean> {
  return serialized(stateDir, async () => {
    const before = await readAnchor(stateDir);
    if (!before) return false;
    if (!before.parts.includes(part)) await write(stateDir, before.origin, [part], before);
    return true;
  });
}

/**
 * Writes the anchor with `parts` added to what it recorded (a part once written stays recorded); returns it.
 * `replaceDamaged`: a damaged anchor is written over with `parts` alone (only a rebaseline, whose operators vouched).
 */
export function writeAnchor(
  stateDir: string,
  origin: AnchorOrigin,
  parts: readonly LocalPart[],
  o: { now?: Date; replaceDamaged?: boolean } = {},
): Promise<LocalAnchor> {
  return serialized(stateDir, async () => {
    const before = o.replaceDamaged ? (await inspectAnchor(stateDir)).anchor : await readAnchor(stateDir);
    return write(stateDir, origin, parts, before, o.now);
  });
}

async function write(
  stateDir: string,
  origin: AnchorOrigin,
  parts: readonly LocalPart[],
  before: LocalAnchor | null,
  now = new Date(),
): Promise<LocalAnchor> {
  const all = new Set<LocalPart>([...(before?.parts ?? []), ...parts]);
  const anchor: LocalAnchor = {
    format: FORMAT,
    origin: before?.origin ?? origin,
    created_at: before?.created_at ?? now.toISOString(),
    parts: LOCAL_PARTS.filter((p) => all.has(p)),
  };
  if (before && anchor.parts.length === before.parts.length) return before;
  await writeJsonAtomic(anchorPath(stateDir), anchor);
  return anchor;
}
