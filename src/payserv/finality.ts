import { ChainIdentityError, NodeUnavailable, type Placement, type Watch } from '../chains/driver.js';
import type { DataTx } from '../data/data.js';
import { MONITOR } from '../data/ops/monitor.js';
import { streamPages } from '../data/stream.js';
import { checkHistory } from '../ledger/history.js';
import { RowError } from '../data/rows.js';
import { getWithdrawalWithHistory, loadCoins } from '../store/reads.js';
import { openView } from '../verify/view.js';
import { alertIdentity, ALERT } from './chain-alerts.js';
import type { Payserv } from './context.js';
import { stopsPayouts } from './invariant.js';
import type { WatchExpect } from '../data/chain-store.js';

// Sent payments watched to finality (issue 14, item 3). Every transaction that made a withdrawal `sent`
// has a row in payserv_sent_watch, written with that status (src/payserv/payments/sent.ts). Each round asks the
// coin's driver where each row's transaction stands: final (no longer watched), settling (its placement
// followed when a reorg mined it again elsewhere), unknown (nothing concluded), or gone: the block it was
// in left the chain and the transaction is in none. A reorg that mined another transaction of the same
// payment instead (its replacement: the driver's `standsBy`) is the payment standing, settling or final
// where that one is mined: the row (keyed by the transaction the signed ledger records sent, which has no
// corrective entry: sent is final) follows its block and names it. Gone is never repaired here: the payment's
// withdrawals stay `sent` (never paid again automatically), payserv fails-stop and an operator decides.

/** Rows read per page, and asked per round at most: the rest are asked next round, from where this one stopped. */
const PAGE_ROWS = 500;
export const WATCH_ROWS_PER_ROUND_MAX = 5_000;
/** The most withdrawals one row may name (Zcash's batch_max is at most 2000). */
const ROW_WITHDRAWALS_MAX = 2_000;
/** Depth when a coin's finality_depth is not given (the configuration's default). */
const FINALITY_DEFAULT = 64;
const RESULT_CHARS_MAX = 500;

const HASH = /^(0x)?[0-9a-f]{64}$/;

/** A row of payserv_sent_watch, checked: attacker-controlled input like any row. */
export interface WatchRow {
  hash: string;
  /** What the chain must keep saying of it: success (sent), reverted or mined (a send_error's proof). */
  expect: WatchExpect;
  coinId: number;
  withdrawalIds: number[];
  seen: Placement;
  sentAt: Date;
}

export interface FinalityReport {
  asked: number;
  final: number;
  settling: number;
  /** Settling, found in another block than the row said (a reorg mined it again). */
  moved: number;
  unknown: number;
  gone: number;
  /** Rows of a coin with no driver, or whose node could not be asked this round. */
  skipped: number;
  /** Coins whose node failed a watch this round (unreachable, an error, another chain), with why: the monitor counts them failing. */
  failing: Record<string, string>;
}

