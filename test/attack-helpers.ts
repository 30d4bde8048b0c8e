// Attack helpers (outside tester): a payserv "restarted" on the same database and state directory,
// as a fresh process would be: new journal handle, new driver from the hot key on disk, payouts disabled;
// the ETH attack files' common set-up, and the crash-erase-rebroadcast scenario they run at each crash point.
import type { DriverWiring } from './support/chain-settings.js';
import { expect } from 'vitest';
import type { Hex } from 'viem';
import { mine } from '../src/devnet/anvil.js';
import type { FaultPoint } from '../src/payserv/faults.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import type { Payserv } from '../src/payserv/context.js';
import { LockKeys } from '../src/data/lock-keys.js';
import { AUDIT_LOCK_NAME, AuditTrail } from '../src/payserv/audit.js';
import { detectLostState, Rebaseline } from '../src/payserv/rebaseline.js';
import { LockWatch } from '../src/payserv/lock-watch.js';
import { Locks } from '../src/payserv/locks.js';
import { journalDir, PaymentJournal } from '../src/journal/journal.js';
import { ServiceState, type AlertSink } from '../src/payserv/state.js';
import type { Drivers } from '../src/chains/driver.js';
import { createLogger } from '../src/log/index.js';
import { EvmDriver } from '../src/chains/eth/driver.js';
import { ZcashDriver } from '../src/chains/zcash/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { asAttacker, restoreRow, STATUS_SIGNATURES, WITHDRAWALS, type Edit } from './support/attacker.js';
import { balanceOf, driverDeps, ETH_SETTINGS, ethClient, minedCount, ZEC_SETTINGS } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import type { EthBench, TestPayserv } from './support/payserv.js';

export async function restartPayserv(t: TestPayserv, drivers: (deps: DriverWiring) => Promise<Drivers>): Promise<Payserv> {
  const log = createLogger('payserv', 'info', { write: (s: string) => void t.logs.push(s) });
  const sink: AlertSink = { raise: async (kind, reason, details) => void t.alerts.push({ kind, reason, details }) };
  const state = new ServiceState(log, sink);
  const db = t.ps.db;
  const journal = await PaymentJournal.open(journalDir(t.ledger.stateDir));
  const locks = new Locks(db, LockKeys.of(t.ledger.signers.payserv), { log });
  const ps: Payserv = {
    db,
    trust: t.ledger.trust,
    local: t.ledger.local,
    journal,
    signers: { payserv: t.ledger.signers.payserv, admin: t.ledger.signers.admin },
    drivers: await drivers({ db, trust: t.ledger.trust, stateDir: t.ledger.stateDir, log, journal }),
    policies: t.ps.policies,
    autopay: t.ps.autopay,
    state,
    locks,
    lockWatch: new LockWatch({ locks, alerts: sink, log, heldMaxMs: 300_000 }),
    log,
    now: () => new Date(),
  };
  return ps;
}

/** The lost-state gate startPayserv puts on a restarted payserv (src/app/service.ts): `ps.rebaseline` set from what is lost. */
export async function rebaselineGate(t: TestPayserv, ps: Payserv): Promise<Rebaseline> {
  const audit = new AuditTrail({
    db: ps.db,
    stateDir: t.ledger.stateDir,
    log: ps.log,
    lockKey: LockKeys.of(t.ledger.signers.payserv).key(AUDIT_LOCK_NAME),
  });
  ps.rebaseline = new Rebaseline(await detectLostState(ps.db, ps.local), { confirmations: 2, audit });
  return ps.rebaseline;
}

export async function restartedEth(url: string, deps: DriverWiring): Promise<EvmDriver> {
  const d = new EvmDriver(ETH_SETTINGS(url), await loadHotKey(deps.stateDir, 'ETH'), driverDeps(deps));
  await d.start();
  return d;
}

export async function restartedZec(url: string, deps: DriverWiring): Promise<ZcashDriver> {
  const d = new ZcashDriver(ZEC_SETTINGS(url), await loadHotKey(deps.stateDir, 'ZEC'), driverDeps(deps));
  await d.start();
  return d;
}

type Row = Record<string, unknown>;
const caller = 'test';
/** 1 ETH asked, less the withdrawal fee: what the miner receives when paid once. */
export const PAID = 999_500_000_000_000_000n;

