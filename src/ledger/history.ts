import { createHash } from 'node:crypto';
import { formatAmount } from '../money/amount.js';
import type { CertBook } from './certbook.js';
import { encodeWithdrawalStatus } from './encoding.js';
import type { StatusSignature, Withdrawal } from './records.js';
import { statusSigner } from './roles.js';
import { canMove, initialStatus } from './status.js';

// A withdrawal's signed history: entries 0..status_seq, each a legal move from the one before, each
// signed by the right role over the request and the previous signature, the last one equal to the row.

export function signatureDigest(sig: Uint8Array): string {
  return createHash('sha256').update(sig).digest('hex');
}

export function checkHistory(w: Withdrawal, entries: readonly StatusSignature[], book: CertBook): string[] {
  const faults: string[] = [];
  if (entries.length !== w.statusSeq + 1) {
    faults.push(`has ${entries.length} signed status entries, but status_seq ${w.statusSeq} needs ${w.statusSeq + 1}`);
  }
  let prev: StatusSignature | null = null;
  for (const [i, e] of entries.entries()) {
    if (e.seq !== i) {
      faults.push(`status entry ${i} is missing (found seq ${e.seq})`);
      return faults;
    }
    if (prev === null && e.status !== initialStatus(w.parentId !== null)) {
      faults.push(`first status is ${e.status}, expected ${initialStatus(w.parentId !== null)}`);
    }
    if (prev !== null && !canMove(prev.status, e.status))
      faults.push(`status entry ${e.seq}: ${prev.status} → ${e.status} is not a legal move`);
    const why = book.check(encodeWithdrawalStatus(w, e, prev?.signature ?? null), e.sigKeyId, e.signature, statusSigner(w, e), e.createdAt);
    if (why) faults.push(`status entry ${e.seq} (${e.status}): ${why}`);
    prev = e;
  }
  if (prev) {
    if (prev.status !== w.status) faults.push(`status ${w.status} differs from its last signed status ${prev.status}`);
    if (prev.txHash !== w.txHash) faults.push(`tx_hash differs from its last signed entry`);
    if ((prev.txFee === null ? null : formatAmount(prev.txFee)) !== (w.txFee === null ? null : formatAmount(w.txFee))) {
      faults.push(`tx_fee differs from its last signed entry`);
    }
    if (prev.comment !== w.comment) faults.push(`comment differs from its last signed entry`);
  }
  return faults;
}
