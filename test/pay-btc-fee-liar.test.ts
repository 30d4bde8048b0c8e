// Regression (from an outsider's attack on issue 18): a node that lies about fees, to make payserv burn the hot wallet's money.
// The lying node (./support/btc-lying-node.ts) answers estimatesmartfee with what the test names, and calls
// testmempoolaccept and sendrawtransaction with no fee limit (maxfeerate 0), so that litecoind's own
// -maxtxfee guard protects nothing: only payserv's fee_rate_max (100 litoshi per vbyte here) stands.
// The promises: no transaction payserv signs pays more than fee_rate_max per vbyte (its real fee on the chain),
// a payment waiting on a lie is never lost (send_retry, paid once the node tells the truth), a malformed
// estimate signs nothing and throws nothing out of Approve, and an RBF bump on a lying estimate stays under the ceiling.
import { expect, it } from 'vitest';
import type { BtcSettings } from '../src/chains/btc/driver.js';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { JsonDecimal } from '../src/chains/btc/json.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, confirmations, ltcBench, paidTo, processed, statusOf, type LtcBench } from './support/btc-attack.js';
import { amountOf, type LyingNode } from './support/btc-lying-node.js';
import { txFee } from './support/litecoind.js';

const FEE_RATE_MAX = 100n;
const bench = ltcBench(182, { mempoolReplacement: true });

/** No fee limit on the node's side: payserv's ceiling is the only one. */
function noNodeLimit(liar: LyingNode): void {
  liar.twist('testmempoolaccept', (p) => [p[0], 0]);
  liar.twist('sendrawtransaction', (p) => [p[0], 0]);
}
const estimating = (liar: LyingNode, feerate: unknown): void => liar.lie('estimatesmartfee', () => ({ feerate, blocks: 2 }));

const setup = (settings: Partial<BtcSettings> = {}) => bench({ fund: [COIN], settings, liar: noNodeLimit });

/** Every transaction payserv stored: its real fee on the chain at most fee_rate_max per vbyte. */
async function allUnderCeiling(b: LtcBench): Promise<string[]> {
  const rows = await b.t.ledger.db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs');
  for (const { hash } of rows) {
    const fee = await txFee(b.client, hash);
    if (fee === null) continue; // never broadcast (or replaced out of the mempool): nothing burnt by it
    const { vsize } = (await b.node.rpc('getrawtransaction', [hash, true])) as { vsize: number };
    expect(fee, `${hash}: fee ${fee} for ${vsize} vbytes`).toBeLessThanOrEqual(FEE_RATE_MAX * BigInt(vsize));
  }
  return rows.map((r) => r.hash);
}

async function storedCount(b: LtcBench): Promise<number> {
  const [r] = await b.t.ledger.db.query<{ n: string }>('SELECT count(*)::text AS n FROM payserv_chain_txs');
  return Number(r?.n);
}

