// The faults the harness injects at payserv's fault points (src/payserv/faults.ts), one at a time:
// payserv killed there; a node that loses a reply, never hears a transaction, goes down or forgets one,
// serves no receipts, lags behind the head (Ethereum) or is switched to another chain of the same chain id
// or network (issue 14);
// a database attacker who rolls back, deletes, raises or restores rows of any table that a signature
// and a checkpoint do not cover on their own, or who holds payserv's advisory locks. Each returns a
// line saying what it did (null: nothing to do here, no fault counted).
import { randomBytes } from 'node:crypto';
import { anvilRpc, dropTransaction } from '../../src/devnet/anvil.js';
import { ZcashRpc } from '../../src/chains/zcash/rpc.js';
import { holdOpen, type Held } from '../../src/data/hold.js';
import type { Queryable } from '../../src/db/db.js';
import type { FaultInfo, FaultPoint } from '../../src/payserv/faults.js';
import { asAttacker, restoreRow, STATUS_SIGNATURES, USER_CHECKPOINTS, COIN_CHECKPOINTS, WITHDRAWALS } from '../support/attacker.js';
import type { Rng } from './rng.js';
import { SEND_METHOD, SimulatedCrash, tagOfHash, TAGS, type Tag, type World } from './world.js';

export { SimulatedCrash };

export const NODE_FAULTS = ['drop-reply', 'fail-send', 'node-down', 'mempool-drop', 'lose-receipts', 'lag', 'foreign-chain'] as const;
export const TAMPERS = [
  'rollback-status',
  'rollback-and-push',
  'restore-checkpoint',
  'delete-checkpoint',
  'delete-chain-tx',
  'swap-bytes',
  'nonce-raise',
  'nonce-lower',
  'reservation-delete',
  'reservation-insert',
  'autopay-unlock',
  'redirect-address',
  'hold-lock',
] as const;
export type NodeFault = (typeof NODE_FAULTS)[number];
export type Tamper = (typeof TAMPERS)[number];
export type FaultKind = 'crash' | NodeFault | Tamper;

/**
 * Where a fault happens: one of payserv's fault points; between two operations (the attacker's own time);
 * or while payserv is down after a crash, before the operator restarts it ('down': the crashed call's
 * withdrawals are the attacker's first choice).
 */
export type Where = FaultPoint | 'between' | 'down';

export const isTamper = (k: FaultKind): k is Tamper => (TAMPERS as readonly string[]).includes(k);

/** Every distinct signed copy of each user checkpoint row the harness has seen, oldest first: what the attacker restores. */
export class CheckpointHistory {
  readonly #copies = new Map<string, Array<Record<string, unknown>>>();

  async capture(db: Queryable): Promise<void> {
    for (const r of await db.query(`SELECT * FROM ${USER_CHECKPOINTS}`)) {
      const key = `${String(r.user_id)}:${String(r.coin_id)}`;
      const list = this.#copies.get(key) ?? [];
      if (!list.some((x) => x.version === r.version)) list.push(r);
      this.#copies.set(key, list);
    }
  }

  /** Copies of the account's row older than `version`. */
  older(userId: number, coinId: number, version: number): Array<Record<string, unknown>> {
    return (this.#copies.get(`${userId}:${coinId}`) ?? []).filter((r) => Number(r.version) < version);
  }
}

/** Advisory locks the attacker holds on a connection of its own (PostgreSQL), until released. */
export class HeldLocks {
  #held: Held<Queryable> | null = null;
  names: string[] = [];

  async hold(db: { withSession<T>(fn: (s: Queryable) => Promise<T>): Promise<T> }, name: string): Promise<boolean> {
    this.#held ??= await holdOpen<Queryable>((fn) => db.withSession(fn));
    const [r] = await this.#held.q.query<{ ok: boolean }>("SELECT pg_try_advisory_lock(hashtextextended('payserv:' || $1, 0)) AS ok", [
      name,
    ]);
    if (r?.ok) this.names.push(name);
    return r?.ok === true;
  }

  async release(): Promise<void> {
    const h = this.#held;
    this.#held = null;
    this.names = [];
    // The session ends with its connection: the server drops whatever it held.
    if (h) await h.release(false);
  }
}

export interface FaultContext {
  world: World;
  rng: Rng;
  backend: 'pglite' | 'postgres';
  checkpoints: CheckpointHistory;
  held: HeldLocks;
  /** Where a redirected payment would go: addresses of the attacker's, never paid by anyone. */
  attacker: Record<Tag, string>;
}

