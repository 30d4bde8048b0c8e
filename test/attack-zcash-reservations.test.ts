// Outside tester. Zcash: the attacker reserves the hot wallet's spare unspent output in the name of a
// real payserv transaction (a stored, journaled, already mined one, that does not spend it). The README:
// "a reservation of an unspent output that neither the journal nor a stored transaction of payserv's
// explains is a fail-stop". Does naming a real transaction that does not spend the output "explain" it?
// If so, the output is silently withheld (payments wait in send_retry as if the wallet were short).
import { afterEach, expect, it } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import type { ZcashDriver } from '../src/chains/zcash/driver.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let driver: ZcashDriver;
let nextUser = 9850;
afterEach(async () => {
  await t.ledger.db.close();
});

async function pending(amount: string) {
  const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 8) };
}

// Held: both fail-stop ("neither the payment journal nor a stored transaction of payserv's spends").
describePerDataPath('a spare output reserved in the name of a real transaction', () => {
  for (const which of ['in flight', 'mined'] as const) {
    it(`(${which} transaction named): fail-stop, or the output still spendable`, async () => {
      node = await standin();
      t = await testPayserv({
        seed: { users: 2, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 83 },
        drivers: async (deps) => {
          driver = await zcashDriver(node, deps, { fund: [300_000_000n, 300_000_000n] });
          return new Map([['ZEC', driver]]);
        },
      });
      await node.mine(1);
      const a = await pending('1');
      const ra = await approveWithdrawal(t.ps, a.id, 'test');
      expect(ra.reply).toBe('SENDING');
      if (which === 'mined') {
        await node.mine(10);
        expect((await checkWithdrawal(t.ps, a.id, 'test')).reply).toBe('SENT');
      }
      // The spare output: unspent, not reserved.
      const reserved = new Set(
        (await t.ledger.db.query<{ txid: string; vout: number }>('SELECT txid, vout FROM payserv_utxo_reservations')).map(
          (x) => `${x.txid}:${x.vout}`,
        ),
      );
      const spare = node
        .outputsTo(driver.address)
        .filter((o) => o.spentBy === null && !reserved.has(`${o.txid}:${o.vout}`) && o.value === 300_000_000n)[0]!;
      expect(spare).toBeDefined();
      const coin = (await t.ledger.db.query<{ id: number }>("SELECT id FROM coins_coin WHERE tag = 'ZEC'"))[0]!.id;
      await asAttacker(t.ledger.db, [
        [
          'INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by) VALUES ($1, $2, $3, $4, $5)',
          [coin, spare.txid, spare.vout, String(spare.value), (ra.txHash as string).replace(/^0x/, '')],
        ],
      ]);
      // A payment the spare output is needed for (the change of the first is in flight or small).
      const b = await pending('2.5');
      const rb = await approveWithdrawal(t.ps, b.id, 'test');
      console.log(
        which,
        'second payment:',
        rb.reply,
        rb.message,
        'enabled',
        t.ps.state.enabled,
        'alerts',
        t.alerts.map((x) => x.reason),
      );
      expect(rb.reply === 'SEND_RETRY' && t.ps.state.enabled && t.alerts.length === 0).toBe(false);
    });
  }
});
