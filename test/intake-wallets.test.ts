// The intake's wallet calls against a database attacker and against retries (issue 16, outsider findings
// F3 and F10): a signed wallet whose row was edited is never signed again "as it is" (the intake refuses
// `integrity`, alerted; the shared writer refuses `unverified` for pscli and payserv too), retried Sign and
// Retire answer `already` and write nothing, and with review = "auto" an unsigned wallet found at
// registration is signed only when it holds exactly the registered address. Nothing is paid to the
// attacker and no row changes on any refusal.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAddress } from 'viem';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { dispatchIntake } from '../src/intake/handlers.js';
import { startIntake, type RunningIntake } from '../src/intake/service.js';
import { createLogger } from '../src/log/index.js';
import { signWalletById } from '../src/payserv/admin.js';
import { retireWallet, signWallet, WalletRefused } from '../src/writer/wallets.js';
import { asAttacker, TABLES, WALLETS, WITHDRAWALS } from './support/attacker.js';
import { ethAddress, newMiner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

let t: TestPayserv;
let intake: RunningIntake | undefined;
afterEach(async () => {
  await intake?.stop();
  intake = undefined;
  await t.ledger.db.close();
});

const SEED = { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 5 };

async function start(review: 'auto' | 'manual'): Promise<RunningIntake> {
  t = await testPayserv({ seed: SEED });
  const file = join(t.ledger.stateDir, 'intake.toml');
  writeFileSync(file, `[rpc]\nport = 0\n[wallets]\nreview = "${review}"\n`);
  const config = await loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: t.ledger.stateDir } });
  intake = await startIntake(config, createLogger('intake', 'silent'), t.ledger.db);
  return intake;
}

type Reply = Record<string, unknown>;
const call = (method: Parameters<typeof dispatchIntake>[1], params: Reply) =>
  dispatchIntake(intake!.intake, method, params) as Promise<Reply>;

/** The refusal's code, or a failure when the call was answered. */
async function refusedCode(p: Promise<unknown>): Promise<string> {
  return p.then(
    (x) => expect.fail(`expected a refusal, got ${JSON.stringify(x)}`),
    (e: { data?: { code?: string } }) => String(e.data?.code),
  );
}

/** Every ledger table, whole: what "nothing changed" is measured against. */
async function snapshot(): Promise<string> {
  const out: Record<string, unknown> = {};
  for (const table of TABLES) out[table] = await t.ledger.db.query(`SELECT * FROM ${table} ORDER BY 1`);
  return JSON.stringify(out);
}

async function unchanged(fn: () => Promise<void>): Promise<void> {
  const before = await snapshot();
  await fn();
  expect(await snapshot()).toBe(before);
}

