// Outside tester. Secret leakage: node URLs carry RPC credentials (the README's own example is
// node_url = "http://user:password@127.0.0.1:8232"). With the node down, refusing, or losing replies,
// no reply message, log line or alert may carry the password.
import { afterEach, expect, it } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import { startZcashStandin } from '../src/devnet/zcash-standin.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, zcashAddress, zcashDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';
import { processLedger, killAllChildren } from './support/spawn.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import { ethRequests } from './support/miners.js';
import { setBalance } from '../src/devnet/anvil.js';
import { privateKeyToAddress } from 'viem/accounts';
import type { Hex } from 'viem';

const anvil = anvilForFile();
const SECRET = 'Sup3rSecretRpcPw';
let t: TestPayserv | undefined;
let node: ZcashStandin | undefined;
let proxy: RpcProxy | undefined;
afterEach(killAllChildren);
afterEach(async () => {
  await t?.ledger.db.close();
  await node?.stop();
  await proxy?.stop();
  t = undefined;
  node = undefined;
  proxy = undefined;
});

const leaks = (tp: TestPayserv, replies: unknown[]) => {
  const all = [JSON.stringify(replies), ...tp.logs, JSON.stringify(tp.alerts)].join('\n');
  return all.includes(SECRET);
};

describePerDataPath('RPC credentials in node URLs never leak', () => {
  for (const fault of ['refuse', '503', 'hang', 'lose-reply'] as const) {
    it(`Zcash node ${fault}`, async () => {
      node = await startZcashStandin({ network: 'mainnet', rpcUser: 'payserv', rpcPassword: SECRET });
      const n = node;
      t = await testPayserv({
        seed: { users: 2, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 53 },
        drivers: async (deps) => new Map([['ZEC', await zcashDriver(n, deps, { settings: { timeoutMs: 1_500 } })]]),
      });
      const m = await newMiner(t, 9991, '20', { tag: 'ZEC', address: zcashAddress() });
      const id = await request(t, m, { amount: '1' });
      expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
      const replies: unknown[] = [];
      if (fault === 'lose-reply') {
        await n.setDown('lose-reply');
        replies.push(await approveWithdrawal(t.ps, id, 'test'));
        replies.push(await checkWithdrawal(t.ps, id, 'test'));
      } else {
        await n.setDown(fault);
        replies.push(await approveWithdrawal(t.ps, id, 'test'));
      }
      console.log(fault, JSON.stringify(replies));
      expect(leaks(t, replies)).toBe(false);
    });
  }

  // Held: payserv strips the credentials from an EVM node_url; failures and a down node print no password.
  it('Ethereum node URL with credentials: start, failed broadcast and a down node print no password', async () => {
    const { url } = await anvil();
    proxy = await startRpcProxy(url);
    const ids: number[] = [];
    const l = await processLedger(
      { users: 2, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 59 },
      ethRequests(2, 2, 9994, ids),
    );
    await createHotKey(l.stateDir, 'ETH');
    const hot = privateKeyToAddress(`0x${Buffer.from(await loadHotKey(l.stateDir, 'ETH')).toString('hex')}` as Hex);
    await setBalance(url, hot, 10n ** 20n);
    const withCreds = proxy.url.replace('http://', `http://payserv:${SECRET}@`);
    const file = l.config('payserv.toml', {
      extra: [
        '[coins.ETH]',
        'chain = "evm"',
        `node_url = "${withCreds}"`,
        'chain_id = 31337',
        'min_peers = 0',
        'rpc_timeout_ms = 2000',
        '',
      ].join('\n'),
    });
    const ps = await l.start(file);
    const c = ps.client('pscli');
    await c.call('Utils.Enable');
    const replies: unknown[] = [];
    proxy.failNext('eth_sendRawTransaction', 5);
    replies.push(await c.call('PayServ.Approve', [ids[0]]).catch((e: Error) => e.message));
    replies.push(await c.call('PayServ.Check', [ids[0]]).catch((e: Error) => e.message));
    proxy.down(true);
    replies.push(await c.call('PayServ.Check', [ids[0]]).catch((e: Error) => e.message));
    replies.push(await c.call('PayServ.Approve', [ids[1]]).catch((e: Error) => e.message));
    replies.push(await c.call('Utils.Status').catch((e: Error) => e.message));
    const out = JSON.stringify(replies) + JSON.stringify(ps.logs());
    console.log(JSON.stringify(replies).slice(0, 1500));
    await ps.stop('SIGTERM');
    expect(out.includes(SECRET)).toBe(false);
  });
});
