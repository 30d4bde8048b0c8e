import { randomBytes } from 'node:crypto';
import { it, expect } from 'vitest';
import { parseAmount } from '../src/money/amount.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { creditBlock } from '../src/writer/blocks.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { changeStatus, requestWithdrawal } from '../src/writer/withdrawals.js';
import { testPayserv } from './support/payserv.js';

it('probe: concurrent calls on two withdrawals of one coin', async () => {
  const t = await testPayserv({ seed: { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], seed: 1 } });
  const coin = [...(await t.ledger.view()).coins.values()][0]!;
  const ids: number[] = [];
  for (const u of [9001, 9002, 9003, 9004]) {
    const w = await addWallet(t.ledger.db, { userId: u, coinId: coin.id, address: `0x${randomBytes(20).toString('hex')}` });
    await signWallet(t.ledger.db, t.ledger.signers.admin, w.id);
    await creditBlock(t.ledger.db, t.ledger.signers.admin, coin, { blockHash: `0x${randomBytes(32).toString('hex')}`, shares: [{ userId: u, amount: parseAmount('5') }], poolFee: parseAmount('0.1') });
    const r = await t.ledger.db.transaction((tx) => requestWithdrawal(tx, t.ledger.signers.autopay, { userId: u, coinId: coin.id, walletId: w.id, address: w.address, amount: parseAmount('1'), fee: coin.withdrawalFee }));
    ids.push(r.id);
  }
  await t.ledger.checkpointAll();
  const rs = await Promise.allSettled(ids.map((id) => processWithdrawal(t.ps, id, 'test')));
  console.log(JSON.stringify(rs.map((r) => r.status === 'fulfilled' ? r.value : String(r.reason)), null, 1));
  console.log(t.ps.state.status(), t.alerts);
  const rs2 = await Promise.allSettled(ids.map((id) => approveWithdrawal(t.ps, id, 'test')));
  console.log(JSON.stringify(rs2.map((r) => r.status === 'fulfilled' ? r.value : String(r.reason)), null, 1));
  console.log(await t.ledger.check('balanceerrors'));
  await t.ledger.db.close();
  expect(1).toBe(1);
}, 60000);
