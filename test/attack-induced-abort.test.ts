// Outside tester (postgres). Can the attacker make payserv stop between the write-ahead commit and the
// journal record without a crash (leaving a stored, never-journaled, never-broadcast payment while
// payserv stays enabled, the precondition of attack-crash-committed)? Right after the commit the attacker
// locks payserv's tables (ACCESS EXCLUSIVE) from their own session, so any statement payserv runs before
// the journal record waits for the statement timeout and fails.
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import { approveWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { backend, testPgUrl } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver, minedCount } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { readJournal, journalDir } from '../src/journal/journal.js';

const anvil = anvilForFile();
const describePg = backend() === 'postgres' && process.env.PAYSERV_TEST_DATA !== 'dbgw' ? describe : describe.skip;
let t: TestPayserv | undefined;
const clients: pg.Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) await c.end().catch(() => undefined);
  await t?.ledger.db.close();
  t = undefined;
});

const TABLES = [
  'payserv_chain_txs',
  'payserv_nonces',
  'payserv_utxo_reservations',
  'finances_withdrawal_transaction',
  'finances_withdrawal_signatures',
  'finances_user_balance_checkpoints',
  'finances_user_balance_transaction',
  'crypto_certs',
  'coins_coin',
  'users_userwallets',
  'payserv_alerts',
];

// Held: payserv needs no database between the commit and the broadcast: journaled, broadcast, then the
// advance times out and fails-stop. Paid once.
describePg('tables locked by the attacker right after the write-ahead commit', { timeout: 180_000 }, () => {
  it('either the payment is journaled and broadcast, or payserv fails-stop', async () => {
    const { url } = await anvil();
    await setAutomine(url, true);
    let driver!: EvmDriver;
    t = await testPayserv({
      seed: { users: 2, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 79 },
      drivers: async (deps) => {
        driver = await ethDriver(url, deps);
        return new Map([['ETH', driver]]);
      },
    });
    const tp = t;
    const [{ name }] = (await tp.ledger.db.query<{ name: string }>('SELECT current_database() AS name')) as [{ name: string }];
    const u = new URL(testPgUrl());
    u.pathname = `/${name}`;
    const sql = new pg.Client({ connectionString: u.toString(), application_name: 'mallory' });
    await sql.connect();
    clients.push(sql);
    const m = await newMiner(tp, 9351);
    const id = await request(tp, m, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, 'test')).reply).toBe('PENDING');
    let locked = false;
    tp.ps.faults = {
      async at(p) {
        if (p === 'payment.committed' && !locked) {
          locked = true;
          await sql.query('BEGIN');
          await sql.query(`LOCK TABLE ${TABLES.join(', ')} IN ACCESS EXCLUSIVE MODE`);
        }
      },
    };
    const r = await approveWithdrawal(tp.ps, id, 'test').catch((e: unknown) => ({ reply: 'THREW', message: String(e) }));
    await sql.query('ROLLBACK');
    tp.ps.faults = undefined;
    await mine(url, 1);
    const journal = await readJournal(journalDir(tp.ledger.stateDir));
    const mined = await minedCount(url, driver.address);
    console.log(
      'approve:',
      r.reply,
      r.message,
      '; enabled',
      tp.ps.state.enabled,
      '; journal attempts',
      journal?.length,
      '; mined',
      mined,
      '; paid',
      await balanceOf(url, m.address),
    );
    const storedNotSent = mined === 0 && (journal?.length ?? 0) === 0;
    expect(storedNotSent && tp.ps.state.enabled).toBe(false);
  });
});
