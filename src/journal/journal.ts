import { link, open, readFile, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../state/atomic-file.js';
import { decodeLine, encodeRecord, JournalError, type JournalAttempt, type JournalRecord } from './record.js';

// The payment journal (DESIGN §8): on the payserv host, beside the local checkpoints, where the
// database cannot reach. Every transaction is appended and fsynced here before it is broadcast, so
// the host remembers what it handed to a node whatever the database later says: an attempt the
// journal holds must stand in its withdrawals' signed histories (a missing one was rolled back), and
// the nonces and inputs it used are never handed out again from a database that forgot them.
//
// Append-only between compactions; a compaction keeps every attempt not yet settled (its
// withdrawals final and covered by their local checkpoints) and each sender's next nonce, so the file
// stays proportional to the payments in flight, not to years of history.
//
// A hot-wallet rotation's sweep (src/payserv/rotation.ts) is not journaled here, on purpose: it is no withdrawal,
// and its own host record (STATE/rotation/<TAG>.json, fsynced before the commit that takes its nonce) already
// holds its bytes; a sweep is signed only without a record or after the chain proved it failed, and each start
// feeds its nonce to the old wallet's host nonce cache (a nonce store rolled back behind it refuses the start).
// A database rolled back mid-rotation can neither sweep twice nor hide the sweep.

export const JOURNAL_FILE = 'payments.jsonl';

/** The journal's directory in payserv's state directory. */
export const journalDir = (stateDir: string) => join(stateDir, 'journal');
const FILE_MODE = 0o600;
/** Reading the file: a chunk at a time, so a long journal never needs one huge buffer. */
const READ_CHUNK = 64 * 1024;
/** Attempts held in memory (unsettled ones between compactions): past it payments stop until a compaction. */
export const JOURNAL_ATTEMPTS_MAX = 200_000;

export interface JournalEntry {
  attempt: JournalAttempt;
  /** The chain's proof that it can never be mined, once recorded. */
  failed: string | null;
}

/** One open journal per directory in a process: instances of payserv sharing a state directory share it. */
const opened = new Map<string, Promise<PaymentJournal>>();

const OWNER = 'owner.pid';

/** Whether a process with this pid exists (EPERM: it does, under another user). */
/**
 * Creates `path` holding `text` unless it exists, whole at once: the text goes to a file of this process's own, then a
 * hard link gives it the name (fails if the name exists). A lock created empty and then written (open 'wx') shows an
 * empty pid to a process starting at the same instant, which took it for a dead writer's and made itself a second one.
 */
async function createWhole(path: string, text: string): Promise<boolean> {
  const tmp = `${path}.${process.pid}.new`;
  await writeFile(tmp, text, { mode: FILE_MODE });
  try {
    await link(tmp, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    return false;
  } finally {
    await rm(tmp, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class PaymentJournal {
  readonly path: string;
  readonly #dir: string;
  #fh: FileHandle;
  #ino = 0;
  /** Bytes of the file read into the index (a whole number of records). */
  #offset = 0;
  /**
   * One process writes a journal (another payserv on the same state directory only reads it): two
   * writers' compactions would drop each other's records. A writer that died (SIGKILL) leaves a pid that
   * no process has, and the next one takes over.
   */
  #owner = false;
  readonly #byHash = new Map<string, JournalEntry>();
  readonly #byWithdrawal = new Map<number, JournalAttempt[]>();
  readonly #nonce = new Map<string, bigint>();
  #appendedSinceCompaction = 0;
  /** Appends and compactions one at a time: the file's order is the order of the promises. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(dir: string, path: string, fh: FileHandle) {
    this.#dir = dir;
    this.path = path;
    this.#fh = fh;
  }

  /** Opens (creating) the journal in `dir`; a torn last record is cut off, damage anywhere else is an error naming the line. */
  static open(dir: string): Promise<PaymentJournal> {
    const path = join(dir, JOURNAL_FILE);
    let p = opened.get(path);
    if (!p) {
      p = PaymentJournal.#load(dir, path);
      opened.set(path, p);
      p.catch(() => opened.delete(path));
    }
    return p;
  }

  /** Closes every open journal (tests, shutdown), giving up the ones this process writes. */
  static async closeAll(): Promise<void> {
    const all = [...opened.values()];
    opened.clear();
    await Promise.all(
      all.map((p) =>
        p.then(
          (j) => j.#close(),
          () => undefined,
        ),
      ),
    );
  }

  /** Closes this journal (payserv's stop): another process may then write it. */
  async close(): Promise<void> {
    if (opened.get(this.path)) opened.delete(this.path);
    await this.#close();
  }

  async #close(): Promise<void> {
    await this.#queue;
    await this.#fh.close();
    if (this.#owner) await rm(join(this.#dir, OWNER), { force: true });
    this.#owner = false;
  }

  static async #load(dir: string, path: string): Promise<PaymentJournal> {
    await ensureDir(dir);
    const fh = await open(path, 'a+', FILE_MODE);
    const j = new PaymentJournal(dir, path, fh);
    try {
      await j.#claim();
      await j.#catchUp();
    } catch (e) {
      await j.#close().catch(() => undefined);
      throw e instanceof JournalError ? e : new JournalError(`payment journal ${path}: ${(e as Error).message}`);
    }
    return j;
  }

  /** Becomes the writer unless a live process is; returns whether this process writes the journal. */
  async #claim(): Promise<boolean> {
    if (this.#owner) return true;
    const lock = join(this.#dir, OWNER);
    for (let tries = 0; tries < 2; tries++) {
      if (await createWhole(lock, String(process.pid))) {
        this.#owner = true;
        return true;
      }
      const pid = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) return false;
      await rm(lock, { force: true });
    }
    return false;
  }

  /**
   * Reads what was appended since the index was last brought up to date (a reader: by the writing
   * process; a new writer: the torn tail of the one before it, which it cuts). A file replaced by a
   * compaction is read again from the start.
   */
  async #catchUp(): Promise<void> {
    const st = await stat(this.path);
    if (this.#ino !== 0 && st.ino !== this.#ino) {
      await this.#fh.close();
      this.#fh = await open(this.path, 'a+', FILE_MODE);
      this.#byHash.clear();
      this.#byWithdrawal.clear();
      this.#offset = 0;
    }
    this.#ino = (await this.#fh.stat()).ino;
    this.#offset = await this.#replay(this.#offset);
    const size = (await this.#fh.stat()).size;
    if (this.#owner && this.#offset < size) {
      // A torn tail: the write that was cut was never acknowledged, so nothing was broadcast after it.
      await this.#fh.truncate(this.#offset);
      await this.#fh.sync();
    }
  }

  /** Brings a reader's index up to date with the writing process's appends (a writer's is always). */
  async refresh(): Promise<void> {
    if (this.#owner) return;
    await this.#serial(() => this.#catchUp());
  }

  /** Indexes the records from byte `from`; returns the end of the last whole record. */
  async #replay(from: number): Promise<number> {
    let good = from;
    let carry = Buffer.alloc(0);
    let lineNo = 0;
    for (let pos = from; ;) {
      const buf = Buffer.alloc(READ_CHUNK);
      const { bytesRead } = await this.#fh.read(buf, 0, READ_CHUNK, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      carry = Buffer.concat([carry, buf.subarray(0, bytesRead)]);
      for (let nl = carry.indexOf(10); nl >= 0; nl = carry.indexOf(10)) {
        lineNo++;
        // A whole line (its newline written) that is not a good record is damage, never a torn write.
        const line = carry.subarray(0, nl).toString('utf8');
        carry = carry.subarray(nl + 1);
        this.#index(decodeLine(line, `payment journal ${this.path} line ${lineNo}${from ? ` after byte ${from}` : ''}`));
        good += nl + 1;
      }
      if (carry.length > READ_CHUNK * 8) throw new JournalError(`payment journal ${this.path} line ${lineNo + 1}: longer than any record`);
    }
    // Bytes after the last newline are the torn tail: a write a crash cut short, never acknowledged.
    return good;
  }

  #index(r: JournalRecord): void {
    switch (r.k) {
      case 'attempt': {
        if (this.#byHash.has(r.hash)) return;
        if (this.#byHash.size >= JOURNAL_ATTEMPTS_MAX)
          throw new JournalError(`payment journal holds ${JOURNAL_ATTEMPTS_MAX} attempts: compact it (settle the payments in flight)`);
        this.#byHash.set(r.hash, { attempt: r, failed: null });
        for (const [id] of r.withdrawals) {
          const list = this.#byWithdrawal.get(id) ?? [];
          list.push(r);
          this.#byWithdrawal.set(id, list);
        }
        if (r.nonce !== null) this.#raiseNonce(r.coin, r.from, BigInt(r.nonce) + 1n);
        return;
      }
      case 'failed': {
        const e = this.#byHash.get(r.hash);
        if (e) e.failed = r.proof;
        return;
      }
      case 'nonce':
        this.#raiseNonce(r.coin, r.from, BigInt(r.next));
        return;
    }
  }

  #raiseNonce(coin: string, from: string, next: bigint): void {
    const key = `${coin}|${from.toLowerCase()}`;
    if ((this.#nonce.get(key) ?? -1n) < next) this.#nonce.set(key, next);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Appends and fsyncs; resolves only once the record is durable. The caller broadcasts after this, never before. */
  #append(r: JournalRecord): Promise<void> {
    const line = encodeRecord(r);
    return this.#serial(async () => {
      await this.#writer();
      try {
        await this.#fh.write(line);
        await this.#fh.datasync();
      } catch (e) {
        throw new JournalError(`payment journal ${this.path}: cannot append (${(e as Error).message}): nothing may be broadcast`);
      }
      this.#offset += Buffer.byteLength(line);
      this.#index(r);
      this.#appendedSinceCompaction++;
    });
  }

  /** Only the writing process appends; one whose writer died takes over (and reads what that one wrote). */
  async #writer(): Promise<void> {
    if (this.#owner) return;
    await this.#catchUp();
    if (!(await this.#claim()))
      throw new JournalError(
        `payment journal ${this.path}: another payserv process writes it (${OWNER}): nothing may be broadcast from this one`,
      );
    await this.#catchUp();
  }

  /** Records an attempt before its broadcast; an attempt already recorded is not written twice. */
  async recordAttempt(a: Omit<JournalAttempt, 'k' | 'at'>, at: Date): Promise<void> {
    if (this.#byHash.has(a.hash)) return;
    await this.#append({ k: 'attempt', ...a, at: at.toISOString() });
  }

  /** Records the chain's proof that an attempt can never be mined (its inputs may then be spent again). */
  async recordFailed(coin: string, hash: string, proof: string, at: Date): Promise<void> {
    const e = this.#byHash.get(hash);
    if (!e || e.failed !== null) return;
    await this.#append({ k: 'failed', coin, hash, proof: proof.slice(0, 500), at: at.toISOString() });
  }

  get(hash: string): JournalEntry | undefined {
    return this.#byHash.get(hash);
  }

  /** The attempts recorded for a withdrawal, oldest first. */
  attemptsOf(withdrawalId: number): readonly JournalAttempt[] {
    return this.#byWithdrawal.get(withdrawalId) ?? [];
  }

  /** The next nonce of a sender as far as the journal knows (null: it never recorded one). */
  nextNonce(coin: string, from: string): bigint | null {
    return this.#nonce.get(`${coin}|${from.toLowerCase()}`) ?? null;
  }

  /** Inputs of a coin's attempts not proved failed: never chosen again, whatever the database's reservations say. */
  inputsInFlight(coin: string): Set<string> {
    const out = new Set<string>();
    for (const { attempt, failed } of this.#byHash.values()) {
      if (attempt.coin === coin && failed === null) for (const i of attempt.inputs) out.add(i);
    }
    return out;
  }

  /** Every recorded attempt (bounded by JOURNAL_ATTEMPTS_MAX). */
  entries(): IterableIterator<JournalEntry> {
    return this.#byHash.values();
  }

  /** Whether this process writes the journal (another payserv on the state directory only reads it). */
  get writing(): boolean {
    return this.#owner;
  }

  get size(): number {
    return this.#byHash.size;
  }

  get appendedSinceCompaction(): number {
    return this.#appendedSinceCompaction;
  }

  /**
   * Rewrites the journal keeping the attempts `settled` does not vouch for (and their failure proofs)
   * and every sender's next nonce. Crash-safe: the old file or the new one, whole.
   */
  compact(settled: (e: JournalEntry) => Promise<boolean>): Promise<{ kept: number; dropped: number }> {
    return this.#serial(async () => {
      await this.#writer();
      const keep: JournalEntry[] = [];
      for (const e of this.#byHash.values()) if (!(await settled(e))) keep.push(e);
      const lines: string[] = [];
      for (const [key, next] of this.#nonce) {
        const [coin, from] = key.split('|') as [string, string];
        lines.push(encodeRecord({ k: 'nonce', coin, from, next: next.toString() }));
      }
      for (const e of keep) {
        lines.push(encodeRecord(e.attempt));
        if (e.failed !== null)
          lines.push(encodeRecord({ k: 'failed', coin: e.attempt.coin, hash: e.attempt.hash, proof: e.failed, at: e.attempt.at }));
      }
      const text = lines.join('');
      await writeFileAtomic(this.path, text, FILE_MODE);
      await this.#fh.close();
      this.#fh = await open(this.path, 'a+', FILE_MODE);
      this.#ino = (await this.#fh.stat()).ino;
      this.#offset = Buffer.byteLength(text);
      const dropped = this.#byHash.size - keep.length;
      this.#byHash.clear();
      this.#byWithdrawal.clear();
      for (const e of keep) {
        this.#index(e.attempt);
        const x = this.#byHash.get(e.attempt.hash);
        if (x) x.failed = e.failed;
      }
      this.#appendedSinceCompaction = 0;
      return { kept: keep.length, dropped };
    });
  }
}

/** Reads a journal without opening it for writing (pscli's checks beside a running payserv): a torn tail is ignored. */
export async function readJournal(dir: string): Promise<JournalEntry[] | null> {
  const path = join(dir, JOURNAL_FILE);
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new JournalError(`payment journal ${path}: ${(e as Error).message}`);
  }
  try {
    const text = await fh.readFile('utf8');
    const out = new Map<string, JournalEntry>();
    const lines = text.split('\n');
    // The last element is what follows the last newline: a record being written right now, or nothing.
    for (const [i, line] of lines.slice(0, -1).entries()) {
      const r = decodeLine(line, `payment journal ${path} line ${i + 1}`);
      if (r.k === 'attempt' && !out.has(r.hash)) out.set(r.hash, { attempt: r, failed: null });
      if (r.k === 'failed') {
        const e = out.get(r.hash);
        if (e) e.failed = r.proof;
      }
    }
    return [...out.values()];
  } finally {
    await fh.close();
  }
}