interface Target {
  id: number;
  userId: number;
  coinId: number;
  tag: Tag;
  status: string;
  statusSeq: number;
  txHash: string | null;
}

async function targetOf(ctx: FaultContext, info: FaultInfo | null): Promise<Target | null> {
  const db = ctx.world.db;
  const ids = info?.withdrawals ?? [];
  const rows = ids.length
    ? await db.query<{ id: number; user_id: number; coin_id: number; status: string; status_seq: number; tx_hash: string | null }>(
        `SELECT id, user_id, coin_id, status, status_seq, tx_hash FROM ${WITHDRAWALS} WHERE id = ANY($1::bigint[]) ORDER BY id`,
        [ids],
      )
    : await db.query<{ id: number; user_id: number; coin_id: number; status: string; status_seq: number; tx_hash: string | null }>(
        `SELECT id, user_id, coin_id, status, status_seq, tx_hash FROM ${WITHDRAWALS} WHERE parent_id IS NULL AND user_id >= 50000 ORDER BY id`,
      );
  if (!rows.length) return null;
  const of = (r: (typeof rows)[number]): Target | null => {
    const tag = ctx.world.tagOf(r.coin_id);
    return tag
      ? { id: r.id, userId: r.user_id, coinId: r.coin_id, tag, status: r.status, statusSeq: r.status_seq, txHash: r.tx_hash }
      : null;
  };
  if (ids.length) return of(ctx.rng.pick(rows));
  // Between operations the attacker goes for a payment in flight, best one whose last entries no checkpoint counts yet.
  const sending = rows.map(of).filter((t): t is Target => t !== null && t.status === 'sending');
  const open: Target[] = [];
  for (const t of sending) if ((await uncovered(ctx, t)) > 0) open.push(t);
  if (open.length && ctx.rng.chance(0.7)) return ctx.rng.pick(open);
  if (sending.length && ctx.rng.chance(0.6)) return ctx.rng.pick(sending);
  return of(ctx.rng.pick(rows));
}

/** Fault points inside payserv's write-ahead transaction (src/payserv/faults.ts): the journal record is made before the commit. */
const INSIDE_TRANSACTION: ReadonlySet<Where> = new Set(['payment.journaled']);

/** Whether `kind` can do anything at `where` (a cheap, static filter; inject may still find nothing to do). */
export function applicable(kind: FaultKind, where: Where, info: FaultInfo | null, backend: 'pglite' | 'postgres'): boolean {
  const beforeBroadcast = where === 'payment.committed' || where === 'payment.journaled';
  switch (kind) {
    case 'crash':
      return where !== 'between' && where !== 'down';
    case 'drop-reply':
    case 'fail-send':
      return beforeBroadcast;
    case 'node-down':
    case 'lose-receipts':
    case 'lag':
    case 'foreign-chain':
      return where !== 'between' && where !== 'down';
    case 'mempool-drop':
      return where === 'between' || where === 'down' || ((where === 'payment.broadcast' || where === 'status.committed') && !!info?.hash);
    case 'hold-lock':
      return backend === 'postgres' && !INSIDE_TRANSACTION.has(where);
    // Every other tamper, by name: a new kind of fault must say where it applies.
    case 'rollback-status':
    case 'rollback-and-push':
    case 'restore-checkpoint':
    case 'delete-checkpoint':
    case 'delete-chain-tx':
    case 'swap-bytes':
    case 'nonce-raise':
    case 'nonce-lower':
    case 'reservation-delete':
    case 'reservation-insert':
    case 'autopay-unlock':
    case 'redirect-address':
      // The attacker's edits wait for payserv's open transaction, which waits for them: not inside one.
      return !INSIDE_TRANSACTION.has(where);
  }
}

/**
 * Injects one fault. A crash throws SimulatedCrash (after the caller has logged it); everything else
 * returns what it did, or null when there was nothing to do (no such row, no older copy...).
 */
