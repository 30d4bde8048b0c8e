// Attack (issue 14, after `sent`): a contract recipient (payserv pays them, with a gas margin) whose payment
// is confirmed and recorded sent; a reorg deeper than the confirmations takes the block away, and in the new
// branch the same signed bytes are mined again (anyone can rebroadcast them) after the contract's state
// changed: this time the transaction runs out of gas, receipt status 0. The value never arrived.
// The finality watch reads only "is there a receipt": it calls the payment settling, then final, with no
// alert, no fail-stop; the withdrawal stays `sent` while nothing was paid.
import { describe, expect, it } from 'vitest';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { anvilForFile, balanceOf, ethClient, ethDriver } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { RISER_RUNTIME_CODE } from './support/contracts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { randomBytes } from 'node:crypto';
import type { Hex } from 'viem';

const anvil = anvilForFile();

describe('attack14: a sent payment re-mined with status 0 after a reorg', () => {
  it('is alerted (payment_reorged / fail-stop), not watched to final as paid', async () => {
    const a = await anvil();
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(a.url, deps)]]) });
    // A contract recipient: accepts value, loops slot-0 times.
    const to = `0x${randomBytes(20).toString('hex')}`;
    await anvilRpc(a.url, 'anvil_setCode', [to, RISER_RUNTIME_CODE]);
    const miner = await newMiner(tp, 601, '20', { address: to });
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');

    const snap = await anvilRpc(a.url, 'evm_snapshot');
    const paid = await approveWithdrawal(tp.ps, id, 'admin');
    expect(paid.reply).toBe('SENDING');
    const hash = paid.txHash as Hex;
    await mine(a.url, 12);
    const sent = await checkWithdrawal(tp.ps, id, 'admin');
    expect(sent.reply).toBe('SENT');
    const paidValue = await balanceOf(a.url, to);
    expect(paidValue).toBeGreaterThan(0n);

    // The reorg: the branch without our block wins (13 blocks deep, more than the 12 confirmations) ...
    const [{ raw }] = (await tp.ledger.db.query('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [hash])) as [{ raw: Hex }];
    await anvilRpc(a.url, 'evm_revert', [snap]);
    // ... in which the recipient's state changed (another transaction of that branch: its loop count rose) ...
    await anvilRpc(a.url, 'anvil_setStorageAt', [to, '0x0', `0x${(100_000).toString(16).padStart(64, '0')}`]);
    // ... and our signed bytes (public since the first broadcast) are mined again there.
    await anvilRpc(a.url, 'eth_sendRawTransaction', [raw]);
    await mine(a.url, 20);
    const r = await ethClient(a.url).getTransactionReceipt({ hash });
    expect(r.status).toBe('reverted');
    expect(await balanceOf(a.url, to)).toBe(0n);

    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ETH', 64]]),
    });
    expect((await mon.tick()).finality?.gone).toBe(1);
    await mine(a.url, 64);
    await mon.tick();
    // Never watched to final as paid.
    const [row] = await tp.ledger.db.query<{ final_at: Date | null }>('SELECT final_at FROM payserv_sent_watch WHERE hash = $1', [hash]);
    expect(row?.final_at).toBeNull();

    // The promise: a sent payment whose payment is undone is alerted and stops payouts.
    expect(tp.alerts.map((x) => x.kind)).toContain('payment_reorged');
    expect(tp.ps.state.enabled).toBe(false);
  });
});
