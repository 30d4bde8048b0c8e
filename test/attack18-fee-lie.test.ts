// Outsider attack (issue 18, round 2): a node that lies about the hot wallet's UTXO values makes payserv
// burn the wallet's money on fees.
//
// The driver takes each input's value from scantxoutset (and a replacement's from getrawtransaction's JSON),
// computes the fee as inputs less outputs, and holds that fee to fee_rate_max; testmempoolaccept's fee is
// compared with it, but it is the same node's word. A P2PKH input's signature (legacy sighash, no FORKID)
// does not commit to the value it spends, so a node that under-reports a UTXO's value gets a valid
// transaction whose real fee is the difference: burnt (or, for a node run by a miner, taken). A P2WPKH
// input's BIP143 signature commits to the value: the real chain refuses the transaction.
//
// The promise asserted: whatever the node says, a transaction payserv signs never pays the chain more than
// fee_rate_max per vbyte (the hot wallet loses the payment plus at most that fee).
import { expect, it } from 'vitest';
import type { BtcSettings } from '../src/chains/btc/driver.js';
import { approveWithdrawal, checkWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, confirmations, ltcBench, processed, type LtcBench } from './support/btc-attack.js';
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

describePerDataPath('attack 18: a node under-reporting the hot wallet UTXOs values', () => {
  it('P2PKH hot wallet: the transaction payserv signs pays the chain no more than fee_rate_max per vbyte', async () => {
    const b = await setup({ wallet: 'p2pkh' });
    const before = await realBalance(b);
    expect(before).toBe(COIN);
    const w = await processed(b, 9100, '0.2');
    const hash = (await approveWithdrawal(b.t.ps, w.id, caller)).txHash ?? '';
    const mempool = (await b.node.rpc('getrawmempool')) as string[];
    if (hash && mempool.includes(hash)) {
      await b.node.mine(confirmations);
      const { fee, vsize } = await realFee(b, hash);
      await checkWithdrawal(b.t.ps, w.id, caller);
      const [row] = await b.t.ledger.db.query<{ max_fee: string }>('SELECT max_fee::text FROM payserv_chain_txs WHERE hash = $1', [hash]);
      // Evidence, printed: what payserv believed the fee was, what the chain took.
      console.log(
        `attack18-fee-lie: tx ${hash} vsize ${vsize}: payserv stored max_fee ${row?.max_fee}, the chain took ${fee}; ceiling ${FEE_RATE_MAX * BigInt(vsize)}`,
      );
      expect(fee).toBeLessThanOrEqual(FEE_RATE_MAX * BigInt(vsize));
      expect(before - (await realBalance(b))).toBeLessThanOrEqual(w.value + FEE_RATE_MAX * BigInt(vsize));
    } else {
      // The defence: nothing reached the chain, nothing was burnt.
      expect(await realBalance(b)).toBe(before);
    }
  });

  it('P2WPKH hot wallet (control): BIP143 commits to the value, the real node refuses, nothing is burnt', async () => {
    const b = await setup({ wallet: 'p2wpkh' });
    const before = await realBalance(b);
    const w = await processed(b, 9101, '0.2');
    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    await b.node.mine(confirmations);
    if (r.txHash) await checkWithdrawal(b.t.ps, w.id, caller);
    expect(await realBalance(b)).toBe(before);
    expect(await b.node.rpc('getrawmempool')).toEqual([]);
  });
});