export async function inject(ctx: FaultContext, kind: FaultKind, where: Where, info: FaultInfo | null): Promise<string | null> {
  const { world, rng } = ctx;
  const db = world.db;
  // Only a tamper reads the database here: a fault point may be inside payserv's open transaction, which a
  // read from elsewhere would wait for (PGlite has one connection), and tampers are kept out of those points.
  const t = isTamper(kind) ? await targetOf(ctx, info) : null;
  const tag: Tag = t?.tag ?? (info?.hash ? tagOfHash(info.hash) : rng.pick(TAGS));
  const hash = info?.hash ?? t?.txHash ?? null;
  switch (kind) {
    case 'crash':
      throw world.kill(where as FaultPoint, info ?? { withdrawals: [] });
    case 'drop-reply':
      world.proxies[tag].dropReplyTo(SEND_METHOD[tag]);
      return `${tag} node: the reply to the next ${SEND_METHOD[tag]} is lost (the node takes it)`;
    case 'fail-send':
      world.proxies[tag].failNext(SEND_METHOD[tag]);
      return `${tag} node: the next ${SEND_METHOD[tag]} never reaches it (502)`;
    case 'node-down':
      world.proxies[tag].down(true);
      return `${tag} node: down for the rest of the operation`;
    case 'lose-receipts':
      // A node beyond its receipt index (or rebuilding it): mined transactions answer null.
      world.proxies.ETH.nullResults('eth_getTransactionReceipt', true);
      world.proxies.ETH.nullResults('eth_getTransactionByHash', true);
      return 'ETH node: no receipt and no transaction for the rest of the operation';
    case 'lag': {
      const blocks = 1 + rng.int(30);
      world.proxies.ETH.lag(blocks);
      return `ETH node: ${blocks} blocks behind the head for the rest of the operation`;
    }
    case 'foreign-chain':
      if (tag === 'ZEC') {
        world.proxies.ZEC.retarget(world.zcashForeign.url);
        return 'ZEC node: switched to another chain of the same network, 1000 blocks ahead, for the rest of the operation';
      }
      if (!world.foreignUrl) return null;
      world.proxies.ETH.retarget(world.foreignUrl);
      return 'ETH node: switched to a fresh chain with the same chain id for the rest of the operation';
    case 'mempool-drop': {
      const pending = tag === 'ZEC' ? world.zcash.mempool() : [];
      const h = tag === 'ZEC' ? (hash && pending.includes(hash) ? hash : pending.length ? rng.pick(pending) : null) : hash;
      if (!h) return null;
      if (tag === 'ZEC') return world.zcash.dropFromMempool(h) ? `ZEC node forgets ${short(h)}` : null;
      await dropTransaction(world.anvilUrl, h);
      return `ETH node forgets ${short(h)}`;
    }
    case 'rollback-status':
    case 'rollback-and-push': {
      if (!t || t.statusSeq === 0) return null;
      const k = await rollbackTo(ctx, t);
      // The attacker reads the signed bytes of the payments it erases, and may hand them to a node itself.
      const erased = await db.query<{ hash: string; raw: string }>(
        `SELECT DISTINCT c.hash, c.raw FROM ${STATUS_SIGNATURES} s JOIN payserv_chain_txs c ON c.hash = s.tx_hash
        WHERE s.withdrawal_id = $1 AND s.seq > $2 AND s.status = 'sending' ORDER BY c.hash`,
        [t.id, k],
      );
      await asAttacker(db, [
        [
          `UPDATE ${WITHDRAWALS} w SET status = s.status, status_seq = s.seq, tx_hash = s.tx_hash, tx_fee = s.tx_fee, comment = s.comment, updated_at = s.created_at
          FROM ${STATUS_SIGNATURES} s WHERE w.id = $1 AND s.withdrawal_id = $1 AND s.seq = $2`,
          [t.id, k],
        ],
        [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [t.id, k]],
      ]);
      const [r] = await db.query<{ status: string }>(`SELECT status FROM ${WITHDRAWALS} WHERE id = $1`, [t.id]);
      const pushed: string[] = [];
      if (kind === 'rollback-and-push') for (const e of erased) if (await pushRaw(ctx, t.tag, e.raw)) pushed.push(short(e.hash));
      return (
        `withdrawal ${t.id} rolled back from ${t.status} (entry ${t.statusSeq}) to ${r?.status} (entry ${k}), its later signed entries deleted` +
        (kind === 'rollback-and-push'
          ? `; the erased payment's stored bytes ${pushed.length ? `sent to the node by the attacker: ${pushed.join(', ')}` : 'not taken by the node'}`
          : '')
      );
    }
    case 'restore-checkpoint': {
      if (!t) return null;
      const [cur] = await db.query<{ version: number }>(`SELECT version FROM ${USER_CHECKPOINTS} WHERE user_id = $1 AND coin_id = $2`, [
        t.userId,
        t.coinId,
      ]);
      const older = ctx.checkpoints.older(t.userId, t.coinId, cur ? Number(cur.version) : Number.MAX_SAFE_INTEGER);
      if (!older.length) return null;
      const row = rng.pick(older);
      if (cur) await asAttacker(db, [restoreRow(USER_CHECKPOINTS, row, ['user_id', 'coin_id'])]);
      else await asAttacker(db, [insertRow(USER_CHECKPOINTS, row)]);
      return `checkpoint of user ${t.userId} ${t.tag} restored to its signed version ${String(row.version)} (was ${cur ? cur.version : 'deleted'})`;
    }
    case 'delete-checkpoint': {
      if (!t) return null;
      if (rng.chance(0.25)) {
        await asAttacker(db, [[`DELETE FROM ${COIN_CHECKPOINTS} WHERE coin_id = $1`, [t.coinId]]]);
        return `checkpoint of coin ${t.tag} deleted`;
      }
      const rows = await asAttacker(db, [
        [`DELETE FROM ${USER_CHECKPOINTS} WHERE user_id = $1 AND coin_id = $2 RETURNING version`, [t.userId, t.coinId]],
      ]);
      return rows.length ? `checkpoint of user ${t.userId} ${t.tag} deleted` : null;
    }
    case 'delete-chain-tx': {
      const h = hash ?? (await anyStored(ctx, tag));
      if (!h) return null;
      const rows = await asAttacker(db, [['DELETE FROM payserv_chain_txs WHERE hash = $1 RETURNING hash', [h]]]);
      return rows.length ? `stored transaction ${short(h)} deleted from payserv_chain_txs` : null;
    }
    case 'swap-bytes': {
      const h = hash ?? (await anyStored(ctx, tag));
      if (!h) return null;
      const rows = await asAttacker(db, [
        [
          `UPDATE payserv_chain_txs SET raw = o.raw FROM (SELECT raw FROM payserv_chain_txs WHERE hash <> $1 AND coin_id = $2 ORDER BY hash LIMIT 1) o
        WHERE payserv_chain_txs.hash = $1 RETURNING payserv_chain_txs.hash`,
          [h, world.coins[tag].id],
        ],
      ]);
      return rows.length ? `stored bytes of ${short(h)} replaced by another stored transaction's` : null;
    }
    case 'nonce-raise':
    case 'nonce-lower': {
      const d = 1 + rng.int(3);
      const sql = kind === 'nonce-raise' ? 'next_nonce + $1' : 'GREATEST(0, next_nonce - $1)';
      const rows = await asAttacker(db, [
        [`UPDATE payserv_nonces SET next_nonce = ${sql} WHERE chain = 'evm:31337' RETURNING next_nonce`, [d]],
      ]);
      return rows.length
        ? `payserv_nonces ${kind === 'nonce-raise' ? 'raised' : 'lowered'} by ${d} (now ${String(rows[0]?.next_nonce)})`
        : null;
    }
    case 'reservation-delete': {
      const rows = hash
        ? await asAttacker(db, [['DELETE FROM payserv_utxo_reservations WHERE spent_by = $1 RETURNING txid', [hash]]])
        : await asAttacker(db, ['DELETE FROM payserv_utxo_reservations WHERE released_at IS NULL RETURNING txid']);
      return rows.length ? `${rows.length} Zcash input reservation(s) deleted` : null;
    }
    case 'reservation-insert': {
      const reserved = new Set(
        (await db.query<{ txid: string; vout: number }>('SELECT txid, vout FROM payserv_utxo_reservations')).map(
          (r) => `${r.txid}:${r.vout}`,
        ),
      );
      const free = world.zcash
        .outputsTo(world.hot.ZEC)
        .filter((o) => o.height !== null && o.spentBy === null && !reserved.has(`${o.txid}:${o.vout}`));
      if (!free.length) return null;
      const o = rng.pick(free);
      await asAttacker(db, [
        [
          'INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by) VALUES ($1, $2, $3, $4, $5)',
          [world.coins.ZEC.id, o.txid, o.vout, o.value.toString(), randomBytes(32).toString('hex')],
        ],
      ]);
      return `a reservation invented on the hot wallet's free input ${short(o.txid)}:${o.vout}`;
    }
    case 'autopay-unlock': {
      const rows = await asAttacker(db, [
        "UPDATE payserv_autopay SET state = 'idle', holder = '', reason = '', withdrawal_id = NULL WHERE state <> 'idle' RETURNING coin_id",
      ]);
      return rows.length ? `autopay lock(s) of ${rows.map((r) => world.tagOf(Number(r.coin_id))).join(', ')} set idle` : null;
    }
    case 'redirect-address': {
      if (!t) return null;
      await asAttacker(db, [[`UPDATE ${WITHDRAWALS} SET address = $2 WHERE id = $1`, [t.id, ctx.attacker[t.tag]]]]);
      return `withdrawal ${t.id} (${t.status}) redirected to the attacker's address`;
    }
    case 'hold-lock': {
      const name = rng.pick([t ? `withdrawal:${t.id}` : null, `send:${tag}`, `autopay:${tag}`].filter((x): x is string => x !== null));
      const ok = await ctx.held.hold(db, name);
      return `the attacker ${ok ? 'holds' : 'tried to take (held by payserv)'} advisory lock ${name}`;
    }
  }
}

