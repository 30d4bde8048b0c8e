import { ChainIntegrityError } from './driver.js';

// What the UTXO drivers' unknown-spend checks share (README "Unknown spends from the hot wallet"): the error that
// stops a coin's payouts, and the bound on the transactions they remember as fundings.

/** Transactions remembered as not spending from the wallet (fundings): past this the memory starts again. */
export const FUNDINGS_MAX = 100_000;
/** How many unknown transactions an error (and its log line) names. */
export const NAMED_MAX = 10;

/** The hot wallet spent on the chain by transactions payserv's records do not hold: payouts of the coin refused. */
export class UnknownSpendsError extends ChainIntegrityError {
  constructor(
    coin: string,
    address: string,
    readonly found: readonly string[],
  ) {
    const named = found.slice(0, NAMED_MAX).join(', ') + (found.length > NAMED_MAX ? `, … (${found.length} in all)` : '');
    super(
      'hot_wallet',
      `coin ${coin}: the hot wallet ${address} is spent on the chain by ${named}, which payserv's records (payment journal, stored payments, a rotation's sweep) do not account for; payouts of ${coin} refused: restore a newer backup, or see README "Unknown spends from the hot wallet"`,
    );
  }
}
