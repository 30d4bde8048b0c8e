// A withdrawal whose amount or fee is finer than its coin's decimals (written before the writer refused it,
// or by an attacker holding the autopay key) is no payment any chain can make: payserv declines it with
// `bad_amount` at Process, Approve and SendCoin, and pays the valid ones beside it (never `internal`).
import { expect, it } from 'vitest';
import { mine } from '../src/devnet/anvil.js';
import type { WithdrawalStatus } from '../src/ledger/records.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { changeStatus } from '../src/writer/withdrawals.js';
import { describePerDataPath } from './support/backend.js';
import { balanceOf } from './support/chains.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { ethBench } from './support/payserv.js';

const bench = ethBench(7);
const caller = 'test';
const FINE = '1.0000000000000000001'; // 19 decimals of an 18-decimal coin

/**
 * A request of `amount` signed by autopay as the writer signed it before it refused finer amounts: the
 * coin's decimals are widened for the write and put back, so the coin's own signature verifies again.
 */
async function oldRequest(m: Miner, amount: string, to: WithdrawalStatus[] = []): Promise<number> {
  const { t } = bench;
  const db = t.ledger.db;
  await db.query('UPDATE coins_coin SET decimals = 20 WHERE id = $1', [m.coin.id]);
  const id = await request(t, m, { amount }).finally(() =>
    db.query('UPDATE coins_coin SET decimals = $2 WHERE id = $1', [m.coin.id, m.coin.decimals]),
  );
  let from: WithdrawalStatus = 'processing';
  for (const status of to) {
    await db.transaction((tx) => changeStatus(tx, t.ledger.signers.payserv, id, from, { status }));
    from = status;
  }
  return id;
}

async function statusOf(id: number): Promise<string | undefined> {
  const [r] = await bench.t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status;
}

describePerDataPath('amounts finer than the coin on the payment path', () => {
  it('Process and Approve decline it with bad_amount, the amount given back; nothing sent', async () => {
    const { t } = bench;
    const m = await newMiner(t, 3001);
    const processing = await oldRequest(m, FINE);
    expect(await t.ledger.check('balanceerrors')).toEqual([
      `finances_withdrawal_transaction id=${processing}: withdrawal ${processing} (processing): amount 1.0000000000000000001 has more than ETH's 18 decimal places [precision]`,
    ]);
    const processed = await processWithdrawal(t.ps, processing, caller);
    expect(processed).toMatchObject({ reply: 'DECLINED', code: 'bad_amount' });
    expect(processed.message).toMatch(/1\.0000000000000000001 has more than ETH's 18 decimal places/);
    const pending = await oldRequest(m, FINE, ['pending']);
    expect(await approveWithdrawal(t.ps, pending, caller)).toMatchObject({ reply: 'DECLINED', code: 'bad_amount' });
    expect([await statusOf(processing), await statusOf(pending)]).toEqual(['processed', 'processed']);
    expect(t.ps.state.enabled).toBe(true);
    // Declined, it is final: nothing left to act on (its signed rows stay).
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
    expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toEqual([]);
  });

  it('SendCoin declines it with bad_amount and pays the valid withdrawal beside it', async () => {
    const { t, url } = bench;
    const bad = await oldRequest(await newMiner(t, 3002), FINE, ['pending', 'approved']);
    const m = await newMiner(t, 3003);
    const good = await request(t, m, { amount: '1.5' });
    await t.ledger.db.transaction((tx) => changeStatus(tx, t.ledger.signers.payserv, good, 'processing', { status: 'approved' }));
    const r = await sendCoin(t.ps, 'ETH', caller);
    expect(r.reply).toBe('SENDING');
    const byId = new Map(r.results.map((x) => [x.id, x]));
    expect(byId.get(bad)).toMatchObject({ reply: 'DECLINED', code: 'bad_amount' });
    expect(byId.get(good)).toMatchObject({ reply: 'SENDING' });
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, good, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(toBaseUnits(sub(parseAmount('1.5'), m.coin.withdrawalFee), 18));
    expect(await statusOf(bad)).toBe('processed');
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });
});
