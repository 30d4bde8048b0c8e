import { intakeRefusal, type IntakeParams } from '../api/intake.js';
import type { Coin, Signed } from '../ledger/records.js';
import { formatAmount, parseAmount } from '../money/amount.js';
import { registerCoin, type CoinSpec } from '../writer/coins.js';
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

/** The fields of `coin` that differ from `spec`, by name. */
function differences(coin: Signed<Coin>, s: CoinSpec): string[] {
  const pairs: Array<[string, unknown, unknown]> = [
    ['name', coin.name, s.name],
    ['network', coin.network, s.network],
    ['decimals', coin.decimals, s.decimals],
    ['confirmations', coin.confirmations, s.confirmations],
    ['fee', formatAmount(coin.withdrawalFee), formatAmount(s.withdrawalFee)],
    ['min', formatAmount(coin.minWithdrawal), formatAmount(s.minWithdrawal)],
    ['feeUser', coin.feeUserId, s.feeUserId],
    ['active', coin.active, true],
  ];
  return pairs.filter(([, a, b]) => a !== b).map(([k]) => k);
}

export async function registerCoinCall(it: Intake, p: IntakeParams<'Coins.Register'>): Promise<CoinJson & { already: boolean }> {
  const spec = specOf(p);
  return it.db.transaction(async (tx) => {
    // One registration of a tag at a time: two first calls must not both sign.
    await tx.query("SELECT pg_advisory_xact_lock(hashtextextended('intake:coin:' || $1, 0))", [spec.tag]);
    const view = await intakeView(it, tx);
    const existing = [...view.coins.values()].some((c) => c.tag === spec.tag) ? verifiedCoin(view, spec.tag) : null;
    if (existing) {
      const diff = differences(existing, spec);
      if (diff.length)
        throw intakeRefusal('conflict', `coin ${spec.tag} is registered with other ${diff.join(', ')}: nothing changed`, {
          coin: spec.tag,
          fields: diff,
        });
      return { ...coinJson(existing), already: true };
    }
    const coin = await registerCoin(tx, it.signers.admin, spec);
    it.log.info({ coin: coin.tag, id: coin.id, confirmations: coin.confirmations }, 'coin registered and signed');
    return { ...coinJson(coin), already: false };
  });
}
