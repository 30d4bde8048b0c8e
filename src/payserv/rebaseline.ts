import { createHash } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { coinCheckpointJson, userCheckpointJson } from '../checkpoints/codec.js';
import { LocalCheckpointStore } from '../checkpoints/local-store.js';
import { walletMemoryJson } from '../checkpoints/wallet-memory.js';
import { runCheck } from '../checks/run.js';
import type { DataTx } from '../data/data.js';
import { AUDIT } from '../data/ops/audit.js';
import { remember, EMPTY_MEMORY } from '../ledger/wallets.js';
import { formatProblem, type Problem } from '../ledger/problem.js';
import { ensureDir } from '../state/atomic-file.js';
import {
  ANCHOR_FILE,
  anchorPath,
  inspectAnchor,
  LOCAL_PARTS,
  writeAnchor,
  type AnchorOrigin,
  type LocalPart,
} from '../state/local-anchor.js';
import { JOURNAL_FILE, journalDir } from '../journal/journal.js';
import { LEDGER } from '../data/ops/ledger.js';
import {
  getCoinCheckpoint,
  loadCoins,
  streamAllCredits,
  streamAllWithdrawals,
  streamUserCheckpoints,
  streamWallets,
} from '../store/reads.js';
import { encodeCredit, encodeWallet, encodeWithdrawalStatus } from '../ledger/encoding.js';
import { openView } from '../verify/view.js';
import { verifyWallets } from '../verify/wallets.js';
import { refusal } from '../api/payserv.js';
import { lastAuditRows, readAuditHead, verifyAudit, type AuditHead, type AuditTrail } from './audit.js';
import type { Payserv } from './context.js';
import { fault } from './faults.js';

// `pscli rebaseline`: the payserv host's local state (checkpoints, wallet memory, journal, audit head) is the
// anchor the database cannot reach. Once it is lost, nothing on the host can tell an honest ledger from one
// rolled back or rewritten, so payserv refuses to enable, and never re-creates that state from the database on
// its own. The operators vouch instead: each confirms (with a reason) a ledger payserv verified whole from its
// first row, bound by a digest of its checkpoints; once `[rebaseline] confirmations` distinct operators
// confirmed the same digest, payserv writes fresh local state from that verified ledger.

/** What was lost decides which findings are only its absence (no copy to compare with, no journal, no audit head). */
function excused(lost: LostState): (p: Problem) => boolean {
  return (p) => {
    // A payment in flight the (new) journal never recorded: Check settles it from the chain.
    if (p.code === 'journal_unrecorded') return true;
    if (p.code === 'audit_no_head' || p.code === 'audit_unrecorded') return lost.auditHead;
    // Only the lost kind of checkpoint: a surviving kind still has to match the database's.
    if (p.code === 'checkpoint_local')
      return p.table === USER_TABLE ? lost.userCheckpoints : p.table === COIN_TABLE && lost.coinCheckpoints;
    return false;
  };
}

const USER_TABLE = 'finances_user_balance_checkpoints';
/** The trees of the checkpoint store a rebaseline may write, and the anchor's name for each. */
const TREES = [
  { dir: 'user', part: 'user_checkpoints' },
  { dir: 'coin', part: 'coin_checkpoints' },
  { dir: 'wallet', part: 'wallet_memory' },
] as const;
const COIN_TABLE = 'finances_coin_checkpoints';

/** What of the host's local state is gone, and why that is the verdict. */
export interface LostState {
  /** Either kind of checkpoint lost (checkpoints/user or checkpoints/coin). */
  checkpoints: boolean;
  userCheckpoints: boolean;
  coinCheckpoints: boolean;
  /** audit/head.json is missing while the trail has rows, or while the anchor records it. */
  auditHead: boolean;
  /** checkpoints/wallet is missing while the anchor records it (or the anchor is damaged): re-made from the verified wallets. */
  walletMemory: boolean;
  reasons: string[];
}

