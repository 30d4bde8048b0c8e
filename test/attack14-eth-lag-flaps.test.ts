// Attack (issue 14): a lag that comes and goes inside one verdict, as behind a load balancer whose back ends
// are not equally synced: the chain's identity and head are read from an up-to-date back end, the receipt
// and the rest from one 30 blocks behind. The lagging back end answers geth's "header not found" for the
// state at a block it does not have yet (the nonce count at head - confirmations + 1). That answer is not a
// transport failure and not caught: Check throws it out as an internal error instead of "outcome unknown,
// nothing changed" (and resolve/autopay see an exception where they expect a verdict).
import { afterEach, describe, expect, it } from 'vitest';
import { mine } from '../src/devnet/anvil.js';
import { anvilForFile, ethDriver } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';

const anvil = anvilForFile();
let proxy: RpcProxy | null = null;
afterEach(async () => {
  await proxy?.stop();
  proxy = null;
});

describe('attack14: Check while the node lags for part of the verdict', () => {
  it('answers "outcome unknown" (no throw, nothing changed), never an internal error', async () => {
    const a = await anvil();
    await mine(a.url, 60);
    proxy = await startRpcProxy(a.url);
    const p = proxy;
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(p.url, deps)]]) });
    const miner = await newMiner(tp, 701, '20');
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    expect((await approveWithdrawal(tp.ps, id, 'admin')).reply).toBe('SENDING');
    await mine(a.url, 3);

    // From the receipt on, the balancer's lagging back end answers (the receipt: null, it has not the block).
    p.nullResults('eth_getTransactionReceipt', () => {
      p.lag(30);
      return true;
    });
    let outcome: string;
    try {
      const c = await checkWithdrawal(tp.ps, id, 'admin');
      outcome = `${c.reply}: ${c.message ?? ''}`;
    } catch (e) {
      outcome = `THROWN ${(e as Error).name}: ${(e as Error).message.split('\n')[0]}`;
    }
    p.lag(0);
    p.nullResults('eth_getTransactionReceipt', false);
    expect(outcome.startsWith('THROWN')).toBe(false);
  });
});
