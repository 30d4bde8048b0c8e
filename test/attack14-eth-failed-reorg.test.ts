// Attack (issue 14): a `send_error` whose proof a reorg deeper than the confirmations takes away. A payment
// to a contract recipient reverts (its cost rose between the estimate and the mining: receipt status 0,
// confirmed 12 deep), Check records send_error with that proof, Resend pays the withdrawal anew (the next
// nonce). Then the branch without the reverted block wins, and in it the first transaction (its bytes are
// public) is mined with the contract's old state: it succeeds. Both transactions pay the recipient.
// Only `sent` payments are watched to finality: a failure verdict is never re-asked, so the double payment
// raises nothing, and the new payment is even recorded sent.
import { describe, expect, it } from 'vitest';
import { anvilRpc, mine, setAutomine } from '../src/devnet/anvil.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { RISER_RUNTIME_CODE } from './support/contracts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { randomBytes } from 'node:crypto';

const anvil = anvilForFile();
const slot = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;

describe('attack14: a failure verdict undone by a deep reorg', () => {
  it('both payments re-mined by a deep reorg: the undone proof is alerted and stops payouts', async () => {
    const a = await anvil();
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(a.url, deps)]]) });
    const to = `0x${randomBytes(20).toString('hex')}`;
    await anvilRpc(a.url, 'anvil_setCode', [to, RISER_RUNTIME_CODE]);
    const miner = await newMiner(tp, 1001, '20', { address: to });
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    await mine(a.url, 3);
    const snap = await anvilRpc(a.url, 'evm_snapshot');

    await setAutomine(a.url, false);
    const first = await approveWithdrawal(tp.ps, id, 'admin');
    expect(first.reply).toBe('SENDING');
    const [{ raw: rawA }] = (await tp.ledger.db.query('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [first.txHash])) as [
      { raw: string },
    ];
    // The recipient's cost rises before the block (another transaction changed its state): out of gas.
    await anvilRpc(a.url, 'anvil_setStorageAt', [to, '0x0', slot(100_000)]);
    await mine(a.url, 13);
    const c = await checkWithdrawal(tp.ps, id, 'admin');
    expect(c.reply).toBe('SEND_ERROR');

    // The recipient is cheap again; the withdrawal is paid anew.
    await anvilRpc(a.url, 'anvil_setStorageAt', [to, '0x0', slot(0)]);
    const again = await resendWithdrawal(tp.ps, id, 'admin');
    expect(again.reply).toBe('SENDING');
    const [{ raw: rawB }] = (await tp.ledger.db.query('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [again.txHash])) as [
      { raw: string },
    ];

    // The reorg: the branch from before the reverted block wins; there both signed transactions are mined.
    await anvilRpc(a.url, 'evm_revert', [snap]);
    await anvilRpc(a.url, 'eth_sendRawTransaction', [rawA]).catch(() => undefined);
    await anvilRpc(a.url, 'eth_sendRawTransaction', [rawB]).catch(() => undefined);
    await mine(a.url, 30);
    await setAutomine(a.url, true);
    const got = await balanceOf(a.url, to);

    await checkWithdrawal(tp.ps, id, 'admin');
    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ETH', 64]]),
    });
    await mon.tick();

    // Paid twice by the reorg (both signed transactions mined on the winning branch): the undone proof is alerted and stops payouts.
    expect(got > 10n ** 18n).toBe(true);
    expect(tp.alerts.map((x) => x.kind)).toContain('payment_reorged');
    expect(tp.ps.state.enabled).toBe(false);
  });
});
