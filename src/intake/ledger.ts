import { intakeRefusal } from '../api/intake.js';
import { LocalCheckpointStore } from '../checkpoints/local-store.js';
import type { DataTx } from '../data/data.js';
import { encodeCoin } from '../ledger/encoding.js';
import type { Coin, Signed } from '../ledger/records.js';
import { COIN_SIGNER } from '../ledger/roles.js';
import { openView, type LedgerView } from '../verify/view.js';
import type { Intake } from './context.js';

// Reads the intake decides on: a coin counts only as its admin signed it (its confirmations, decimals
// and fee user decide what is credited and requested), checked under the pinned root.

/** A view of the ledger for the intake: the certificates admitted under the pinned root, the coins. */
export async function intakeView(it: Intake, q: DataTx): Promise<LedgerView> {
  return openView(q, it.trust, new LocalCheckpointStore(it.stateDir));
}

/** The coin with this tag, its admin signature verified; refused when unknown or not signed as it stands. */
export function verifiedCoin(view: LedgerView, tag: string): Signed<Coin> {
  const coin = [...view.coins.values()].find((c) => c.tag === tag.toUpperCase());
  if (!coin) throw intakeRefusal('unknown_coin', `unknown coin ${tag}`, { coin: tag });
  const why = view.book.check(encodeCoin(coin), coin.sigKeyId, coin.signature, COIN_SIGNER, coin.updatedAt);
  if (why) throw intakeRefusal('integrity', `coin ${coin.tag}: its signed record does not verify (${why})`, { coin: coin.tag });
  return coin;
}

export function coinById(view: LedgerView, id: number): Signed<Coin> {
  const coin = view.coins.get(id);
  if (!coin) throw intakeRefusal('unknown_coin', `unknown coin id ${id}`);
  return verifiedCoin(view, coin.tag);
}

/** The database's SQLSTATE for a unique violation: another call wrote the same key first. */
export const isUniqueViolation = (e: unknown): boolean => (e as { code?: unknown } | null)?.code === '23505';
