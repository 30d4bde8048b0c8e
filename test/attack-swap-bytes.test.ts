// Outside tester. Two ETH payments in flight; the attacker swaps their stored rows' bytes (raw) and, in a
// second variant, swaps which withdrawals each stored row says it pays. Check and a rebroadcast must
// never send W1's bytes for W2 or pay anyone twice.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver, minedCount } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let nextUser = 9870;
const PAID = 999_500_000_000_000_000n;
beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, false);
  t = await testPayserv({
    seed: { users: 2, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 89 },
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
});
afterEach(async () => {
  await setAutomine(url, true);
  await t.ledger.db.close();
});

// Held: see results (a fail-stop naming the stored bytes, each recipient paid once).
describePerDataPath('stored transactions swapped between two payments in flight', () => {
  for (const what of [
    'raw bytes',
    'withdrawal_ids',
    'whole rows (hash kept with its bytes, withdrawals swapped, payment ids swapped)',
  ] as const) {
    it(`${what}: nobody paid twice`, async () => {
      const ms = [await newMiner(t, nextUser++), await newMiner(t, nextUser++)];
      const ids: number[] = [];
      for (const m of ms) {
        const id = await request(t, m, { amount: '1' });
        expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
        expect((await approveWithdrawal(t.ps, id, 'test')).reply).toBe('SENDING');
        ids.push(id);
      }
      // Dropped from the node's mempool (nothing mined yet), so Check must rebroadcast from the stored rows.
      await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'anvil_dropAllTransactions', params: [] }),
      });
      const rows = await t.ledger.db.query<{ hash: string; raw: string; withdrawal_ids: unknown; payment: string }>(
        'SELECT hash, raw, withdrawal_ids, payment FROM payserv_chain_txs ORDER BY hash',
      );
      const [a, b] = rows as [(typeof rows)[0], (typeof rows)[0]];
      if (what === 'raw bytes') {
        await asAttacker(t.ledger.db, [
          ['UPDATE payserv_chain_txs SET raw = $1 WHERE hash = $2', [b.raw, a.hash]],
          ['UPDATE payserv_chain_txs SET raw = $1 WHERE hash = $2', [a.raw, b.hash]],
        ]);
      } else {
        await asAttacker(t.ledger.db, [
          [
            'UPDATE payserv_chain_txs SET withdrawal_ids = $1, payment = $2 WHERE hash = $3',
            [b.withdrawal_ids, what.startsWith('whole') ? b.payment : a.payment, a.hash],
          ],
          [
            'UPDATE payserv_chain_txs SET withdrawal_ids = $1, payment = $2 WHERE hash = $3',
            [a.withdrawal_ids, what.startsWith('whole') ? a.payment : b.payment, b.hash],
          ],
        ]);
      }
      const out: string[] = [];
      for (let round = 0; round < 3; round++) {
        for (const id of ids) {
          if (!t.ps.state.enabled) break;
          const c = await checkWithdrawal(t.ps, id, 'test');
          out.push(`${id}:${c.reply}:${c.message ?? ''}`);
          if (c.reply === 'SEND_ERROR') out.push(`resend ${id}: ${(await resendWithdrawal(t.ps, id, 'test')).reply}`);
        }
        await mine(url, 12);
      }
      console.log(
        what,
        out,
        'enabled',
        t.ps.state.enabled,
        'paid',
        await balanceOf(url, ms[0]!.address),
        await balanceOf(url, ms[1]!.address),
        'mined',
        await minedCount(url, driver.address),
      );
      for (const m of ms) expect(await balanceOf(url, m.address)).toBeLessThanOrEqual(PAID);
    });
  }
});
