// Outsider attack (issue 18, round 2): a node that forges the proof of failure of a payment that is mined.
//
// Check records a Bitcoin-family payment `send_error` ("nothing was paid, manual processing required") when
// the node shows, for every attempt, a mined transaction that is not ours spending one of its inputs. The
// spender is read from the node's word alone: gettxout (null), getblock (its JSON inputs) and
// getrawtransaction (bytes that hash to its txid, that do not pay our outputs). Its signature is never
// checked, although only the hot wallet's key can spend the hot wallet's outputs: a genuine conflict is
// always signed by that key, a forged one cannot be.
//
// Here the payment P1 is mined and buried on the real chain; the lying node answers -5 for P1 and shows, in
// P1's own block, a transaction X in its place, spending P1's input to a stranger (signed with another key).
// The promises asserted: a payment mined on the chain is never recorded failed (send_error), and never
// credited back by resolve (the miner would be paid on the chain and again from the restored balance).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { expect, it } from 'vitest';
import { resolveCoin } from '../src/autopay/resolve.js';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, confirmations, ltcBench, NET, paidTo, processed, statusOf } from './support/btc-attack.js';
import { LitecoindError } from './support/litecoind.js';

const bench = ltcBench(22);

describePerDataPath('attack 18: a node forging the spender of a mined payment', () => {
  it('a payment mined and buried is never recorded send_error on a forged conflicting spend', async () => {
    const b = await bench({ fund: [COIN], liar: () => undefined });
    const liar = b.liar as NonNullable<typeof b.liar>;
    const w = await processed(b, 9200, '0.2');
    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    expect(r.reply).toBe('SENDING');
    const p1 = r.txHash as string;

    // P1 is mined and buried on the real chain: the miner is paid.
    const [block] = await b.node.mine(confirmations + 1);
    const height = (await b.node.height()) - confirmations;
    const real = await b.client.getRawTransaction(p1);
    expect(real?.blockhash).toBe(block);
    expect(await paidTo(b, w.address)).toEqual([w.value]);

    // The forged spender X: P1's input, to a stranger, signed with a stranger's key.
    const input = b.driver.decode(real?.hex as string).inputs[0] as { txid: string; vout: number };
    const strangerKey = secp256k1.utils.randomPrivateKey();
    const stranger = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(strangerKey, true));
    const plan = planPayment({
      net: NET,
      wallet: stranger,
      utxos: [{ ...input, value: COIN }],
      outputs: [{ script: stranger.script, value: COIN / 2n }],
      feeRate: 2n,
    });
    if (plan.kind !== 'ok') throw new Error(plan.kind);
    const x = signPayment(NET, stranger, plan, strangerKey);
    const decoded = (await b.node.rpc('decoderawtransaction', [x.rawHex])) as Record<string, unknown>;

    liar.answer('getrawtransaction', async (p) => {
      if (p[0] === p1)
        throw new LitecoindError(
          'getrawtransaction',
          -5,
          'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.',
        );
      if (p[0] === x.txid) return { ...decoded, hex: x.rawHex, blockhash: block, confirmations: (await b.node.height()) - height + 1 };
      return undefined;
    });
    liar.lie('getblock', (res) => {
      const blk = res as { hash: string; tx?: Array<Record<string, unknown>> };
      if (blk.hash !== block || !Array.isArray(blk.tx)) return res;
      blk.tx = blk.tx.map((tx) => (tx.txid === p1 ? { ...decoded, hex: x.rawHex } : tx));
      return blk;
    });

    const c = await checkWithdrawal(b.t.ps, w.id, caller);
    console.log(`attack18-forged-conflict: P1 ${p1} mined in ${block}; forged spender ${x.txid}; Check: ${c.reply} ${c.message ?? ''}`);
    // The promise: paid on the chain, never recorded failed.
    expect.soft(await statusOf(b, w.id)).not.toBe('send_error');

    // What follows a wrong send_error (evidence only): Resend must not pay again.
    const again = await resendWithdrawal(b.t.ps, w.id, caller);
    console.log(`attack18-forged-conflict: Resend: ${again.reply} ${again.message ?? ''}`);
    expect(await paidTo(b, w.address)).toEqual([w.value]);

    // And resolve (pscli resolve / autopay's), which credits back a failure the chain proved: the miner, paid on
    // the chain, would get the amount back into the balance too (paid twice at the next withdrawal).
    const res = await resolveCoin(b.t.ps, 'LTC', 'operator');
    console.log(`attack18-forged-conflict: resolve: ${JSON.stringify(res.resolutions.map((y) => [y.withdrawal, y.decision, y.reason]))}`);
    expect(res.resolutions.filter((y) => y.withdrawal === w.id).map((y) => y.decision)).not.toContain('credited');
  });
});
