// Wallet deletion is one-way (issue 13, item 4). A database attacker cannot bring back a wallet the user
// deleted: the pool's deletion is signed by admin (retireWallet), a reviewed wallet's flags changed
// without that signature are tampering, and payserv remembers on its host what it has seen retired and
// the newest reviewed wallet of each account, so a rollback to the copy signed before the deletion, or
// the newest wallet hidden, is tampering too. Process fails-stop on each; a signed deletion is declined.
// (Autopay against the same attacks, paying on anvil: test/autopay-wallets.test.ts.)
import { afterEach, describe, expect, it } from 'vitest';
import { EMPTY_MEMORY } from '../src/ledger/wallets.js';
import { signWalletById } from '../src/payserv/admin.js';
import { approveWithdrawal, declineRequest, processWithdrawal } from '../src/payserv/payouts.js';
import { rememberWallets } from '../src/verify/wallets.js';
import { retireWallet, signWallet, WalletRefused } from '../src/writer/wallets.js';
import { asAttacker, restoreRow, WALLETS, type Edit } from './support/attacker.js';
import { newMiner, request, wallet, type Miner } from './support/miners.js';
import { ethBackground } from './support/ledger.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const SEED = ethBackground(13);

let t: TestPayserv | undefined;
afterEach(async () => {
  await t?.ledger.db.close();
  t = undefined;
});

const rowOf = async (tp: TestPayserv, id: number) =>
  (await tp.ledger.db.query(`SELECT * FROM ${WALLETS} WHERE id = $1`, [id]))[0] as Record<string, unknown>;
const statusOf = async (tp: TestPayserv, id: number) =>
  (
    await tp.ledger.db.query<{ status: string; status_seq: number }>(
      'SELECT status, status_seq FROM finances_withdrawal_transaction WHERE id = $1',
      [id],
    )
  )[0];
/** Puts a captured row back as a new row with its own id. */
function insertRow(table: string, row: Record<string, unknown>): Edit {
  const cols = Object.keys(row);
  const value = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v) : v);
  return [
    `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`,
    cols.map((c) => value(row[c])),
  ];
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The same miner paying to another of its wallets. */
const to = (m: Miner, w: { id: number; address: string }): Miner => ({ ...m, walletId: w.id, address: w.address });

/** Process of `id` fails-stop: ERROR, payouts disabled with a reason naming `first`, an alert, the withdrawal untouched. */
async function expectFailStop(tp: TestPayserv, id: number, first: RegExp): Promise<void> {
  const alerts = tp.alerts.length;
  const before = await statusOf(tp, id);
  const r = await processWithdrawal(tp.ps, id, 'test');
  expect({ reply: r.reply, code: r.code, status: r.status }).toEqual({ reply: 'ERROR', code: 'integrity', status: 'processing' });
  expect(tp.ps.state.enabled).toBe(false);
  const reason = tp.ps.state.status().reason ?? '';
  expect(reason).toMatch(first);
  expect(r.message).toBe(reason);
  expect(tp.alerts.slice(alerts).map((a) => a.kind)).toEqual(['fail_stop']);
  expect(await statusOf(tp, id)).toEqual(before);
}

const failStopOn = (walletId: number, detail: string) => new RegExp(`^integrity failure: Process: ${WALLETS} id=${walletId}: ${detail}`);
const REVIVED =
  "payserv saw this wallet retired \\(deleted or inactive\\) under the pool's signature; it is active again: a deletion is one-way";

