// Helpers of the hot-wallet rotation tests (test/hotwallet-rotate*.test.ts): payserv's ETH table with a
// monitor ticking each second, the hot wallets' addresses, and the host's sweep record.
import { readFileSync } from 'node:fs';
import { privateKeyToAddress } from 'viem/accounts';
import type { Hex } from 'viem';
import { mine, setBalance } from '../../src/devnet/anvil.js';
import { createHotKey, loadHotKey, nextHotKeyPath } from '../../src/keys/hot-wallet.js';
import { rotationPath, rotationStep, type RotatingDriver, type SweepRecord } from '../../src/payserv/rotation.js';
import type { SeedOptions } from '../../src/writer/seed.js';
import { until } from './spawn.js';
import { expect } from 'vitest';
import { processWithdrawal } from '../../src/payserv/payouts.js';
import { newMiner, request } from './miners.js';
import type { TestPayserv } from './payserv.js';

/** One ETH block crediting `users` miners, nothing else. */
export const rotationSeed = (users: number, seed: number): SeedOptions => ({
  users,
  blocks: 1,
  withdrawals: 0,
  coins: ['ETH'],
  minersPerBlock: 1,
  declineShare: 0,
  corrections: 0,
  seed,
});

/** One block crediting `users` miners of `coin` (ZEC, LTC), for the in-process rotation tests. */
export const utxoRotationSeed = (coin: string, seed: number): SeedOptions => ({ ...rotationSeed(3, seed), coins: [coin] });

/** A processed request of `coin` from a fresh miner to `address`: PENDING, ready to approve. */
export async function processedTo(t: TestPayserv, coin: string, address: string, amount = '1'): Promise<{ id: number }> {
  const m = await newMiner(t, nextUser++, '20', { tag: coin, address });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
  return { id };
}
let nextUser = 9100;

/** A rotation step that dies after the sweep's host record, before its broadcast (the harness's fault point): the record. */
export async function sweepKilledBeforeBroadcast(t: TestPayserv, d: RotatingDriver): Promise<SweepRecord> {
  t.ps.faults = {
    at: async (point) => {
      if (point === 'sweep.committed') throw new Error('killed after the sweep was recorded');
    },
  };
  try {
    await expect(rotationStep(t.ps, d)).rejects.toThrow(/killed/);
  } finally {
    t.ps.faults = undefined;
  }
  const r = sweepOf(t.ledger.stateDir, d.tag);
  expect(r?.phase).toBe('sweeping');
  return r as SweepRecord;
}

export const rotationToml = (url: string) =>
  [
    '[monitor]',
    'interval_s = 1',
    '[coins.ETH]',
    'chain = "evm"',
    `node_url = "${url}"`,
    'chain_id = 31337',
    'min_peers = 0',
    'confirmations = 1',
    'finality_depth = 3',
    'rpc_timeout_ms = 60000',
    '',
  ].join('\n');

export const hotAddress = async (stateDir: string, path?: string) =>
  privateKeyToAddress(`0x${Buffer.from(await loadHotKey(stateDir, 'ETH', path)).toString('hex')}` as Hex);

export function sweepOf(stateDir: string, tag = 'ETH'): SweepRecord | null {
  try {
    return JSON.parse(readFileSync(rotationPath(stateDir, tag), 'utf8')) as SweepRecord;
  } catch {
    return null;
  }
}

/** A funded hot wallet and a rotation's next key in the state directory (what `pscli hotwallet rotate` makes in files): both addresses. */
export async function rotationKeys(url: string, stateDir: string, funds = 10n ** 20n): Promise<{ old: string; next: string }> {
  await createHotKey(stateDir, 'ETH');
  const old = await hotAddress(stateDir);
  await setBalance(url, old, funds);
  const nextPath = nextHotKeyPath(stateDir, 'ETH');
  await createHotKey(stateDir, 'ETH', nextPath);
  return { old, next: await hotAddress(stateDir, nextPath) };
}

/** Mines a block each turn until the host's sweep record says final (payserv's monitor ticks each second). */
export async function untilFinal(url: string, stateDir: string): Promise<SweepRecord> {
  await until(
    'the sweep is final',
    async () => {
      await mine(url, 1);
      return sweepOf(stateDir)?.phase === 'final';
    },
    60_000,
    300,
  );
  return sweepOf(stateDir) as SweepRecord;
}
