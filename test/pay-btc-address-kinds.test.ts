// Regression (from an outsider's attack on issue 18): every address kind payserv accepts, in one SendCoin batch on the real node.
//
// payserv accepts P2PKH, P2SH, P2WPKH, P2WSH and P2TR addresses for Litecoin. A kind the node would not relay,
// accepted at Process, would hold every batch it is in (testmempoolaccept refuses the whole transaction): one
// miner's address choice stopping everybody's payouts. The promise asserted: each accepted kind is paid, in one
// batch, exactly its amount less fee, once; and the hot wallet's key is in none of payserv's log lines.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { expect, it } from 'vitest';
import { scriptAddress } from '../src/chains/btc/address.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { checkWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { AUTO, caller, confirmations, ltcBench, NET, paidTo, processed } from './support/btc-attack.js';

const bench = ltcBench(24);

const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
const xOnly = () => secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true).slice(1);
const KINDS: Record<string, () => Uint8Array> = {
  p2pkh: () => Uint8Array.from([0x76, 0xa9, 0x14, ...rand(20), 0x88, 0xac]),
  p2sh: () => Uint8Array.from([0xa9, 0x14, ...rand(20), 0x87]),
  p2wpkh: () => Uint8Array.from([0x00, 0x14, ...rand(20)]),
  p2wsh: () => Uint8Array.from([0x00, 0x20, ...rand(32)]),
  p2tr: () => Uint8Array.from([0x51, 0x20, ...xOnly()]),
};

describePerDataPath('Bitcoin family: every address kind payserv accepts, in one batch', () => {
  it('P2PKH, P2SH, P2WPKH, P2WSH and P2TR: one batch, each paid its value once', async () => {
    const b = await bench({ policies: { LTC: AUTO } });
    const reqs: Array<{ kind: string; id: number; address: string; value: bigint }> = [];
    let user = 9300;
    for (const [kind, script] of Object.entries(KINDS)) {
      const w = await processed(b, user++, '0.3', { address: scriptAddress(NET, script()) as string, reply: 'APPROVED' });
      reqs.push({ kind, ...w });
    }
    const batch = await sendCoin(b.t.ps, 'LTC', caller);
    console.log(`address kinds: ${JSON.stringify(batch.results.map((r) => [r.reply, r.message]))}`);
    expect(batch.results.map((r) => r.reply)).toEqual(reqs.map(() => 'SENDING'));
    await b.node.mine(confirmations);
    for (const q of reqs) {
      expect((await checkWithdrawal(b.t.ps, q.id, caller)).reply, q.kind).toBe('SENT');
      expect(await paidTo(b, q.address), q.kind).toEqual([q.value]);
    }
    // Keys never exposed: the hot wallet's secret (hex) is in no log line payserv wrote while paying.
    const secret = Buffer.from(await loadHotKey(b.t.ledger.stateDir, 'LTC')).toString('hex');
    expect(b.t.logs.length).toBeGreaterThan(0);
    expect(b.t.logs.filter((l) => l.toLowerCase().includes(secret))).toEqual([]);
  });
});
