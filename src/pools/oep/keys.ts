// open-ethereum-pool's Redis keys and sorted-set members, exactly as storage/redis.go writes them
// (sammy007/open-ethereum-pool; etclabscore/core-pool is identical). Every key is "<coin>:" + parts joined by
// ":" (formatKey/join), so a field holding ":" would be unreadable: builders refuse it, parsers refuse any
// member whose field count, login, hash or integer is not what the pool writes.

import { PoolFormatError } from '../errors.js';
import { parseShannon } from './shannon.js';

/** Logins are lower-case hex addresses (proxy/handlers.go lower-cases, util.IsValidHexAddress checks). */
const LOGIN = /^0x[0-9a-f]{40}$/;
const ZERO_LOGIN = `0x${'0'.repeat(40)}`;
const TX_HASH = /^0x[0-9a-fA-F]{64}$/;
/** A block hash, or "0x0" that serializeHash writes for a block without one. */
const BLOCK_HASH = /^(0x[0-9a-fA-F]{64}|0x0)$/;
const COIN = /^[A-Za-z0-9_.-]{1,32}$/;
const UINT = /^(0|[1-9]\d*)$/;
/** Heights, timestamps, difficulties, share counts: int64 in the pool, below 2^53 in practice; kept exact. */
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** The hash fields of <coin>:miners:<login> the pool's API shows (in Shannon). */
export const MINER_FIELDS = ['balance', 'immature', 'pending', 'paid'] as const;
/** The hash fields of <coin>:finances that payouts and the unlocker move (in Shannon). */
export const FINANCE_FIELDS = ['balance', 'immature', 'pending', 'paid', 'totalMined'] as const;
export type BlockSet = 'candidates' | 'immature' | 'matured';

export function checkCoin(coin: string): string {
  if (!COIN.test(coin)) throw new PoolFormatError('coin prefix', coin, 'not 1 to 32 letters, digits, "_", "." or "-"');
  return coin;
}

export function checkLogin(login: string, what = 'login'): string {
  if (!LOGIN.test(login) || login === ZERO_LOGIN) throw new PoolFormatError(what, login, 'not a lower-case 0x address');
  return login;
}

export const minerKey = (coin: string, login: string): string => `${checkCoin(coin)}:miners:${checkLogin(login)}`;
export const financesKey = (coin: string): string => `${checkCoin(coin)}:finances`;
export const paymentsAllKey = (coin: string): string => `${checkCoin(coin)}:payments:all`;
export const paymentsLoginKey = (coin: string, login: string): string => `${checkCoin(coin)}:payments:${checkLogin(login)}`;
export const paymentsPendingKey = (coin: string): string => `${checkCoin(coin)}:payments:pending`;
/** The payer's lock (SETNX, value "login:amount"); WritePayment deletes it in the same MULTI. */
export const paymentsLockKey = (coin: string): string => `${checkCoin(coin)}:payments:lock`;
export const blocksKey = (coin: string, set: BlockSet): string => `${checkCoin(coin)}:blocks:${set}`;
/** Sorted set of matured blocks' credit logs, score = height, member "hash:unixTime:rewardWei". */
export const creditsAllKey = (coin: string): string => `${checkCoin(coin)}:credits:all`;

/** Hash login -> Shannon written by WriteMaturedBlock (HSETNX) for a matured block or uncle. */
export function creditsKey(coin: string, height: bigint, hash: string): string {
  return `${checkCoin(coin)}:credits:${uint(height, 'height')}:${blockHash(hash)}`;
}

/** The same while the block is immature; deleted when it matures or is orphaned. */
export function creditsImmatureKey(coin: string, height: bigint, hash: string): string {
  return `${checkCoin(coin)}:credits:immature:${uint(height, 'height')}:${blockHash(hash)}`;
}

export function parseCreditsKey(coin: string, key: string): { height: bigint; hash: string } {
  const parts = key.split(':');
  const prefix = `${checkCoin(coin)}:credits:`;
  if (parts.length !== 4 || !key.startsWith(prefix)) throw new PoolFormatError('credits key', key, `not "${prefix}<height>:<hash>"`);
  return { height: parseUint(parts[2] ?? '', 'credits key height'), hash: blockHash(parts[3] ?? '') };
}

export interface Payment {
  txHash: string;
  login: string;
  shannon: bigint;
}

/** <coin>:payments:all, member "tx:login:amount" (WritePayment). core-pool writes the same; the
 * open-etc-pool-friends fork appends ":txCharges", which this refuses. */
export function paymentAllMember(p: Payment): string {
  return `${txHash(p.txHash)}:${checkLogin(p.login)}:${amount(p.shannon)}`;
}

export function parsePaymentAllMember(member: string): Payment {
  const f = fields(member, 3, 'payments:all member');
  return {
    txHash: txHash(f(0)),
    login: checkLogin(f(1), 'payments:all member login'),
    shannon: positive(f(2), 'payments:all member amount'),
  };
}

/** <coin>:payments:<login>, member "tx:amount". */
export function paymentLoginMember(p: { txHash: string; shannon: bigint }): string {
  return `${txHash(p.txHash)}:${amount(p.shannon)}`;
}

export function parsePaymentLoginMember(member: string): { txHash: string; shannon: bigint } {
  const f = fields(member, 2, 'payments:<login> member');
  return { txHash: txHash(f(0)), shannon: positive(f(1), 'payments:<login> member amount') };
}