/**
 * How many of the account's latest status entries no checkpoint counts yet: the attacker reads the
 * checkpoint row too, and a rollback of no more entries than this leaves its summary agreeing.
 */
async function uncovered(ctx: FaultContext, t: Target): Promise<number> {
  const db = ctx.world.db;
  const [cp] = await db.query<{ last_withdrawal_id: number; head_withdrawal_id: number; open_status_count: number }>(
    `SELECT last_withdrawal_id, head_withdrawal_id, open_status_count FROM ${USER_CHECKPOINTS} WHERE user_id = $1 AND coin_id = $2`,
    [t.userId, t.coinId],
  );
  if (!cp) return t.statusSeq;
  if (t.id > Number(cp.head_withdrawal_id)) return t.statusSeq;
  const [r] = await db.query<{ n: string }>(
    `SELECT COALESCE(SUM(status_seq + 1), 0)::text AS n FROM ${WITHDRAWALS}
    WHERE user_id = $1 AND coin_id = $2 AND id > $3 AND id <= $4`,
    [t.userId, t.coinId, cp.last_withdrawal_id, cp.head_withdrawal_id],
  );
  return Math.max(0, Number(r?.n ?? 0) - Number(cp.open_status_count));
}

/**
 * The entry a rollback goes back to. The attacker wants the withdrawal payable again (the entry just
 * before its last payment) and unnoticed (no more entries than its checkpoint leaves uncounted): that
 * when it can, else the entry before the payment anyway, else any earlier one.
 */
