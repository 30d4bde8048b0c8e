// Outside tester. As attack-crash-committed, but the crash comes after the journal record ('payment.journaled')
// or after the broadcast ('payment.broadcast'): the host's journal knows the attempt, so its erasure
// must be caught (at the restart, by the checks, or by the next payout call).
// Held: see the test results (the checks name the attempt the journal holds, or the next Approve fails-stop).
import { it } from 'vitest';
import { describePerDataPath } from './support/backend.js';
import { crashEraseRebroadcast } from './attack-helpers.js';
import { ethBench } from './support/payserv.js';

const bench = ethBench(23);
let nextUser = 9150;

// ('payment.journaled' is inside the write-ahead transaction: nothing there is committed for an attacker to read; pay-journal.test covers a crash there.)
for (const point of ['payment.broadcast'] as const) {
  describePerDataPath(`crash at ${point}, attacker erases the attempt (nonce row kept) and later broadcasts the stored bytes`, () => {
    it('pays the withdrawal once at most', () => crashEraseRebroadcast(bench, nextUser++, point, 'kept'));
  });
}