/** <coin>:payments:pending member and the lock's value: "login:amount" (UpdateBalance, LockPayouts). */
export function pendingMember(p: { login: string; shannon: bigint }): string {
  return `${checkLogin(p.login)}:${amount(p.shannon)}`;
}

export function parsePendingMember(member: string): { login: string; shannon: bigint } {
  const f = fields(member, 2, 'payments:pending member');
  return { login: checkLogin(f(0), 'payments:pending member login'), shannon: positive(f(1), 'payments:pending member amount') };
}

/** A block of blocks:immature or blocks:matured (score = height). */
export interface BlockMember {
  /** The uncle's own height for an uncle, else 0. */
  uncleHeight: bigint;
  orphan: boolean;
  nonce: string;
  /** The block's hash, the uncle's hash for an uncle, "0x0" when unknown. */
  hash: string;
  timestamp: bigint;
  difficulty: bigint;
  totalShares: bigint;
  /** Wei (a *big.Int string; "0" when nil). */
  rewardWei: bigint;
}

/** BlockData.key(): "uncleHeight:orphan:nonce:hash:timestamp:difficulty:totalShares:rewardWei", bool as 1/0. */
export function blockMember(b: BlockMember): string {
  const nonce = word(b.nonce, 'block nonce');
  return [
    uint(b.uncleHeight, 'uncle height'),
    b.orphan ? '1' : '0',
    nonce,
    blockHash(b.hash),
    uint(b.timestamp, 'timestamp'),
    uint(b.difficulty, 'difficulty'),
    uint(b.totalShares, 'total shares'),
    wei(b.rewardWei),
  ].join(':');
}

export function parseBlockMember(member: string): BlockMember {
  const f = fields(member, 8, 'block member');
  if (f(1) !== '0' && f(1) !== '1') throw new PoolFormatError('block member orphan flag', f(1), 'not 0 or 1');
  return {
    uncleHeight: parseUint(f(0), 'block member uncle height'),
    orphan: f(1) === '1',
    nonce: word(f(2), 'block member nonce'),
    hash: blockHash(f(3)),
    timestamp: parseUint(f(4), 'block member timestamp'),
    difficulty: parseUint(f(5), 'block member difficulty'),
    totalShares: parseUint(f(6), 'block member total shares'),
    rewardWei: parseWei(f(7), 'block member reward'),
  };
}

/** <coin>:credits:all member: "hash:unixTime:rewardWei" (WriteMaturedBlock). */
export function creditsAllMember(c: { hash: string; unixTime: bigint; rewardWei: bigint }): string {
  return `${blockHash(c.hash)}:${uint(c.unixTime, 'unix time')}:${wei(c.rewardWei)}`;
}

export function parseCreditsAllMember(member: string): { hash: string; unixTime: bigint; rewardWei: bigint } {
  const f = fields(member, 3, 'credits:all member');
  return {
    hash: blockHash(f(0)),
    unixTime: parseUint(f(1), 'credits:all member time'),
    rewardWei: parseWei(f(2), 'credits:all member reward'),
  };
}

/** A payment's ZADD entries, all three scored with the same unix time as WritePayment's MULTI does. */
export function paymentEntries(coin: string, p: Payment, unixTime: number): { key: string; score: number; member: string }[] {
  if (!Number.isSafeInteger(unixTime) || unixTime < 0) throw new PoolFormatError('unix time', String(unixTime), 'not a whole second');
  return [
    { key: paymentsAllKey(coin), score: unixTime, member: paymentAllMember(p) },
    { key: paymentsLoginKey(coin, p.login), score: unixTime, member: paymentLoginMember(p) },
  ];
}

/** The member's fields, by index; the count is checked first, so every index asked for exists. */
function fields(member: string, count: number, what: string): (i: number) => string {
  const parts = member.split(':');
  if (parts.length !== count) throw new PoolFormatError(what, member, `has ${parts.length} fields, not ${count}`);
  return (i) => parts[i] ?? '';
}

function txHash(text: string): string {
  if (!TX_HASH.test(text)) throw new PoolFormatError('transaction hash', text, 'not 0x and 64 hex digits');
  return text;
}

function blockHash(text: string): string {
  if (!BLOCK_HASH.test(text)) throw new PoolFormatError('block hash', text, 'not 0x and 64 hex digits (or 0x0)');
  return text;
}

function word(text: string, what: string): string {
  if (!/^[0-9A-Za-z]{1,130}$/.test(text)) throw new PoolFormatError(what, text, 'not 1 to 130 letters or digits');
  return text;
}

function uint(n: bigint, what: string): string {
  if (n < 0n || n > SAFE_MAX) throw new PoolFormatError(what, n.toString(), 'out of range');
  return n.toString();
}

function parseUint(text: string, what: string): bigint {
  if (!UINT.test(text)) throw new PoolFormatError(what, text, 'not a canonical non-negative integer');
  return BigInt(uint(BigInt(text), what));
}

function wei(n: bigint): string {
  if (n < 0n) throw new PoolFormatError('reward', n.toString(), 'negative');
  return n.toString();
}

function parseWei(text: string, what: string): bigint {
  if (!UINT.test(text) || text.length > 78) throw new PoolFormatError(what, text, 'not a canonical non-negative integer of wei');
  return BigInt(text);
}

function amount(shannon: bigint): string {
  return positive(shannon.toString(), 'payment amount').toString();
}

/** Payments move a positive amount; the pool never writes a zero or negative one. */
function positive(text: string, what: string): bigint {
  const value = parseShannon(text, what);
  if (value === 0n) throw new PoolFormatError(what, text, 'zero');
  return value;
}
