import type { Coin, Withdrawal } from '../ledger/records.js';

// A chain driver pays a coin automatically (issue 4: Ethereum and Zcash). A coin without one is paid by
// an operator: payserv approves it and the operator marks it sent (the "other coins" rows of DESIGN §4).

export interface DriverHealth {
  ok: boolean;
  reason?: string;
}

export interface ChainDriver {
  readonly tag: string;
  /** Null when the address is valid for this chain and network, else why not. */
  validateAddress(coin: Coin, address: string): string | null;
  /** Node reachable, synced, enough peers: payouts wait otherwise. */
  health(): Promise<DriverHealth>;
  /** Pays these approved withdrawals (write-ahead: issue 4); returns how each went. */
  pay(withdrawals: readonly Withdrawal[]): Promise<Array<{ id: number; outcome: 'sending' | 'send_retry' | 'send_error'; txHash?: string; reason?: string }>>;
  /** The chain's word on a sending withdrawal. */
  outcome(w: Withdrawal): Promise<{ state: 'confirmed' | 'failed' | 'pending'; reason?: string }>;
}

export type Drivers = ReadonlyMap<string, ChainDriver>;