function positiveInt(v: unknown, what: string): number {
  const n = typeof v === 'string' && /^\d{1,16}$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
    throw new RowError(`${what}: expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

export function toWatchRow(r: Record<string, unknown>): WatchRow {
  const hash = r.hash;
  if (typeof hash !== 'string' || !HASH.test(hash))
    throw new RowError(`payserv_sent_watch: hash ${JSON.stringify(hash)} is not a transaction hash`);
  const at = `payserv_sent_watch ${hash}`;
  const ids = r.withdrawal_ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > ROW_WITHDRAWALS_MAX)
    throw new RowError(`${at}: withdrawal_ids must list 1..${ROW_WITHDRAWALS_MAX} withdrawals`);
  const withdrawalIds = ids.map((x, i) => positiveInt(x, `${at}: withdrawal_ids[${i}]`));
  const blockHash = r.block_hash;
  if (typeof blockHash !== 'string' || !HASH.test(blockHash))
    throw new RowError(`${at}: block_hash ${JSON.stringify(blockHash)} is not a block hash`);
  const sentAt = r.sent_at;
  if (!(sentAt instanceof Date) || Number.isNaN(sentAt.getTime())) throw new RowError(`${at}: sent_at is not a timestamp`);
  const expect = r.expect;
  if (expect !== 'success' && expect !== 'reverted' && expect !== 'mined')
    throw new RowError(`${at}: expect ${JSON.stringify(expect)} is not success, reverted or mined`);
  return {
    hash,
    expect,
    coinId: positiveInt(r.coin_id, `${at}: coin_id`),
    withdrawalIds,
    sentAt,
    seen: { blockNumber: positiveInt(r.block_number, `${at}: block_number`), blockHash },
  };
}

const clip = (s: string) => s.slice(0, RESULT_CHARS_MAX);
const samePlace = (a: Placement, b: Placement) =>
  a.blockNumber === b.blockNumber && a.blockHash.toLowerCase() === b.blockHash.toLowerCase();

export class FinalityWatch {
  readonly #ps: Payserv;
  readonly #finality: ReadonlyMap<string, number>;
  /** Where the last round stopped when it reached its bound ('' : from the start). */
  #after = '';
  /** Rows found gone whose fail-stop was raised in this process: not again until they are seen on the chain. */
  readonly #stopped = new Set<string>();

  /** `finality`: each coin's finality_depth by tag. */
  constructor(ps: Payserv, finality: ReadonlyMap<string, number>) {
    this.#ps = ps;
    this.#finality = finality;
  }

  /** One round over the rows not yet final (at most WATCH_ROWS_PER_ROUND_MAX). */
  async round(): Promise<FinalityReport> {
    const ps = this.#ps;
    const report: FinalityReport = { asked: 0, final: 0, settling: 0, moved: 0, unknown: 0, gone: 0, skipped: 0, failing: {} };
    const tags = new Map((await loadCoins(ps.db)).map((c) => [c.id, c.tag]));
    const unreachable = new Map<string, string>();
    const start = this.#after;
    let last: string | null = null;
    const rows = streamPages(
      ps.db,
      (after: string | null, n) => ({ op: MONITOR.unfinalPage, params: [after ?? start, n] }),
      (r) => r.hash,
      PAGE_ROWS,
    );
    for await (const raw of rows) {
      const row = toWatchRow(raw);
      last = row.hash;
      const tag = tags.get(row.coinId);
      if (tag === undefined || !ps.drivers.has(tag) || unreachable.has(tag)) report.skipped++;
      else await this.#ask(row, tag, report, unreachable);
      if (report.asked + report.skipped >= WATCH_ROWS_PER_ROUND_MAX) break;
    }
    report.failing = Object.fromEntries(unreachable);
    // Reached the bound: the next round goes on from here; else it starts again from the first row.
    this.#after = last !== null && report.asked + report.skipped >= WATCH_ROWS_PER_ROUND_MAX ? last : '';
    if (report.asked || report.skipped) ps.log.info({ component: 'finality', ...report }, 'sent payments watched');
    return report;
  }

  async #ask(row: WatchRow, tag: string, report: FinalityReport, unreachable: Map<string, string>): Promise<void> {
    const ps = this.#ps;
    const driver = ps.drivers.get(tag);
    if (!driver) return;
    let w: Watch;
    try {
      w = await driver.watch(row.hash, row.seen, { finality: this.#finality.get(tag) ?? FINALITY_DEFAULT });
    } catch (e) {
      // A broken invariant stops payouts. Anything else the node answered (an error, a reply that does not
      // fit: geth "transaction indexing is in progress") concludes nothing, as a node that cannot be asked;
      // its other rows wait for the next round, and the monitor counts the coin's node as failing.
      if (stopsPayouts(e) || !(e instanceof Error)) throw e;
      if (e instanceof ChainIdentityError)
        await alertIdentity(ps, e, `the finality watch of ${row.hash}`, { withdrawals: row.withdrawalIds });
      else
        ps.log.warn(
          { component: 'finality', coin: tag, tx: row.hash, err: e.message },
          `node ${e instanceof NodeUnavailable ? 'unreachable' : 'error'}: watched payments not asked this round`,
        );
      unreachable.set(tag, `the finality watch of ${row.hash}: ${e.message}`);
      report.skipped++;
      return;
    }
    report.asked++;
    const kept = this.#kept(row, w);
    report[kept.kind]++;
    await this.#apply(ps.db, row, tag, kept, report);
  }

  /**
   * A transaction on the chain that is no longer what the row's verdict rested on (a sent payment re-mined
   * after a reorg with status 0, a send_error's reverted attempt re-mined with success) is as good as gone:
   * the verdict was undone.
   */
  #kept(row: WatchRow, w: Watch): Watch {
    if (w.kind !== 'final' && w.kind !== 'settling') return w;
    if (row.expect === 'success' && w.reverted)
      return {
        kind: 'gone',
        proof: `${row.hash} is now mined with status 0 (reverted) in block ${w.block.blockNumber} (${w.block.blockHash}): a reorg re-mined it, and it paid nothing`,
      };
    if (row.expect === 'reverted' && !w.reverted)
      return {
        kind: 'gone',
        proof: `${row.hash}, a send_error's proof by its status 0, is now mined with success in block ${w.block.blockNumber} (${w.block.blockHash}): a reorg re-mined it, and it paid`,
      };
    return w;
  }

  async #apply(db: DataTx, row: WatchRow, tag: string, w: Watch, report: FinalityReport): Promise<void> {
    const ps = this.#ps;
    const now = ps.now().toISOString();
    const facts = { component: 'finality', coin: tag, tx: row.hash, withdrawals: row.withdrawalIds };
    if (w.kind === 'unknown' || w.kind === 'gone') {
      await db.query(MONITOR.checked, [row.hash, now, clip(`${w.kind}: ${w.kind === 'gone' ? w.proof : w.reason}`)]);
      // One line per row at debug (a driver without a watch says unknown of every row, every round); the round's line counts them.
      if (w.kind === 'unknown') ps.log.debug({ ...facts, reason: w.reason }, 'sent payment: the node cannot tell now, nothing concluded');
      else await this.#gone(row, tag, w.proof);
      return;
    }
    const moved = !samePlace(row.seen, w.block);
    const by = w.standsBy;
    if (moved) {
      report.moved++;
      if (by)
        ps.log.warn(
          { ...facts, from: row.seen, to: w.block, mined: by.hash, fee_delta: by.feeDelta?.toString() ?? null },
          'sent payment moved by a reorg: its transaction is in no block of the best chain, another transaction of the same payment (its replacement: the same inputs, every output paid) is mined instead, watched from there; the signed ledger names the transaction recorded sent',
        );
      else
        ps.log.warn(
          { ...facts, from: row.seen, to: w.block },
          'sent payment moved by a reorg: mined again in another block, watched from there',
        );
    }
    this.#backOnChain(row.hash, facts);
    const final = w.kind === 'final';
    await db.query(MONITOR.watched, [
      row.hash,
      String(w.block.blockNumber),
      w.block.blockHash.toLowerCase(),
      final ? now : null,
      now,
      clip(
        `${w.kind}: ${w.confirmations} confirmations in block ${w.block.blockNumber}` +
          (by
            ? `, mined as ${by.hash} (another transaction of the payment, fee ${by.feeDelta === null ? 'difference unknown' : `${by.feeDelta >= 0n ? '+' : ''}${by.feeDelta}`})`
            : ''),
      ),
    ]);
    if (final)
      ps.log.info(
        { ...facts, block: w.block, confirmations: w.confirmations, mined: by?.hash ?? row.hash },
        'sent payment final: no longer watched',
      );
  }

  /** A row found gone before is on the chain again: its episode ends (a later disappearance is raised anew). */
  #backOnChain(hash: string, facts: Record<string, unknown>): void {
    const was = this.#stopped.delete(hash);
    if (this.#ps.state.endEpisode(ALERT.reorged, hash) || was) this.#ps.log.warn(facts, 'a sent payment found gone is on the chain again');
  }

  /**
   * The transaction left the chain: payouts stop first (nothing may pay meanwhile), then the alert with
   * the proof. Only withdrawals whose signed history records them sent by it are named as undone; a row
   * that no signed history backs was forged, which is tampering and stops payouts too.
   */
  async #gone(row: WatchRow, tag: string, proof: string): Promise<void> {
    const ps = this.#ps;
    if (this.#stopped.has(row.hash)) return;
    this.#stopped.add(row.hash);
    const { backed, unbacked } = await this.#backing(row);
    const details = {
      coin: tag,
      tx: row.hash,
      seen: row.seen,
      sent_at: row.sentAt.toISOString(),
      proof,
      withdrawals: backed,
      unbacked: unbacked.slice(0, 50),
    };
    if (!backed.length) {
      await ps.state.failStop(
        `payserv_sent_watch ${row.hash}: the chain says it is gone, and no withdrawal's signed history records it sent (${unbacked[0] ?? 'none named'}): the row was forged`,
        details,
      );
      return;
    }
    const reason =
      row.expect === 'success'
        ? `coin ${tag}: transaction ${row.hash}, which paid withdrawal(s) ${backed.join(', ')} (recorded sent), is gone from the chain before it was final: ${proof}. ` +
          'They are not paid again automatically: an operator decides'
        : `coin ${tag}: transaction ${row.hash}, the proof that withdrawal(s) ${backed.join(', ')} failed (recorded send_error), no longer holds before it was final: ${proof}. ` +
          'An earlier payment of theirs may be on the chain after all: an operator decides before any Resend';
    await ps.state.failStop(reason, details);
    await ps.state.alertOnce(ALERT.reorged, row.hash, 'gone', reason, details);
  }

  /** Which of the row's withdrawals a verified signed history records sent by its transaction. */
  async #backing(row: WatchRow): Promise<{ backed: number[]; unbacked: string[] }> {
    const ps = this.#ps;
    const view = await openView(ps.db, ps.trust, ps.local);
    const backed: number[] = [];
    const unbacked: string[] = [];
    for (const id of row.withdrawalIds) {
      const found = await getWithdrawalWithHistory(ps.db, id);
      if (!found) {
        unbacked.push(`withdrawal ${id} does not exist`);
        continue;
      }
      const faults = checkHistory(found.withdrawal, found.history, view.book);
      // A sent row: the history records sent by this transaction; a proof's row: the history records send_error (its hash may be another's).
      const sent =
        row.expect === 'success'
          ? found.history.some((e) => e.status === 'sent' && e.txHash?.toLowerCase() === row.hash)
          : found.history.some((e) => e.status === 'send_error');
      if (faults.length || found.withdrawal.coinId !== row.coinId || !sent) {
        unbacked.push(
          `withdrawal ${id}: ${faults[0] ?? (sent ? `of coin ${found.withdrawal.coinId}, not ${row.coinId}` : 'its signed history records no sent by this transaction')}`,
        );
      } else backed.push(id);
    }
    return { backed, unbacked };
  }
}
