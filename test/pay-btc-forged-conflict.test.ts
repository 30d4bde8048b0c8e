// A node that forges the proof of failure of a payment that is mined (issue 18, outsider finding, now a regression).
//
// Check records a Bitcoin-family payment `send_error` only when the chain shows, for every attempt, a mined
// transaction that is not ours spending one of its inputs; resolve credits such a withdrawal back. Here the payment
// P1 is mined and buried on the real chain; a lying node answers -5 for P1 and shows, in P1's own block, a
// transaction X in its place spending P1's input (its bytes hash to its txid), signed with a stranger's key: first
// paying a stranger (a forged failure: paid twice once credited back), then paying the withdrawal's own output
// (a forged "paid by another transaction": the payment recorded as X). A spender counts only when its input
// carries the hot wallet's valid signature (driver.ts #signedByWallet): X is refused as a lie, nothing decided.
// The promises asserted: never send_error, never credited back, paid once; and once the node tells the truth,
// the payment is recorded sent by P1.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { expect, it } from 'vitest';
import { resolveCoin } from '../src/autopay/resolve.js';
import { hotWallet, planPayment, signPayment, type TxOutput } from '../src/chains/btc/tx.js';
import { decodeAddress } from '../src/chains/btc/address.js';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, confirmations, ltcBench, NET, paidTo, processed, statusOf, type LtcBench } from './support/btc-attack.js';
import type { LyingNode } from './support/btc-lying-node.js';
import { LitecoindError } from './support/litecoind.js';

const bench = ltcBench(22);

/** The lie: P1 unknown (-5), and X in P1's place in P1's block (getblock verbosity 2) and in the transaction index. */
function forge(b: LtcBench, p1: string, block: string, height: number, x: { txid: string; rawHex: string }, decoded: unknown): void {
  const liar = b.liar as LyingNode;
  liar.answer('getrawtransaction', async (p) => {
    if (p[0] === p1)
      throw new LitecoindError(
        'getrawtransaction',
        -5,
        'No such mempool or blockchain transaction. Use gettransaction for wallet transactions.',
      );
    if (p[0] === x.txid)
      return { ...(decoded as object), hex: x.rawHex, blockhash: block, confirmations: (await b.node.height()) - height + 1 };
    return undefined;
  });
  liar.lie('getblock', (res) => {
    const blk = res as { hash: string; tx?: Array<Record<string, unknown>> };
    if (blk.hash !== block || !Array.isArray(blk.tx)) return res;
    blk.tx = blk.tx.map((tx) => (tx.txid === p1 ? { ...(decoded as object), hex: x.rawHex } : tx));
    return blk;
  });
}

describePerDataPath('a node forging the spender of a mined payment', () => {
  it('a spender not signed by the hot wallet is no proof: never send_error, never credited back, never recorded as the payment', async () => {
    const b = await bench({ fund: [COIN], liar: () => undefined });
    const liar = b.liar as LyingNode;
    const w = await processed(b, 9200, '0.2');
    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    expect(r.reply).toBe('SENDING');
    const p1 = r.txHash as string;

    // P1 is mined and buried on the real chain: the miner is paid.
    const [block] = (await b.node.mine(confirmations + 1)) as [string];
    const height = (await b.node.height()) - confirmations;
    const real = await b.client.getRawTransaction(p1);
    expect(real?.blockhash).toBe(block);
    expect(await paidTo(b, w.address)).toEqual([w.value]);

    // A forged spender X of P1's input, signed with a stranger's key, paying `outputs`.
    const input = b.driver.decode(real?.hex as string).inputs[0] as { txid: string; vout: number };
    const strangerKey = secp256k1.utils.randomPrivateKey();
    const stranger = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(strangerKey, true));
    const forged = async (outputs: TxOutput[]) => {
      const plan = planPayment({ net: NET, wallet: stranger, utxos: [{ ...input, value: COIN }], outputs, feeRate: 2n });
      if (plan.kind !== 'ok') throw new Error(plan.kind);
      const x = signPayment(NET, stranger, plan, strangerKey);
      return { x, decoded: await b.node.rpc('decoderawtransaction', [x.rawHex]) };
    };

    // 1. X pays a stranger: a forged failure.
    const toStranger = await forged([{ script: stranger.script, value: COIN / 2n }]);
    forge(b, p1, block, height, toStranger.x, toStranger.decoded);
    const c = await checkWithdrawal(b.t.ps, w.id, caller);
    // The lie is detected and named; nothing changes.
    expect(c.reply).toBe('SENDING');
    expect(c.message).toContain(`the node shows ${toStranger.x.txid}`);
    expect(c.message).toContain("not signed by the hot wallet's key");
    expect(await statusOf(b, w.id)).toBe('sending');
    // Resend takes no sending withdrawal: nothing paid again.
    expect((await resendWithdrawal(b.t.ps, w.id, caller)).reply).toBe('ERROR');
    expect(await paidTo(b, w.address)).toEqual([w.value]);
    // resolve credits back only what the chain proved failed: this is not.
    const res = await resolveCoin(b.t.ps, 'LTC', 'operator');
    const mine = res.resolutions.filter((y) => y.withdrawal === w.id);
    expect(mine.map((y) => y.decision)).toEqual(['unknown']);
    expect(mine[0]?.reason).toContain("not signed by the hot wallet's key");
    expect(await statusOf(b, w.id)).toBe('sending');

    // 2. X pays the withdrawal's own output: a forged "paid by a transaction payserv has no record of".
    const payee = decodeAddress(NET, w.address);
    if (!payee.ok) throw new Error(payee.reason);
    const toPayee = await forged([{ script: payee.script, value: w.value }]);
    forge(b, p1, block, height, toPayee.x, toPayee.decoded);
    const c2 = await checkWithdrawal(b.t.ps, w.id, caller);
    expect(c2.reply).toBe('SENDING');
    expect(c2.message).toContain("not signed by the hot wallet's key");
    expect(await statusOf(b, w.id)).toBe('sending');
    const [recorded] = await b.t.ledger.db.query<{ n: string }>('SELECT count(*)::text AS n FROM payserv_chain_txs WHERE hash = $1', [
      toPayee.x.txid,
    ]);
    expect(recorded?.n).toBe('0');

    // The node tells the truth again: the payment is recorded sent by P1, paid once.
    liar.answer('getrawtransaction', null);
    liar.lie('getblock', null);
    const truth = await checkWithdrawal(b.t.ps, w.id, caller);
    expect(truth.reply, truth.message).toBe('SENT');
    expect(await statusOf(b, w.id)).toBe('sent');
    expect(await paidTo(b, w.address)).toEqual([w.value]);
  });
});
