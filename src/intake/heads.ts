import { join } from 'node:path';
import { userCheckpointFromJson, userCheckpointJson } from '../checkpoints/codec.js';
import { AccountVerifier, EMPTY_ACCOUNT, stateOf, type AccountResult } from '../ledger/account.js';
import { HeadWatch, headOf, REMEMBERED_OPEN_MAX, type RememberedHead } from '../ledger/head-watch.js';
import { formatProblem, problem, userKey, type Problem } from '../ledger/problem.js';
import type { Coin, Signed } from '../ledger/records.js';
import { readJson, writeJsonAtomic } from '../state/atomic-file.js';
import { streamAccountCredits, streamAccountWithdrawals, type WithdrawalWithHistory } from '../store/reads.js';
import { withIncomeFlags } from '../verify/batch.js';
import { signedUserCheckpoint } from '../verify/checkpoint-trust.js';
import type { LedgerView } from '../verify/view.js';
import { integrityRefusal } from './integrity.js';

// The intake's memory of the accounts it serves (the miners' API): an account is verified from the start of
// its history (the intake's host has no copy of payserv's checkpoints), compared with payserv's signed
// checkpoint in the database as `pscli verify --full` compares it, and with the furthest state this host
// has verified itself, kept in memory and in STATE/account-heads/<coin>/<user>.json (crash-safe, one small
// file per account). Rows verify one by one after a tail cut or a status rolled back to an older signed
// one; only a memory of where the account already was shows the ledger went backwards.

/** Accounts kept in memory at most; the rest are read back from their files when asked for. */
const HEADS_IN_MEMORY = 10_000;

export class AccountHeadsError extends Error {
  override name = 'AccountHeadsError';
}

const isVersion = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function headJson(userId: number, coinId: number, h: RememberedHead): Record<string, unknown> {
  const cp = { ...h.state, userId, coinId, version: h.checkpointVersion, madeAt: new Date(0), sigKeyId: null, signature: null };
  return { ...userCheckpointJson(cp), open: h.open };
}

function headFromJson(j: unknown, userId: number, coinId: number, path: string): RememberedHead {
  const bad = (why: string) => new AccountHeadsError(`${path}: ${why}`);
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw bad('not a JSON object');
  const o = j as Record<string, unknown>;
  if (o.user_id !== userId || o.coin_id !== coinId) throw bad(`it names user=${String(o.user_id)} coin=${String(o.coin_id)}`);
  const open = o.open;
  const isPair = (p: unknown) => Array.isArray(p) && p.length === 2 && p.every((n) => isVersion(n));
  if (!Array.isArray(open) || open.length > REMEMBERED_OPEN_MAX || !open.every(isPair)) throw bad('open is missing or malformed');
  try {
    const cp = userCheckpointFromJson(o);
    if (!isVersion(cp.version)) throw new Error('version is malformed');
    return { state: stateOf(cp), open: open as Array<[number, number]>, checkpointVersion: cp.version };
  } catch (e) {
    throw bad((e as Error).message);
  }
}

/** The heads this host has verified: in memory (the most recently used) and on disk. */
export class AccountHeads {
  readonly #root: string;
  readonly #memory = new Map<string, RememberedHead | null>();
  /** Writes of one account, one after another, so an older head never replaces a newer one on disk. */
  readonly #writes = new Map<string, Promise<void>>();

  constructor(stateDir: string) {
    this.#root = join(stateDir, 'account-heads');
  }

  #path(userId: number, coinId: number): string {
    return join(this.#root, String(coinId), `${userId}.json`);
  }

  async get(userId: number, coinId: number): Promise<RememberedHead | null> {
    const key = userKey(userId, coinId);
    const known = this.#memory.get(key);
    if (known !== undefined) {
      this.#keep(key, known);
      return known;
    }
    const path = this.#path(userId, coinId);
    const j = await readJson(path);
    const head = j === null ? null : headFromJson(j, userId, coinId, path);
    this.#keep(key, head);
    return head;
  }

