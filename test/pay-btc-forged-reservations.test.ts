// Regression (issue 18, outsider round 2: a database attacker freezing the hot wallet with forged reservations).
//
// README (Bitcoin family, a payment step 1): inputs are the wallet's UTXOs "less the outpoints reserved in the
// database ... A reservation that neither the journal nor a stored transaction of payserv's explains is
// tampering: payouts stop." A "stored transaction of payserv's" used to be any payserv_chain_txs row whose bytes
// hash to the reservation's spent_by and spend the outpoint: nothing checked that payserv made them. The attacker
// (SQL only, no key) wrote, for every UTXO of the hot wallet, a transaction spending it signed by a key of their
// own, and a reservation naming it: payouts waited, "hot wallet short", no tampering found. Now a stored row is
// payserv's only when the signed ledger names it (storedSpends through AttemptStorage.ownAttempt, src/chains/utxo-watch.ts).
//
// The promise asserted: the forged reservations are caught as tampering (payouts stop with the reason), not
// taken as payserv's own: the wallet is not reported short while it holds the money.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { expect, it } from 'vitest';
import { hotWallet, planPayment, signPayment } from '../src/chains/btc/tx.js';
import { approveWithdrawal } from '../src/payserv/payouts.js';
import { storedAttemptRow } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { caller, COIN, ltcBench, NET, processed } from './support/btc-attack.js';

const bench = ltcBench(25);

describePerDataPath('Bitcoin family: forged reservations do not freeze the hot wallet', () => {
  it('reservations explained only by stored transactions signed with another key are tampering, not the wallet short', async () => {
    const b = await bench({ fund: [COIN, COIN] });
    const w = await processed(b, 9400, '0.2');

    // The attacker: each UTXO of the hot wallet "spent" by a transaction signed with the attacker's own key.
    const attackerKey = secp256k1.utils.randomPrivateKey();
    const attacker = hotWallet(NET, 'p2wpkh', secp256k1.getPublicKey(attackerKey, true));
    const utxos = (await b.client.scanTxOutSet([`addr(${b.driver.address})`])).unspents;
    expect(utxos).toHaveLength(2);
    for (const u of utxos) {
      const utxo = { txid: u.txid, vout: u.vout, value: u.amount };
      const plan = planPayment({
        net: NET,
        wallet: attacker,
        utxos: [utxo],
        outputs: [{ script: attacker.script, value: COIN / 2n }],
        feeRate: 2n,
      });
      if (plan.kind !== 'ok') throw new Error(plan.kind);
      const fake = signPayment(NET, attacker, plan, attackerKey);
      await b.t.ledger.db.query(...storedAttemptRow('LTC', fake.txid, w.id, fake.rawHex));
      await b.t.ledger.db.query(
        `INSERT INTO payserv_utxo_reservations (coin_id, txid, vout, value, spent_by)
         SELECT id, $1, $2, $3, $4 FROM coins_coin WHERE tag = 'LTC'`,
        [u.txid, u.vout, u.amount.toString(), fake.txid],
      );
    }

    const r = await approveWithdrawal(b.t.ps, w.id, caller);
    console.log(`pay-btc-forged-reservations: Approve: ${r.reply} ${r.message ?? ''}; payouts enabled: ${b.t.ps.state.enabled}`);
    // The promise: tampering detected, payouts stopped with the reason; never "hot wallet short".
    expect(r.message ?? '').not.toMatch(/hot wallet short/);
    expect(r.message ?? '').toMatch(/payserv_utxo_reservations.*reserved for [0-9a-f]{64}.*the reservation was made by someone else/);
    expect(b.t.ps.state.enabled).toBe(false);
  });
});