const rowOf = async (id: number) => (await t.ledger.db.query(`SELECT * FROM ${WALLETS} WHERE id = $1`, [id]))[0] as Reply;
const count = async (table: string, userId: number) =>
  (await t.ledger.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE user_id = $1`, [userId]))[0]!.n;

/** The intake_integrity alerts stored so far, by method. */
async function integrityAlerts(): Promise<string[]> {
  await intake!.intake.alerts.settled();
  const rows = await t.ledger.db.query<{ details: { method?: string } }>(
    "SELECT details FROM payserv_alerts WHERE kind = 'intake_integrity' ORDER BY id",
  );
  return rows.map((r) => String(r.details.method));
}

describe('F3: a signed wallet whose address the database attacker changed', () => {
  it('a retried Wallets.Sign is refused integrity and alerted, the request after it too: nothing signed, nothing requested or paid', async () => {
    await start('manual');
    const m = await newMiner(t, 5150, '20');
    // The back end's review, sent once and retried after a timeout: the wallet is signed already, answered as it is.
    const first = await call('Wallets.Sign', { wallet: m.walletId });
    expect(first).toMatchObject({ id: m.walletId, address: m.address, reviewed: true, already: true });
    const thief = `0x${'de'.repeat(20)}`;
    await asAttacker(t.ledger.db, [[`UPDATE ${WALLETS} SET address = $1 WHERE id = $2`, [thief, m.walletId]]]);
    await unchanged(async () => {
      expect(await refusedCode(call('Wallets.Sign', { wallet: m.walletId }))).toBe('integrity');
      expect(await refusedCode(call('Withdrawals.Request', { key: 'after-tamper', wallet: m.walletId, amount: '5' }))).toBe('integrity');
      for (const how of ['deleted', 'inactive'])
        expect(await refusedCode(call('Wallets.Retire', { wallet: m.walletId, how }))).toBe('integrity');
      // Registering the attacker's address for the user finds the edited wallet: refused, not answered "already".
      expect(await refusedCode(call('Wallets.Register', { user: m.userId, coin: 'ETH', address: thief }))).toBe('integrity');
    });
    expect((await rowOf(m.walletId)).address).toBe(thief);
    expect(await count(WITHDRAWALS, m.userId)).toBe(0);
    expect(await integrityAlerts()).toEqual(['Wallets.Sign', 'Withdrawals.Request', 'Wallets.Retire', 'Wallets.Register']);
    expect(await t.ledger.check('wallets')).toEqual([`${WALLETS} id=${m.walletId}: signature does not match the record [signature]`]);
  });

  it('the shared writer refuses to sign or retire it (pscli ledger, payserv Wallets.Sign): unverified, nothing written; payserv fails-stop', async () => {
    t = await testPayserv({ seed: SEED });
    const { db, signers } = t.ledger;
    const m = await newMiner(t, 5151, '20');
    await asAttacker(db, [[`UPDATE ${WALLETS} SET address = $1 WHERE id = $2`, [ethAddress(), m.walletId]]]);
    await unchanged(async () => {
      for (const attempt of [
        () => signWallet(db, signers.admin, m.walletId),
        () => db.transaction((tx) => signWallet(tx, signers.admin, m.walletId)),
        () => retireWallet(db, signers.admin, m.walletId, 'deleted'),
        () => retireWallet(db, signers.admin, m.walletId, 'inactive'),
      ]) {
        const e = await attempt().catch((x: unknown) => x);
        expect(e).toBeInstanceOf(WalletRefused);
        expect(e).toMatchObject({ code: 'unverified', message: expect.stringMatching(/does not verify for its current state/) });
      }
      expect(t.ps.state.enabled).toBe(true);
      await expect(signWalletById(t.ps, m.walletId)).rejects.toMatchObject({ data: { code: 'integrity' } });
    });
    expect(t.ps.state.enabled).toBe(false);
    expect(t.ps.state.status().reason).toMatch(new RegExp(`Wallets.Sign: ${WALLETS} id=${m.walletId}: .*does not verify`));
  });

  it('a wallet signed by another admin key is not signed again by this one without the certificate book', async () => {
    t = await testPayserv({ seed: SEED });
    const { db, signers } = t.ledger;
    const m = await newMiner(t, 5152, '20');
    // A valid signature, but one the writer's own key did not make (the key id is what it checks first).
    await asAttacker(db, [[`UPDATE ${WALLETS} SET sig_key_id = $1 WHERE id = $2`, ['00'.repeat(32), m.walletId]]]);
    await unchanged(async () => {
      await expect(signWallet(db, signers.admin, m.walletId)).rejects.toMatchObject({ code: 'unverified' });
    });
  });

  it("the site's honest edit clears the signature: the edited wallet is signed once, and a retry of that Sign writes nothing", async () => {
    await start('manual');
    const m = await newMiner(t, 5153, '20');
    const fresh = ethAddress();
    await t.ledger.db.query(
      `UPDATE ${WALLETS} SET address = $1, signed_at = NULL, sig_key_id = NULL, signature = NULL, updated_at = now() WHERE id = $2`,
      [fresh, m.walletId],
    );
    expect(await call('Wallets.Sign', { wallet: m.walletId })).toMatchObject({ address: fresh, reviewed: true, already: false });
    await unchanged(async () => {
      expect(await call('Wallets.Sign', { wallet: m.walletId })).toMatchObject({ address: fresh, reviewed: true, already: true });
    });
    expect(await call('Withdrawals.Request', { key: 'edited', wallet: m.walletId, amount: '5' })).toMatchObject({ address: fresh });
    expect(await t.ledger.check('wallets')).toEqual([]);
  });
});

describe('F10: Wallets.Sign and Wallets.Retire retried as sent', () => {
  it('the same answer, nothing written the second time; the other retirement is a further signed step', async () => {
    await start('manual');
    const w = await call('Wallets.Register', { user: 77, coin: 'ETH', address: `0x${'7'.repeat(40)}` });
    const id = Number(w.id);
    const signed = await call('Wallets.Sign', { wallet: id });
    expect(signed).toMatchObject({ reviewed: true, already: false });
    await unchanged(async () => {
      expect(await call('Wallets.Sign', { wallet: id })).toEqual({ ...signed, already: true });
    });
    const deleted = await call('Wallets.Retire', { wallet: id, how: 'deleted' });
    expect(deleted).toMatchObject({ deleted: true, active: true, already: false });
    await unchanged(async () => {
      expect(await call('Wallets.Retire', { wallet: id, how: 'deleted' })).toEqual({ ...deleted, already: true });
      expect(await refusedCode(call('Wallets.Sign', { wallet: id }))).toBe('wallet_deleted');
    });
    // Deactivated after its deletion: both flags, signed anew; a retry of that is "already" in turn.
    const both = await call('Wallets.Retire', { wallet: id, how: 'inactive' });
    expect(both).toMatchObject({ deleted: true, active: false, already: false });
    await unchanged(async () => {
      for (const how of ['inactive', 'deleted'])
        expect(await call('Wallets.Retire', { wallet: id, how })).toEqual({ ...both, already: true });
    });
    expect(await t.ledger.check('wallets')).toEqual([]);
  });

  it('a retirement whose signature does not verify (a flag flipped by hand, either way) is refused integrity on retry', async () => {
    await start('manual');
    const a = await newMiner(t, 5160, '20');
    const b = await newMiner(t, 5161, '20');
    await call('Wallets.Retire', { wallet: a.walletId, how: 'deleted' });
    // a: the signed deletion undone by hand (the retired signature left); b: deleted by hand, without the pool's signature.
    await asAttacker(t.ledger.db, [
      [`UPDATE ${WALLETS} SET deleted = false WHERE id = $1`, [a.walletId]],
      [`UPDATE ${WALLETS} SET deleted = true WHERE id = $1`, [b.walletId]],
    ]);
    await unchanged(async () => {
      for (const wallet of [a.walletId, b.walletId]) {
        expect(await refusedCode(call('Wallets.Retire', { wallet, how: 'deleted' }))).toBe('integrity');
        expect(await refusedCode(call('Wallets.Sign', { wallet }))).toBe('integrity');
      }
      expect(await refusedCode(call('Withdrawals.Request', { key: 'revived', wallet: a.walletId, amount: '5' }))).toBe('integrity');
    });
    expect(await count(WITHDRAWALS, a.userId)).toBe(0);
    expect((await integrityAlerts()).sort()).toEqual([
      'Wallets.Retire',
      'Wallets.Retire',
      'Wallets.Sign',
      'Wallets.Sign',
      'Withdrawals.Request',
    ]);
  });

  it('racing retries of one Sign and one Retire: one write each, the others answered "already"', async () => {
    await start('manual');
    const w = await call('Wallets.Register', { user: 78, coin: 'ETH', address: ethAddress() });
    const id = Number(w.id);
    const signs = await Promise.all(Array.from({ length: 6 }, () => call('Wallets.Sign', { wallet: id })));
    expect(signs.filter((r) => r.already === false)).toHaveLength(1);
    expect(new Set(signs.map((r) => r.signedAt)).size).toBe(1);
    const signedRow = await rowOf(id);
    const retires = await Promise.all(Array.from({ length: 6 }, () => call('Wallets.Retire', { wallet: id, how: 'inactive' })));
    expect(retires.filter((r) => r.already === false)).toHaveLength(1);
    expect(new Set(retires.map((r) => r.signedAt)).size).toBe(1);
    expect((await rowOf(id)).signed_at).not.toEqual(signedRow.signed_at);
    expect(await t.ledger.check('wallets')).toEqual([]);
  });
});

describe('review = "auto": an unsigned active wallet found at registration', () => {
  it('holding exactly the address: signed then (verifies, no second row), and payable; a retry writes nothing', async () => {
    await start('auto');
    const m = await newMiner(t, 5170, '20');
    const address = ethAddress();
    // Planted (or left from a time under review = "manual"): unsigned, an old created_at.
    await asAttacker(t.ledger.db, [
      [
        `INSERT INTO ${WALLETS} (user_id, coin_id, address, created_at, updated_at) VALUES ($1, $2, $3, now() - interval '1 year', now())`,
        [m.userId, m.coin.id, address],
      ],
    ]);
    const before = await count(WALLETS, m.userId);
    const r = await call('Wallets.Register', { user: m.userId, coin: 'ETH', address });
    expect(r).toMatchObject({ address, reviewed: true, already: true });
    expect(Date.now() - Date.parse(String(r.signedAt))).toBeLessThan(60_000);
    await unchanged(async () => {
      expect(await call('Wallets.Register', { user: m.userId, coin: 'ETH', address })).toEqual(r);
    });
    expect(await count(WALLETS, m.userId)).toBe(before);
    expect(await t.ledger.check('wallets')).toEqual([]);
    expect(await call('Withdrawals.Request', { key: 'to-found', wallet: r.id, amount: '5' })).toMatchObject({
      address,
      status: 'processing',
    });
  });

  it('holding it in another spelling: refused wallet_not_reviewed, nothing written, until an operator signs it (its address validated)', async () => {
    await start('auto');
    const m = await newMiner(t, 5171, '20');
    const plant = async (address: string) =>
      Number(
        (
          await asAttacker(t.ledger.db, [
            [
              `INSERT INTO ${WALLETS} (user_id, coin_id, address, created_at, updated_at) VALUES ($1, $2, $3, now(), now()) RETURNING id`,
              [m.userId, m.coin.id, address],
            ],
          ])
        )[0]!.id,
      );
    const lower = ethAddress();
    // Not an address of the coin: a mixed case that is no EIP-55 checksum. Never signed, by either call.
    const bad = await plant(`0x${lower.slice(2).toUpperCase()}`);
    await unchanged(async () => {
      expect(await refusedCode(call('Wallets.Register', { user: m.userId, coin: 'ETH', address: lower }))).toBe('wallet_not_reviewed');
      expect(await refusedCode(call('Wallets.Sign', { wallet: bad }))).toBe('invalid_address');
    });
    const other = ethAddress();
    const checksummed = await plant(getAddress(other));
    await unchanged(async () => {
      expect(await refusedCode(call('Wallets.Register', { user: m.userId, coin: 'ETH', address: other }))).toBe('wallet_not_reviewed');
    });
    expect(await call('Wallets.Sign', { wallet: checksummed })).toMatchObject({
      address: getAddress(other),
      reviewed: true,
      already: false,
    });
    expect(await call('Wallets.Register', { user: m.userId, coin: 'ETH', address: other })).toMatchObject({
      id: checksummed,
      already: true,
    });
  });
});
