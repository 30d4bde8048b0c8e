// A node that lies about the hot wallet's UTXO values (issue 18, outsider finding, now a regression).
//
// The fee is the inputs' values less the outputs. A P2PKH input's signature (legacy sighash, no FORKID) does not
// commit to the value it spends: a node that under-reports a UTXO's value in scantxoutset (and testmempoolaccept's
// fee with it) would get a valid transaction burning the difference as fee (or, run by a miner, taking it). A P2WPKH
// input's BIP143 signature commits to the value: the real chain refuses such a transaction. So the driver takes every
// input's value from its funding transaction's bytes (getrawtransaction, hash-checked against the outpoint's txid),
// never from scantxoutset's JSON (driver.ts #valuesLie): a contradiction signs nothing, the payment waits.
//
// The promises asserted: whatever the node says, nothing is signed on its lie, nothing burnt, the withdrawal waits
// (send_retry, nothing lost); once the node tells the truth, it is paid once, at a fee within fee_rate_max.
import { expect, it } from 'vitest';
import type { BtcSettings } from '../src/chains/btc/driver.js';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, confirmations, ltcBench, paidTo, processed, statusOf, type LtcBench } from './support/btc-attack.js';
import { amountOf, sat, type LyingNode } from './support/btc-lying-node.js';

/** The ceiling the driver is configured with (LTC_SETTINGS): base units per vbyte. */
const FEE_RATE_MAX = 100n;
/** What the lying node hides of each of the hot wallet's UTXOs. */
const HIDDEN = COIN / 2n;

const bench = ltcBench(21);

/**
 * Every UTXO of the hot wallet reported HIDDEN short; testmempoolaccept's fee lowered to match (the node's view,
 * consistent with its lie); a transaction tested and broadcast on the real node with no fee limit.
 */
function underReporting(liar: LyingNode): void {
  liar.lie('scantxoutset', (r) => {
    const scan = r as { unspents: Array<{ amount: unknown }>; total_amount: unknown };
    for (const u of scan.unspents) u.amount = amountOf(sat(u.amount) - HIDDEN);
    scan.total_amount = amountOf(sat(scan.total_amount) - HIDDEN * BigInt(scan.unspents.length));
    return scan;
  });
  liar.lie('testmempoolaccept', (r) => {
    const [a] = r as Array<{ fees?: { base: unknown } }>;
    if (a?.fees) a.fees.base = amountOf(sat(a.fees.base) - HIDDEN);
    return r;
  });
  liar.twist('testmempoolaccept', (p) => [p[0], 0]);
  liar.twist('sendrawtransaction', (p) => [p[0], 0]);
}

const setup = (settings: Partial<BtcSettings>) => bench({ fund: [COIN], settings, liar: underReporting });

/** The real fee of a transaction on the real node: its inputs' values less its outputs, with its vsize. */
async function realFee(b: LtcBench, txid: string): Promise<{ fee: bigint; vsize: number }> {
  const tx = (await b.node.rpc('getrawtransaction', [txid, true])) as {
    vsize: number;
    vin: Array<{ txid: string; vout: number }>;
    vout: Array<{ value: unknown }>;
  };
  let fee = -tx.vout.reduce((a, o) => a + sat(o.value), 0n);
  for (const i of tx.vin) {
    const prev = (await b.node.rpc('getrawtransaction', [i.txid, true])) as { vout: Array<{ n: number; value: unknown }> };
    fee += sat(prev.vout.find((o) => o.n === i.vout)?.value);
  }
  return { fee, vsize: tx.vsize };
}

/** The hot wallet's value on the real chain. */
async function realBalance(b: LtcBench): Promise<bigint> {
  return (await b.client.scanTxOutSet([`addr(${b.driver.address})`])).unspents.reduce((a, u) => a + u.amount, 0n);
}

/** The liar stops lying: the withdrawal is paid once (Resend), its fee on the real chain within fee_rate_max per vbyte. */
async function paidOnceTruly(b: LtcBench, w: Awaited<ReturnType<typeof processed>>, before: bigint): Promise<void> {
  const liar = b.liar as LyingNode;
  for (const m of ['scantxoutset', 'testmempoolaccept']) liar.lie(m, null);
  for (const m of ['testmempoolaccept', 'sendrawtransaction']) liar.twist(m, null);
  const r = await resendWithdrawal(b.t.ps, w.id, caller);
  expect(r.reply, r.message).toBe('SENDING');
  await b.node.mine(confirmations);
  expect((await checkWithdrawal(b.t.ps, w.id, caller)).reply).toBe('SENT');
  const { fee, vsize } = await realFee(b, r.txHash as string);
  expect(fee).toBeLessThanOrEqual(FEE_RATE_MAX * BigInt(vsize));
  expect(await paidTo(b, w.address)).toEqual([w.value]);
  expect(before - (await realBalance(b))).toBe(w.value + fee);
}

describePerDataPath('a node under-reporting the hot wallet UTXOs values', () => {
  for (const wallet of ['p2pkh', 'p2wpkh'] as const)
    it(`${wallet} hot wallet: nothing signed on the node's values, nothing burnt; paid once the node tells the truth`, async () => {
      const b = await setup({ wallet });
      const before = await realBalance(b);
      expect(before).toBe(COIN);
      const w = await processed(b, 9100, '0.2');
      const r = await approveWithdrawal(b.t.ps, w.id, caller);
      // The lie is detected before anything is signed: the payment waits, named.
      expect(r.txHash).toBeUndefined();
      expect(await statusOf(b, w.id)).toBe('send_retry');
      expect(r.message).toContain(`the node's UTXO set gives it ${COIN - HIDDEN}, its funding transaction's bytes ${COIN}`);
      const [signed] = await b.t.ledger.db.query<{ n: string }>('SELECT count(*)::text AS n FROM payserv_chain_txs');
      expect(signed?.n).toBe('0');
      await b.node.mine(confirmations);
      expect(await b.node.rpc('getrawmempool')).toEqual([]);
      expect(await realBalance(b)).toBe(before);
      await paidOnceTruly(b, w, before);
    });
});
