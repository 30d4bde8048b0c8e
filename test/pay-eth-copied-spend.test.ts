// Ethereum: a transaction of the hot key that payserv did not make stays an unknown spend when its bytes are copied
// into payserv_chain_txs (README "Unknown spends from the hot wallet"; the Bitcoin-family twin is
// test/pay-btc-copied-payment.test.ts). The nonce check counts payserv's own stored attempts (src/chains/eth/driver.ts,
// #storedNext): bytes this key signed used to be enough, but a mined transaction's bytes are public, so a database
// attacker could copy them in (a payment made after an older backup that was restored, or the key used elsewhere)
// and the next payout was signed at the nonce after them, the spend unnoticed. Now only an attempt the signed ledger
// names counts (AttemptStorage.ownAttempt, src/payserv/payments/stored.ts).
import { toHex } from 'viem';
import { afterEach, expect, it } from 'vitest';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { approveWithdrawal } from '../src/payserv/payouts.js';
import { storedAttemptRow } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, minedCount, sendOutside } from './support/chains.js';
import { ethAddress } from './support/miners.js';
import { ethPayservAndDriver, type TestPayserv } from './support/payserv.js';
import { processedTo, rotationSeed } from './support/rotation.js';

const anvil = anvilForFile();
let t: TestPayserv | undefined;
afterEach(async () => {
  await t?.ledger.db.close();
  t = undefined;
});

describePerDataPath('Ethereum: a spend of the hot key copied into the stored payments is still unknown', () => {
  it('the next payout fail-stops naming the nonce; nothing signed', async () => {
    const { url } = await anvil();
    const built = await ethPayservAndDriver(url, { seed: rotationSeed(3, 61) });
    t = built.t;
    const hot = built.driver.address;
    const first = await processedTo(t, 'ETH', ethAddress());
    expect((await approveWithdrawal(t.ps, first.id, 'test')).reply).toBe('SENDING'); // nonce 0, mined at once (automine)

    // The hot key used outside payserv at the next nonce, mined.
    const key = await loadHotKey(t.ledger.stateDir, 'ETH');
    const { raw, hash } = await sendOutside(url, toHex(key), 1);
    key.fill(0);
    expect(await minedCount(url, hot)).toBe(2);

    // The database attacker: its bytes (public, signed by the hot key) stored as a payment of the first withdrawal at nonce 1.
    await t.ledger.db.query(...storedAttemptRow('ETH', hash, first.id, raw, 1n));

    const second = await processedTo(t, 'ETH', ethAddress());
    const r = await approveWithdrawal(t.ps, second.id, 'test');
    expect(r.reply).not.toBe('SENDING');
    expect(t.ps.state.failStopped).toBe(true);
    expect(t.ps.state.status().reason).toMatch(new RegExp(`hot wallet ${hot} used nonces 1\\.\\.1 on the chain`, 'i'));
    expect(await minedCount(url, hot)).toBe(2); // nothing signed after it
  });
});
