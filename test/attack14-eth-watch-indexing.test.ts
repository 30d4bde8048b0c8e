// Attack (issue 14, after `sent`): geth while it (re)builds its transaction index answers
// eth_getTransactionReceipt with the error -32000 "transaction indexing is in progress" (not null). The
// finality watch lets that error out of watch(): the whole round fails at the first row, every tick; the
// monitor only logs "monitor part failed". Meanwhile a sent payment is reorged away: no payment_reorged,
// no fail-stop, no alert of any kind (the health check never reads a receipt, so the node looks healthy),
// and payouts go on paying.
import { afterEach, describe, expect, it } from 'vitest';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { anvilForFile, ethDriver } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { startMitm, type Mitm } from './attack14-helpers.js';

const anvil = anvilForFile();
let mitm: Mitm | null = null;
afterEach(async () => {
  await mitm?.stop();
  mitm = null;
});

describe('attack14: the finality watch against a node rebuilding its transaction index', () => {
  it('a sent payment reorged away is alerted and stops payouts', async () => {
    const a = await anvil();
    mitm = await startMitm(a.url);
    const m = mitm;
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(m.url, deps)]]) });
    const pay = async (user: number) => {
      const miner = await newMiner(tp, user, '20');
      const id = await request(tp, miner, { amount: '1' });
      expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
      const r = await approveWithdrawal(tp.ps, id, 'admin');
      expect(r.reply).toBe('SENDING');
      return { id, hash: r.txHash as string };
    };
    await mine(a.url, 5);
    const snap = await anvilRpc(a.url, 'evm_snapshot');
    const w = await pay(801);
    await mine(a.url, 12);
    expect((await checkWithdrawal(tp.ps, w.id, 'admin')).reply).toBe('SENT');

    // A reorg deeper than the confirmations: the branch without our block wins (and grows longer).
    await anvilRpc(a.url, 'evm_revert', [snap]);
    await anvilRpc(a.url, 'anvil_dropTransaction', [w.hash]).catch(() => undefined);
    await mine(a.url, 30);
    // The node restarted and rebuilds its transaction index.
    m.rule((method) =>
      method === 'eth_getTransactionReceipt' ? { error: { code: -32000, message: 'transaction indexing is in progress' } } : null,
    );

    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 1,
      finality: new Map([['ETH', 64]]),
    });
    const r1 = await mon.tick();
    const r2 = await mon.tick();
    expect(r1.finality?.gone).toBe(1);
    expect(r2.failed).toEqual([]);
    expect(tp.alerts.map((x) => x.kind)).toContain('payment_reorged');
    expect(tp.ps.state.enabled).toBe(false);
  });

  it('a node whose every answer about a watched payment is an error: counted failing, alerted node_unhealthy', async () => {
    const a = await anvil();
    mitm = await startMitm(a.url);
    const m = mitm;
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(m.url, deps)]]) });
    const miner = await newMiner(tp, 811, '20');
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    expect((await approveWithdrawal(tp.ps, id, 'admin')).reply).toBe('SENDING');
    await mine(a.url, 12);
    expect((await checkWithdrawal(tp.ps, id, 'admin')).reply).toBe('SENT');
    const indexing = { error: { code: -32000, message: 'transaction indexing is in progress' } };
    m.rule((method) =>
      method === 'eth_getTransactionReceipt' || method === 'eth_getTransactionByHash' || method === 'eth_getBlockByNumber'
        ? indexing
        : null,
    );
    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 1,
      finality: new Map([['ETH', 64]]),
    });
    const r1 = await mon.tick();
    expect(r1.failed).toEqual([]);
    expect(r1.finality?.failing.ETH).toMatch(/transaction indexing is in progress/);
    await new Promise((r) => setTimeout(r, 5));
    await mon.tick();
    await mon.tick();
    expect(tp.alerts.filter((x) => x.kind === 'node_unhealthy')).toHaveLength(1);
    expect(tp.ps.state.enabled).toBe(true);
  });
});
