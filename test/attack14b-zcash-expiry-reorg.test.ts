// Attack (issue 14, second round): a Zcash expiry whose proof a reorg deeper than the confirmations (and
// shallower than finality_depth) takes away. The README says "A Zcash expiry is not watched: it rests on
// the chain being past the expiry height with an input unspent". That holds only on the chain the verdict
// read. Two branches share history up to the payment: on the branch our node follows, the payment A never
// makes it into a block (the node evicted it from its mempool); on the competing branch A is mined well
// before its expiry height. Our branch runs past the expiry by more than the confirmations: Check records
// send_error (a real proof on that branch), releases the input. The hot wallet was topped up meanwhile,
// so Resend's payment B spends the new, larger output (not A's input: the two do not conflict). Then the
// competing branch wins (it is longer), and B is mined there too. Both A and B pay the recipient.
// The finality watch sees B "moved by a reorg" (settling): no alert, payouts stay on. The send_error's
// proof was undone and nothing says so. (The same deep-reorg double payment was mended for Ethereum by
// watching the failure proof to finality; the Zcash expiry is left out of the watch.)
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { startZcashStandin, type ZcashStandin } from '../src/devnet/zcash-standin.js';
import { Monitor } from '../src/payserv/monitor.js';
import { startMitm, type Mitm } from './attack14-helpers.js';

const node = zcashStandinForFile();
let other: ZcashStandin | null = null;
let mitm: Mitm | null = null;
afterEach(async () => {
  await mitm?.stop();
  mitm = null;
});
afterAll(async () => {
  await other?.stop();
});

async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const j = (await r.json()) as { result: unknown; error: unknown };
  if (j.error) throw new Error(JSON.stringify(j.error));
  return j.result;
}

describe('attack14b: a Zcash expiry undone by a reorg deeper than the confirmations', () => {
  it('the expired payment mined on the winning branch after Resend: alerted, payouts stopped', async () => {
    const x = await node(); // the branch our node follows first
    const y = (other = await startZcashStandin({ network: 'mainnet' })); // the competing branch: same genesis, same history so far
    expect(y.genesisHash()).toBe(x.genesisHash());
    mitm = await startMitm(x.endpoint);
    const m = mitm;
    const tp = await testPayserv({
      drivers: async (deps) => {
        const d = await zcashDriver(x, deps, { settings: { url: m.url }, fund: [2_000_000_000n] });
        await y.fund(d.address, 2_000_000_000n);
        return new Map([['ZEC', d]]);
      },
    });
    const hot = (tp.ps.drivers.get('ZEC') as { address: string }).address;
    const to = zcashAddress();
    const miner = await newMiner(tp, 503, '20', { tag: 'ZEC', address: to });
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    const paid = await approveWithdrawal(tp.ps, id, 'admin');
    expect(paid.reply).toBe('SENDING');
    const txA = paid.txHash as string;
    const [{ raw: rawA }] = (await tp.ledger.db.query('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [txA])) as [{ raw: string }];
    // The pool tops the hot wallet up (the same funding block on both branches: they still agree).
    await x.fund(hot, 50_000_000_000n);
    await y.fund(hot, 50_000_000_000n);
    expect(y.height()).toBe(x.height());

    // The branches part: the competing one mines A; ours evicted A from its mempool.
    await rpc(y.endpoint, 'sendrawtransaction', [rawA]);
    await y.mine(1);
    expect(y.paidTo(to)).toBeGreaterThan(0n);
    expect(x.dropFromMempool(txA)).toBe(true);
    await x.mine(55); // past A's expiry (+40) by more than the confirmations (10)

    const c = await checkWithdrawal(tp.ps, id, 'admin');
    expect(c.reply).toBe('SEND_ERROR'); // a real proof on the branch the node follows
    const again = await resendWithdrawal(tp.ps, id, 'admin');
    expect(again.reply).toBe('SENDING');
    const txB = again.txHash as string;
    const [{ raw: rawB }] = (await tp.ledger.db.query('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [txB])) as [{ raw: string }];
    await x.mine(12);
    expect((await checkWithdrawal(tp.ps, id, 'admin')).reply).toBe('SENT');

    // The competing branch wins, longer than ours. B cannot be mined on it as well: Resend spent one of A's
    // inputs again, so the branch where A is mined refuses B.
    await y.mine(30);
    await expect(rpc(y.endpoint, 'sendrawtransaction', [rawB])).rejects.toThrow(/Missing inputs/);
    await y.mine(40);
    expect(y.height()).toBeGreaterThan(x.height());
    m.target(y.endpoint); // the node reorganised to the heavier branch (same genesis, head ahead)
    const paidOnWinner = y.paidTo(to);

    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ZEC', 100]]),
    });
    await mon.tick();

    // Paid once on the winning branch (by A, the send_error "proof" undone); B, recorded sent, is gone: alerted, payouts stopped.
    expect(paidOnWinner).toBeLessThan(100_000_000n + 50_000_000n);
    expect({ alerts: tp.alerts.map((a) => a.kind).filter((k) => k === 'payment_reorged'), enabled: tp.ps.state.enabled }).toEqual({
      alerts: ['payment_reorged'],
      enabled: false,
    });
  });
});