const WHOLE: LostState = {
  checkpoints: false,
  userCheckpoints: false,
  coinCheckpoints: false,
  auditHead: false,
  walletMemory: false,
  reasons: [],
};

/** Problems listed in a refusal at most (the log has the count). */
const LISTED_MAX = 50;

export interface Confirmation {
  operator: string;
  reason: string;
  at: string;
}

export interface Verified {
  /** SHA-256 over every checkpoint of the verified ledger, in key order: what the operators confirm. */
  digest: string;
  accounts: number;
  coins: number;
  /** The audit trail's last row when verified: the local head when no row of this process came after it. */
  auditHead: AuditHead | null;
}

/** Which parts of the local state the state directory holds now. `journalExisted`: the journal file before payserv opened (created) it. */
export async function presentParts(local: LocalCheckpointStore, journalExisted?: boolean): Promise<Set<LocalPart>> {
  const present = new Set<LocalPart>();
  if (!(await isEmpty(local.listUsers()))) present.add('user_checkpoints');
  if (!(await isEmpty(local.listCoins()))) present.add('coin_checkpoints');
  if (!(await isEmpty(local.listWalletAccounts()))) present.add('wallet_memory');
  if ((await readAuditHead(local.stateDir)) !== null) present.add('audit_head');
  if (journalExisted ?? (await exists(journalFile(local.stateDir)))) present.add('journal');
  return present;
}

export const journalFile = (stateDir: string): string => join(journalDir(stateDir), JOURNAL_FILE);

/**
 * Whether the host's local state counts as lost. Decided first by the host's own anchor (src/state/local-anchor.ts):
 * a part it records as written but missing is lost; no anchor at all while the database holds any ledger history is a
 * lost state directory (unless it still holds checkpoints: an older state directory, anchored now once). Then, as before,
 * by what the database holds that only a host that kept its state could have made. A state found whole is anchored:
 * on an empty ledger (first start), an older state directory (migration), or the parts written since (refresh).
 */
export async function detectLostState(db: DataTx, local: LocalCheckpointStore, journalExisted?: boolean): Promise<LostState> {
  const present = await presentParts(local, journalExisted);
  const { anchor, damaged } = await inspectAnchor(local.stateDir);
  const lostParts = new Set<LocalPart>();
  const reasons: string[] = [];
  let origin: AnchorOrigin = 'first_start';
  if (damaged) {
    // What it recorded is unknown: every part could have been written, so each one missing is lost. Surviving
    // parts are kept (they still catch a rolled-back database) and a rebaseline verifies them against it.
    for (const part of LOCAL_PARTS) if (!present.has(part)) lostParts.add(part);
    reasons.push(
      `${damaged}; the host cannot tell which parts of its local state were written${lostParts.size ? `, and it does not hold ${[...lostParts].join(', ')}` : ''}`,
    );
  } else if (anchor) {
    for (const part of anchor.parts) if (!present.has(part)) lostParts.add(part);
    if (lostParts.size)
      reasons.push(
        `${anchorPath(local.stateDir)} records ${[...lostParts].join(', ')} as written, and the state directory no longer holds them`,
      );
  } else if ((await db.query(LEDGER.anyHistory, []))[0]?.any === true) {
    origin = 'migration';
    if (!present.has('user_checkpoints') && !present.has('coin_checkpoints')) {
      for (const part of LOCAL_PARTS) if (!present.has(part)) lostParts.add(part);
      lostParts.add('user_checkpoints').add('coin_checkpoints');
      reasons.push(
        `the state directory has no local-state anchor (${ANCHOR_FILE}) and no checkpoints while the database holds ledger history: a payserv worked on this ledger and its host's state is gone`,
      );
    }
  }
  // The database's side (the rule before the anchor): checkpoints or audit rows only a host that kept its state could have made.
  if (!present.has('user_checkpoints') && !present.has('coin_checkpoints') && !lostParts.has('user_checkpoints')) {
    let dbCheckpoints = !(await isEmpty(streamUserCheckpoints(db)));
    for (const c of await loadCoins(db)) if (!dbCheckpoints) dbCheckpoints = (await getCoinCheckpoint(db, c.id)) !== null;
    if (dbCheckpoints) {
      lostParts.add('user_checkpoints').add('coin_checkpoints');
      reasons.push(`the local checkpoint store (${local.root}) is empty while the database holds checkpoints payserv signed`);
    }
  }
  if (!present.has('audit_head') && !lostParts.has('audit_head')) {
    const [auditRow] = await db.query(AUDIT.firstPage, [1]);
    if (auditRow !== undefined) {
      lostParts.add('audit_head');
      reasons.push(`the audit trail's local head is missing while the database's trail has rows`);
    }
  }
  if (!reasons.length) {
    // payserv opens (creates) the journal before this look: from now on it is a part the host keeps.
    if (await exists(journalFile(local.stateDir))) present.add('journal');
    await writeAnchor(local.stateDir, origin, [...present]);
    return WHOLE;
  }
  const userCheckpoints = lostParts.has('user_checkpoints');
  const coinCheckpoints = lostParts.has('coin_checkpoints');
  return {
    checkpoints: userCheckpoints || coinCheckpoints,
    userCheckpoints,
    coinCheckpoints,
    auditHead: lostParts.has('audit_head'),
    walletMemory: lostParts.has('wallet_memory'),
    reasons,
  };
}