async function rollbackTo(ctx: FaultContext, t: Target): Promise<number> {
  const history = await ctx.world.db.query<{ seq: number; status: string }>(
    `SELECT seq, status FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 ORDER BY seq`,
    [t.id],
  );
  let last = -1;
  for (const e of history) if (e.status === 'sending') last = e.seq;
  let start = last;
  while (start > 0 && history[start - 1]?.status === 'sending') start--;
  const beforePayment = start > 0 && start - 1 < t.statusSeq ? start - 1 : -1;
  if (beforePayment >= 0 && t.statusSeq - beforePayment <= (await uncovered(ctx, t)) && ctx.rng.chance(0.8)) return beforePayment;
  if (beforePayment >= 0 && ctx.rng.chance(0.5)) return beforePayment;
  return ctx.rng.int(t.statusSeq);
}

/** The attacker hands signed bytes to the node itself (not through payserv's proxy); true if the node took them. */
async function pushRaw(ctx: FaultContext, tag: Tag, raw: string): Promise<boolean> {
  try {
    if (tag === 'ETH') await anvilRpc(ctx.world.anvilUrl, 'eth_sendRawTransaction', [raw]);
    else await new ZcashRpc({ url: ctx.world.zcash.url, timeoutMs: 5_000 }).sendRawTransaction(raw);
    return true;
  } catch {
    return false;
  }
}

async function anyStored(ctx: FaultContext, tag: Tag): Promise<string | null> {
  const rows = await ctx.world.db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs WHERE coin_id = $1 ORDER BY hash', [
    ctx.world.coins[tag].id,
  ]);
  return rows.length ? ctx.rng.pick(rows).hash : null;
}

function insertRow(table: string, row: Record<string, unknown>): readonly [string, unknown[]] {
  const cols = Object.keys(row);
  const value = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v) : v);
  return [
    `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
    cols.map((c) => value(row[c])),
  ];
}

export const short = (h: string) => `${h.slice(0, 10)}…`;

/** Undoes the node faults of an operation: the proxies pass everything again, the stand-in answers. */
export async function clearNodeFaults(world: World): Promise<void> {
  for (const tag of TAGS) {
    world.proxies[tag].clear();
    world.proxies[tag].down(false);
  }
  world.proxies.ETH.nullResults('eth_getTransactionReceipt', false);
  world.proxies.ETH.nullResults('eth_getTransactionByHash', false);
  world.proxies.ETH.lag(0);
  world.proxies.ETH.retarget(world.anvilUrl);
  world.proxies.ZEC.retarget(world.zcash.url);
  await world.zcash.setDown(false);
}
