// The withdrawal state machine (DESIGN §4): the one table payserv moves by and the checks verify by.
import { describe, expect, it } from 'vitest';
import { WITHDRAWAL_STATUSES, type WithdrawalStatus } from '../../src/ledger/records.js';
import { canMove, FINAL_STATUSES, initialStatus, isFinal } from '../../src/ledger/status.js';

const ALL = WITHDRAWAL_STATUSES;
const exits = (s: WithdrawalStatus) => ALL.filter((t) => canMove(s, t));

function reachableFrom(start: WithdrawalStatus): Set<WithdrawalStatus> {
  const seen = new Set<WithdrawalStatus>([start]);
  const queue = [start];
  for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
    for (const t of exits(s)) {
      if (!seen.has(t)) {
        seen.add(t);
        queue.push(t);
      }
    }
  }
  return seen;
}

describe('withdrawal statuses', () => {
  it('the finals are sent, processed and declined', () => {
    expect([...FINAL_STATUSES].sort()).toEqual(['declined', 'processed', 'sent']);
    for (const s of ALL) expect(isFinal(s), s).toBe(FINAL_STATUSES.has(s));
  });

  it('a final status has no exit, not even to itself', () => {
    for (const f of FINAL_STATUSES) expect(exits(f), f).toEqual([]);
  });

  it('sent → anything is refused', () => {
    for (const t of ALL) expect(canMove('sent', t), `sent → ${t}`).toBe(false);
  });

  it('the first status is processing for a request and declined for a reversal', () => {
    expect(initialStatus(false)).toBe('processing');
    expect(initialStatus(true)).toBe('declined');
  });

  it("every status is reachable: all but declined from processing, declined as a reversal's first status", () => {
    const fromProcessing = reachableFrom('processing');
    expect([...fromProcessing].sort()).toEqual(ALL.filter((s) => s !== 'declined').sort());
    // declined is never moved to: it exists only as the first (and last) status of a reversal row.
    for (const s of ALL) expect(canMove(s, 'declined'), `${s} → declined`).toBe(false);
    expect(new Set([...fromProcessing, ...reachableFrom(initialStatus(true))])).toEqual(new Set(ALL));
  });

  it('processing → processed (the decline of a request) is allowed; nothing returns to processing', () => {
    expect(canMove('processing', 'processed')).toBe(true);
    expect(canMove('pending', 'processed')).toBe(true);
    for (const s of ALL) expect(canMove(s, 'processing'), `${s} → processing`).toBe(false);
  });

  it('a withdrawal whose payment is in flight or done can never be credited back', () => {
    // processed means "declined, money given back": never while a transaction may be on its way (sending),
    // never once paid. From approved, send_retry and send_error only resolve takes it there, and only with
    // proof that nothing left (no transaction signed, or every one proved failed by the chain).
    for (const s of ['sending', 'sent'] as const) expect(canMove(s, 'processed'), `${s} → processed`).toBe(false);
    for (const s of ['approved', 'send_error', 'send_retry'] as const) expect(canMove(s, 'processed'), `${s} → processed`).toBe(true);
  });

  it('a request is not paid without passing through approval or a manager (pending)', () => {
    expect(canMove('processing', 'sending')).toBe(false);
    expect(canMove('processing', 'sent')).toBe(false);
    // Remove approved and pending: sent and sending become unreachable from processing.
    const seen = new Set<WithdrawalStatus>(['processing']);
    const queue: WithdrawalStatus[] = ['processing'];
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      for (const t of exits(s)) {
        if (t === 'approved' || t === 'pending' || seen.has(t)) continue;
        seen.add(t);
        queue.push(t);
      }
    }
    expect(seen.has('sending')).toBe(false);
    expect(seen.has('sent')).toBe(false);
  });

  it('every non-final status has an exit and a path to a final status (no dead ends)', () => {
    for (const s of ALL.filter((x) => !isFinal(x))) {
      expect(exits(s).length, s).toBeGreaterThan(0);
      expect([...reachableFrom(s)].some(isFinal), s).toBe(true);
    }
  });

  it('the legal payment paths of payserv are allowed', () => {
    const paths: WithdrawalStatus[][] = [
      ['processing', 'approved', 'sending', 'sent'],
      ['processing', 'pending', 'approved', 'sending', 'sending', 'sent'],
      ['processing', 'approved', 'send_retry', 'send_retry', 'sending', 'send_error', 'sending', 'sent'],
      ['processing', 'approved', 'sent'], // a coin paid by hand
      ['processing', 'pending', 'processed'],
    ];
    for (const path of paths) {
      for (let i = 1; i < path.length; i++)
        expect(canMove(path[i - 1] as WithdrawalStatus, path[i] as WithdrawalStatus), path.join(' → ')).toBe(true);
    }
  });

  it("agrees with DESIGN §4's method table: every edge is some method's outcome, and every outcome that changes status is an edge", () => {
    // method: the statuses it takes → the statuses it may leave (DECLINED leaves the original processed).
    const methods: Array<[string, WithdrawalStatus[], WithdrawalStatus[]]> = [
      ['Process', ['processing'], ['processed', 'pending', 'approved']],
      ['Decline', ['pending'], ['processed']],
      ['Approve', ['pending', 'approved'], ['approved', 'sending', 'send_retry', 'send_error']],
      ['Resend', ['send_error', 'send_retry'], ['approved', 'sending', 'send_retry', 'send_error']],
      ['Check', ['sending'], ['sending', 'send_error', 'sent']],
      ['Send', ['approved', 'sending', 'send_error'], ['sent']],
      // Autopay's resolve credits back what provably never left (src/autopay/resolve.ts).
      ['Resolve', ['processing', 'pending', 'approved', 'send_retry', 'send_error'], ['processed']],
    ];
    const outcomes = new Set(methods.flatMap(([, takes, leaves]) => takes.flatMap((f) => leaves.map((t) => `${f}→${t}`))));
    for (const f of ALL) {
      for (const t of ALL) {
        if (canMove(f, t)) expect(outcomes.has(`${f}→${t}`), `${f} → ${t} is no method's outcome`).toBe(true);
        // A method that leaves the status as it was need not record a move (Approve of an approved non-auto coin).
        else if (f !== t) expect(outcomes.has(`${f}→${t}`), `${f} → ${t} is a method's outcome but not allowed`).toBe(false);
      }
    }
  });
});