/** Whether a stream yields nothing; closes it after the first look (a directory handle, a page query). */
async function isEmpty(it: AsyncGenerator<unknown>): Promise<boolean> {
  const first = await it.next();
  await it.return(undefined);
  return first.done === true;
}

type DigestLine = { line: string; write?: (s: LocalCheckpointStore) => Promise<void>; kind?: 'user' | 'coin' };

const hex = (b: Uint8Array | null): string => (b ? Buffer.from(b).toString('hex') : '-');

/**
 * The digest the operators confirm: every signed row of the ledger (credits, each withdrawal's status chain and its
 * row's status now, wallets) and every user and coin checkpoint, streamed in key order. A row changed, added or
 * deleted anywhere, covered by a checkpoint or not, is another digest.
 */
async function* digestLines(db: DataTx): AsyncGenerator<DigestLine> {
  for await (const c of streamAllCredits(db)) yield { line: `credit ${hex(encodeCredit(c))} ${hex(c.signature)}` };
  for await (const { withdrawal: w, history } of streamAllWithdrawals(db)) {
    let prev: Uint8Array | null = null;
    for (const e of history) {
      yield { line: `status ${hex(encodeWithdrawalStatus(w, e, prev))} ${hex(e.signature)}` };
      prev = e.signature;
    }
    yield { line: `withdrawal ${w.id} ${w.status} ${w.statusSeq} ${w.txHash ?? '-'}` };
  }
  for await (const wl of streamWallets(db)) yield { line: `wallet ${hex(encodeWallet(wl))} ${hex(wl.signature)}` };
  for await (const cp of streamUserCheckpoints(db)) {
    const j = userCheckpointJson(cp);
    yield { line: `user ${JSON.stringify(j)}`, kind: 'user', write: (s) => s.putUser(cp.userId, cp.coinId, j) };
  }
  for (const coin of await loadCoins(db)) {
    const cp = await getCoinCheckpoint(db, coin.id);
    if (!cp) continue;
    const j = coinCheckpointJson(cp);
    yield { line: `coin ${JSON.stringify(j)}`, kind: 'coin', write: (s) => s.putCoin(cp.coinId, j) };
  }
}

