// Outsider attack (issue 18, round 2): anyone floods the hot wallet with small outputs and payouts stop.
//
// The hot wallet's address is public (every payment's change goes back to it). The node client refuses a
// scantxoutset reply of more than 50,000 UTXOs (UTXOS_MAX, README: "more than 50,000 UTXOs are refused:
// consolidate"), and both payments and a rotation's sweep read the wallet through that scan. An outsider with
// no access at all sends 52,500 outputs of 3,000 litoshi (just above Litecoin's P2WPKH dust threshold, 2,940)
// to the hot wallet: about 1.6 LTC. payserv has no consolidation of its own.
//
// The promise asserted: coins sent to the hot wallet by a stranger do not stop payouts: a withdrawal is paid.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { UTXOS_MAX } from '../src/chains/btc/node.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { approveWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, ltcBench, NET, processed, statusOf } from './support/btc-attack.js';

const PER_TX = 2_500;
const DUST_PLUS = 3_000n;

const bench = ltcBench(26);

describePerDataPath('attack 18: a stranger flooding the hot wallet with small outputs', () => {
  it('more than 50,000 outputs sent to the hot wallet by a stranger: payouts still pay', { timeout: 600_000 }, async () => {
    const b = await bench({ settings: { timeoutMs: 120_000 } });

    // The stranger: a key of their own, funded once, then transactions of 2,500 outputs each to the hot wallet's script, one a block.
    const key = secp256k1.utils.randomPrivateKey();
    const stranger = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(key, true));
    const hot = (await b.client.scanTxOutSet([`addr(${b.driver.address})`])).unspents[0]?.scriptPubKey as string;
    const script = Uint8Array.from(Buffer.from(hot, 'hex'));
    const funded = await b.node.fund(p2wpkhAddress(NET, stranger.publicKey), 3n * COIN);
    let utxo = { txid: funded.txid, vout: funded.vout, value: 3n * COIN };
    const rounds = Math.ceil((UTXOS_MAX + 1) / PER_TX);
    for (let i = 0; i < rounds; i++) {
      const outputs = Array.from({ length: PER_TX }, () => ({ script, value: DUST_PLUS }));
      const plan = planPayment({ net: NET, wallet: stranger, utxos: [utxo], outputs, feeRate: 1n });
      if (plan.kind !== 'ok') throw new Error(`round ${i}: ${plan.kind}`);
      const tx = signPayment(NET, stranger, plan, key);
      await b.node.generateBlock([tx.rawHex]);
      utxo = { txid: tx.txid, vout: PER_TX, value: plan.change as bigint };
    }

    const w = await processed(b, 9500, '0.2');
    const r = await approveWithdrawal(b.t.ps, w.id, caller).catch((e: unknown) => {
      // A payout call must answer (a refusal, a wait), never throw: an exception here is the evidence.
      console.log(
        `attack18-dust-flood: Approve threw ${(e as Error).name}: ${(e as Error).message}; payouts enabled: ${b.t.ps.state.enabled}`,
      );
      return null;
    });
    console.log(
      `attack18-dust-flood: ${rounds * PER_TX} outputs of ${DUST_PLUS} sent to the hot wallet; Approve: ${r?.reply ?? 'threw'} ${r?.message ?? ''}; ` +
        `withdrawal ${await statusOf(b, w.id)}; alerts ${JSON.stringify(b.t.alerts.map((a) => a.kind))}`,
    );
    expect(r?.reply).toBe('SENDING');
  });
});
