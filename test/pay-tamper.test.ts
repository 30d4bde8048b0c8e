// An attacker with write access to the database against the payment records (migration 0003), which
// carry no signature of their own: swapped transaction bytes, a deleted attempt, a nonce store rolled
// back. Each is detected (a fail-stop), nothing is paid that was not paid before, and the withdrawal
// keeps its status.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { dropTransaction, mine, setAutomine } from '../src/devnet/anvil.js';
import { EvmDriver } from '../src/chains/eth/driver.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { asAttacker } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let nextUser = 4000;
const caller = 'test';
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 13 };

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, false);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
});

afterEach(async () => {
  await setAutomine(url, true);
  await t.ledger.db.close();
});

async function sending(): Promise<{ id: number; m: Miner; hash: string }> {
  const m = await newMiner(t, nextUser++);
  const id = await request(t, m, { amount: '1' });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  const r = await approveWithdrawal(t.ps, id, caller);
  expect(r.reply).toBe('SENDING');
  return { id, m, hash: r.txHash as string };
}

async function statusOf(id: number): Promise<string | undefined> {
  return (await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]))[0]?.status;
}

describePerDataPath('the payment records under attack', () => {
  it("another payment's bytes stored under a withdrawal's hash: Check fails-stop, nothing more is paid", async () => {
    const a = await sending();
    const b = await sending();
    // Swap: a's attempt now holds b's signed bytes (a valid transaction of the hot wallet, paying b).
    await asAttacker(t.ledger.db, [
      ['UPDATE payserv_chain_txs SET raw = (SELECT raw FROM payserv_chain_txs WHERE hash = $2) WHERE hash = $1', [a.hash, b.hash]],
    ]);
    await mine(url, 12);
    const r = await checkWithdrawal(t.ps, a.id, caller);
    expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
    expect(r.message).toMatch(/hash to|does not pay/);
    expect(t.ps.state.enabled).toBe(false);
    expect(t.alerts.map((x) => x.kind)).toContain('fail_stop');
    expect(await statusOf(a.id)).toBe('sending');
    // Only what was signed and broadcast before the attack was paid: one transfer each.
    expect(await balanceOf(url, a.m.address)).toBe(999_500_000_000_000_000n);
    expect(await balanceOf(url, b.m.address)).toBe(999_500_000_000_000_000n);
  });

  it('a deleted attempt: Check fails-stop instead of judging the payment unsent', async () => {
    const a = await sending();
    // The node forgets it too (dropped), so only the database could tell it was ever sent.
    await dropTransaction(url, a.hash);
    await asAttacker(t.ledger.db, [['DELETE FROM payserv_chain_txs WHERE hash = $1', [a.hash]]]);
    const r = await checkWithdrawal(t.ps, a.id, caller);
    expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
    expect(r.message).toMatch(/missing/);
    expect(t.ps.state.enabled).toBe(false);
    expect(await statusOf(a.id)).toBe('sending');
    expect(await balanceOf(url, a.m.address)).toBe(0n);
  });

  it('the nonce store rolled back below the local cache: the next payment fails-stop before signing', async () => {
    const a = await sending();
    await mine(url, 1);
    await asAttacker(t.ledger.db, [['UPDATE payserv_nonces SET next_nonce = 0', []]]);
    const m = await newMiner(t, nextUser++);
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    const before = await t.ledger.db.query('SELECT hash FROM payserv_chain_txs');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect([r.reply, r.code]).toEqual(['ERROR', 'integrity']);
    expect(r.message).toMatch(/rolled back/);
    expect(t.ps.state.enabled).toBe(false);
    expect(await statusOf(id)).toBe('pending');
    expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toEqual(before);
    expect(await balanceOf(url, m.address)).toBe(0n);
    expect(await balanceOf(url, a.m.address)).toBe(999_500_000_000_000_000n);
  });
});
