// Outside tester. Issue 13 item 4: wallet deletion and deactivation are unsigned. A user replaced an old
// reviewed wallet A by a new reviewed wallet B (A marked deleted by the site). The database attacker
// undeletes A and marks B deleted (or only undeletes A); autopay must still pay B (or fail-stop),
// never the address the user removed.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { asAttacker, restoreRow } from './support/attacker.js';
import { signWallet } from '../src/writer/wallets.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { amt, coinByTag, ethAddress, newBlockHash, wallet } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { creditBlock } from '../src/writer/blocks.js';

const anvil = anvilForFile();
let t: TestPayserv;
let url: string;
let eth: Signed<Coin>;
const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };
const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 41 },
    policies: { ETH: GENEROUS },
    drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]),
  });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
  eth = await coinByTag(t, 'ETH');
});
afterEach(async () => {
  await t.ledger.db.close();
});

// Was a break (now held) ('A undeleted, B marked deleted' and 'A undeleted, B deactivated'): run 2 pays the user's
// 2 ETH (1.9995 ETH) to wallet A, the address the user deleted, though run 1 (same payserv) saw A
// deleted; payserv enabled, no alert, checks clean. Held ('B left active'): the newest wallet B is paid.
describePerDataPath('a deleted wallet revived', () => {
  for (const variant of ['A undeleted, B marked deleted', 'A undeleted, B left active', 'A undeleted, B deactivated'] as const) {
    it(`${variant}: autopay never pays the removed address`, async () => {
      const userId = 9901;
      const a = await wallet(t, userId, eth, { address: ethAddress() });
      const b0 = await wallet(t, userId, eth, { address: ethAddress() });
      // The site: the user deleted A (the old one) and keeps B.
      await t.ledger.db.query('UPDATE users_userwallets SET deleted = true, active = false, updated_at = now() WHERE id = $1', [a.id]);
      await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
        blockHash: newBlockHash(),
        shares: [{ userId, amount: amt('2') }],
        poolFee: amt('0.01'),
      });
      const r1 = await runAutopay(t.ps, 'ETH', SETTINGS, 'run 1');
      console.log('run 1:', r1.outcome, r1.reason, r1.paid, JSON.stringify(r1.skipped));
      await mine(url, 12);
      const paidB1 = await balanceOf(url, b0.address);
      // The attacker.
      const edits = ['UPDATE users_userwallets SET deleted = false, active = true WHERE id = ' + a.id];
      if (variant.includes('B marked deleted'))
        edits.push('UPDATE users_userwallets SET deleted = true, active = false WHERE id = ' + b0.id);
      if (variant.includes('B deactivated')) edits.push('UPDATE users_userwallets SET active = false WHERE id = ' + b0.id);
      await asAttacker(t.ledger.db, edits);
      await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
        blockHash: newBlockHash(),
        shares: [{ userId, amount: amt('2') }],
        poolFee: amt('0.01'),
      });
      const r2 = await runAutopay(t.ps, 'ETH', SETTINGS, 'run 2');
      console.log('run 2:', r2.outcome, r2.reason, r2.paid, JSON.stringify(r2.skipped), 'enabled', t.ps.state.enabled);
      await mine(url, 12);
      const toA = await balanceOf(url, a.address);
      console.log(
        variant,
        'paid to B in run 1',
        paidB1,
        'paid to A (removed)',
        toA,
        'to B',
        await balanceOf(url, b0.address),
        'checks',
        await t.ledger.check('checkwallets' as never).catch((e: unknown) => String(e)),
      );
      expect(toA).toBe(0n);
    });
  }

  // Was a break (now held): the older signed copy of the wallet row (old address, old signature, still valid) is accepted:
  // run 2 pays the user's 2 ETH (1.9995 ETH) to the address the user replaced; enabled, no alert.
  // (Also makes the wallet look older to [policy] wallet_age_hours_min.)
  it('a wallet whose address was changed and re-reviewed, restored to its older signed copy: autopay never pays the old address', async () => {
    const userId = 9902;
    const w = await wallet(t, userId, eth, { address: ethAddress() });
    const old = (await t.ledger.db.query<Record<string, unknown>>('SELECT * FROM users_userwallets WHERE id = $1', [w.id]))[0]!;
    // The site lets the user change the address; an admin reviews and signs it again.
    const fresh = ethAddress();
    await t.ledger.db.query(
      'UPDATE users_userwallets SET address = $1, signed_at = NULL, sig_key_id = NULL, signature = NULL, updated_at = now() WHERE id = $2',
      [fresh, w.id],
    );
    await t.ledger.db.transaction((tx) => signWallet(tx, t.ledger.signers.admin, w.id));
    await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
      blockHash: newBlockHash(),
      shares: [{ userId, amount: amt('2') }],
      poolFee: amt('0.01'),
    });
    const r1 = await runAutopay(t.ps, 'ETH', SETTINGS, 'run 1');
    await mine(url, 12);
    console.log('run 1:', r1.outcome, JSON.stringify(r1.paid), 'new address paid', await balanceOf(url, fresh));
    await asAttacker(t.ledger.db, [restoreRow('users_userwallets', old, ['id'])]);
    await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
      blockHash: newBlockHash(),
      shares: [{ userId, amount: amt('2') }],
      poolFee: amt('0.01'),
    });
    const r2 = await runAutopay(t.ps, 'ETH', SETTINGS, 'run 2');
    await mine(url, 12);
    const toOld = await balanceOf(url, old.address as string);
    console.log('run 2:', r2.outcome, r2.reason, JSON.stringify(r2.paid), 'old address paid', toOld, 'enabled', t.ps.state.enabled);
    expect(toOld).toBe(0n);
  });
});
