// Outside tester. As attack-crash-committed, but the crash comes after the journal record ('payment.journaled')
// or after the broadcast ('payment.broadcast'): the host's journal knows the attempt, so its erasure
// must be caught (at the restart, by the checks, or by the next payout call).
// Held: see the test results (the checks name the attempt the journal holds, or the next Approve fails-stop).
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import type { Payserv } from '../src/payserv/context.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, restoreRow, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethClient, ethDriver, minedCount } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { restartedEth, restartPayserv } from './attack-helpers.js';
import type { Hex } from 'viem';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let nextUser = 9150;
const caller = 'test';
const PAID = 999_500_000_000_000_000n;
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 23 };

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
});
afterEach(async () => {
  await t.ledger.db.close();
});

type Row = Record<string, unknown>;
const rowOf = async (id: number) => (await t.ledger.db.query<Row>(`SELECT * FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0] as Row;

// ('payment.journaled' is inside the write-ahead transaction: nothing there is committed for an attacker to read; pay-journal.test covers a crash there.)
for (const point of ['payment.broadcast'] as const) {
  const nonces = 'kept' as 'kept' | 'rolled back';
  describePerDataPath(`crash at ${point}, attacker erases the attempt (nonce row kept) and later broadcasts the stored bytes`, () => {
    it('pays the withdrawal once at most', async () => {
      const m = await newMiner(t, nextUser++);
      const id = await request(t, m, { amount: '1' });
      expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
      const before = await rowOf(id);
      const noncesBefore = await t.ledger.db.query<Row>('SELECT * FROM payserv_nonces');
      let captured: Row | undefined;
      t.ps.faults = {
        async at(p, info) {
          if (p === point && info.withdrawals.includes(id) && !captured) {
            captured = (await t.ledger.db.query<Row>('SELECT * FROM payserv_chain_txs WHERE $1 = ANY(withdrawal_ids)', [id]))[0];
            throw new Error('simulated crash: payserv killed after the write-ahead commit');
          }
        },
      };
      await approveWithdrawal(t.ps, id, caller).catch((e: unknown) => e);
      expect(captured).toBeDefined();

      // The attacker erases the attempt: history cut to the pending entry, stored row deleted.
      const edits: Parameters<typeof asAttacker>[1][number][] = [
        [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, before.status_seq]],
        restoreRow(WITHDRAWALS, before, ['id']),
        ['DELETE FROM payserv_chain_txs WHERE hash = $1', [captured!.hash]],
      ];
      if (nonces === 'rolled back') {
        edits.push('DELETE FROM payserv_nonces');
        for (const n of noncesBefore)
          edits.push([
            'INSERT INTO payserv_nonces (chain, address, next_nonce, updated_at) VALUES ($1, $2, $3, $4)',
            [n.chain, n.address, n.next_nonce, n.updated_at],
          ]);
      }
      await asAttacker(t.ledger.db, edits);

      // payserv restarted (a new process on the same state dir), operator checks and enables.
      let ps: Payserv;
      try {
        ps = await restartPayserv(t, async (deps) => new Map([['ETH', await restartedEth(url, deps)]]));
      } catch (e) {
        // Refusing to start on the tampered database is a safe (detected) outcome.
        expect(String(e)).toMatch(/rolled back|raised/);
        return;
      }
      const problems = await t.ledger.check('balanceerrors');
      // An operator finding problems would not enable: that counts as detection.
      if (problems.length > 0) {
        console.log('checks found:', problems);
        return;
      }
      ps.state.enable('operator');
      const second = await approveWithdrawal(ps, id, caller);
      console.log('second approve:', second, 'enabled', ps.state.enabled);

      // The attacker broadcasts the first, captured transaction.
      await ethClient(url)
        .request({ method: 'eth_sendRawTransaction', params: [captured!.raw as Hex] })
        .catch((e: unknown) => console.log('attacker broadcast:', String(e)));
      await mine(url, 12);
      if (ps.state.enabled) {
        const c = await checkWithdrawal(ps, id, caller);
        console.log('check:', c);
        if (c.reply === 'SEND_ERROR' && ps.state.enabled) {
          const r = await resendWithdrawal(ps, id, caller);
          console.log('resend:', r);
          await mine(url, 12);
          if (ps.state.enabled) console.log('check2:', await checkWithdrawal(ps, id, caller));
        }
      }
      await mine(url, 12);
      console.log(
        'final: balance',
        await balanceOf(url, m.address),
        'mined',
        await minedCount(url, driver.address),
        'enabled',
        ps.state.enabled,
        'status',
        (await rowOf(id)).status,
      );
      expect(await balanceOf(url, m.address)).toBeLessThanOrEqual(PAID);
      expect(await minedCount(url, driver.address)).toBeLessThanOrEqual(1);
    });
  });
}
