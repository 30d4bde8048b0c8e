// Attack (issue 14, second round): a Zcash "confirmed" verdict read from a back end stuck on a stale branch.
// For Ethereum the first round's fix made a receipt evidence only when its block is the node's block at that
// height. The Zcash driver has no such check: the verdict reads the identity (network, genesis, head) and
// then takes getrawtransaction's confirmations and blockhash as they come. Behind a load balancer, one back
// end did not follow a reorg (same genesis, its head within the confirmations of the best one): there the
// payment A is mined 70 deep. On the best chain A was never mined and has expired. Check records A `sent`
// (with the stale branch's block), and the finality watch, asking the same way, retires it as final. The
// recipient is never paid, the withdrawal is `sent`, and nothing is alerted.
// What should happen: the block a transaction is said to be in must be the node's block at that height
// (getblockhash), read in the same verdict as the identity; otherwise nothing is decided.
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
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

async function call(url: string, body: unknown): Promise<unknown> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return r.json();
}

describe('attack14b: Zcash verdict from a back end on a stale branch', () => {
  it('a payment not on the best chain is never recorded sent, nor retired final', async () => {
    const x = await node(); // the best chain
    const y = (other = await startZcashStandin({ network: 'mainnet' })); // a back end left on the losing branch
    mitm = await startMitm(x.endpoint);
    const m = mitm;
    const tp = await testPayserv({
      drivers: async (deps) => {
        const d = await zcashDriver(x, deps, { settings: { url: m.url }, fund: [2_000_000_000n] });
        await y.fund(d.address, 2_000_000_000n);
        return new Map([['ZEC', d]]);
      },
    });
    const to = zcashAddress();
    const miner = await newMiner(tp, 504, '20', { tag: 'ZEC', address: to });
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    const paid = await approveWithdrawal(tp.ps, id, 'admin');
    expect(paid.reply).toBe('SENDING');
    const txA = paid.txHash as string;
    const [{ raw: rawA }] = (await tp.ledger.db.query('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [txA])) as [{ raw: string }];

    // The losing branch mined A; the best chain lost it and ran past its expiry.
    await call(y.endpoint, { jsonrpc: '2.0', id: 1, method: 'sendrawtransaction', params: [rawA] });
    await y.mine(71);
    expect(x.dropFromMempool(txA)).toBe(true);
    await x.mine(76);
    expect(y.height()).toBeGreaterThan(x.height() - 10); // within the confirmations of the best head
    expect(x.paidTo(to)).toBe(0n);

    // The balancer sends the transaction lookups to the stale back end; everything else to the best one.
    m.rule(() => null);
    const stale = async (method: string, params: unknown[]) =>
      ((await call(y.endpoint, { jsonrpc: '2.0', id: 1, method, params })) as { result: unknown }).result;
    const fromY = new Map<string, unknown>();
    fromY.set(txA, await stale('getrawtransaction', [txA, 1]));
    m.rule((method, params) =>
      method === 'getrawtransaction' && fromY.has(params[0] as string) ? { result: fromY.get(params[0] as string) } : null,
    );

    const c = await checkWithdrawal(tp.ps, id, 'admin');
    const mon = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ZEC', 64]]),
    });
    await mon.tick();
    const [row] = (await tp.ledger.db.query('SELECT final_at FROM payserv_sent_watch WHERE hash = $1', [txA])) as Array<{
      final_at: Date | null;
    }>;

    expect(x.paidTo(to)).toBe(0n); // never paid on the best chain
    expect({ check: c.reply, retiredFinal: !!row?.final_at }).toEqual({ check: 'SENDING', retiredFinal: false });
  });
});
