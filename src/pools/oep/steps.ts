// What open-ethereum-pool's payer writes for a payment, step by step (storage/redis.go UpdateBalance,
// WritePayment, RollbackBalance), as Redis commands the adapter runs in one MULTI per step together with
// the step's own record (HSET <coin>:payserv:mirrored <withdrawal id> <stage>:<fingerprint>): a step is applied
// whole and once, and one whose MULTI failed is simply applied again next interval. The fingerprint names the
// withdrawal the record was written for: after payserv's database is restored from an older backup, its ids are
// issued again, and a record of another withdrawal under the same id must never be taken for this one's. The payer's lock is not taken:
// the pool's payouts module is off (checked at start), and WritePayment's DEL of the lock is left out.

import { PoolFormatError } from '../errors.js';
import {
  financesKey,
  minerKey,
  paymentAllMember,
  paymentLoginMember,
  paymentsLoginKey,
  paymentsPendingKey,
  paymentsAllKey,
  pendingMember,
} from './keys.js';

/** pending: UpdateBalance done; paid: WritePayment done; rolledback: RollbackBalance done (declined, credited back). */
export type Stage = 'pending' | 'paid' | 'rolledback';
export const STAGES: readonly Stage[] = ['pending', 'paid', 'rolledback'];

export type Command = [string, ...(string | number)[]];

export interface MirroredPayment {
  withdrawalId: number;
  /** withdrawalFingerprint of the withdrawal. */
  fingerprint: string;
  login: string;
  /** The withdrawal's amount (the balance it takes), in Shannon. */
  shannon: bigint;
  /** Set once sent. */
  txHash: string | null;
  /** Unix seconds: when the step happened in the ledger (the request, the sent status). */
  at: number;
}

/** The adapter's own records: each withdrawal's stage, and the payments:pending members it wrote. */
export const mirroredKey = (prefix: string): string => `${prefix}:payserv:mirrored`;
export const ownPendingKey = (prefix: string): string => `${prefix}:payserv:pending`;
/** Block hash -> income id, once the intake credited it: progress only, the intake's idempotency decides. */
export const importedKey = (prefix: string): string => `${prefix}:payserv:imported`;

/** What a withdrawal's record says: its stage, and the fingerprint of the withdrawal it was written for. */
export interface MirroredRecord {
  stage: Stage;
  /** null: written before fingerprints were recorded (the stage alone); taken as this withdrawal's and rewritten with it. */
  fingerprint: string | null;
}

export const recordValue = (stage: Stage, fingerprint: string): string => `${stage}:${fingerprint}`;

export function parseRecord(text: string): MirroredRecord {
  const [stage = '', fingerprint, ...rest] = text.split(':');
  if (!(STAGES as readonly string[]).includes(stage) || rest.length || (fingerprint !== undefined && !/^[0-9a-f]{64}$/.test(fingerprint)))
    throw new PoolFormatError('mirrored record', text, `not <stage>[:<fingerprint>] with a stage of ${STAGES.join(', ')}`);
  return { stage: stage as Stage, fingerprint: fingerprint ?? null };
}

/**
 * The commands of one step; HINCRBY takes the amount as a decimal string (int64 in the pool). `shared`: another
 * withdrawal recorded `pending` holds the same payments:pending member (the pool's "login:amount" names no
 * withdrawal), so a paid or rolled-back step leaves the member, and the adapter's own, to the last of them.
 */
export function stepCommands(prefix: string, stage: Stage, p: MirroredPayment, shared = false): Command[] {
  const a = p.shannon.toString();
  const minus = (-p.shannon).toString();
  const miner = minerKey(prefix, p.login);
  const fin = financesKey(prefix);
  const pending = pendingMember({ login: p.login, shannon: p.shannon });
  const record: Command = ['hset', mirroredKey(prefix), String(p.withdrawalId), recordValue(stage, p.fingerprint)];
  const moves = (from: string, to: string, fromBy: string, toBy: string): Command[] => [
    ['hincrby', miner, from, fromBy],
    ['hincrby', miner, to, toBy],
    ['hincrby', fin, from, fromBy],
    ['hincrby', fin, to, toBy],
  ];
  if (stage === 'pending')
    return [
      ...moves('balance', 'pending', minus, a),
      ['zadd', paymentsPendingKey(prefix), p.at, pending],
      ['sadd', ownPendingKey(prefix), pending],
      record,
    ];
  const unpend: Command[] = shared
    ? []
    : [
        ['zrem', paymentsPendingKey(prefix), pending],
        ['srem', ownPendingKey(prefix), pending],
      ];
  if (stage === 'rolledback') return [...moves('pending', 'balance', minus, a), ...unpend, record];
  if (!p.txHash) throw new Error(`withdrawal ${p.withdrawalId} is sent without a transaction hash`);
  const payment = { txHash: p.txHash, login: p.login, shannon: p.shannon };
  return [
    ...moves('pending', 'paid', minus, a),
    ['zadd', paymentsAllKey(prefix), p.at, paymentAllMember(payment)],
    ['zadd', paymentsLoginKey(prefix, p.login), p.at, paymentLoginMember(payment)],
    ...unpend,
    record,
  ];
}

/** The steps still to apply to reach `target` from what is recorded; null when the record contradicts the ledger. */
export function stepsTo(recorded: Stage | null, target: Stage): Stage[] | null {
  if (recorded === target) return [];
  if (recorded === null) return target === 'pending' ? ['pending'] : ['pending', target];
  if (recorded === 'pending') return [target];
  return null;
}
