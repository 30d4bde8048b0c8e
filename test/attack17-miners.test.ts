// Regression (issue 17 attack F4, F11): the miners' API against a database attacker who rolls an account
// back. A tail cut by SQL (the newest withdrawal and its signatures deleted) or a sent payment put back to its
// signed sending state verifies row by row; the intake remembers where each account already was (in memory
// and in its state directory, so a restart still knows) and refuses it as integrity (409), alerted. The
// honest path stays 200, equal to the ledger and the chain. Paging errors name the parameter.
import { describe, expect, it, vi } from 'vitest';
import type { MinerPayment, MinerStats } from '../src/api/miners.js';
import { mine } from '../src/devnet/anvil.js';
import { add, parseAmount, sub, ZERO, type Amount } from '../src/money/amount.js';
import { checkWithdrawal } from '../src/payserv/payouts.js';
import { errorCode, minersBench, paymentsPath, payMiner, POOL, startMinersIntake } from './support/miners-intake.js';

const caller = 'test';
const w = minersBench();
const pay = (amount: string) => payMiner(w.t, w.miner, w.paid, amount);

/** The withdrawal's row and its status signatures deleted by SQL, triggers off: the tail of the account cut. */
async function cutTail(id: number): Promise<void> {
  const { t } = w;
  await t.ledger.db.transaction(async (tx) => {
    await tx.query('ALTER TABLE finances_withdrawal_signatures DISABLE TRIGGER USER');
    await tx.query('ALTER TABLE finances_withdrawal_transaction DISABLE TRIGGER USER');
    await tx.query('DELETE FROM finances_withdrawal_signatures WHERE withdrawal_id = $1', [id]);
    await tx.query('DELETE FROM finances_withdrawal_transaction WHERE id = $1', [id]);
    await tx.query('ALTER TABLE finances_withdrawal_signatures ENABLE TRIGGER USER');
    await tx.query('ALTER TABLE finances_withdrawal_transaction ENABLE TRIGGER USER');
  });
}

/** The withdrawal's last status signature deleted and its row put back to the signed state before it. */
async function rollBackStatus(id: number): Promise<void> {
  const { t } = w;
  const [last] = await t.ledger.db.query<{ seq: number }>(
    'SELECT max(seq)::int AS seq FROM finances_withdrawal_signatures WHERE withdrawal_id = $1',
    [id],
  );
  const [prev] = await t.ledger.db.query<{ status: string; tx_hash: string | null; tx_fee: string | null; comment: string }>(
    'SELECT status, tx_hash, tx_fee::text, comment FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 AND seq = $2',
    [id, last!.seq - 1],
  );
  await t.ledger.db.transaction(async (tx) => {
    await tx.query('ALTER TABLE finances_withdrawal_signatures DISABLE TRIGGER USER');
    await tx.query('ALTER TABLE finances_withdrawal_transaction DISABLE TRIGGER USER');
    await tx.query('DELETE FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 AND seq = $2', [id, last!.seq]);
    await tx.query(
      'UPDATE finances_withdrawal_transaction SET status = $2, status_seq = $3, tx_hash = $4, tx_fee = $5, comment = $6 WHERE id = $1',
      [id, prev!.status, last!.seq - 1, prev!.tx_hash, prev!.tx_fee, prev!.comment],
    );
    await tx.query('ALTER TABLE finances_withdrawal_signatures ENABLE TRIGGER USER');
    await tx.query('ALTER TABLE finances_withdrawal_transaction ENABLE TRIGGER USER');
  });
}

/** payserv's signed checkpoints of the miner's account deleted by SQL (the table is append-only: triggers off). */
async function dropCheckpoints(): Promise<void> {
  const { t, miner } = w;
  await t.ledger.db.transaction(async (tx) => {
    await tx.query('ALTER TABLE finances_user_balance_checkpoints DISABLE TRIGGER USER');
    await tx.query('DELETE FROM finances_user_balance_checkpoints WHERE user_id = $1', [miner.userId]);
    await tx.query('ALTER TABLE finances_user_balance_checkpoints ENABLE TRIGGER USER');
  });
}

/** The intake's integrity alerts stored so far. */
async function integrityAlerts(): Promise<string[]> {
  const rows = await w.t.ledger.db.query<{ reason: string }>(
    "SELECT reason FROM payserv_alerts WHERE kind = 'intake_integrity' ORDER BY id",
  );
  return rows.map((r) => r.reason);
}

/** The intake stopped and started again on the same state directory: only its files remember. */
async function restartIntake(): Promise<void> {
  await w.intake.stop();
  w.intake = await startMinersIntake(w.t, w.url);
}

const statsPath = () => `/api/pools/${POOL}/miners/${w.miner.address}`;

/** Both GET paths refused 409 integrity naming what went backwards, and an integrity alert stored. */
async function expectRefused(why: RegExp): Promise<void> {
  for (const path of [statsPath(), paymentsPath(w.miner.address)]) {
    const r = await w.get<{ error: { message: string } }>(path);
    expect(r.status).toBe(409);
    expect(errorCode(r)).toBe('integrity');
    expect(r.body.error.message).toMatch(why);
  }
  // Raised in the background: stored within moments.
  await vi.waitFor(
    async () => expect((await integrityAlerts()).some((a) => /Miners\.(Get|Payments) refused/.test(a) && why.test(a))).toBe(true),
    {
      timeout: 5000,
    },
  );
}

