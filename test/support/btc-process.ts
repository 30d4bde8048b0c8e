// A shipped payserv process paying LTC on a litecoind regtest node, for the tests of restores and attacks on the
// Bitcoin family: a ledger with one waiting withdrawal to a fresh address, a development hot key funded with
// 5 LTC, payserv started on `toml` (its [coins.LTC]) and payouts enabled.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { expect } from 'vitest';
import type { PayoutResult } from '../../src/api/payserv.js';
import { p2wpkhAddress } from '../../src/chains/btc/address.js';
import { preset } from '../../src/chains/btc/network.js';
import { createHotKey, loadHotKey } from '../../src/keys/hot-wallet.js';
import type { SeedOptions } from '../../src/writer/seed.js';
import type { Litecoind } from './litecoind-node.js';
import type { TestDatabase } from './db.js';
import { coinRequests } from './miners.js';
import { restoreOntoFreshHost } from './pscli-world.js';
import { processLedger, type PayservChild, type ProcessLedger } from './spawn.js';

const NET = preset('LTC-regtest');
/** The seeded coin's confirmations (src/writer/seed.ts). */
const CONFIRMATIONS = 6;

export const freshLtcAddress = (): string => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

export async function ltcPayservProcess(
  node: Litecoind,
  seed: SeedOptions,
  firstUser: number,
  toml: string,
): Promise<{ l: ProcessLedger; id: number; hot: string; ps: PayservChild }> {
  const ids: number[] = [];
  const l = await processLedger(seed, coinRequests('LTC', freshLtcAddress, 1, 1, firstUser, ids));
  await createHotKey(l.stateDir, 'LTC');
  const hot = p2wpkhAddress(NET, secp256k1.getPublicKey(await loadHotKey(l.stateDir, 'LTC'), true));
  await node.fund(hot, 500_000_000n);
  const ps = await l.start(l.config('payserv.toml', { extra: toml }));
  await ps.client('pscli').call('Utils.Enable');
  return { l, id: ids[0] as number, hot, ps };
}

const call = (ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check', id: number) =>
  ps.client('pscli').call<PayoutResult>(method, [id]);

/** Approve, mine the confirmations, Check: the transaction recorded `sent`. */
export async function payOnce(ps: PayservChild, node: { mine(n: number): Promise<unknown> }, id: number): Promise<string> {
  const sending = await call(ps, 'PayServ.Approve', id);
  expect(sending.reply, JSON.stringify(sending)).toBe('SENDING');
  await node.mine(CONFIRMATIONS);
  const sent = await call(ps, 'PayServ.Check', id);
  expect(sent).toMatchObject({ reply: 'SENT' });
  return (sent as { txHash: string }).txHash;
}

/**
 * payserv stopped and its host lost; `backup` restored onto a fresh host, as README says (`pscli restore --root`):
 * the new host's workspace, and the address withdrawal `id` pays.
 */
export async function restoredElsewhere(
  l: ProcessLedger,
  ps: PayservChild,
  id: number,
  backup: string,
  drop: TestDatabase[],
): Promise<{ ws: Awaited<ReturnType<typeof restoreOntoFreshHost>>; address: string }> {
  await ps.stop('SIGTERM');
  const address = (
    await l.withDb((db) => db.query<{ address: string }>('SELECT address FROM finances_withdrawal_transaction WHERE id = $1', [id]))
  )[0]?.address as string;
  const ws = await restoreOntoFreshHost(drop, backup, l.stateDir);
  return { ws, address };
}
