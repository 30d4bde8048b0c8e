import { intakeRefusal, type IntakeParams } from '../api/intake.js';
import { parseAmount } from '../money/amount.js';
import { coinDifferences, registerCoin, type CoinSpec } from '../writer/coins.js';
import type { Intake } from './context.js';
import { coinJson, type CoinJson } from './json.js';
import { intakeView, verifiedCoin } from './ledger.js';

// Coins.Register: a coin is registered and signed once; the same call again answers the same coin
// (already), and a call that would change it is refused: the intake never re-signs a coin differently.

/** The pscli default: a coin's confirmations unless the pool says otherwise. */
export const DEFAULT_CONFIRMATIONS = 10;

function specOf(p: IntakeParams<'Coins.Register'>): CoinSpec {
  return {
    tag: p.tag.toUpperCase(),
    name: p.name,
    network: p.network ?? 'mainnet',
    decimals: p.decimals,
    confirmations: p.confirmations ?? DEFAULT_CONFIRMATIONS,
    withdrawalFee: parseAmount(p.fee, 'fee'),
    minWithdrawal: parseAmount(p.min, 'min'),
    feeUserId: p.feeUser,
  };
}

export async function registerCoinCall(it: Intake, p: IntakeParams<'Coins.Register'>): Promise<CoinJson & { already: boolean }> {
  const spec = specOf(p);
  return it.db.transaction(async (tx) => {
    // One registration of a tag at a time: two first calls must not both sign.
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('intake:coin:' || $1, 0))", [spec.tag]);
    const view = await intakeView(it, tx);
    const existing = [...view.coins.values()].some((c) => c.tag === spec.tag) ? verifiedCoin(view, spec.tag) : null;
    if (existing) {
      const diff = coinDifferences(existing, spec);
      if (diff.length)
        throw intakeRefusal('conflict', `coin ${spec.tag} is registered with other values (${diff.join('; ')}): nothing changed`, {
          coin: spec.tag,
          differences: diff,
        });
      return { ...coinJson(existing), already: true };
    }
    const coin = await registerCoin(tx, it.signers.admin, spec);
    it.log.info({ coin: coin.tag, id: coin.id, confirmations: coin.confirmations }, 'coin registered and signed');
    return { ...coinJson(coin), already: false };
  });
}
