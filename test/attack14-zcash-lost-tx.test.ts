// Attack (issue 14): a Zcash node that answers -5 "not found" for a MINED transaction (zcashd without
// -txindex, a lagging load-balanced back end, a zebrad rebuilding its state) once the chain is past the
// transaction's expiry. The driver's expiry "proof" is only the node's silence: it never checks that the
// attempt's inputs are still unspent (they are not: the transaction spent them), so Check records
// send_error ("nothing was paid") and Resend / resolve pay it again or credit it back.
import { afterEach, describe, expect, it } from 'vitest';
import { zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { testPayserv } from './support/payserv.js';
import { newMiner, request } from './support/miners.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { startMitm, type Mitm } from './attack14-helpers.js';

const node = zcashStandinForFile();
let mitm: Mitm | null = null;
afterEach(async () => {
  await mitm?.stop();
  mitm = null;
});

const NOT_FOUND = {
  error: { code: -5, message: 'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.' },
};

describe('attack14: Zcash expiry inferred from a node that does not find a mined transaction', () => {
  it('a mined ZEC payment is never recorded send_error, never paid twice', async () => {
    const n = await node();
    mitm = await startMitm(n.endpoint);
    const m = mitm;
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ZEC', await zcashDriver(n, deps, { settings: { url: m.url } })]]) });
    const to = zcashAddress();
    const miner = await newMiner(tp, 501, '20', { tag: 'ZEC', address: to });
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    const paid = await approveWithdrawal(tp.ps, id, 'admin');
    expect(paid.reply).toBe('SENDING');
    const txid = paid.txHash as string;
    await n.mine(1); // mined
    const once = n.paidTo(to);
    expect(once).toBeGreaterThan(0n);
    await n.mine(60); // past its expiry (tip + 40) by more than the confirmations (10)

    // The node (or the back end the balancer picks) does not find the mined transaction.
    m.rule((method, params) => (method === 'getrawtransaction' && params[0] === txid ? NOT_FOUND : null));
    const c = await checkWithdrawal(tp.ps, id, 'admin');
    // Resend asks the chain again about the earlier attempt first (the lagging back end answers that one),
    // then the next calls (the hot wallet's outputs) go to a back end that is up to date.
    let hide = 1;
    m.rule((method, params) => (method === 'getrawtransaction' && params[0] === txid && hide-- > 0 ? NOT_FOUND : null));
    // Not send_error, so Resend refuses it (it resends only a proved failure).
    expect((await resendWithdrawal(tp.ps, id, 'admin')).reply).not.toBe('SENDING');
    await n.mine(1);

    expect(c.reply).not.toBe('SEND_ERROR');
    expect(n.paidTo(to)).toBe(once);
  });
});
