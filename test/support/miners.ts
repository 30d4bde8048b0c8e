// Miners and their requests, built through the writer as the pool's site and back end would: a signed
// wallet, credits from a mined block, a request signed by autopay.
import { randomBytes } from 'node:crypto';
import type { Coin, Signed } from '../../src/ledger/records.js';
import { parseAmount, type Amount } from '../../src/money/amount.js';
import { creditBlock } from '../../src/writer/blocks.js';
import { addWallet, signWallet } from '../../src/writer/wallets.js';
import type { TestPayserv } from './payserv.js';
import type { Db } from '../../src/db/db.js';
import type { Signer } from '../../src/pki/signer.js';
import { loadCoins } from '../../src/store/reads.js';
import { changeStatus, requestWithdrawal } from '../../src/writer/withdrawals.js';

export const amt = (s: string): Amount => parseAmount(s);
export const newBlockHash = () => `0x${randomBytes(32).toString('hex')}`;
export const ethAddress = () => `0x${randomBytes(20).toString('hex')}`;

export interface Miner {
  userId: number;
  coin: Signed<Coin>;
  walletId: number;
  address: string;
}

export async function coinByTag(tp: TestPayserv, tag: string): Promise<Signed<Coin>> {
  const coin = [...(await tp.ledger.view()).coins.values()].find((c) => c.tag === tag);
  if (!coin) throw new Error(`no coin ${tag}`);
  return coin;
}

/** A wallet as the pool site adds it; signed (reviewed by an admin) unless asked otherwise. */
export async function wallet(tp: TestPayserv, userId: number, coin: Coin, opts: { address?: string; signed?: boolean } = {}) {
  const w = await addWallet(tp.ledger.db, { userId, coinId: coin.id, address: opts.address ?? ethAddress() });
  return opts.signed === false ? w : signWallet(tp.ledger.db, tp.ledger.signers.admin, w.id);
}

/** A new miner with a signed wallet and `earned` credited by one mined block (ETH and a random address by default). */
export async function newMiner(tp: TestPayserv, userId: number, earned = '20', o: { tag?: string; address?: string } = {}): Promise<Miner> {
  const coin = await coinByTag(tp, o.tag ?? 'ETH');
  const w = await wallet(tp, userId, coin, o.address ? { address: o.address } : {});
  await creditBlock(tp.ledger.db, tp.ledger.signers.admin, coin, {
    blockHash: newBlockHash(),
    shares: [{ userId, amount: amt(earned) }],
    poolFee: amt('0.01'),
  });
  return { userId, coin, walletId: w.id, address: w.address };
}

/** A request as the site's back end makes it (signed by autopay); walletId/address/amount/fee overridable. */
export async function request(
  tp: TestPayserv,
  m: Miner,
  o: { amount?: string; fee?: Amount; walletId?: number; address?: string } = {},
): Promise<number> {
  const w = await tp.ledger.db.transaction((tx) =>
    requestWithdrawal(tx, tp.ledger.signers.autopay, {
      userId: m.userId,
      coinId: m.coin.id,
      walletId: o.walletId ?? m.walletId,
      address: o.address ?? m.address,
      amount: amt(o.amount ?? '1'),
      fee: o.fee ?? m.coin.withdrawalFee,
    }),
  );
  return w.id;
}

/** For a ledger a payserv process opens: n ETH requests of 1 ETH to fresh signed wallets, the first `pending` of them processed to pending; ids into `out`. */
export function ethRequests(n: number, pending: number, firstUser: number, out: number[]) {
  return coinRequests('ETH', () => `0x${randomBytes(20).toString('hex')}`, n, pending, firstUser, out);
}

/** ethRequests for any coin of the seed, its wallets' addresses from `address`. */
export function coinRequests(tag: string, address: () => string, n: number, pending: number, firstUser: number, out: number[]) {
  return async (db: Db, l: { signers: { admin: Signer; autopay: Signer; payserv: Signer } }) => {
    const eth = (await loadCoins(db)).find((c) => c.tag === tag);
    if (!eth) throw new Error(`no ${tag} coin in the seed`);
    const users = Array.from({ length: n }, (_, i) => firstUser + i);
    const wallets = [];
    for (const userId of users) {
      const w = await addWallet(db, { userId, coinId: eth.id, address: address() });
      wallets.push(await signWallet(db, l.signers.admin, w.id));
    }
    await creditBlock(db, l.signers.admin, eth, {
      blockHash: `0x${randomBytes(32).toString('hex')}`,
      shares: users.map((userId) => ({ userId, amount: parseAmount('20') })),
      poolFee: parseAmount('0.1'),
    });
    for (const [i, userId] of users.entries()) {
      const w = wallets[i] as { id: number; address: string };
      const r = await db.transaction((tx) =>
        requestWithdrawal(tx, l.signers.autopay, {
          userId,
          coinId: eth.id,
          walletId: w.id,
          address: w.address,
          amount: parseAmount('1'),
          fee: eth.withdrawalFee,
        }),
      );
      if (i < pending)
        await db.transaction((tx) =>
          changeStatus(tx, l.signers.payserv, r.id, 'processing', { status: 'pending', comment: 'waits for a manager' }),
        );
      out.push(r.id);
    }
  };
}
