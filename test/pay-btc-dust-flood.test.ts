// A flood of small outputs sent to the hot wallet (issue 18, outsider finding 5): the hot wallet's address is public
// (every payment's change goes back to it), and anyone may send it outputs. Before the fix, more than 50,000 of them
// (52,500 of 3,000 litoshi, about 1.6 LTC) made every scan of the wallet a BtcRpcBadReply: Approve threw, the withdrawal
// stayed pending, no alert, and a rotation's sweep could not read the wallet either.
//
// Now (README "A flood of small outputs"): outputs worth no more than their input's fee at the floor fee rate are left
// out, of the others only the utxo_max largest are kept, and a wallet the node's reply cannot carry makes payments wait
// (send_retry), never throw; each is alerted (hot_wallet_flooded). The flood is made light here: utxo_max = 100 and
// fee_rate_min = 50 (an input costs 68 vbytes × 50 = 3,400: the stranger's 3,000-litoshi outputs are not worth spending),
// a few hundred outputs instead of 52,500. Asserted: payouts go on, a reply not a throw, the alert, nothing paid twice,
// nothing lost (the stranger's outputs stay in the wallet), and the sweep takes the outputs worth spending only.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { SCAN_UTXOS_MAX } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { approveWithdrawal, checkWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, freshAddress, ltcBench, NET, paidTo, processed, statusOf, type LtcBench } from './support/btc-attack.js';

const DUST_LIKE = 3_000n;
const WORTH = 10_000n;
const UTXO_MAX = 100;
const FEE_RATE_MIN = 50n;

const bench = ltcBench(26);
/** The second test's lie on scantxoutset is armed once its driver has started. */
let armed = false;

/** A stranger (a key of their own) sends `values` to the hot wallet, in transactions of `perTx` outputs mined one a block. */
async function flood(b: LtcBench, values: readonly bigint[], perTx: number): Promise<void> {
  const key = secp256k1.utils.randomPrivateKey();
  const stranger = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(key, true));
  const hot = (await b.client.scanTxOutSet([`addr(${b.driver.address})`])).unspents[0]?.scriptPubKey as string;
  const script = Uint8Array.from(Buffer.from(hot, 'hex'));
  const funded = await b.node.fund(p2wpkhAddress(NET, stranger.publicKey), COIN);
  let utxo = { txid: funded.txid, vout: funded.vout, value: COIN };
  for (let i = 0; i < values.length; i += perTx) {
    const outputs = values.slice(i, i + perTx).map((value) => ({ script, value }));
    const plan = planPayment({ net: NET, wallet: stranger, utxos: [utxo], outputs, feeRate: 1n });
    if (plan.kind !== 'ok') throw new Error(`flood at ${i}: ${plan.kind}`);
    const tx = signPayment(NET, stranger, plan, key);
    await b.node.generateBlock([tx.rawHex]);
    utxo = { txid: tx.txid, vout: outputs.length, value: plan.change as bigint };
  }
  await b.node.mine(6);
}

const walletValues = async (b: LtcBench): Promise<bigint[]> => paidTo(b, b.driver.address);
const count = (vs: readonly bigint[], v: bigint): number => vs.filter((x) => x === v).length;

describePerDataPath('a stranger flooding the hot wallet with small outputs', () => {
  it(
    'outputs not worth spending and those past utxo_max are left out: payouts go on, alerted, the sweep leaves the dust',
    { timeout: 300_000 },
    async () => {
      const b = await bench({ settings: { utxoMax: UTXO_MAX, feeRateMin: FEE_RATE_MIN } });
      await flood(b, [...Array<bigint>(150).fill(DUST_LIKE), ...Array<bigint>(150).fill(WORTH)], 100);

      const w = await processed(b, 9500, '0.2');
      // A reply, never a throw: the payment is signed from the kept outputs.
      const r = await approveWithdrawal(b.t.ps, w.id, caller);
      expect(r.reply, r.message).toBe('SENDING');
      const flooded = b.t.alerts.filter((a) => a.kind === 'hot_wallet_flooded');
      expect(flooded).toHaveLength(1);
      expect(flooded[0]?.reason).toMatch(/150 output\(s\) worth 450000 not worth spending/);
      // Kept: the 5 LTC funding output and the 99 largest of the stranger's 10,000-litoshi outputs; 51 past utxo_max.
      expect(flooded[0]?.reason).toMatch(/51 output\(s\) worth 510000 past the 100 largest kept/);

      await b.node.mine(6);
      expect((await checkWithdrawal(b.t.ps, w.id, caller)).reply).toBe('SENT');
      expect(await statusOf(b, w.id)).toBe('sent');
      // Paid once, and never again.
      expect(await paidTo(b, w.address)).toEqual([w.value]);
      expect((await approveWithdrawal(b.t.ps, w.id, caller)).reply).not.toBe('SENDING');
      expect(await paidTo(b, w.address)).toEqual([w.value]);
      // Nothing lost: every output the stranger sent is still the wallet's (the payment spent the 5 LTC output only).
      const held = await walletValues(b);
      expect([count(held, DUST_LIKE), count(held, WORTH)]).toEqual([150, 150]);

      // The rotation's sweep reads the wallet the same way: the outputs worth spending, the dust left and said so.
      await b.node.mine(6);
      const sweep = await b.t.ps.db.transaction((tx) => b.driver.signSweep(tx, freshAddress()));
      expect(sweep.kind).toBe('signed');
      if (sweep.kind !== 'signed') return;
      const spent = new Set(sweep.tx.inputs.map((i) => `${i.txid}:${i.vout}`));
      expect(sweep.tx.inputs.every((i) => i.value > DUST_LIKE)).toBe(true);
      expect(spent.size).toBe(UTXO_MAX);
      expect(sweep.note).toMatch(/the sweep leaves in .*150 output\(s\) worth 450000 not worth spending/);
    },
  );

  it(
    'a wallet the node cannot list in one reply: the payment waits (send_retry) and is alerted, never a throw',
    { timeout: 120_000 },
    async () => {
      const b = await bench({
        liar: (liar) =>
          liar.lie('scantxoutset', (r) => {
            const scan = r as { unspents: unknown[] };
            // The lie starts only once the driver has started (its first scan is true): one entry repeated past the bound.
            return scan.unspents.length && armed ? { ...scan, unspents: Array<unknown>(SCAN_UTXOS_MAX + 1).fill(scan.unspents[0]) } : r;
          }),
      });
      armed = true;
      const w = await processed(b, 9501, '0.2');
      const r = await approveWithdrawal(b.t.ps, w.id, caller);
      expect(r.reply, r.message).toBe('SEND_RETRY');
      expect(r.message).toMatch(/the hot wallet .* cannot be read/);
      expect(await statusOf(b, w.id)).toBe('send_retry');
      expect(b.t.alerts.filter((a) => a.kind === 'hot_wallet_flooded').map((a) => a.reason)).toEqual([
        expect.stringMatching(/cannot be read: scantxoutset answered/),
      ]);
      expect(await paidTo(b, w.address)).toEqual([]);
      expect(b.t.ps.state.enabled).toBe(true);
    },
  );
});
