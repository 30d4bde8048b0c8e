import type { SignerRole } from '../pki/roles.js';
import type { Credit, PoolIncome, StatusEntry, WithdrawalRequest } from './records.js';

// Which role may sign what (DESIGN §3, from the original).

export const COIN_SIGNER: SignerRole = 'admin';
export const WALLET_SIGNER: SignerRole = 'admin';
export const CHECKPOINT_SIGNER: SignerRole = 'payserv';

/** Normal credits and income come from the pool back end (admin); corrections are payserv's. */
export function incomeSigner(p: Pick<PoolIncome, 'kind'>): SignerRole {
  return p.kind === 'correction' ? 'payserv' : 'admin';
}

export function creditSigner(c: Pick<Credit, 'type'>): SignerRole {
  return c.type === 'correction' ? 'payserv' : 'admin';
}

/** The request (seq 0, processing) is autopay's; a reversal and every later status are payserv's. */
export function statusSigner(w: Pick<WithdrawalRequest, 'parentId'>, e: Pick<StatusEntry, 'seq'>): SignerRole {
  return e.seq === 0 && w.parentId === null ? 'autopay' : 'payserv';
}