describe('wallet deletion is one-way on the payment path', () => {
  it("the attack: the user's old wallet restored to its copy signed while active, the current one marked deleted: fail-stop, the request untouched", async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 6001, '20');
    const whileActive = await rowOf(tp, m.walletId);
    // The user moves to a new wallet and deletes the old one: the pool signs the deletion.
    await retireWallet(tp.ledger.db, tp.ledger.signers.admin, m.walletId, 'deleted');
    const current = to(m, await wallet(tp, m.userId, m.coin));
    await tp.ledger.checkpointAll();
    expect((await processWithdrawal(tp.ps, await request(tp, current), 'test')).reply).toBe('PENDING');
    // payserv remembers what it saw on its own host.
    expect(await tp.ledger.local.getWallets(m.userId, m.coin.id)).toMatchObject({
      user_id: m.userId,
      coin_id: m.coin.id,
      newest_reviewed_id: current.walletId,
      retired_ids: [m.walletId],
    });
    expect(await tp.ledger.check('balanceerrors')).toEqual([]);

    const waiting = await request(tp, current, { amount: '2' });
    await asAttacker(tp.ledger.db, [
      restoreRow(WALLETS, whileActive, ['id']),
      [`UPDATE ${WALLETS} SET deleted = true WHERE id = $1`, [current.walletId]],
    ]);
    await expectFailStop(
      tp,
      waiting,
      failStopOn(
        current.walletId,
        `signature does not match the record \\(marked deleted without the pool's signed deletion\\?\\) \\[signature\\] \\(and 1 more\\)$`,
      ),
    );
    // The operator's check names both rows.
    expect((await tp.ledger.check('wallets')).sort()).toEqual(
      [
        `${WALLETS} id=${current.walletId}: signature does not match the record (marked deleted without the pool's signed deletion?) [signature]`,
        `${WALLETS} id=${m.walletId}: ${REVIVED.replace(/\\/g, '')} [wallet_revived]`,
      ].sort(),
    );
  });

  it('a signed deletion or deactivation is declined without a fail-stop; rolled back to the active copy it is tampering, and payserv will not sign it again', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    for (const [i, how] of (['deleted', 'inactive'] as const).entries()) {
      const m = await newMiner(tp, 6101 + i, '20');
      await tp.ledger.checkpointAll();
      const whileActive = await rowOf(tp, m.walletId);
      const first = await request(tp, m);
      const second = await request(tp, m);
      await retireWallet(tp.ledger.db, tp.ledger.signers.admin, m.walletId, how);
      const d = await processWithdrawal(tp.ps, first, 'test');
      expect([d.reply, d.message]).toEqual(['DECLINED', `wallet ${m.walletId} is ${how}`]);
      expect(tp.ps.state.enabled).toBe(true);
      expect(await tp.ledger.local.getWallets(m.userId, m.coin.id)).toMatchObject({
        user_id: m.userId,
        coin_id: m.coin.id,
        newest_reviewed_id: m.walletId,
        retired_ids: [m.walletId],
      });
      expect(await tp.ledger.check('balanceerrors')).toEqual([]);
      const retired = await rowOf(tp, m.walletId);

      // The attacker puts back the copy signed while the wallet was active: its signature verifies again.
      await asAttacker(tp.ledger.db, [restoreRow(WALLETS, whileActive, ['id'])]);
      expect(await tp.ledger.check('wallets')).toEqual([`${WALLETS} id=${m.walletId}: ${REVIVED.replace(/\\/g, '')} [wallet_revived]`]);
      await expectFailStop(tp, second, failStopOn(m.walletId, `${REVIVED} \\[wallet_revived\\]$`));

      // An operator asked to sign it (Wallets.Sign) is refused, and payserv stops again.
      tp.ps.state.enable('operator');
      await expect(signWalletById(tp.ps, m.walletId)).rejects.toThrow(
        new RegExp(`wallet ${m.walletId} was retired under the pool's signature .*tampering`),
      );
      expect(tp.ps.state.enabled).toBe(false);
      expect(await rowOf(tp, m.walletId)).toEqual(whileActive);
      // Undone, for the next case on this ledger: the signed retirement back in place.
      await asAttacker(tp.ledger.db, [restoreRow(WALLETS, retired, ['id'])]);
      expect(await tp.ledger.check('balanceerrors')).toEqual([]);
      tp.ps.state.enable('operator');
    }
    expect(tp.alerts.map((a) => a.kind)).toEqual(['fail_stop', 'fail_stop', 'fail_stop', 'fail_stop']);
  });

  it('a wallet deleted (signed) after Process is not paid: Approve refuses and changes nothing, Decline gives the amount back', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 6151, '20');
    const id = await request(tp, m);
    expect((await processWithdrawal(tp.ps, id, 'test')).reply).toBe('PENDING');
    await retireWallet(tp.ledger.db, tp.ledger.signers.admin, m.walletId, 'deleted');
    const before = await statusOf(tp, id);
    const r = await approveWithdrawal(tp.ps, id, 'test');
    expect([r.reply, r.code]).toEqual(['ERROR', 'wallet_deleted']);
    expect(r.message).toBe(`not paid: wallet ${m.walletId} is deleted since it was requested; decline the request`);
    expect(tp.ps.state.enabled).toBe(true);
    expect(await statusOf(tp, id)).toEqual(before);
    expect((await declineRequest(tp.ps, id, 'test')).reply).toBe('DECLINED');
    expect(await tp.ledger.check('balanceerrors')).toEqual([]);
  });

  it('a manual request may name an older wallet still signed active; a newer wallet flagged deleted without the signature stops it', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 6201, '20');
    const newer = await wallet(tp, m.userId, m.coin);
    await tp.ledger.checkpointAll();
    expect((await processWithdrawal(tp.ps, await request(tp, m), 'test')).reply).toBe('PENDING');
    expect(tp.ps.state.enabled).toBe(true);

    for (const [flag, word] of [
      ['deleted = true', 'deleted'],
      ['active = false', 'inactive'],
    ] as const) {
      const waiting = await request(tp, m);
      await asAttacker(tp.ledger.db, [[`UPDATE ${WALLETS} SET ${flag} WHERE id = $1`, [newer.id]]]);
      await expectFailStop(
        tp,
        waiting,
        failStopOn(
          newer.id,
          escape(
            `signature does not match the record (marked ${word} without the pool's signed ${word === 'deleted' ? 'deletion' : 'deactivation'}?)`,
          ),
        ),
      );
      await asAttacker(tp.ledger.db, [[`UPDATE ${WALLETS} SET deleted = false, active = true WHERE id = $1`, [newer.id]]]);
      tp.ps.state.enable('operator');
    }
  });

  it('the newest reviewed wallet hidden (its row deleted, or its signature removed): fail-stop', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const hide = {
      'row deleted': (id: number) => [`DELETE FROM ${WALLETS} WHERE id = $1`, [id]] as const,
      'signature removed': (id: number) =>
        [`UPDATE ${WALLETS} SET signature = NULL, sig_key_id = NULL, signed_at = NULL WHERE id = $1`, [id]] as const,
    };
    for (const [i, [name, edit]] of Object.entries(hide).entries()) {
      const m = await newMiner(tp, 6301 + i, '20');
      const newest = await wallet(tp, m.userId, m.coin);
      await tp.ledger.checkpointAll();
      expect((await processWithdrawal(tp.ps, await request(tp, to(m, newest)), 'test')).reply, name).toBe('PENDING');
      // A request to the older wallet, as the user may make: paid only while nothing is hidden.
      const waiting = await request(tp, m);
      const hidden = await rowOf(tp, newest.id);
      await asAttacker(tp.ledger.db, [edit(newest.id)]);
      const missing = `payserv saw this wallet as the newest reviewed wallet of user=${m.userId} coin=${m.coin.id}; it is no longer one (the newest now: id=${m.walletId}): its row was deleted, moved or unsigned`;
      await expectFailStop(tp, waiting, failStopOn(newest.id, `${escape(missing)} \\[wallet_missing\\]$`));
      expect(await tp.ledger.check('wallets'), name).toEqual([`${WALLETS} id=${newest.id}: ${missing} [wallet_missing]`]);
      // Undone, for the next case on this ledger.
      await asAttacker(tp.ledger.db, [`DELETE FROM ${WALLETS} WHERE id = ${newest.id}`, insertRow(WALLETS, hidden)]);
      expect(await tp.ledger.check('wallets'), name).toEqual([]);
      tp.ps.state.enable('operator');
    }
  });
});

