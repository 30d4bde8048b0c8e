// Outside tester. Zcash version of the stored-but-never-journaled attack: payserv crashes at
// 'payment.committed' (signed bytes stored, inputs reserved, nothing journaled or broadcast). The
// attacker captures the stored bytes, erases the attempt (history, payserv_chain_txs row, reservations)
// and broadcasts the captured transaction themselves; payserv, restarted, pays the withdrawal again.
import { afterEach, expect, it } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import type { ZcashDriver } from '../src/chains/zcash/driver.js';
import type { Payserv } from '../src/payserv/context.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, restoreRow, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { restartedZec, restartPayserv } from './attack-helpers.js';

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let driver: ZcashDriver;
let nextUser = 9300;
const caller = 'test';
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 29 };

afterEach(async () => {
  await t.ledger.db.close();
});

type Row = Record<string, unknown>;
const rowOf = async (id: number) => (await t.ledger.db.query<Row>(`SELECT * FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0] as Row;

async function broadcast(raw: string): Promise<unknown> {
  const u = new URL(node.url);
  const auth: Record<string, string> = u.username
    ? { authorization: `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` }
    : {};
  u.username = '';
  u.password = '';
  const r = await fetch(u, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth },
    body: JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'sendrawtransaction', params: [raw.replace(/^0x/, '')] }),
  });
  return r.json();
}

// Held (two inputs, broadcast after): payserv's new attempt spends the same input, the attacker's copy
// is refused as a conflict; paid once.
// Was a break (now held) (one input, broadcast before): the attacker's copy of the first transaction is mined; payserv's
// second attempt is refused (txn-mempool-conflict) and stays sending; Check later calls it expired →
// SEND_ERROR "nothing was paid"; Resend pays a third transaction. The recipient receives 2 × 0.9999 ZEC
// (199,980,000 zat for a 99,990,000 zat withdrawal), payserv enabled, withdrawal `sent`, no alert.
for (const variant of ['two inputs, broadcast after', 'one input, broadcast before'] as const) {
  describePerDataPath(`Zcash: crash at payment.committed, attempt erased, captured bytes broadcast (${variant})`, () => {
    it('pays the withdrawal once at most', async () => {
      node = await standin();
      const fund = variant.startsWith('two') ? [300_000_000n, 300_000_000n] : [300_000_000n];
      t = await testPayserv({
        seed: SEED,
        drivers: async (deps) => {
          driver = await zcashDriver(node, deps, { fund });
          return new Map([['ZEC', driver]]);
        },
      });
      await node.mine(1);
      const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
      const id = await request(t, m, { amount: '1' });
      const value = toBaseUnits(sub(parseAmount('1'), m.coin.withdrawalFee), 8);
      expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
      const before = await rowOf(id);
      let captured: Row | undefined;
      t.ps.faults = {
        async at(p, info) {
          if (p === 'payment.committed' && info.withdrawals.includes(id) && !captured) {
            captured = (await t.ledger.db.query<Row>('SELECT * FROM payserv_chain_txs WHERE $1 = ANY(withdrawal_ids)', [id]))[0];
            throw new Error('simulated crash after the write-ahead commit');
          }
        },
      };
      await approveWithdrawal(t.ps, id, caller).catch((e: unknown) => e);
      expect(captured).toBeDefined();
      expect(node.mempool()).toEqual([]);
      await asAttacker(t.ledger.db, [
        [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, before.status_seq]],
        restoreRow(WITHDRAWALS, before, ['id']),
        ['DELETE FROM payserv_chain_txs WHERE hash = $1', [captured!.hash]],
        ['DELETE FROM payserv_utxo_reservations WHERE spent_by = $1', [captured!.hash]],
      ]);
      // Time passes while payserv is restarted: a block is mined (so a new build has another expiry height).
      await node.mine(1);
      if (variant.endsWith('before')) console.log('attacker broadcast (before):', await broadcast(captured!.raw as string));

      let ps: Payserv;
      try {
        ps = await restartPayserv(t, async (deps) => new Map([['ZEC', await restartedZec(node.url, deps)]]));
      } catch (e) {
        console.log('restart refused:', String(e));
        return;
      }
      const problems = await t.ledger.check('balanceerrors');
      if (problems.length > 0) {
        console.log('checks found:', problems);
        return;
      }
      ps.state.enable('operator');
      console.log('second approve:', await approveWithdrawal(ps, id, caller));
      if (variant.endsWith('after')) console.log('attacker broadcast (after):', await broadcast(captured!.raw as string));
      await node.mine(10);
      for (let i = 0; i < 3 && ps.state.enabled; i++) {
        const c = await checkWithdrawal(ps, id, caller);
        console.log('check:', c.reply, c.message);
        if (c.reply === 'SEND_ERROR') {
          console.log('resend:', await resendWithdrawal(ps, id, caller));
          await node.mine(10);
        } else if (c.reply !== 'SENDING') break;
        else await node.mine(50);
      }
      console.log(
        'final paid',
        node.paidTo(m.address),
        'value',
        value,
        'enabled',
        ps.state.enabled,
        'status',
        (await rowOf(id)).status,
        'alerts',
        t.alerts.map((a) => a.reason),
      );
      expect(node.paidTo(m.address)).toBeLessThanOrEqual(value);
    });
  });
}
