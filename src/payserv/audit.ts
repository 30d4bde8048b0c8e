// The audit trail: one row per RPC call, in an append-only hash chain. Each row's hash covers the
// previous row's hash and every field of the row (its id included), so a changed, deleted, inserted or
// reordered row breaks the chain. The database alone cannot vouch for its newest rows (an attacker may
// cut the tail off, or rewrite it), so payserv also keeps the head { id, hash } in its state directory,
// out of the database's reach: a trail rolled back or rewritten behind that head is detected.
import { createHash, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { refusalCodeOf, RpcError } from '../api/jsonrpc.js';
import { REFUSAL_CODES, type RefusalCode } from '../api/payserv.js';
import type { Data, DataTx } from '../data/data.js';
import { AUDIT, AUDIT_TABLE, type AuditDbRow } from '../data/ops/audit.js';
import { streamPages } from '../data/stream.js';
import { problem, type Problem } from '../ledger/problem.js';
import type { Logger } from '../log/index.js';
import { readJson, writeJsonAtomic } from '../state/atomic-file.js';

export { AUDIT_TABLE };
const DOMAIN = 'payserv.audit.v1';
/** Serialises appends across processes (an arbitrary, fixed key; migrations use another). */
/** The name of the appends' lock among payserv's lock keys (src/data/lock-keys.ts): nobody else can hold it. */
export const AUDIT_LOCK_NAME = 'audit';
const INT32_MAX = 2 ** 31 - 1;
/** Past this many findings the trail is broken beyond listing each row; head findings are still given. */
export const AUDIT_PROBLEMS_MAX = 1000;

export class AuditError extends Error {
  override name = 'AuditError';
}

/** One RPC call, as the RPC layer reports it. */
export interface AuditEntry {
  /** Who called: the TLS identity and the certificate's CN, e.g. "backend CN=pool-admin". */
  client: string;
  method: string;
  /** What the call was about: a withdrawal id, a coin, or '' (the default) for neither. */
  target?: string;
  /** The reply word, or the error. */
  reply: string;
  /** The refusal code of an ERROR or DECLINED reply or of an RPC error (README "Refusal codes"); absent when not refused. */
  code?: string;
  /** Rounded to whole milliseconds; must be finite and not negative. */
  durationMs: number;
  /** When the call was received; default: now. Stored to the millisecond. */
  at?: Date;
}

export interface AuditRow {
  id: number;
  at: Date;
  client: string;
  method: string;
  target: string;
  reply: string;
  durationMs: number;
  prevHash: Uint8Array | null;
  hash: Uint8Array;
  /** The refusal code; null or absent on a call not refused, and on rows written before codes were recorded. */
  code?: string | null;
}

/** The newest row payserv itself appended, as kept in <state dir>/audit/head.json. */
export interface AuditHead {
  id: number;
  /** SHA-256, lowercase hex. */
  hash: string;
}

const isRefusalCode = (c: unknown): c is RefusalCode => typeof c === 'string' && Object.hasOwn(REFUSAL_CODES, c);

/**
 * The refusal code an audit row keeps for a call's outcome: an ERROR or DECLINED reply's, or an RPC
 * error's data.code; anything else thrown is the RPC layer's `internal`. None for a call not refused
 * (PENDING's `policy` is no refusal), nor for a word that is no refusal code.
 */
export function auditCodeOf(outcome: { result: unknown } | { error: unknown }): RefusalCode | undefined {
  if ('result' in outcome) {
    const r = outcome.result as { reply?: unknown; code?: unknown } | null;
    return (r?.reply === 'ERROR' || r?.reply === 'DECLINED') && isRefusalCode(r.code) ? r.code : undefined;
  }
  if (!(outcome.error instanceof RpcError)) return 'internal';
  const code = refusalCodeOf(outcome.error);
  return isRefusalCode(code) ? code : undefined;
}

// --- The hash -------------------------------------------------------------------------------------

type Field = readonly [name: string, tag: number, payload: Buffer];
const TAG = { null: 0, str: 1, int: 2, time: 3, bytes: 4 } as const;

function lp(b: Buffer): Buffer[] {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return [len, b];
}

const str = (name: string, v: string): Field => [name, TAG.str, Buffer.from(v, 'utf8')];
const int = (name: string, v: number): Field => {
  if (!Number.isSafeInteger(v)) throw new AuditError(`audit row: ${name} ${v} is not a safe integer`);
  return [name, TAG.int, Buffer.from(String(v), 'ascii')];
};

/**
 * The bytes a row's hash covers: a domain tag, then every field as (name, type, length, value), so no
 * two different rows encode alike ("ab"+"c" never reads as "a"+"bc"; a missing prev_hash is not an empty one).
 * The code is a field only when the row has one: rows written before codes were recorded hash as they did.
 */
export function encodeAuditRow(r: Omit<AuditRow, 'hash'>): Uint8Array {
  const ms = r.at.getTime();
  if (!Number.isSafeInteger(ms)) throw new AuditError('audit row: invalid timestamp');
  const fields: Field[] = [
    r.prevHash === null ? ['prev_hash', TAG.null, Buffer.alloc(0)] : ['prev_hash', TAG.bytes, Buffer.from(r.prevHash)],
    int('id', r.id),
    ['at', TAG.time, Buffer.from(String(ms), 'ascii')],
    str('client', r.client),
    str('method', r.method),
    str('target', r.target),
    str('reply', r.reply),
    int('duration_ms', r.durationMs),
    ...(r.code === null || r.code === undefined ? [] : [str('code', r.code)]),
  ];
  const count = Buffer.alloc(4);
  count.writeUInt32BE(fields.length);
  const parts: Buffer[] = [...lp(Buffer.from(DOMAIN)), count];
  for (const [name, tag, payload] of fields) parts.push(...lp(Buffer.from(name)), Buffer.from([tag]), ...lp(payload));
  return Buffer.concat(parts);
}

export function auditHash(r: Omit<AuditRow, 'hash'>): Uint8Array {
  return createHash('sha256').update(encodeAuditRow(r)).digest();
}

function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && timingSafeEqual(a, b);
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// --- The local head -------------------------------------------------------------------------------

export function auditHeadPath(stateDir: string): string {
  return join(stateDir, 'audit', 'head.json');
}

/** The local head; null when there is none yet. A damaged file is an error naming it, never "no head". */
export async function readAuditHead(stateDir: string): Promise<AuditHead | null> {
  const path = auditHeadPath(stateDir);
  let value: unknown;
  try {
    value = await readJson(path);
  } catch (e) {
    throw new AuditError(`audit trail: local head: ${(e as Error).message}`);
  }
  if (value === null) return null;
  const v = value as Partial<Record<keyof AuditHead, unknown>>;
  if (
    typeof value !== 'object' ||
    Array.isArray(value) ||
    typeof v.id !== 'number' ||
    !Number.isSafeInteger(v.id) ||
    v.id <= 0 ||
    typeof v.hash !== 'string' ||
    !/^[0-9a-f]{64}$/.test(v.hash)
  ) {
    throw new AuditError(`audit trail: local head: ${path} does not hold { id: positive integer, hash: 64 hex digits }`);
  }
  return { id: v.id, hash: v.hash };
}

// --- Appending ------------------------------------------------------------------------------------

function rowOf(r: AuditDbRow): AuditRow {
  return {
    id: r.id,
    at: r.at,
    client: r.client,
    method: r.method,
    target: r.target,
    reply: r.reply,
    durationMs: r.duration_ms,
    prevHash: r.prev_hash === null ? null : new Uint8Array(r.prev_hash),
    hash: new Uint8Array(r.hash),
    code: r.code,
  };
}

/** A refusal code as the table's check takes it (migration 0006). */
const CODE = /^(?=.{1,64}$)[a-z]+(_[a-z]+)*$/;

/** PostgreSQL text cannot hold NUL: it is stored (and hashed) as U+FFFD rather than failing the record. */
const clean = (s: string): string => s.replace(/\0/g, '\uFFFD');

export interface AuditTrailOptions {
  db: Data;
  stateDir: string;
  log: Logger;
  /** The appends' advisory lock key: LockKeys.key(AUDIT_LOCK_NAME) in payserv, so a database attacker cannot hold it. */
  lockKey: string;
}

export class AuditTrail {
  readonly #db: Data;
  readonly #stateDir: string;
  readonly #log: Logger;
  readonly #lockKey: string;
  /** Appends of this process, one at a time, in call order. */
  #tail: Promise<void> = Promise.resolve();
  /** The local head as last read or written by this process; undefined until the first append reads it. */
  #head: AuditHead | null | undefined;
  /**
   * While the host's local state is lost (src/payserv/rebaseline.ts) the head is kept in memory only: a head
   * file written now would adopt the database's trail as the host's own before anyone verified it.
   */
  #held = false;

  constructor(opts: AuditTrailOptions) {
    this.#db = opts.db;
    this.#stateDir = opts.stateDir;
    this.#log = opts.log;
    this.#lockKey = opts.lockKey;
  }

  /**
   * Appends one call to the trail and moves the local head to it. Rejects (and records nothing) when the
   * database's trail no longer contains the local head: it was rolled back or rewritten, and appending would
   * bury the evidence. Rejects after the commit if the head cannot be written (the next append repairs it).
   */
  record(entry: AuditEntry): Promise<void> {
    const job = this.#tail.then(() => this.#append(entry));
    this.#tail = job.then(
      () => undefined,
      () => undefined,
    );
    return job;
  }

  async #append(entry: AuditEntry): Promise<void> {
    const at = entry.at ?? new Date();
    if (!Number.isSafeInteger(at.getTime())) throw new AuditError('audit record: invalid timestamp');
    if (!Number.isFinite(entry.durationMs) || entry.durationMs < 0) throw new AuditError(`audit record: bad duration ${entry.durationMs}`);
    if (entry.code !== undefined && !CODE.test(entry.code))
      throw new AuditError(`audit record: bad code ${JSON.stringify(entry.code.slice(0, 80))} (lower_snake_case, at most 64 characters)`);
    const fields = {
      at: new Date(at.getTime()),
      client: clean(entry.client),
      method: clean(entry.method),
      target: clean(entry.target ?? ''),
      reply: clean(entry.reply),
      durationMs: Math.min(Math.round(entry.durationMs), INT32_MAX),
      code: entry.code ?? null,
    };
    if (this.#head === undefined) this.#head = await readAuditHead(this.#stateDir);
    const known = this.#head;
    const row = await this.#db.transaction(async (tx) => {
      await tx.query(AUDIT.lock, [this.#lockKey]);
      const [last] = await tx.query(AUDIT.last);
      if (known) await this.#checkHead(tx, known, last ?? null);
      else if (last)
        this.#log.warn(
          { head: auditHeadPath(this.#stateDir), lastId: last.id },
          'audit trail: no local head yet, but the table has rows; continuing from its last row',
        );
      const [next] = await tx.query(AUDIT.nextId);
      if (!next) throw new AuditError('audit record: the identity sequence returned nothing');
      if (last && next.id <= last.id) {
        throw new AuditError(
          `audit record: the id sequence (${next.id}) is behind the table's last row id=${last.id}; the table was written around it`,
        );
      }
      const unsigned = { id: next.id, ...fields, prevHash: last ? new Uint8Array(last.hash) : null };
      const hash = auditHash(unsigned);
      await tx.query(AUDIT.insert, [
        unsigned.id,
        unsigned.at.toISOString(),
        unsigned.client,
        unsigned.method,
        unsigned.target,
        unsigned.reply,
        unsigned.durationMs,
        unsigned.prevHash === null ? null : Buffer.from(unsigned.prevHash),
        Buffer.from(hash),
        unsigned.code,
      ]);
      return { id: unsigned.id, hash };
    });
    const head: AuditHead = { id: row.id, hash: hex(row.hash) };
    try {
      if (!this.#held) await writeJsonAtomic(auditHeadPath(this.#stateDir), head);
    } catch (e) {
      // The row is committed; the head is one row behind until the next append writes it.
      throw new AuditError(`audit trail: row id=${row.id} recorded, but the local head was not updated: ${(e as Error).message}`);
    }
    this.#head = head;
  }

  /** Keeps the head in memory only, until releaseHead (the host's local state is lost: nothing verified yet). */
  holdHead(): void {
    this.#held = true;
  }

  /**
   * The trail was verified (a rebaseline): the head this process kept in memory, if any, becomes the local head
   * file; else `verified`, the last row the verification read. Appends after this write the file as usual.
   */
  async releaseHead(verified: AuditHead | null): Promise<void> {
    await this.#tail;
    const head = this.#head ?? verified;
    if (head) await writeJsonAtomic(auditHeadPath(this.#stateDir), head);
    this.#head = head ?? undefined;
    this.#held = false;
  }

  /** The table must still hold the local head as it was written: appends only ever go after it. */
  async #checkHead(tx: DataTx, head: AuditHead, last: { id: number; hash: Uint8Array } | null): Promise<void> {
    let found: Uint8Array | null = null;
    if (last && last.id === head.id) found = last.hash;
    else if (last && last.id > head.id) {
      const [r] = await tx.query(AUDIT.hashOf, [head.id]);
      found = r ? r.hash : null;
    }
    const why =
      found === null
        ? `the row id=${head.id} named by the local head is gone (rolled back or truncated)`
        : hex(found) !== head.hash
          ? `the row id=${head.id} named by the local head has another hash (rewritten)`
          : null;
    if (why) {
      this.#log.error({ head, path: auditHeadPath(this.#stateDir) }, `audit trail tampered: ${why}`);
      throw new AuditError(`audit trail tampered: ${why}; refusing to append (run \`pscli audit verify\`)`);
    }
  }
}

// --- Verifying ------------------------------------------------------------------------------------

export interface VerifyAuditOptions {
  /** Rows per keyset page (default 2000). */
  pageSize?: number;
  /** Findings listed before the listing stops (default AUDIT_PROBLEMS_MAX); findings on the local head are always given. */
  maxProblems?: number;
}

const UNRECORDED = 'not recorded in the local head (written by another process or after a crash)';

const auditPage = (from: number | null, limit: number) =>
  from === null ? { op: AUDIT.firstPage, params: [limit] } : { op: AUDIT.pageAfter, params: [from, limit] };

/** The newest `count` rows, oldest first, as stored (not verified: `verifyAudit` does that). Read page by page, keeping the tail. */
export async function lastAuditRows(db: DataTx, count: number): Promise<AuditDbRow[]> {
  const tail: AuditDbRow[] = [];
  for await (const row of streamPages<AuditDbRow, number>(db, auditPage, (r) => r.id)) {
    tail.push(row);
    // Trimmed in batches: one shift per row would copy the tail each time.
    if (tail.length >= 2 * count + 1000) tail.splice(0, tail.length - count);
  }
  return tail.slice(-count);
}

/**
 * Recomputes the whole chain, one keyset page at a time, and holds it against the local head. Yields one
 * finding per damaged row (at most): changed contents, a broken link (deleted, inserted, reordered rows),
 * the local head's row missing (rolled back, truncated) or different (rewritten), and rows the local head
 * does not cover. A missing head on an empty table is a fresh state directory, and clean. A damaged head
 * file throws an AuditError naming it.
 *
 * Rows appended while this runs are not findings: the head is read again at the end, and rows it
 * covers are accepted.
 */
export async function* verifyAudit(db: DataTx, stateDir: string, opts: VerifyAuditOptions = {}): AsyncGenerator<Problem> {
  const max = opts.maxProblems ?? AUDIT_PROBLEMS_MAX;
  const headPath = auditHeadPath(stateDir);
  const head = await readAuditHead(stateDir);
  let listed = 0;
  let unlisted = 0;
  const report = (p: Problem): Problem | null => {
    if (listed >= max) {
      unlisted++;
      return null;
    }
    listed++;
    return p;
  };

  let prev: AuditRow | null = null;
  let beforePrev: AuditRow | null = null;
  /** The last row given a finding: a later link finding that blames it is not repeated. */
  let lastBlamed = 0;
  let rows = 0;
  let headRow: AuditRow | null = null;
  /** Rows after the local head, held until the end: a live payserv may write a head covering them meanwhile. */
  const after: number[] = [];
  let afterCount = 0;
  const seenHashes = new Map<number, string>();

  for await (const raw of streamPages<AuditDbRow, number>(db, auditPage, (r) => r.id, opts.pageSize)) {
    const row = rowOf(raw);
    rows++;
    const contentOk = sameBytes(auditHash(row), row.hash);
    let linkOk = true;
    let blamePrev = false;
    if (prev === null) linkOk = row.prevHash === null;
    else if (!sameBytes(row.prevHash, prev.hash)) {
      linkOk = false;
      // Linking past the previous row to the one before it: the previous row is the foreign one.
      blamePrev = beforePrev !== null && sameBytes(row.prevHash, beforePrev.hash);
    }
    if (blamePrev && prev && lastBlamed !== prev.id) {
      const p = report(
        problem(
          AUDIT_TABLE,
          prev.id,
          'audit_inserted',
          `not part of the chain: the next row id=${row.id} links past it to id=${beforePrev?.id}; this row was inserted or moved`,
        ),
      );
      lastBlamed = prev.id;
      if (p) yield p;
    }
    const linkDetail =
      prev === null
        ? 'the first row links to a previous one: rows before it were deleted'
        : `prev_hash does not match the hash of the previous row id=${prev.id}: rows between them were deleted, or a row before it was rewritten`;
    let detail: string | null = null;
    if (!contentOk && !linkOk && !blamePrev)
      detail = `hash does not match the row's contents, and ${linkDetail.replace(/^the first row/, 'it')}`;
    else if (!contentOk) detail = "hash does not match the row's contents: the row was changed or forged";
    else if (!linkOk && !blamePrev) detail = linkDetail;
    if (detail) {
      const p = report(problem(AUDIT_TABLE, row.id, contentOk ? 'audit_link' : 'audit_changed', detail));
      lastBlamed = row.id;
      if (p) yield p;
    }

    if (head && row.id === head.id) headRow = row;
    if (!head || row.id > head.id) {
      afterCount++;
      if (after.length < max) {
        after.push(row.id);
        seenHashes.set(row.id, hex(row.hash));
      }
    }
    beforePrev = prev;
    prev = row;
  }

  // Findings on the local head are always given, past the listing limit too.
  if (head) {
    if (!headRow) {
      yield problem(
        AUDIT_TABLE,
        head.id,
        'audit_head_missing',
        `the local head (${headPath}) names this row, and the table does not have it: the trail was rolled back or truncated`,
      );
    } else if (hex(headRow.hash) !== head.hash) {
      yield problem(AUDIT_TABLE, head.id, 'audit_head_mismatch', `hash differs from the local head (${headPath}): the row was rewritten`);
    }
  }
  if (afterCount) {
    // A live payserv may have moved the head over the rows we saw after the old one.
    const now = await readAuditHead(stateDir);
    let coveredUpTo = head?.id ?? 0;
    if (now && now.id > coveredUpTo) {
      const seen = seenHashes.get(now.id);
      if (seen === undefined || seen === now.hash) coveredUpTo = now.id;
    }
    const left = after.filter((id) => id > coveredUpTo);
    // Rows past the `after` list were counted, not held; their ids are all above its last one.
    let notHeld = afterCount - after.length;
    const lastHeld = after[after.length - 1];
    if (notHeld && lastHeld !== undefined && prev && coveredUpTo > lastHeld) {
      const [c] = await db.query(AUDIT.countBetween, [lastHeld, Math.min(coveredUpTo, prev.id)]);
      notHeld = Math.max(0, notHeld - (c?.n ?? 0));
    }
    if (!head && !now && (left.length || notHeld)) {
      yield problem(AUDIT_TABLE, 'head', 'audit_no_head', `the local head (${headPath}) is missing, and the table has ${rows} rows`);
    }
    for (const id of left) {
      const p = report(problem(AUDIT_TABLE, id, 'audit_unrecorded', UNRECORDED));
      if (p) yield p;
    }
    unlisted += notHeld;
  }
  if (unlisted) {
    yield problem(AUDIT_TABLE, 'more', 'audit_unlisted', `${unlisted} further findings not listed (the listing stops after ${max})`);
  }
}

/** verifyAudit's findings as an array (at most maxProblems + a few). */
export async function collectAuditProblems(db: DataTx, stateDir: string, opts: VerifyAuditOptions = {}): Promise<Problem[]> {
  const out: Problem[] = [];
  for await (const p of verifyAudit(db, stateDir, opts)) out.push(p);
  return out;
}
