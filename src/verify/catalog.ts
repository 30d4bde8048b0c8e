import { validateAddress } from '../chains/address.js';
import { encodeCoin, encodeWallet } from '../ledger/encoding.js';
import { problem, type Problem } from '../ledger/problem.js';
import { COIN_SIGNER, WALLET_SIGNER } from '../ledger/roles.js';
import { streamWallets } from '../store/reads.js';
import type { LedgerView } from './view.js';

// Coins and wallets: signed by an admin after review. A wallet not signed yet is awaiting review, not
// a problem; it simply cannot be paid to. A deleted or deactivated wallet can never be paid to, signed or not
// (the site changes those flags after review, which breaks the signature honestly).

export function checkCoins(view: LedgerView, report: (p: Problem) => void): number {
  for (const c of view.coins.values()) {
    const why = view.book.check(encodeCoin(c), c.sigKeyId, c.signature, COIN_SIGNER, c.updatedAt);
    if (why) report(problem('coins_coin', c.id, 'signature', `coin ${c.tag}: ${why}`));
  }
  return view.coins.size;
}

export interface WalletsReport {
  wallets: number;
  unsigned: number;
}

export async function checkWallets(view: LedgerView, report: (p: Problem) => void): Promise<WalletsReport> {
  const out: WalletsReport = { wallets: 0, unsigned: 0 };
  for await (const w of streamWallets(view.db)) {
    out.wallets++;
    if (w.deleted || !w.active) continue;
    if (!w.signature && !w.sigKeyId && !w.signedAt) {
      out.unsigned++;
      continue;
    }
    const coin = view.coins.get(w.coinId);
    if (!coin) {
      report(problem('users_userwallets', w.id, 'unknown_coin', `wallet of unknown coin ${w.coinId}`));
      continue;
    }
    const why = view.book.check(encodeWallet(w), w.sigKeyId, w.signature, WALLET_SIGNER, w.signedAt ?? w.createdAt);
    if (why) report(problem('users_userwallets', w.id, 'signature', why));
    const bad = validateAddress(coin, w.address);
    if (bad) report(problem('users_userwallets', w.id, 'address', bad));
  }
  return out;
}
