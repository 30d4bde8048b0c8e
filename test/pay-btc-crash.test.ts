// payserv SIGKILLed in the middle of a Bitcoin-family payment, as the executable it ships as, against a real
// litecoind regtest node: between the write-ahead commit and the broadcast (the node never heard of it), and
// between the broadcast and the record (the node took it, payserv never read the reply). The restarted process
// decides from the database, the journal and the chain alone: exactly one payment per withdrawal.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import type { SeedOptions } from '../src/writer/seed.js';
import { ltcCoinsToml } from './support/chain-settings.js';
import { litecoindForFile } from './support/litecoind.js';
import { coinRequests } from './support/miners.js';
import { startRpcProxy } from './support/rpc-proxy.js';
import { killAllChildren, processLedger, until, type PayservChild } from './support/spawn.js';

afterEach(killAllChildren);

const litecoind = litecoindForFile();
const NET = preset('LTC-regtest');
const SEED: SeedOptions = {
  users: 1,
  blocks: 1,
  withdrawals: 0,
  coins: ['LTC'],
  minersPerBlock: 1,
  declineShare: 0,
  corrections: 0,
  seed: 13,
};
const LONG = 120_000;
/** The seeded coin's confirmations (src/writer/seed.ts, a coin without defaults). */
const confirmations = 6;

const coinsToml = (url: string) => ltcCoinsToml(url);

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

async function call(ps: PayservChild, method: 'PayServ.Approve' | 'PayServ.Check', id: number): Promise<PayoutResult> {
  return ps.client('pscli').call<PayoutResult>(method, [id]);
}

describe('payserv killed while paying LTC (SIGKILL), then restarted', { timeout: LONG }, () => {
  for (const when of ['request', 'reply'] as const) {
    const story =
      when === 'request'
        ? 'after the write-ahead commit, before the node heard of it'
        : 'after the node took it, before payserv read the reply';
    it(`${story}: one payment, SENT after restart`, async () => {
      const node = await litecoind();
      const client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
      const ids: number[] = [];
      const l = await processLedger(SEED, coinRequests('LTC', freshAddress, 1, 1, 8101, ids));
      const id = ids[0] as number;
      await createHotKey(l.stateDir, 'LTC');
      const hot = p2wpkhAddress(NET, secp256k1.getPublicKey(await loadHotKey(l.stateDir, 'LTC'), true));
      await node.fund(hot, 300_000_000n);
      const proxy = await startRpcProxy(node.url);
      try {
        const config = l.config('payserv.toml', { extra: coinsToml(proxy.url) });
        const ps = await l.start(config);
        await ps.client('pscli').call('Utils.Enable');
        proxy.hold('sendrawtransaction', when);
        const approving = call(ps, 'PayServ.Approve', id).catch((e: Error) => e);
        await until('the broadcast is in flight', () => proxy.held() === 1, 30_000, 20);
        await ps.kill();
        await approving;

        const crashed = await l.withDb(async (db) => {
          const [w] = await db.query<{ status: string; tx_hash: string | null; address: string }>(
            'SELECT status, tx_hash, address FROM finances_withdrawal_transaction WHERE id = $1',
            [id],
          );
          const txs = await db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs');
          return { w, txs: txs.map((t) => t.hash) };
        });
        expect(crashed.w?.status).toBe('sending');
        const hash = crashed.w?.tx_hash as string;
        expect(crashed.txs).toEqual([hash]);
        expect(await node.rpc('getrawmempool')).toEqual(when === 'request' ? [] : [hash]);

        const again = await l.start(config);
        await again.client('pscli').call('Utils.Enable');
        await until(
          "the killed process's lock is released",
          async () => !(await again.client('pscli').call<{ processing: boolean }>('Utils.IsProcessing', [id])).processing,
          30_000,
          200,
        );
        // Check sends the stored bytes (again): the same transaction, nothing new.
        expect(await call(again, 'PayServ.Check', id)).toMatchObject({ reply: 'SENDING' });
        expect(await node.rpc('getrawmempool')).toEqual([hash]);
        // A second Approve after the restart is refused: it is sending.
        expect((await call(again, 'PayServ.Approve', id)).reply).toBe('ERROR');
        await node.mine(confirmations);
        expect(await call(again, 'PayServ.Check', id)).toMatchObject({ reply: 'SENT', txHash: hash });
        await again.stop('SIGTERM');

        // 1 LTC less the seeded coin's withdrawal fee (0.001, src/writer/seed.ts), in one output.
        const value = toBaseUnits(sub(parseAmount('1'), parseAmount('0.001')), 8);
        const paid = (await client.scanTxOutSet([`addr(${crashed.w?.address as string})`])).unspents.map((u) => u.amount);
        expect(paid).toEqual([value]);
        await l.withDb(async (db) => {
          expect(await l.check(db, 'balanceerrors')).toEqual([]);
          expect(await db.query('SELECT hash FROM payserv_chain_txs')).toHaveLength(1);
        });
      } finally {
        client.close();
        await proxy.stop();
      }
    });
  }
});
