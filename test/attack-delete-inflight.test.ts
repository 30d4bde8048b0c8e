// Outside tester. Checkpoints cover only the prefix of *final* withdrawals: a withdrawal still in flight
// (sending) is the account's uncovered tail. The attacker deletes it entirely (row, signed history,
// stored transaction) once its payment has left: the account verifies with the debit gone, and autopay
// pays the restored balance again. Also: the tail withdrawal deleted while `approved` (before any send).
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { amt, coinByTag, ethAddress, newBlockHash, wallet, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { creditBlock } from '../src/writer/blocks.js';

const anvil = anvilForFile();
let t: TestPayserv;
let url: string;
let eth: Signed<Coin>;
const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };
const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 67 },
    policies: { ETH: GENEROUS },
    drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]),
  });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
  eth = await coinByTag(t, 'ETH');
});
afterEach(async () => {
  await t.ledger.db.close();
});

// Held: the checkpoint names the account's last withdrawal; autopay fails-stop ("withdrawal 1, the last one at
// the checkpoint, is gone"), nothing paid twice.
describePerDataPath('the uncovered in-flight tail withdrawal deleted', () => {
  for (const when of ['sending (broadcast, mined)', 'sending, checked once'] as const) {
    it(`${when}: autopay never pays the deleted debit again`, async () => {
      const userId = 9401;
      const w = await wallet(t, userId, eth, { address: ethAddress() });
      await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
        blockHash: newBlockHash(),
        shares: [{ userId, amount: amt('2') }],
        poolFee: amt('0.01'),
      });
      const m = { userId, coin: eth, walletId: w.id, address: w.address };
      const id = await request(t, m, { amount: '2' });
      expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('APPROVED');
      expect((await approveWithdrawal(t.ps, id, 'test')).reply).toBe('SENDING');
      await mine(url, 2);
      if (when.includes('checked')) console.log('check:', (await checkWithdrawal(t.ps, id, 'test')).reply);
      await asAttacker(t.ledger.db, [
        [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`, [id]],
        [`DELETE FROM ${WITHDRAWALS} WHERE id = $1`, [id]],
        ['DELETE FROM payserv_chain_txs WHERE $1 = ANY(withdrawal_ids)', [id]],
      ]);
      const r = await runAutopay(t.ps, 'ETH', SETTINGS, 'run');
      await mine(url, 12);
      const paid = await balanceOf(url, w.address);
      console.log(
        when,
        'run:',
        r.outcome,
        r.reason,
        JSON.stringify(r.paid),
        'paid on chain',
        paid,
        'enabled',
        t.ps.state.enabled,
        'alerts',
        t.alerts
          .map((a) => a.reason)
          .join(' | ')
          .slice(0, 400),
      );
      expect(paid).toBeLessThanOrEqual(1_999_500_000_000_000_000n);
    });
  }
});
