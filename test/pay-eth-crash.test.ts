// payserv SIGKILLed in the middle of paying, as the executable it ships as, against anvil: between
// "signed and stored" and "broadcast", and between "broadcast" and "the reply read". The restarted
// process decides from the database and the chain alone: exactly one transfer per withdrawal, and the
// checks clean.
import { afterEach, describe, expect, it } from 'vitest';
import { privateKeyToAddress } from 'viem/accounts';
import type { Hex } from 'viem';
import { mine, setBalance } from '../src/devnet/anvil.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import type { PayoutResult } from '../src/api/payserv.js';
import type { SeedOptions } from '../src/writer/seed.js';
import { anvilForFile, balanceOf, ethClient, minedCount } from './support/chains.js';
import { ethRequests } from './support/miners.js';
import { startRpcProxy } from './support/rpc-proxy.js';
import { killAllChildren, processLedger, until, type PayservChild } from './support/spawn.js';

afterEach(killAllChildren);

const anvil = anvilForFile();
const SEED: SeedOptions = {
  users: 3,
  blocks: 1,
  withdrawals: 0,
  coins: ['ETH'],
  minersPerBlock: 1,
  declineShare: 0,
  corrections: 0,
  seed: 3,
};
const LONG = 120_000;

const coinsToml = (url: string) =>
  ['[coins.ETH]', 'chain = "evm"', `node_url = "${url}"`, 'chain_id = 31337', 'min_peers = 0', 'rpc_timeout_ms = 60000', ''].join('\n');

async function call(ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check', id: number): Promise<PayoutResult> {
  return ps.client('pscli').call<PayoutResult>(method, [id]);
}

async function rowOf(l: Awaited<ReturnType<typeof processLedger>>, id: number) {
  return l.withDb(async (db) => {
    const [w] = await db.query<{ status: string; tx_hash: string | null; address: string }>(
      'SELECT status, tx_hash, address FROM finances_withdrawal_transaction WHERE id = $1',
      [id],
    );
    const txs = await db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs');
    return { w, txs: txs.map((t) => t.hash) };
  });
}

describe('payserv killed while paying (SIGKILL), then restarted', { timeout: LONG }, () => {
  for (const when of ['request', 'reply'] as const) {
    const story =
      when === 'request'
        ? 'after signing and storing, before the node heard of it'
        : 'after the node took it, before payserv read the reply';
    it(`${story}: one transfer, SENT after restart`, async () => {
      const { url } = await anvil();
      const ids: number[] = [];
      const l = await processLedger(SEED, ethRequests(1, 1, 8001, ids));
      const id = ids[0] as number;
      await createHotKey(l.stateDir, 'ETH');
      const hot = privateKeyToAddress(`0x${Buffer.from(await loadHotKey(l.stateDir, 'ETH')).toString('hex')}` as Hex);
      await setBalance(url, hot, 10n ** 20n);
      const proxy = await startRpcProxy(url);
      try {
        const config = l.config('payserv.toml', { extra: coinsToml(proxy.url) });
        const ps = await l.start(config);
        await ps.client('pscli').call('Utils.Enable');
        proxy.hold('eth_sendRawTransaction', when);
        const approving = call(ps, 'PayServ.Approve', id).catch((e: Error) => e);
        await until('the broadcast is in flight', () => proxy.held() === 1, 30_000, 20);
        await ps.kill();
        await approving;

        const crashed = await rowOf(l, id);
        expect(crashed.w?.status).toBe('sending');
        expect(crashed.txs).toEqual([crashed.w?.tx_hash]);
        const onNode = await ethClient(url).request({ method: 'eth_getTransactionByHash', params: [crashed.w?.tx_hash as Hex] });
        expect(onNode === null).toBe(when === 'request');

        const again = await l.start(config);
        await again.client('pscli').call('Utils.Enable');
        // Through dbgw the killed process's locks are released when dbgw gives up on its session (idle_ms), not at once.
        await until(
          "the killed process's lock is released",
          async () => !(await again.client('pscli').call<{ processing: boolean }>('Utils.IsProcessing', [id])).processing,
          30_000,
          200,
        );
        const first = await call(again, 'PayServ.Check', id);
        expect(first.reply).toBe('SENDING');
        // A second Approve after the restart is refused: it is sending.
        expect((await call(again, 'PayServ.Approve', id)).reply).toBe('ERROR');
        await mine(url, 12);
        const done = await call(again, 'PayServ.Check', id);
        expect(done).toMatchObject({ reply: 'SENT', txHash: crashed.w?.tx_hash });
        await again.stop('SIGTERM');

        const value = toBaseUnits(sub(parseAmount('1'), parseAmount('0.0005')), 18);
        expect(await balanceOf(url, crashed.w?.address as string)).toBe(value);
        expect(await minedCount(url, hot)).toBe(1);
        await l.withDb(async (db) => {
          expect(await l.check(db, 'balanceerrors')).toEqual([]);
          expect(await db.query('SELECT hash FROM payserv_chain_txs')).toHaveLength(1);
        });
      } finally {
        await proxy.stop();
      }
    });
  }
});
