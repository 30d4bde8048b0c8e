// Regression (from an outsider's attack on issue 18): the shipped payserv SIGKILLed in the middle of a SendCoin batch on a real
// litecoind regtest node, three withdrawals in one transaction. Killed after the write-ahead commit before the
// node heard of the batch, and after the node took it before payserv read the reply. The restarted process is
// then asked for SendCoin again at once (the attack: a second batch for the same withdrawals), and Check.
// The promise: one transaction for the three, each address paid exactly once, all SENT, balances clean.
import { afterEach, describe, expect, it } from 'vitest';
import type { PayoutResult } from '../src/api/payserv.js';
import type { SendCoinResult } from '../src/payserv/payouts.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { NET, confirmations } from './support/btc-attack.js';
import { freshLtcAddress } from './support/btc-process.js';
import { ltcCoinsToml } from './support/chain-settings.js';
import { litecoindForFile } from './support/litecoind.js';
import { coinRequests } from './support/miners.js';
import { startRpcProxy } from './support/rpc-proxy.js';
import { killAllChildren, processLedger, until, type PayservChild } from './support/spawn.js';

afterEach(killAllChildren);

const litecoind = litecoindForFile();
const LONG = 240_000;
const POLICY = ['[policy.LTC]', 'amount_max = "100"', 'user_daily_max = "1000"', 'coin_daily_max = "100000"', 'wallet_age_hours_min = 0'];

const call = <T>(ps: PayservChild, method: string, params: unknown[]): Promise<T> => ps.client('pscli').call<T>(method as never, params);

describe('payserv SIGKILLed during a SendCoin batch of LTC, restarted, SendCoin again', { timeout: LONG }, () => {
  for (const when of ['request', 'reply'] as const) {
    it(`killed at the batch's ${when === 'request' ? 'write-ahead (before the node heard of it)' : 'broadcast (before the reply)'}: one payment per withdrawal`, async () => {
      const node = await litecoind();
      const client = new BtcNode({ url: node.url, timeoutMs: 30_000 });
      const ids: number[] = [];
      const l = await processLedger(
        { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 181 },
        coinRequests('LTC', freshLtcAddress, 3, 0, 8201, ids),
      );
      await createHotKey(l.stateDir, 'LTC');
      const hot = p2wpkhAddress(NET, secp256k1.getPublicKey(await loadHotKey(l.stateDir, 'LTC'), true));
      await node.fund(hot, 500_000_000n);
      const proxy = await startRpcProxy(node.url);
      try {
        const config = l.config('payserv.toml', { extra: [ltcCoinsToml(proxy.url), ...POLICY, ''].join('\n') });
        const ps = await l.start(config);
        await call(ps, 'Utils.Enable', []);
        for (const id of ids) expect((await call<PayoutResult>(ps, 'PayServ.Process', [id])).reply).toBe('APPROVED');

        proxy.hold('sendrawtransaction', when);
        const sending = call<SendCoinResult>(ps, 'PayServ.SendCoin', ['LTC']).catch((e: Error) => e);
        await until('the batch broadcast is in flight', () => proxy.held() === 1, 60_000, 20);
        await ps.kill();
        await sending;

        const crashed = await l.withDb(async (db) => ({
          ws: await db.query<{ id: number; status: string; tx_hash: string | null; address: string }>(
            'SELECT id, status, tx_hash, address FROM finances_withdrawal_transaction WHERE id = ANY($1) ORDER BY id',
            [ids],
          ),
          txs: (await db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs')).map((t) => t.hash),
        }));
        expect(crashed.ws.map((w) => w.status)).toEqual(['sending', 'sending', 'sending']);
        const hashes = new Set(crashed.ws.map((w) => w.tx_hash));
        expect(hashes.size).toBe(1);
        const hash = crashed.ws[0]?.tx_hash as string;
        expect(crashed.txs).toEqual([hash]);
        expect(await node.rpc('getrawmempool')).toEqual(when === 'request' ? [] : [hash]);

        const again = await l.start(config);
        await call(again, 'Utils.Enable', []);
        for (const id of ids)
          await until(
            "the killed process's lock is released",
            async () => !(await call<{ processing: boolean }>(again, 'Utils.IsProcessing', [id])).processing,
            30_000,
            200,
          );
        // The attack: SendCoin again at once. Nothing of the batch is approved any more: nothing new is signed or sent.
        const second = await call<SendCoinResult>(again, 'PayServ.SendCoin', ['LTC']);
        expect(second.results.filter((r) => r.reply === 'SENDING')).toEqual([]);
        expect(await l.withDb((db) => db.query('SELECT hash FROM payserv_chain_txs'))).toHaveLength(1);
        // Check rebroadcasts the stored bytes (request) or finds them in the mempool (reply).
        for (const id of ids) expect((await call<PayoutResult>(again, 'PayServ.Check', [id])).reply).toBe('SENDING');
        expect(await node.rpc('getrawmempool')).toEqual([hash]);
        await node.mine(confirmations);
        for (const id of ids) expect(await call<PayoutResult>(again, 'PayServ.Check', [id])).toMatchObject({ reply: 'SENT', txHash: hash });
        // SendCoin once more after SENT: still nothing.
        expect((await call<SendCoinResult>(again, 'PayServ.SendCoin', ['LTC'])).results).toEqual([]);
        await again.stop('SIGTERM');

        const value = toBaseUnits(sub(parseAmount('1'), parseAmount('0.001')), 8);
        for (const w of crashed.ws)
          expect((await client.scanTxOutSet([`addr(${w.address})`])).unspents.map((u) => u.amount)).toEqual([value]);
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
