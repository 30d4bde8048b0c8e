// Outside tester. ETH: (a) a withdrawal in send_retry (hot wallet short), Resend pays it; the attacker
// cuts the history back to send_retry at each boundary of the Resend's payment path; then Resend and
// resolve are tried again. (b) the erased stored attempt (crash at payment.committed) never broadcast by
// the attacker: is the resulting nonce gap (every later payment stuck) noticed?
import { expect, it } from 'vitest';
import { mine, setBalance } from '../src/devnet/anvil.js';
import type { FaultPoint } from '../src/payserv/faults.js';
import type { Payserv } from '../src/payserv/context.js';
import { resolveCoin } from '../src/autopay/resolve.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker, restoreRow, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { balanceOf, minedCount } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { restartedEth, restartPayserv } from './attack-helpers.js';
import { ethBench } from './support/payserv.js';
import { restoreFromJournal } from '../src/payserv/payments/restore.js';

const bench = ethBench(37);
let nextUser = 9700;
const caller = 'test';
const PAID = 999_500_000_000_000_000n;

type Row = Record<string, unknown>;
const rowOf = async (id: number) => (await bench.t.ledger.db.query<Row>(`SELECT * FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0] as Row;

describePerDataPath('Resend of a send_retry, rolled back to send_retry at each boundary', () => {
  // ('payment.journaled' is inside the write-ahead transaction: nothing there is committed for an attacker to edit.)
  for (const point of ['payment.committed', 'payment.broadcast', 'status.committed'] as FaultPoint[]) {
    it(`rolled back at ${point}: neither Resend nor resolve pays again or credits back`, async () => {
      const { t, url, driver } = bench;
      const m = await newMiner(t, nextUser++);
      const id = await request(t, m, { amount: '1' });
      expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
      await setBalance(url, driver.address, 0n);
      const a = await approveWithdrawal(t.ps, id, caller);
      expect(a.reply).toBe('SEND_RETRY');
      await setBalance(url, driver.address, 10n ** 21n);
      const retryRow = await rowOf(id);
      let done = false;
      t.ps.faults = {
        async at(p, info) {
          if (done || p !== point || !info.withdrawals.includes(id)) return;
          done = true;
          await asAttacker(t.ledger.db, [
            [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, retryRow.status_seq]],
            restoreRow(WITHDRAWALS, retryRow, ['id']),
          ]);
        },
      };
      const r = await resendWithdrawal(t.ps, id, caller);
      t.ps.faults = undefined;
      console.log(point, 'resend:', r.reply, r.message, 'enabled', t.ps.state.enabled);
      const failStopped = !t.ps.state.enabled;
      // An operator enabling again without finding the edit.
      t.ps.state.enable('operator');
      const again = await resendWithdrawal(t.ps, id, caller);
      console.log(point, 'resend again:', again.reply, again.message);
      t.ps.state.enable('operator');
      const res = await resolveCoin(t.ps, 'ETH', 'operator');
      console.log(point, 'resolve:', JSON.stringify(res.resolutions));
      await mine(url, 12);
      const reversals = await t.ledger.db.query(`SELECT id FROM ${WITHDRAWALS} WHERE parent_id = $1`, [id]);
      const bal = await balanceOf(url, m.address);
      console.log(
        point,
        'paid',
        bal,
        'mined',
        await minedCount(url, driver.address),
        'reversals',
        reversals.length,
        'failStopped first',
        failStopped,
      );
      expect(bal).toBeLessThanOrEqual(PAID);
      expect(bal > 0n && reversals.length > 0).toBe(false);
      // The tamper must be detected (or have changed nothing).
      expect(failStopped || (await rowOf(id)).status === retryRow.status).toBe(true);
    });
  }
});

// Was a break (journal written after the commit): the erased attempt left nonce n used by nothing, every
// later payment stuck behind it, silently. Now the journal holds it: the checks name it, the next call
// on it fails-stop, and the restore puts it back, so nonce n is used and nothing waits behind a gap.
describePerDataPath('an erased stored attempt leaves a nonce gap', () => {
  it('a payment stuck behind the gap is noticed (alert or fail-stop)', async () => {
    const { t, url, driver } = bench;
    const m = await newMiner(t, nextUser++);
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    const before = await rowOf(id);
    let hash: string | undefined;
    t.ps.faults = {
      async at(p, info) {
        if (p === 'payment.committed' && info.withdrawals.includes(id) && !hash) {
          hash = info.hash ?? ((await t.ledger.db.query<Row>('SELECT hash FROM payserv_chain_txs'))[0]?.hash as string);
          throw new Error('simulated crash after the write-ahead commit');
        }
      },
    };
    await approveWithdrawal(t.ps, id, caller).catch((e: unknown) => e);
    await asAttacker(t.ledger.db, [
      [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, before.status_seq]],
      restoreRow(WITHDRAWALS, before, ['id']),
      'DELETE FROM payserv_chain_txs',
    ]);
    const ps: Payserv = await restartPayserv(t, async (deps) => new Map([['ETH', await restartedEth(url, deps)]]));
    expect((await t.ledger.check('balanceerrors')).join('\n')).toMatch(new RegExp(`${hash}.*payment journal|payment journal.*${hash}`));
    ps.state.enable('operator');
    expect((await approveWithdrawal(ps, id, caller)).reply).toBe('ERROR');
    expect(ps.state.enabled).toBe(false);
    expect((await restoreFromJournal(ps, 'operator')).map((x) => x.outcome)).toEqual(['restored']);
    ps.state.enable('operator');
    const m2 = await newMiner(t, nextUser++);
    const id2 = await request(t, m2, { amount: '1' });
    await processWithdrawal(ps, id2, caller);
    expect((await approveWithdrawal(ps, id2, caller)).reply).toBe('SENDING');
    expect((await checkWithdrawal(ps, id, caller)).reply).toBe('SENDING');
    await mine(url, 30);
    expect((await checkWithdrawal(ps, id, caller)).reply).toBe('SENT');
    expect((await checkWithdrawal(ps, id2, caller)).reply).toBe('SENT');
    expect(await minedCount(url, driver.address)).toBe(2);
  });
});