  /** Remembers a head verified now, in memory at once and on disk before it returns. */
  async put(userId: number, coinId: number, head: RememberedHead): Promise<void> {
    const key = userKey(userId, coinId);
    this.#keep(key, head);
    const path = this.#path(userId, coinId);
    const prev = this.#writes.get(key) ?? Promise.resolve();
    const next = prev.catch(() => undefined).then(() => writeJsonAtomic(path, headJson(userId, coinId, head)));
    this.#writes.set(key, next);
    try {
      await next;
    } finally {
      if (this.#writes.get(key) === next) this.#writes.delete(key);
    }
  }

  #keep(key: string, head: RememberedHead | null): void {
    this.#memory.delete(key);
    this.#memory.set(key, head);
    if (this.#memory.size > HEADS_IN_MEMORY) this.#memory.delete(this.#memory.keys().next().value as string);
  }
}

/** Later than or equal to `than` in every count: a head seen by a request that finished after a newer one is not written back. */
const notBehind = (h: RememberedHead, than: RememberedHead | null): boolean =>
  !than ||
  (h.state.lastCreditId >= than.state.lastCreditId &&
    h.state.headWithdrawalId >= than.state.headWithdrawalId &&
    h.state.statusCount + h.state.openStatusCount >= than.state.statusCount + than.state.openStatusCount &&
    h.checkpointVersion >= than.checkpointVersion);

/**
 * One account verified whole and against where it already was: the signed database checkpoint (as the full check
 * compares it) and this host's remembered head. Refused as integrity, naming the first problem, when anything does
 * not verify or the account went backwards; otherwise its head is remembered. `seen` is told of every withdrawal.
 */
export async function verifyRememberedAccount(
  view: LedgerView,
  heads: AccountHeads,
  userId: number,
  coin: Signed<Coin>,
  seen: (w: WithdrawalWithHistory) => void = () => undefined,
): Promise<AccountResult> {
  const trusted = await signedUserCheckpoint(view, userId, coin.id);
  const cp = trusted.checkpoint;
  const remembered = await heads.get(userId, coin.id);
  const problems: Problem[] = [...trusted.problems];
  const version = cp?.version ?? 0;
  if (remembered && version < remembered.checkpointVersion)
    problems.push(
      problem(
        'finances_user_balance_checkpoints',
        userKey(userId, coin.id),
        'checkpoint_mismatch',
        `the signed checkpoint is version ${version}, older than version ${remembered.checkpointVersion} already seen (rolled back?)`,
      ),
    );
  const v = new AccountVerifier(userId, coin.id, view.book, EMPTY_ACCOUNT, cp, coin.feeUserId);
  const watch = remembered ? new HeadWatch(userId, coin.id, remembered) : null;
  for await (const [c, hasIncome] of withIncomeFlags(view.db, streamAccountCredits(view.db, userId, coin.id, 0))) {
    v.credit(c, hasIncome);
    watch?.credit(c);
  }
  for await (const r of streamAccountWithdrawals(view.db, userId, coin.id, 0)) {
    v.withdrawal(r.withdrawal, r.history);
    watch?.withdrawal(r.withdrawal);
    seen(r);
  }
  const r = v.finish();
  problems.push(...r.problems, ...(watch?.finish() ?? []));
  if (problems.length) throw integrityRefusal(`user ${userId} ${coin.tag}`, problems.map(formatProblem));
  const head = headOf(r.state, r.open, version);
  // Nothing to remember of an account with no rows: a request for any address must not leave a file behind.
  if (head.state.lastCreditId === 0 && head.state.headWithdrawalId === 0 && version === 0) return { ...r, problems };
  const latest = await heads.get(userId, coin.id);
  if (
    notBehind(head, latest) &&
    JSON.stringify(headJson(userId, coin.id, head)) !== JSON.stringify(latest && headJson(userId, coin.id, latest))
  )
    await heads.put(userId, coin.id, head);
  return { ...r, problems };
}
