// Attack (issue 14, second round): Zcash expiry "proved" by an input that a LAGGING address index still
// lists as unspent. The fix of the first round made an expiry a failure only when "an input of each attempt
// is still unspent on the chain", read from getaddressutxos. But that index is the node's word like any
// other: a load-balanced back end (or a zcashd whose -insightexplorer index is behind) that does not find
// the mined transaction (getrawtransaction -5) lists the outputs the transaction spent as unspent too, as
// they were before it was mined. The head is read from the up-to-date back end, so the identity check
// (head not gone back) passes. Check records send_error and releases the inputs; Resend pays again.
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

async function rpc(url: string, method: string, params: unknown[]): Promise<unknown> {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return ((await r.json()) as { result: unknown }).result;
}

describe('attack14b: Zcash expiry proved by a lagging address index', () => {
  it('a mined ZEC payment judged expired by lagging back ends is never paid twice: the new payment conflicts with it', async () => {
    const n = await node();
    mitm = await startMitm(n.endpoint);
    const m = mitm;
    const tp = await testPayserv({ drivers: async (deps) => new Map([['ZEC', await zcashDriver(n, deps, { settings: { url: m.url } })]]) });
    const hot = (tp.ps.drivers.get('ZEC') as { address: string }).address;
    const to = zcashAddress();
    const miner = await newMiner(tp, 502, '20', { tag: 'ZEC', address: to });
    const id = await request(tp, miner, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'admin')).reply).toBe('PENDING');
    const paid = await approveWithdrawal(tp.ps, id, 'admin');
    expect(paid.reply).toBe('SENDING');
    const txid = paid.txHash as string;
    // What the lagging back end's address index still says: the hot wallet's outputs before the payment was mined.
    const stale = await rpc(n.endpoint, 'getaddressutxos', [{ addresses: [hot] }]);
    expect(Array.isArray(stale) && stale.length > 0).toBe(true);
    await n.mine(1); // mined: it spent its input
    const once = n.paidTo(to);
    expect(once).toBeGreaterThan(0n);
    await n.mine(60); // past its expiry (tip + 40) by more than the confirmations

    // The lagging back end answers the transaction lookup and the address index; the head comes from an up-to-date one.
    m.rule((method, params) => {
      if (method === 'getrawtransaction' && params[0] === txid) return NOT_FOUND;
      if (method === 'getaddressutxos') return { result: stale };
      return null;
    });
    const c = await checkWithdrawal(tp.ps, id, 'admin');
    // Resend asks about the earlier attempt again (the lagging back end answers that), then builds the new
    // payment from an up-to-date back end.
    let lagging = 2;
    m.rule((method, params) => {
      if (lagging <= 0) return null;
      if (method === 'getrawtransaction' && params[0] === txid) return NOT_FOUND;
      if (method === 'getaddressutxos') {
        lagging--;
        return lagging === 1 ? { result: stale } : null;
      }
      return null;
    });
    const r = await resendWithdrawal(tp.ps, id, 'admin');
    m.rule(null);
    await n.mine(1);

    // The lagging back ends agree on an expiry (a false proof the node's word cannot tell from a true one), but
    // the new payment spends one of the earlier one's inputs again: the node refuses it, and the recipient is paid once.
    expect(c.reply).toBe('SEND_ERROR');
    const [row] = await tp.ledger.db.query<{ raw: string }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [r.txHash]);
    const [first] = await tp.ledger.db.query<{ raw: string }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [txid]);
    const inputsOf = (raw: string) =>
      tp.ps.drivers
        .get('ZEC')!
        .decode(raw)
        .inputs.map((i) => `${i.txid}:${i.vout}`);
    expect(inputsOf(row!.raw).some((i) => inputsOf(first!.raw).includes(i))).toBe(true);
    expect(n.paidTo(to)).toBe(once);
  });
});
