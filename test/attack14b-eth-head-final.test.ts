// Attack (issue 14, second round): one far-ahead head answer retires sent payments from the finality watch.
// watch() computes a payment's depth from the head the node names (eth_blockNumber), and the identity check
// only refuses a head that went BACK: a head ahead of the chain passes and is even pinned. One tick in which
// the node (a glitching back end) names a head 60 blocks ahead makes every watched payment "final": its row
// is retired (final_at) after 13 real confirmations. A reorg 13 deep then takes the payment away: the row is
// no longer watched, payment_reorged is never raised, payouts stay on. (Meanwhile the honest node is "gone
// back" against the pinned lie, node_identity, until the chain catches up with it, and then all is quiet.)
// What should happen: a payment is final only when the chain is really finality_depth past it; a head far
// ahead of any seen before decides nothing.
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

describe('attack14b: a far-ahead head in the finality watch', () => {
  it('does not retire a 13-deep payment as final: its reorg is alerted', async () => {
    const a = await anvil();
    mitm = await startMitm(a.url);
    const m = mitm;
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(m.url, deps)]]) });
    const miner = await newMiner(tp, 801, '20');
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    const snap = await anvilRpc(a.url, 'evm_snapshot');
    const paid = await approveWithdrawal(tp.ps, id, 'admin');
    expect(paid.reply).toBe('SENDING');
    await mine(a.url, 12);
    expect((await checkWithdrawal(tp.ps, id, 'admin')).reply).toBe('SENT');

    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ETH', 64]]),
    });
    // One tick in which the head the node names is 60 blocks ahead of the chain.
    const real = BigInt((await anvilRpc(a.url, 'eth_blockNumber')) as string);
    m.rule((method) => (method === 'eth_blockNumber' ? { result: `0x${(real + 60n).toString(16)}` } : null));
    await mon.tick();
    m.rule(null);
    const [row] = (await tp.ledger.db.query('SELECT final_at FROM payserv_sent_watch WHERE hash = $1', [paid.txHash])) as Array<{
      final_at: Date | null;
    }>;

    // A reorg 14 deep (well inside finality_depth 64): the payment's block leaves the chain.
    await anvilRpc(a.url, 'evm_revert', [snap]);
    for (let i = 0; i < 8; i++) {
      await mine(a.url, 10);
      await mon.tick();
    }

    expect({
      retiredAfter13: !!row?.final_at,
      reorgAlerted: tp.alerts.some((x) => x.kind === 'payment_reorged'),
      enabled: tp.ps.state.enabled,
    }).toEqual({ retiredAfter13: false, reorgAlerted: true, enabled: false });
  });
});