/** The sent payments as the ledger holds them: what reached the address (amount less fee), and their hashes. */
async function ledgerPayments(): Promise<{ totalPaid: Amount; sentHashes: string[]; inFlight: number }> {
  const { t, miner } = w;
  const rows = await t.ledger.db.query<{ amount: string; fee: string; status: string; tx_hash: string }>(
    'SELECT amount::text, fee::text, status, tx_hash FROM finances_withdrawal_transaction WHERE user_id = $1 ORDER BY id',
    [miner.userId],
  );
  const sent = rows.filter((r) => r.status === 'sent');
  return {
    totalPaid: sent.reduce((s, r) => add(s, sub(parseAmount(r.amount), parseAmount(r.fee))), ZERO),
    sentHashes: sent.map((r) => r.tx_hash),
    inFlight: rows.filter((r) => r.status === 'sending').length,
  };
}

describe('miners API against a rolled-back account (attack17 F4, F11)', () => {
  it('R1: the newest payment deleted by SQL (row and its signatures) is refused 409 integrity, alerted, also after a restart', async () => {
    const { paid, get } = w;
    const before = await get<MinerStats>(statsPath());
    expect(before.status).toBe(200);
    expect(before.body.paymentsInFlight).toBe(1);
    await cutTail(paid[3]!.id);
    await expectRefused(new RegExp(`withdrawal ${paid[3]!.id}.*gone|checkpoint`));
    await restartIntake();
    await expectRefused(new RegExp(`withdrawal ${paid[3]!.id}.*gone|checkpoint`));
    // payserv's signed checkpoint deleted too: the intake's own memory, read back from its file, still sees the cut.
    await dropCheckpoints();
    await restartIntake();
    await expectRefused(new RegExp(`withdrawal ${paid[3]!.id}, the last one already seen, is gone`));
  });

  it('R2: a sent payment rolled back to its signed sending state is refused 409 integrity, alerted, also after a restart', async () => {
    const { paid, get } = w;
    const before = await get<MinerStats>(statsPath());
    expect(before.status).toBe(200);
    await rollBackStatus(paid[0]!.id);
    await expectRefused(/status_rolled_back/);
    await restartIntake();
    await expectRefused(/status_rolled_back/);
    await dropCheckpoints();
    await restartIntake();
    await expectRefused(new RegExp(`id=${paid[0]!.id}: it was final, now sending \\[status_rolled_back\\]`));
  });

  it('R3: the memory is per account and only moves forward: an honest new payment and a restart keep serving 200', async () => {
    const { t, url, miner, paid, get } = w;
    const first = await get<MinerStats>(statsPath());
    expect(first.status).toBe(200);
    // The account moves on honestly: the sending payment becomes final and a new one is broadcast.
    await mine(url, 12);
    expect((await checkWithdrawal(t.ps, paid[3]!.id, caller)).reply).toBe('SENT');
    await pay('0.25');
    await restartIntake();
    const stats = await get<MinerStats>(statsPath());
    const page = await get<MinerPayment[]>(paymentsPath(miner.address, '?pageSize=100'));
    expect(stats.status).toBe(200);
    expect(page.status).toBe(200);
    const ledger = await ledgerPayments();
    expect(parseAmount(stats.body.totalPaidExact)).toEqual(ledger.totalPaid);
    expect(stats.body.paymentsInFlight).toBe(ledger.inFlight);
    expect(page.body.map((p) => p.withdrawalId).sort((a, b) => a - b)).toEqual(paid.map((p) => p.id));
    const sent = page.body.filter((p) => p.status === 'sent');
    expect(sent.map((p) => p.transactionConfirmationData).sort()).toEqual([...ledger.sentHashes].sort());
    // The chain's own count: every final payment is mined at least 12 blocks deep.
    for (const p of sent) expect(p.confirmations).toBeGreaterThanOrEqual(12);
    expect(await integrityAlerts()).toEqual([]);
    // A cut now, after the restart, is still seen: the head remembered is the newest one.
    await cutTail(paid[4]!.id);
    await expectRefused(new RegExp(`withdrawal ${paid[4]!.id}.*gone|checkpoint`));
  });

  it('B1: bad paging input refused 400 naming the parameter', async () => {
    const { miner, get } = w;
    for (const [q, name] of [
      ['?page=-1', 'page'],
      ['?page=1000001', 'page'],
      ['?pageSize=0', 'pageSize'],
      ['?pageSize=101', 'pageSize'],
      ['?page=1.5', 'page'],
      ['?page=1e3', 'page'],
      ['?page=0x10', 'page'],
      ['?page=%20', 'page'],
      ['?pageSize=99999999999999999999', 'pageSize'],
    ] as const) {
      const r = await get<{ error: { message: string } }>(paymentsPath(miner.address, q));
      expect(r.status).toBe(400);
      expect(r.body.error.message).toContain(`${name} must be a whole number from`);
      expect(r.body.error.message).not.toMatch(/expected number/);
    }
    const huge = await get<MinerPayment[]>(paymentsPath(miner.address, '?page=1000000&pageSize=100'));
    expect(huge.status).toBe(200);
    expect(huge.body).toEqual([]);
    const odd = await get(`/api/pools/${POOL}/miners/${'%ZZ'}/payments`);
    expect(odd.status).toBe(400);
  });
});