describe('the writer: a deletion is signed, and never undone', () => {
  it('retireWallet flags and signs in one go; signWallet refuses a wallet retired under its key and set active again', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const { db, signers } = tp.ledger;
    const m = await newMiner(tp, 6401, '1');
    const deleted = await retireWallet(db, signers.admin, m.walletId, 'deleted');
    expect([deleted.deleted, deleted.active]).toEqual([true, true]);
    // Deactivating a deleted wallet leaves it deleted: no retirement goes back.
    const both = await retireWallet(db, signers.admin, m.walletId, 'inactive');
    expect([both.deleted, both.active]).toEqual([true, false]);
    expect(await tp.ledger.check('wallets')).toEqual([]);

    // The flags flipped back by hand, the retired signature left in place: the writer recognises its own signature.
    await asAttacker(db, [[`UPDATE ${WALLETS} SET deleted = false, active = true WHERE id = $1`, [m.walletId]]]);
    const refused = await signWallet(db, signers.admin, m.walletId).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WalletRefused);
    expect(refused).toMatchObject({ code: 'retired', message: expect.stringMatching(/a deletion is one-way/) });
    expect(await tp.ledger.check('wallets')).toEqual([`${WALLETS} id=${m.walletId}: signature does not match the record [signature]`]);
    await expect(retireWallet(db, signers.admin, 987_654_321, 'deleted')).rejects.toMatchObject({ code: 'unknown_wallet' });
  });
});

describe("the host's memory of wallets", () => {
  it('two calls remembering one account at once: neither loses what the other saw', async () => {
    t = await testPayserv({ seed: SEED });
    const tp = t;
    const m = await newMiner(tp, 6501, '1');
    const newer = await wallet(tp, m.userId, m.coin);
    const retired = await retireWallet(tp.ledger.db, tp.ledger.signers.admin, m.walletId, 'deleted');
    const seen = (w: typeof newer) => ({
      userId: m.userId,
      coinId: m.coin.id,
      reviewed: [w],
      newest: w,
      problems: [],
      memory: EMPTY_MEMORY,
    });
    // Each saw only part of the account (the newer wallet not reviewed yet, say): both parts are kept.
    await Promise.all([
      rememberWallets(tp.ps.db, tp.ps.local, tp.ps.signers.payserv, seen(retired)),
      rememberWallets(tp.ps.db, tp.ps.local, tp.ps.signers.payserv, seen(newer)),
    ]);
    expect(await tp.ledger.local.getWallets(m.userId, m.coin.id)).toMatchObject({
      user_id: m.userId,
      coin_id: m.coin.id,
      newest_reviewed_id: newer.id,
      retired_ids: [m.walletId],
    });
    await expect(
      rememberWallets(tp.ps.db, tp.ps.local, tp.ps.signers.payserv, {
        ...seen(newer),
        problems: [{ table: WALLETS, row: 'id=1', code: 'signature', detail: 'x' }],
      }),
    ).rejects.toThrow(/never remembered/);
  });
});