/**
 * payserv crashes at `point` of Approve's payment (after the write-ahead commit); a database attacker reads
 * the stored signed bytes, erases every trace of the attempt (history cut back to pending, the stored row
 * deleted, the nonce row kept or rolled back); payserv restarts, the operator runs the checks and enables,
 * Approve pays again, and the attacker broadcasts the captured transaction. Refusing to start or checks
 * that find the edit count as detection; otherwise the miner must have been paid once at most.
 */
export async function crashEraseRebroadcast(b: EthBench, userId: number, point: FaultPoint, nonces: 'kept' | 'rolled back') {
  const { t, url, driver } = b;
  const rowOf = async (id: number) => (await t.ledger.db.query<Row>(`SELECT * FROM ${WITHDRAWALS} WHERE id = $1`, [id]))[0] as Row;
  const m = await newMiner(t, userId);
  const id = await request(t, m, { amount: '1' });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  const before = await rowOf(id);
  const noncesBefore = await t.ledger.db.query<Row>('SELECT * FROM payserv_nonces');
  let captured: Row | undefined;
  t.ps.faults = {
    async at(p, info) {
      if (p === point && info.withdrawals.includes(id) && !captured) {
        captured = (await t.ledger.db.query<Row>('SELECT * FROM payserv_chain_txs WHERE $1 = ANY(withdrawal_ids)', [id]))[0];
        throw new Error('simulated crash: payserv killed after the write-ahead commit');
      }
    },
  };
  await approveWithdrawal(t.ps, id, caller).catch((e: unknown) => e);
  expect(captured).toBeDefined();
  if (point === 'payment.committed') expect(await minedCount(url, driver.address)).toBe(0);

  // The attacker erases the attempt: history cut to the pending entry, stored row deleted.
  const edits: Edit[] = [
    [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, before.status_seq]],
    restoreRow(WITHDRAWALS, before, ['id']),
    ['DELETE FROM payserv_chain_txs WHERE hash = $1', [captured!.hash]],
  ];
  if (nonces === 'rolled back') {
    edits.push('DELETE FROM payserv_nonces');
    for (const n of noncesBefore)
      edits.push([
        'INSERT INTO payserv_nonces (chain, address, next_nonce, updated_at) VALUES ($1, $2, $3, $4)',
        [n.chain, n.address, n.next_nonce, n.updated_at],
      ]);
  }
  await asAttacker(t.ledger.db, edits);

  // payserv restarted (a new process on the same state dir), operator checks and enables.
  let ps: Payserv;
  try {
    ps = await restartPayserv(t, async (deps) => new Map([['ETH', await restartedEth(url, deps)]]));
  } catch (e) {
    // Refusing to start on the tampered database is a safe (detected) outcome.
    expect(String(e)).toMatch(/rolled back|raised/);
    return;
  }
  const problems = await t.ledger.check('balanceerrors');
  // An operator finding problems would not enable: that counts as detection.
  if (problems.length > 0) {
    console.log('checks found:', problems);
    return;
  }
  ps.state.enable('operator');
  const second = await approveWithdrawal(ps, id, caller);
  console.log('second approve:', second, 'enabled', ps.state.enabled);

  // The attacker broadcasts the first, captured transaction.
  await ethClient(url)
    .request({ method: 'eth_sendRawTransaction', params: [captured!.raw as Hex] })
    .catch((e: unknown) => console.log('attacker broadcast:', String(e)));
  await mine(url, 12);
  if (ps.state.enabled) {
    const c = await checkWithdrawal(ps, id, caller);
    console.log('check:', c);
    if (c.reply === 'SEND_ERROR' && ps.state.enabled) {
      const r = await resendWithdrawal(ps, id, caller);
      console.log('resend:', r);
      await mine(url, 12);
      if (ps.state.enabled) console.log('check2:', await checkWithdrawal(ps, id, caller));
    }
  }
  await mine(url, 12);
  console.log(
    'final: balance',
    await balanceOf(url, m.address),
    'mined',
    await minedCount(url, driver.address),
    'enabled',
    ps.state.enabled,
    'status',
    (await rowOf(id)).status,
  );
  expect(await balanceOf(url, m.address)).toBeLessThanOrEqual(PAID);
  expect(await minedCount(url, driver.address)).toBeLessThanOrEqual(1);
}