/** The digest of the ledger as it is now, each line also handed to `each` (the staged write). */
async function ledgerDigest(
  db: DataTx,
  each?: (l: DigestLine) => Promise<void>,
): Promise<{ digest: string; accounts: number; coins: number }> {
  const hash = createHash('sha256').update('payserv rebaseline v2\n');
  let accounts = 0;
  let coins = 0;
  for await (const l of digestLines(db)) {
    hash.update(`${l.line}\n`);
    if (l.kind === 'user') accounts++;
    if (l.kind === 'coin') coins++;
    await each?.(l);
  }
  return { digest: hash.digest('hex'), accounts, coins };
}

/**
 * The whole ledger from its first row (every account's signed history, certificates against the pinned root,
 * chains, reversals, ghosts, wallets, each pool; the database's checkpoints against the rows they cover), the
 * journal against the signed histories, and the audit trail's chain. Everything streamed, as the checks are.
 */
export async function verifyForRebaseline(
  ps: Payserv,
  lost: LostState,
): Promise<{ problems: Problem[]; verified: Verified; changed: boolean }> {
  const view = await openView(ps.db, ps.trust, ps.local);
  const problems: Problem[] = [];
  const isExcused = excused(lost);
  const keep = (p: Problem) => {
    if (!isExcused(p)) problems.push(p);
  };
  // Digested before and after the walk: what the operator confirms is exactly the ledger the walk verified.
  const before = await ledgerDigest(ps.db);
  await runCheck(view, 'balanceerrors', {}, keep);
  for await (const p of verifyAudit(ps.db, ps.local.stateDir)) keep(p);
  const { digest, accounts, coins } = await ledgerDigest(ps.db);
  const [last] = await lastAuditRows(ps.db, 1);
  const auditHead = last ? { id: last.id, hash: Buffer.from(last.hash).toString('hex') } : null;
  return { problems, verified: { digest, accounts, coins, auditHead }, changed: digest !== before.digest };
}

/**
 * Writes the fresh local state into a staging directory while digesting the ledger again: only when the
 * digest is still the one confirmed are the trees moved into place; otherwise nothing is moved. Wallet memory
 * is what each account's verified, signed wallets show now.
 */
