// The bench of the Bitcoin-family outsider attacks (test/pay-btc-*.test.ts regressions): one litecoind regtest node per
// test file, a payserv in process on a fresh ledger with an LTC driver (optionally asking a lying node in front
// of litecoind: ./btc-lying-node.ts), a client of the real node, and withdrawals to fresh addresses.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect } from 'vitest';
import { p2wpkhAddress } from '../../src/chains/btc/address.js';
import type { BtcDriver, BtcSettings } from '../../src/chains/btc/driver.js';
import { preset } from '../../src/chains/btc/network.js';
import { BtcNode } from '../../src/chains/btc/node.js';
import { parseAmount, sub, toBaseUnits } from '../../src/money/amount.js';
import type { CoinPolicy } from '../../src/payserv/policy.js';
import { processWithdrawal } from '../../src/payserv/payouts.js';
import { startLyingNode, type LyingNode } from './btc-lying-node.js';
import { litecoindForFile, ltcDriver, type Litecoind, type LitecoindOptions } from './litecoind.js';
import { newMiner, request, type Miner } from './miners.js';
import { testPayserv, type TestPayserv } from './payserv.js';

export const NET = preset('LTC-regtest');
export const COIN = 100_000_000n;
export const caller = 'test';
/** The seeded coin's confirmations (src/writer/seed.ts, a coin without defaults). */
export const confirmations = 6;
/** Limits under which Process approves a withdrawal at once (SendCoin pays it). */
export const AUTO: CoinPolicy = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};

export interface LtcBench {
  node: Litecoind;
  /** A client of the real node (never the lying one). */
  client: BtcNode;
  t: TestPayserv;
  driver: BtcDriver;
  /** The lying node the driver asks, when started with `liar`. */
  liar: LyingNode | null;
}

export interface BenchOptions {
  /** One confirmed output per entry (satoshis); default one of 5 LTC. */
  fund?: bigint[];
  settings?: Partial<BtcSettings>;
  policies?: Record<string, CoinPolicy>;
  /** The driver asks a lying node in front of litecoind; `arm` sets its lies before the driver starts. */
  liar?: (liar: LyingNode) => void;
}

/** Call at the top of a test file: starts the bench for a test (one node per file), and stops it after each. */
export function ltcBench(seed: number, node: LitecoindOptions = {}): (o?: BenchOptions) => Promise<LtcBench> {
  const litecoind = litecoindForFile(node);
  let open: LtcBench | null = null;
  afterEach(async () => {
    open?.client.close();
    await open?.liar?.stop();
    await open?.t.ledger.db.close();
    open = null;
  });
  return async (o = {}) => {
    const n = await litecoind();
    const client = new BtcNode({ url: n.url, timeoutMs: 120_000, responseBytesMax: 256 * 1024 * 1024 });
    const liar = o.liar ? await startLyingNode(n) : null;
    if (liar) o.liar?.(liar);
    let driver: BtcDriver | null = null;
    const seedOf = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed };
    const t = await testPayserv({
      seed: seedOf,
      ...(o.policies ? { policies: o.policies } : {}),
      drivers: async (deps) => {
        driver = await ltcDriver(n, deps, o.fund ?? [5n * COIN], { ...o.settings, ...(liar ? { url: liar.url } : {}) });
        return new Map([['LTC', driver]]);
      },
    });
    open = { node: n, client, t, driver: driver as unknown as BtcDriver, liar };
    return open;
  };
}

export const freshAddress = (): string => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

/** A withdrawal of `amount` LTC by a new miner to `address` (default a fresh one), processed: its id, address, miner and the value it must receive. */
export async function processed(
  b: LtcBench,
  userId: number,
  amount: string,
  o: { address?: string; reply?: string } = {},
): Promise<{ id: number; address: string; m: Miner; value: bigint }> {
  const address = o.address ?? freshAddress();
  const m = await newMiner(b.t, userId, '20', { tag: 'LTC', address });
  const id = await request(b.t, m, { amount });
  const p = await processWithdrawal(b.t.ps, id, caller);
  expect(p.reply, `${address}: ${p.message}`).toBe(o.reply ?? 'PENDING');
  return { id, address, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

/** The values of the real chain's unspent outputs paying `address`. */
export async function paidTo(b: LtcBench, address: string): Promise<bigint[]> {
  return (await b.client.scanTxOutSet([`addr(${address})`])).unspents.map((u) => u.amount);
}

/** A withdrawal's status as the database holds it. */
export async function statusOf(b: LtcBench, id: number): Promise<string> {
  const [r] = await b.t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'missing';
}
