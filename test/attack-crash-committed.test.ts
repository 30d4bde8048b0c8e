// Outside tester. A payment signed and stored (write-ahead committed) but never journaled nor broadcast,
// because payserv crashed at 'payment.committed'. The README calls that window safe ("nothing was
// broadcast, so nothing can be paid twice"), but the signed bytes sit in payserv_chain_txs, which a
// database attacker can read and broadcast whenever they like. The attacker erases every trace of the
// attempt (history cut back to pending, the stored row deleted, optionally the nonce row rolled back),
// the operator restarts payserv (checks clean, enable), Approve pays again, and the attacker broadcasts
// the captured first transaction.
import { it } from 'vitest';
import { describePerDataPath } from './support/backend.js';
import { crashEraseRebroadcast } from './attack-helpers.js';
import { ethBench } from './support/payserv.js';

const bench = ethBench(23);
let nextUser = 9100;

// Was a break (now held) (nonce row kept): the operator's checks are clean after the restart, the second Approve answers
// SENDING with nonce n+1 (explained by the local nonce cache), the attacker broadcasts the captured bytes
// at nonce n, both are mined: the recipient receives 2 × 0.9995 ETH, the hot wallet has 2 mined txs,
// the withdrawal ends `sent`, payserv stays enabled, no alert.
// Held (nonce row rolled back): payserv refuses to start (database nonce behind the local cache).
for (const nonces of ['kept', 'rolled back'] as const) {
  describePerDataPath(
    `crash at payment.committed, attacker erases the attempt (nonce row ${nonces}) and later broadcasts the stored bytes`,
    () => {
      it('pays the withdrawal once at most', () => crashEraseRebroadcast(bench, nextUser++, 'payment.committed', nonces));
    },
  );
}
