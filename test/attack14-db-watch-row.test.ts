// Attack (issue 14, the database attacker against the finality watch), DEFENDED, kept as a regression: one
// inserted payserv_sent_watch row whose hash has no 0x prefix (allowed by the table's CHECK and the row
// check) sorts before every real row. The aim was an error out of watch() that ends every round at that row
// and blinds the watch of the real rows. It does not: the node answers it as an unknown hash, the forged row
// is called gone and fails-stop as tampering, and the real reorged payment is still raised payment_reorged.
import { describe, expect, it } from 'vitest';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { anvilForFile, ethDriver } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { Monitor } from '../src/payserv/monitor.js';

const anvil = anvilForFile();

describe('attack14: one forged watch row blinds the finality watch', () => {
  it('a sent payment reorged away is still alerted and stops payouts', async () => {
    const a = await anvil();
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(a.url, deps)]]) });
    const miner = await newMiner(tp, 901, '20');
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    await mine(a.url, 5);
    const snap = await anvilRpc(a.url, 'evm_snapshot');
    const r = await approveWithdrawal(tp.ps, id, 'admin');
    expect(r.reply).toBe('SENDING');
    await mine(a.url, 12);
    expect((await checkWithdrawal(tp.ps, id, 'admin')).reply).toBe('SENT');

    // The database attacker's one row (no 0x: sorts first).
    const [coin] = await tp.ledger.db.query<{ id: number }>("SELECT id FROM coins_coin WHERE tag = 'ETH'");
    await tp.ledger.db.query(
      `INSERT INTO payserv_sent_watch (hash, coin_id, withdrawal_ids, block_number, block_hash, sent_at) VALUES ($1, $2, ARRAY[$3::bigint], 1, $4, now())`,
      ['0'.repeat(64), coin?.id, id, `0x${'1'.repeat(64)}`],
    );

    // A reorg deeper than the confirmations takes the payment away.
    await anvilRpc(a.url, 'evm_revert', [snap]);
    await anvilRpc(a.url, 'anvil_dropTransaction', [r.txHash]).catch(() => undefined);
    await mine(a.url, 30);

    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 1,
      finality: new Map([['ETH', 64]]),
    });
    const r1 = await mon.tick();
    await mon.tick();
    expect(r1.finality?.gone).toBeGreaterThanOrEqual(1);

    expect(tp.alerts.map((x) => x.kind)).toContain('payment_reorged');
    expect(tp.ps.state.enabled).toBe(false);
  });
});
