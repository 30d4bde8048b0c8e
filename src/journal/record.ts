import { createHash } from 'node:crypto';

// The payment journal's records and their line format, free of I/O. One record a line:
// `<16 hex digits of SHA-256 over the JSON> <JSON>\n`. The checksum tells a torn last line (a write
// the crash cut short, never acknowledged, so nothing was broadcast after it) from damage anywhere
// else, which is never guessed at.

/** A transaction handed to a node (or about to be): written and fsynced before its broadcast. */
export interface JournalAttempt {
  k: 'attempt';
  coin: string;
  hash: string;
  /** The first attempt's hash: every attempt of one payment (fee bumps) carries it. */
  payment: string;
  /**
   * Each withdrawal it pays: its id, the seq of its signed `sending` status entry that names this hash,
   * and its account, so compaction asks the account's local checkpoint and never the database.
   */
  withdrawals: Array<[id: number, seq: number, userId: number, coinId: number]>;
  /** The hot wallet that signed it. */
  from: string;
  /** Ethereum: the sender's nonce (decimal); Zcash: null. */
  nonce: string | null;
  /** Zcash: the outpoints it spends, `txid:vout`. */
  inputs: string[];
  /**
   * The signed bytes themselves: the host can send them again, or restore a payment the database
   * lost (src/payserv/payments/restore.ts), without trusting the database's copy.
   */
  raw: string;
  at: string;
}

/** The chain proved the attempt can never be mined: its inputs are free again. */
export interface JournalFailed {
  k: 'failed';
  coin: string;
  hash: string;
  proof: string;
  at: string;
}

/** Written by compaction: the next nonce of a sender, so dropping settled attempts never forgets a used nonce. */
export interface JournalNonce {
  k: 'nonce';
  coin: string;
  from: string;
  next: string;
}

export type JournalRecord = JournalAttempt | JournalFailed | JournalNonce;

export class JournalError extends Error {
  override name = 'JournalError';
}

const SUM_HEX = 16;
/** A record is a few hundred bytes; a Zcash batch of 500 inputs stays far below this. */
export const RECORD_BYTES_MAX = 512 * 1024;
/** The signed bytes, hex: a Zcash batch of 500 outputs is about 40,000 characters. */
const RAW_CHARS_MAX = 400_000;

const sum = (json: string) => createHash('sha256').update(json).digest('hex').slice(0, SUM_HEX);

/** A record as a line; one that would not read back is refused here, before anything is written. */
export function encodeRecord(r: JournalRecord): string {
  const json = JSON.stringify(r);
  const why = malformed(JSON.parse(json));
  if (why) throw new JournalError(`journal record of ${'hash' in r ? r.hash : r.from}: ${why}`);
  if (json.length > RECORD_BYTES_MAX)
    throw new JournalError(`journal record of ${r.k} ${'hash' in r ? r.hash : r.from} is ${json.length} bytes, over ${RECORD_BYTES_MAX}`);
  return `${sum(json)} ${json}\n`;
}

const HASH = /^(0x)?[0-9a-f]{64}$/;
const DEC = /^\d{1,20}$/;
const OUTPOINT = /^[0-9a-f]{64}:\d{1,10}$/;

const isStr = (x: unknown): x is string => typeof x === 'string';
const isId = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) > 0;
const isSeq = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;

/** Why a parsed value is not a well-formed record, or null. Bounded and validated: the file is input like any other. */
function malformed(v: unknown): string | null {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const r = v as Record<string, unknown>;
  if (!isStr(r.coin) || !/^[A-Z0-9]{1,16}$/.test(r.coin)) return 'bad coin';
  switch (r.k) {
    case 'attempt': {
      if (!isStr(r.hash) || !HASH.test(r.hash) || !isStr(r.payment) || !HASH.test(r.payment)) return 'bad hash';
      if (!Array.isArray(r.withdrawals) || r.withdrawals.length === 0) return 'no withdrawals';
      if (!r.withdrawals.every((w) => Array.isArray(w) && w.length === 4 && isId(w[0]) && isSeq(w[1]) && isId(w[2]) && isId(w[3])))
        return 'bad withdrawals';
      if (!isStr(r.from) || r.from.length > 128) return 'bad sender';
      if (r.nonce !== null && !(isStr(r.nonce) && DEC.test(r.nonce))) return 'bad nonce';
      if (!Array.isArray(r.inputs) || !r.inputs.every((i) => isStr(i) && OUTPOINT.test(i))) return 'bad inputs';
      if (!isStr(r.raw) || r.raw.length > RAW_CHARS_MAX || !/^(0x)?[0-9a-f]+$/.test(r.raw) || !isStr(r.at)) return 'bad bytes or time';
      return null;
    }
    case 'failed':
      return isStr(r.hash) && HASH.test(r.hash) && isStr(r.proof) && isStr(r.at) ? null : 'bad failure record';
    case 'nonce':
      return isStr(r.from) && isStr(r.next) && DEC.test(r.next) ? null : 'bad nonce record';
    default:
      return `unknown kind ${JSON.stringify(r.k)}`;
  }
}

/** A line without its newline; throws JournalError naming the line when it is not a good record. */
export function decodeLine(line: string, where: string): JournalRecord {
  const sp = line.indexOf(' ');
  const json = sp === SUM_HEX ? line.slice(sp + 1) : '';
  if (!json || sum(json) !== line.slice(0, SUM_HEX)) throw new JournalError(`${where}: checksum does not match (damaged record)`);
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new JournalError(`${where}: not JSON`);
  }
  const why = malformed(v);
  if (why) throw new JournalError(`${where}: ${why}`);
  return v as JournalRecord;
}
