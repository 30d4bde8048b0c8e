import { randomBytes } from 'node:crypto';
import { privateKeyToAddress } from 'viem/accounts';
import { ripemd160 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { zcashP2pkhAddress } from '../chains/address.js';
import type { Db } from '../db/db.js';
import type { Coin, Signed } from '../ledger/records.js';
import { add, fromBaseUnits, parseAmount, sub, toBaseUnits, ZERO, type Amount } from '../money/amount.js';
import type { Signer } from '../pki/signer.js';
import { creditBlock } from './blocks.js';
import { registerCoin, type CoinSpec } from './coins.js';
import { applyCorrection } from './corrections.js';
import { addWallet, signWallet } from './wallets.js';
import { declineWithdrawal, requestWithdrawal } from './withdrawals.js';

// Builds a realistic signed ledger through the writer, as a pool would over its first days: coins,
// reviewed wallets, mined blocks shared among miners with the pool's fee, withdrawal requests, some
// declined, a few corrections. Deterministic for a given seed number.

export const POOL_FEE_USER = 1;
export const FIRST_MINER = 1001;

/** Defaults for the coins a pool of the original's kind ran. */
const COIN_DEFAULTS: Record<string, Omit<CoinSpec, 'tag' | 'feeUserId'> & { reward: string }> = {
  ETH: {
    name: 'Ethereum',
    network: 'mainnet',
    decimals: 18,
    confirmations: 12,
    withdrawalFee: parseAmount('0.0005'),
    minWithdrawal: parseAmount('0.01'),
    reward: '2.05',
  },
  ETC: {
    name: 'Ethereum Classic',
    network: 'mainnet',
    decimals: 18,
    confirmations: 40,
    withdrawalFee: parseAmount('0.001'),
    minWithdrawal: parseAmount('0.1'),
    reward: '2.56',
  },
  ZEC: {
    name: 'Zcash',
    network: 'mainnet',
    decimals: 8,
    confirmations: 10,
    withdrawalFee: parseAmount('0.0001'),
    minWithdrawal: parseAmount('0.001'),
    reward: '1.25',
  },
};
const OTHER = {
  name: 'Other coin',
  network: 'mainnet' as const,
  decimals: 8,
  confirmations: 6,
  withdrawalFee: parseAmount('0.001'),
  minWithdrawal: parseAmount('0.01'),
  reward: '6.25',
};

export interface SeedOptions {
  users: number;
  blocks: number;
  withdrawals: number;
  coins: string[];
  /** Share of miners credited per block (PPLNS window), 0..1. */
  minersPerBlock?: number;
  /** Share of withdrawal requests declined by payserv (needs the payserv signer). */
  declineShare?: number;
  corrections?: number;
  seed?: number;
  onProgress?: (what: string, done: number, total: number) => void;
}

export interface SeedSigners {
  admin: Signer;
  autopay: Signer;
  /** Declines and corrections are payserv's; without it the seed makes neither. */
  payserv?: Signer;
}

export interface SeedReport {
  coins: string[];
  users: number;
  wallets: number;
  blocks: number;
  credits: number;
  withdrawals: number;
  declined: number;
  corrections: number;
}

/** A small deterministic PRNG (mulberry32): simulation only, never keys. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function addressFor(coin: Coin, rnd: () => number): string {
  const bytes = Uint8Array.from({ length: 32 }, () => Math.floor(rnd() * 256));
  if (coin.tag === 'ETH' || coin.tag === 'ETC') return privateKeyToAddress(`0x${Buffer.from(bytes).toString('hex')}`);
  if (coin.tag === 'ZEC') return zcashP2pkhAddress(coin.network, ripemd160(sha256(bytes)));
  return `${coin.tag.toLowerCase()}-${Buffer.from(bytes.subarray(0, 12)).toString('hex')}`;
}

export async function seedLedger(db: Db, signers: SeedSigners, o: SeedOptions): Promise<SeedReport> {
  const rnd = prng(o.seed ?? 1);
  const report: SeedReport = { coins: [], users: o.users, wallets: 0, blocks: 0, credits: 0, withdrawals: 0, declined: 0, corrections: 0 };
  const users = Array.from({ length: o.users }, (_, i) => FIRST_MINER + i);
  for (const tag of o.coins) {
    const d = COIN_DEFAULTS[tag] ?? OTHER;
    const coin = await registerCoin(db, signers.admin, { tag, ...d, feeUserId: POOL_FEE_USER });
    report.coins.push(tag);
    const wallets = new Map<number, { id: number; address: string }>();
    for (const [i, userId] of users.entries()) {
      const w = await addWallet(db, { userId, coinId: coin.id, address: addressFor(coin, rnd) });
      await signWallet(db, signers.admin, w.id);
      wallets.set(userId, { id: w.id, address: w.address });
      report.wallets++;
      if (i % 500 === 0) o.onProgress?.(`${tag} wallets`, i, users.length);
    }
    const balance = new Map<number, Amount>();
    const reward = parseAmount(d.reward);
    const perBlock = Math.max(1, Math.min(users.length, Math.round(users.length * (o.minersPerBlock ?? 0.3))));
    for (let b = 0; b < o.blocks; b++) {
      const miners = pick(users, perBlock, rnd);
      const shares = splitReward(coin, reward, miners, rnd);
      await creditBlock(db, signers.admin, coin, {
        blockHash: `0x${randomBytes(32).toString('hex')}`,
        shares: shares.shares,
        poolFee: shares.poolFee,
      });
      for (const s of shares.shares) balance.set(s.userId, add(balance.get(s.userId) ?? ZERO, s.amount));
      report.blocks++;
      report.credits += shares.shares.length + 1;
      o.onProgress?.(`${tag} blocks`, b + 1, o.blocks);
    }
    report.withdrawals += await seedWithdrawals(db, signers, coin, o, rnd, balance, wallets, report);
    if (signers.payserv) {
      for (let k = 0; k < (o.corrections ?? 0); k++) {
        const userId = users[Math.floor(rnd() * users.length)] as number;
        await applyCorrection(db, signers.payserv, {
          userId,
          coinId: coin.id,
          amount: fromBaseUnits(BigInt(1 + Math.floor(rnd() * 1000)), coin.decimals),
        });
        report.corrections++;
      }
    }
  }
  return report;
}

async function seedWithdrawals(
  db: Db,
  s: SeedSigners,
  coin: Signed<Coin>,
  o: SeedOptions,
  rnd: () => number,
  balance: Map<number, Amount>,
  wallets: Map<number, { id: number; address: string }>,
  report: SeedReport,
): Promise<number> {
  let made = 0;
  const rich = [...balance.entries()].filter(([, b]) => b >= coin.minWithdrawal);
  for (let k = 0; k < o.withdrawals && rich.length; k++) {
    const [userId, available] = rich[Math.floor(rnd() * rich.length)] as [number, Amount];
    const units = toBaseUnits(available, coin.decimals);
    const minUnits = toBaseUnits(coin.minWithdrawal, coin.decimals);
    const ask = minUnits + (BigInt(Math.floor(rnd() * 1e6)) * (units - minUnits)) / 1_000_000n;
    const amount = fromBaseUnits(ask, coin.decimals);
    if (amount < coin.minWithdrawal || amount > available) continue;
    const w = wallets.get(userId) as { id: number; address: string };
    const req = await db.transaction((tx) =>
      requestWithdrawal(tx, s.autopay, { userId, coinId: coin.id, walletId: w.id, address: w.address, amount, fee: coin.withdrawalFee }),
    );
    made++;
    if (s.payserv && rnd() < (o.declineShare ?? 0.1)) {
      await db.transaction((tx) => declineWithdrawal(tx, s.payserv as Signer, req.id, 'processing', 'declined by the seed'));
      report.declined++;
    } else {
      const left = sub(available, amount);
      balance.set(userId, left);
      const i = rich.findIndex(([u]) => u === userId);
      if (left < coin.minWithdrawal) rich.splice(i, 1);
      else rich[i] = [userId, left];
    }
    o.onProgress?.(`${coin.tag} withdrawals`, k + 1, o.withdrawals);
  }
  return made;
}

function pick<T>(xs: readonly T[], n: number, rnd: () => number): T[] {
  if (n >= xs.length) return [...xs];
  const copy = [...xs];
  for (let i = 0; i < n; i++) {
    const j = i + Math.floor(rnd() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy.slice(0, n);
}

/** A block reward split exactly in the coin's base units: 1% pool fee, the rest by random work, the remainder to the first miner. */
export function splitReward(coin: Pick<Coin, 'decimals'>, reward: Amount, miners: readonly number[], rnd: () => number) {
  const total = toBaseUnits(reward, coin.decimals);
  const fee = total / 100n;
  const rest = total - fee;
  const work = miners.map(() => BigInt(1 + Math.floor(rnd() * 1000)));
  const workSum = work.reduce((a, b) => a + b, 0n);
  const units = work.map((w) => (rest * w) / workSum);
  units[0] = (units[0] as bigint) + rest - units.reduce((a, b) => a + b, 0n);
  return {
    poolFee: fromBaseUnits(fee, coin.decimals),
    shares: miners.map((userId, i) => ({ userId, amount: fromBaseUnits(units[i] as bigint, coin.decimals) })).filter((s) => s.amount > 0n),
  };
}