describePerDataPath('a node lying about fee rates', () => {
  it('an estimate of 1 LTC/kvB: the payment waits, nothing signed; paid once at the truth', async () => {
    const b = await setup();
    const liar = b.liar as LyingNode;
    estimating(liar, amountOf(COIN));
    const w = await processed(b, 9201, '0.3');
    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    expect(r.txHash).toBeUndefined();
    expect(await statusOf(b, w.id)).toBe('send_retry');
    expect(r.message).toMatch(/above the configured fee_rate_max 100/);
    expect(await storedCount(b)).toBe(0);
    expect(await b.node.rpc('getrawmempool')).toEqual([]);
    liar.lie('estimatesmartfee', null);
    const again = await resendWithdrawal(b.t.ps, w.id, caller);
    expect(again.reply, again.message).toBe('SENDING');
    await b.node.mine(confirmations);
    expect((await checkWithdrawal(b.t.ps, w.id, caller)).reply).toBe('SENT');
    expect(await paidTo(b, w.address)).toEqual([w.value]);
    expect(await allUnderCeiling(b)).toHaveLength(1);
  });

  it('an estimate one litoshi/kvB above the ceiling waits; one exactly at it pays at most the ceiling', async () => {
    const b = await setup();
    const liar = b.liar as LyingNode;
    estimating(liar, amountOf(FEE_RATE_MAX * 1000n + 1n));
    const w = await processed(b, 9202, '0.3');
    expect((await approveWithdrawal(b.t.ps, w.id, caller)).txHash).toBeUndefined();
    expect(await statusOf(b, w.id)).toBe('send_retry');
    expect(await storedCount(b)).toBe(0);
    estimating(liar, amountOf(FEE_RATE_MAX * 1000n));
    const r = await resendWithdrawal(b.t.ps, w.id, caller);
    expect(r.reply, r.message).toBe('SENDING');
    await b.node.mine(confirmations);
    expect((await checkWithdrawal(b.t.ps, w.id, caller)).reply).toBe('SENT');
    expect(await paidTo(b, w.address)).toEqual([w.value]);
    expect(await allUnderCeiling(b)).toHaveLength(1);
  });

  for (const [name, feerate] of [
    ['negative', new JsonDecimal('-0.001')],
    ['exponent', new JsonDecimal('1e-3')],
    ['a string', '0.00100000'],
    ['nine decimals', new JsonDecimal('0.000010001')],
    ['huge', new JsonDecimal('99999999999999999999999999.0')],
  ] as const)
    it(`a malformed estimate (${name}): nothing signed, the payment not lost; paid once at the truth`, async () => {
      const b = await setup();
      const liar = b.liar as LyingNode;
      estimating(liar, feerate);
      const w = await processed(b, 9210, '0.3');
      const r = await approveWithdrawal(b.t.ps, w.id, caller).catch((e: unknown) => ({
        reply: 'threw',
        message: (e as Error).message,
        txHash: undefined,
      }));
      console.log(`malformed estimate (${name}): Approve ${r.reply}: ${r.message ?? ''}; status ${await statusOf(b, w.id)}`);
      expect(r.txHash).toBeUndefined();
      const status = await statusOf(b, w.id);
      expect(['send_retry', 'approved', 'pending']).toContain(status);
      expect(await storedCount(b)).toBe(0);
      expect(await b.node.rpc('getrawmempool')).toEqual([]);
      liar.lie('estimatesmartfee', null);
      const again = status !== 'send_retry' ? await approveWithdrawal(b.t.ps, w.id, caller) : await resendWithdrawal(b.t.ps, w.id, caller);
      expect(again.reply, again.message).toBe('SENDING');
      await b.node.mine(confirmations);
      expect((await checkWithdrawal(b.t.ps, w.id, caller)).reply).toBe('SENT');
      expect(await paidTo(b, w.address)).toEqual([w.value]);
    });

  // Robustness: a node's error or bad reply before signing is as inconclusive as none (src/payserv/payments/pay.ts):
  // a malformed fee estimate makes the payment wait (send_retry, the reason named), never an exception out of Approve.
  it('a malformed estimate answers SEND_RETRY with the reason, not an exception out of Approve', async () => {
    const b = await setup();
    estimating(b.liar as LyingNode, new JsonDecimal('-0.001'));
    const w = await processed(b, 9211, '0.3');
    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    expect(r.reply).toBe('SEND_RETRY');
    expect(r.message).toMatch(/estimatesmartfee/);
  });

  it('fee_bump = "rbf": a stale payment bumped on ever higher lies never pays above the ceiling, and is paid once', async () => {
    const b = await setup({ feeBump: 'rbf', replaceAfterMs: 0 });
    const liar = b.liar as LyingNode;
    const w = await processed(b, 9220, '0.3');
    const first = await approveWithdrawal(b.t.ps, w.id, caller);
    expect(first.reply, first.message).toBe('SENDING');
    // Each Check finds the payment stale and is told a higher rate: 50, 99, 100, 101, 1 LTC/kvB per vbyte.
    for (const perVbyte of [50n, 99n, 100n, 101n, 100_000n]) {
      estimating(liar, amountOf(perVbyte * 1000n));
      const r = await checkWithdrawal(b.t.ps, w.id, caller);
      expect(r.reply, r.message).toBe('SENDING');
      expect((await b.node.rpc('getrawmempool')) as string[]).toHaveLength(1);
      await allUnderCeiling(b);
    }
    liar.lie('estimatesmartfee', null);
    await b.node.mine(confirmations);
    const sent = await checkWithdrawal(b.t.ps, w.id, caller);
    expect(sent.reply, sent.message).toBe('SENT');
    expect(await paidTo(b, w.address)).toEqual([w.value]);
    const mined = sent.txHash as string;
    const fee = (await txFee(b.client, mined)) as bigint;
    const { vsize } = (await b.node.rpc('getrawtransaction', [mined, true])) as { vsize: number };
    expect(fee).toBeLessThanOrEqual(FEE_RATE_MAX * BigInt(vsize));
    expect(await b.t.ledger.check('balanceerrors')).toEqual([]);
  });
});
