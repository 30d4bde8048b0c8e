// Outside tester. Zcash SendCoin batches (one transaction paying several withdrawals), partially rolled back.
// (a) At 'payment.broadcast' the attacker rolls one withdrawal of the batch back to approved.
// (b) payserv crashes at 'payment.committed' (the batch stored, not journaled, not broadcast); the
//     attacker detaches one withdrawal W2 from the stored batch (history cut to approved, withdrawal_ids
//     edited to the others). After the restart, Check of W1 journals and broadcasts the stored bytes —
//     which still pay W2 — and SendCoin pays W2 again.
import { afterEach, expect, it } from 'vitest';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import type { Payserv } from '../src/payserv/context.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { resolveCoin } from '../src/autopay/resolve.js';
import { checkWithdrawal, processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { asAttacker, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { restartedZec, restartPayserv } from './attack-helpers.js';

const standin = zcashStandinForFile();
let node: ZcashStandin;
let t: TestPayserv;
let nextUser = 9600;
const caller = 'test';
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ZEC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 61 };
const GENEROUS = {
  amountMax: parseAmount('1000'),
  userDailyMax: parseAmount('10000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};

afterEach(async () => {
  await t.ledger.db.close();
});

async function setup(): Promise<void> {
  node = await standin();
  t = await testPayserv({
    seed: SEED,
    policies: { ZEC: GENEROUS },
    drivers: async (deps) => new Map([['ZEC', await zcashDriver(node, deps, { fund: [300_000_000n, 300_000_000n, 300_000_000n] })]]),
  });
  await node.mine(1);
}

async function approved(): Promise<{ id: number; m: Miner; value: bigint }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'ZEC', address: zcashAddress() });
  const id = await request(t, m, { amount: '1' });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('APPROVED');
  return { id, m, value: toBaseUnits(sub(parseAmount('1'), m.coin.withdrawalFee), 8) };
}

type Row = Record<string, unknown>;
const cutTo = (id: number, status: string): Parameters<typeof asAttacker>[1][number][] => [
  [
    `UPDATE ${WITHDRAWALS} w SET status = s.status, status_seq = s.seq, tx_hash = s.tx_hash, tx_fee = s.tx_fee, comment = s.comment, updated_at = s.created_at
     FROM ${STATUS_SIGNATURES} s WHERE w.id = $1 AND s.withdrawal_id = w.id AND s.seq = (SELECT max(seq) FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND status = $2)`,
    [id, status],
  ],
  [
    `DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > (SELECT max(seq) FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND status = $2)`,
    [id, status],
  ],
];

describePerDataPath('Zcash batches partially rolled back', () => {
  // Held (a): the advance fails-stop, SendCoin and resolve refuse W2 (payment journal), paid once.
  it('(a) one withdrawal of a broadcast batch rolled back to approved: detected, never paid twice nor credited back', async () => {
    await setup();
    const w1 = await approved();
    const w2 = await approved();
    let done = false;
    t.ps.faults = {
      async at(p, info) {
        if (done || p !== 'payment.broadcast' || !info.withdrawals.includes(w2.id)) return;
        done = true;
        await asAttacker(t.ledger.db, cutTo(w2.id, 'approved'));
      },
    };
    const r = await sendCoin(t.ps, 'ZEC', caller);
    t.ps.faults = undefined;
    const failStopped = !t.ps.state.enabled;
    console.log('(a) sendcoin:', JSON.stringify(r).slice(0, 600), 'enabled', t.ps.state.enabled);
    t.ps.state.enable('operator');
    console.log('(a) sendcoin again:', JSON.stringify(await sendCoin(t.ps, 'ZEC', caller)).slice(0, 400));
    t.ps.state.enable('operator');
    console.log('(a) resolve:', JSON.stringify((await resolveCoin(t.ps, 'ZEC', 'operator')).resolutions).slice(0, 400));
    await node.mine(10);
    const reversals = await t.ledger.db.query(`SELECT id FROM ${WITHDRAWALS} WHERE parent_id = $1`, [w2.id]);
    console.log('(a) paid w1', node.paidTo(w1.m.address), 'w2', node.paidTo(w2.m.address), 'reversals', reversals.length);
    expect(failStopped).toBe(true);
    expect(node.paidTo(w2.m.address)).toBeLessThanOrEqual(w2.value);
    expect(node.paidTo(w2.m.address) > 0n && reversals.length > 0).toBe(false);
  });

  // Was a break (now held) (b): after the restart the only check line is the expected post-crash one ("never broadcast by
  // this host (Check journals and sends it)"); Check of W1 journals and broadcasts the stored batch, which
  // still pays W2; SendCoin then pays W2 (back to approved) in a new transaction. W2's address receives
  // 2 × 0.9999 ZEC (199,980,000 zat for 99,990,000 owed), both withdrawals `sent`, payserv enabled, no
  // alert. The attacker needs no broadcast of their own: payserv pays twice by itself.
  it('(b) crash at payment.committed, W2 detached from the stored batch: W2 paid once at most', async () => {
    await setup();
    const w1 = await approved();
    const w2 = await approved();
    let captured: Row | undefined;
    t.ps.faults = {
      async at(p) {
        if (p === 'payment.committed' && !captured) {
          captured = (await t.ledger.db.query<Row>('SELECT * FROM payserv_chain_txs'))[0];
          throw new Error('simulated crash after the write-ahead commit');
        }
      },
    };
    await sendCoin(t.ps, 'ZEC', caller).catch((e: unknown) => e);
    expect(captured).toBeDefined();
    console.log('(b) stored batch pays', captured!.withdrawal_ids);
    await asAttacker(t.ledger.db, [
      ...cutTo(w2.id, 'approved'),
      ['UPDATE payserv_chain_txs SET withdrawal_ids = $1 WHERE hash = $2', [[w1.id], captured!.hash]],
    ]);
    let ps: Payserv;
    try {
      ps = await restartPayserv(t, async (deps) => new Map([['ZEC', await restartedZec(node.url, deps)]]));
    } catch (e) {
      console.log('(b) restart refused:', String(e));
      return;
    }
    // The line every crash at payment.committed leaves, which tells the operator to run Check, is expected.
    const problems = (await t.ledger.check('balanceerrors')).filter(
      (x) => !/never recorded: it was never broadcast by this host \(Check journals and sends it\)/.test(x),
    );
    if (problems.length > 0) {
      console.log('(b) checks found:', problems);
      return;
    }
    ps.state.enable('operator');
    const c1 = await checkWithdrawal(ps, w1.id, caller);
    console.log('(b) check w1:', c1.reply, c1.message, 'enabled', ps.state.enabled);
    if (ps.state.enabled) console.log('(b) sendcoin:', JSON.stringify(await sendCoin(ps, 'ZEC', caller)).slice(0, 500));
    await node.mine(10);
    if (ps.state.enabled) {
      console.log(
        '(b) check w1:',
        (await checkWithdrawal(ps, w1.id, caller)).reply,
        'w2:',
        (await checkWithdrawal(ps, w2.id, caller)).reply,
      );
    }
    console.log(
      '(b) paid w1',
      node.paidTo(w1.m.address),
      'w2',
      node.paidTo(w2.m.address),
      'value',
      w2.value,
      'enabled',
      ps.state.enabled,
      'alerts',
      t.alerts.map((a) => a.reason),
    );
    expect(node.paidTo(w2.m.address)).toBeLessThanOrEqual(w2.value);
  });
});
