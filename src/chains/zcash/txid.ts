// The txid of a v4 or v5 transaction, as zcashd displays it.

import { txidV4 } from './sighash-v4.js';
import { txidV5 } from './sighash-v5.js';
import type { Tx } from './tx.js';

/** v4: double SHA-256 of the bytes; v5: the ZIP-244 txid digest (which leaves out the signatures); both reversed for display. */
export function txidOf(tx: Tx): string {
  return tx.version === 4 ? txidV4(tx) : txidV5(tx);
}