async function writeFreshState(ps: Payserv, digest: string, lost: LostState): Promise<{ accounts: number; coins: number } | string> {
  const stateDir = ps.local.stateDir;
  const stagingDir = join(stateDir, '.rebaseline');
  await rm(stagingDir, { recursive: true, force: true });
  const staging = new LocalCheckpointStore(stagingDir);
  const view = await openView(ps.db, ps.trust, staging);
  const now = await ledgerDigest(ps.db, (l) => l.write?.(staging) ?? Promise.resolve());
  const { accounts, coins } = now;
  if (now.digest !== digest) {
    await rm(stagingDir, { recursive: true, force: true });
    return 'the database changed since the ledger was verified and confirmed: nothing written; verify and confirm again';
  }
  for await (const { userId, coinId } of staging.listUsers()) {
    const seen = await verifyWallets(view, userId, coinId);
    if (seen.problems.length) {
      await rm(stagingDir, { recursive: true, force: true });
      return `the wallets of user=${userId} coin=${coinId} changed since they were verified: nothing written; verify and confirm again`;
    }
    if (seen.reviewed.length)
      await staging.putWallets(userId, coinId, walletMemoryJson(userId, coinId, remember(EMPTY_MEMORY, seen.reviewed)));
  }
  await ensureDir(ps.local.root);
  const moves: (typeof TREES)[number][] = [];
  for (const tree of TREES) {
    if (!(await exists(join(staging.root, tree.dir)))) continue;
    // A kind of checkpoint that survived was verified against the database's (a mismatch refused): kept as it is.
    if ((tree.dir === 'user' && !lost.userCheckpoints) || (tree.dir === 'coin' && !lost.coinCheckpoints)) continue;
    // Wallet memory that survived is the host's own, and knows retirements the database may have undone: kept.
    if (tree.dir === 'wallet' && !(await isEmpty(ps.local.listWalletAccounts()))) continue;
    moves.push(tree);
  }
  await fault(ps.faults, 'rebaseline.staged', { withdrawals: [] });
  // The anchor records every tree about to be moved before the first move: a crash between the moves leaves a
  // recorded tree missing (lost, refused again), never a state directory that looks whole with a tree absent.
  await writeAnchor(
    stateDir,
    'rebaseline',
    moves.map((t) => t.part),
    { replaceDamaged: true },
  );
  for (const tree of moves) {
    // A lost tree holds nothing the anchor trusts: replaced whole (rename is atomic; the tree is absent or complete).
    await rm(join(ps.local.root, tree.dir), { recursive: true, force: true });
    await rename(join(staging.root, tree.dir), join(ps.local.root, tree.dir));
    await fault(ps.faults, 'rebaseline.moved', { withdrawals: [], step: tree.dir });
  }
  await rm(stagingDir, { recursive: true, force: true });
  return { accounts, coins };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export interface RebaselineSettings {
  /** Distinct operators needed ([rebaseline] confirmations, at least 2). */
  confirmations: number;
  audit: AuditTrail;
  /** Why an operator's certificate is refused now (revoked), or null: the RPC server's own check. */
  operatorRefusal?: (operator: string) => string | null;
}

/** The rebaseline gate of one payserv process: why the local state counts as lost, and the confirmations so far (memory only). */
export class Rebaseline {
  #lost: LostState;
  #digest: string | null = null;
  #confirmations = new Map<string, Confirmation>();
  /** One verification and commit at a time. */
  #tail: Promise<unknown> = Promise.resolve();

  constructor(
    lost: LostState,
    readonly settings: RebaselineSettings,
  ) {
    this.#lost = lost;
    // A surviving head is the host's own and moves on with each call; a lost one is not re-made from the database's trail.
    if (lost.auditHead) settings.audit.holdHead();
  }

  /** Why enabling is refused, or null: the local state is whole (or was rebaselined). */
  get required(): string | null {
    return this.#lost.reasons.length
      ? `the payserv host's local state is lost (${this.#lost.reasons.join('; ')}): payouts stay off until T operators confirm \`pscli rebaseline --reason ...\``
      : null;
  }

  status() {
    return {
      required: this.#lost.reasons.length > 0,
      reasons: [...this.#lost.reasons],
      confirmations_needed: this.settings.confirmations,
      digest: this.#digest,
      confirmed_by: [...this.#confirmations.values()],
    };
  }

  /** One operator's confirmation: verify the whole ledger; count it toward `digest`; at T distinct operators, write the fresh state. */
  confirm(ps: Payserv, operator: string | undefined, reason: string) {
    const job = this.#tail.then(() => this.#confirm(ps, operator, reason));
    this.#tail = job.catch(() => undefined);
    return job;
  }

  async #confirm(ps: Payserv, operator: string | undefined, reason: string) {
    if (!this.#lost.reasons.length)
      throw refusal('rebaseline_not_needed', "the host's local state is whole: a rebaseline would overwrite its anchors");
    if (!operator)
      throw refusal(
        'not_operator',
        'a rebaseline is confirmed by operators, each with their own certificate (pscli pki issue --operator NAME; PSCLI_OPERATOR=NAME): the shared pscli identity and the back end do not count',
      );
    this.#dropRevoked(ps);
    const { problems, verified, changed } = await verifyForRebaseline(ps, this.#lost);
    if (changed)
      return this.#refusedChanged(
        ps,
        operator,
        reason,
        'the ledger changed while it was verified: nothing counted; verify and confirm again',
      );
    if (problems.length) {
      this.#reset();
      ps.log.error(
        { operator, reason, problems: problems.length, listed: problems.slice(0, LISTED_MAX).map(formatProblem) },
        'rebaseline refused: the ledger does not verify; nothing written',
      );
      await ps.state.alertOnce('rebaseline', 'ledger', `refused:${Date.now()}`, 'rebaseline refused: the ledger does not verify', {
        operator,
        reason,
        problems: problems.slice(0, LISTED_MAX).map(formatProblem),
      });
      return {
        reply: 'ERROR',
        code: 'rebaseline_refused',
        problems: problems.slice(0, LISTED_MAX),
        problems_total: problems.length,
        ...this.status(),
      };
    }
    if (this.#digest !== verified.digest) {
      // Another ledger than the one confirmed so far: those confirmations were about something else.
      if (this.#confirmations.size)
        ps.log.warn(
          { before: this.#digest, now: verified.digest },
          'rebaseline: the verified ledger changed; earlier confirmations dropped',
        );
      this.#reset();
      this.#digest = verified.digest;
    }
    this.#confirmations.set(operator, { operator, reason, at: ps.now().toISOString() });
    // A revocation may have come while the ledger was verified: counted again just before anything is written.
    this.#dropRevoked(ps);
    const confirmedBy = [...this.#confirmations.values()];
    const details = { digest: verified.digest, accounts: verified.accounts, coins: verified.coins, confirmations: confirmedBy };
    if (confirmedBy.length < this.settings.confirmations) {
      ps.log.warn({ operator, reason, ...details, needed: this.settings.confirmations }, 'rebaseline confirmed by an operator');
      await ps.state.alertOnce(
        'rebaseline',
        'ledger',
        `${verified.digest}:${confirmedBy.length}`,
        `rebaseline confirmed by ${operator} (${confirmedBy.length} of ${this.settings.confirmations}): ${reason}`,
        details,
      );
      return { reply: 'CONFIRMED', ...verified, ...this.status() };
    }
    // Only what was lost is written: checkpoints that survived were just verified against the database's, and stay.
    const written =
      this.#lost.checkpoints || this.#lost.walletMemory
        ? await writeFreshState(ps, verified.digest, this.#lost)
        : { accounts: 0, coins: 0 };
    if (typeof written === 'string') return this.#refusedChanged(ps, operator, reason, written);
    await this.settings.audit.releaseHead(verified.auditHead);
    // The state directory is whole again: the anchor records what it holds now.
    await writeAnchor(ps.local.stateDir, 'rebaseline', [...(await presentParts(ps.local))], { replaceDamaged: true });
    const by = confirmedBy.map((c) => c.operator);
    this.#lost = WHOLE;
    ps.log.warn({ ...details, written }, `rebaseline: fresh local state written, confirmed by ${by.join(', ')}`);
    await ps.state.alertOnce(
      'rebaseline',
      'ledger',
      `${verified.digest}:done`,
      `rebaseline done: fresh local state written from the verified ledger, confirmed by ${by.join(', ')}`,
      { ...details, written },
    );
    ps.state.disable('rebaseline', 'local state rebaselined: run the checks, then `pscli enable`');
    this.#confirmations = new Map();
    return { reply: 'REBASELINED', ...verified, ...this.status(), confirmed_by: confirmedBy };
  }

  /** A confirmation counts only while its operator's certificate does: a revoked operator's is taken back. */
  #dropRevoked(ps: Payserv): void {
    const refused = this.settings.operatorRefusal;
    if (!refused) return;
    for (const c of [...this.#confirmations.values()]) {
      const why = refused(c.operator);
      if (why === null) continue;
      this.#confirmations.delete(c.operator);
      ps.log.warn({ operator: c.operator, why, digest: this.#digest }, 'rebaseline: a confirmation dropped, its operator is refused now');
    }
  }

  /** The ledger moved under a confirmation: every confirmation so far is dropped, nothing written. */
  #refusedChanged(ps: Payserv, operator: string, reason: string, why: string) {
    this.#reset();
    ps.log.error({ operator, reason, why }, 'rebaseline refused: the ledger changed');
    return { reply: 'ERROR', code: 'rebaseline_refused', problems: [], problems_total: 0, message: why, ...this.status() };
  }

  #reset(): void {
    this.#digest = null;
    this.#confirmations = new Map();
  }
}
