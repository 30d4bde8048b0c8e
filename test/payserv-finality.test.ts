// Sent payments watched to finality (src/payserv/finality.ts) on anvil with the real Ethereum driver:
// final rows retired, a payment whose transaction is gone fails-stop with a payment_reorged alert and is
// never paid again, "unknown" changes nothing, and a watch row is input like any other.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { anvilRpc, dropTransaction, mine, setAutomine } from '../src/devnet/anvil.js';
import type { ChainDriver, Placement, Watch } from '../src/chains/driver.js';
import { EvmDriver } from '../src/chains/eth/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseTransaction, type Hex } from 'viem';
import { ALERT } from '../src/payserv/chain-alerts.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, driverWith, ETH_SETTINGS, ethDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { driverStorage } from '../src/app/drivers.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let monitor: Monitor;

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 15 };
const caller = 'test';
const confirmations = 12;
const FINALITY = 40;

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
  monitor = new Monitor(t.ps, {
    intervalMs: 1_000,
    stuckAfterMs: 3_600_000,
    nodeUnhealthyAfterMs: 600_000,
    finality: new Map([['ETH', FINALITY]]),
  });
});

afterEach(async () => {
  await monitor.stop();
  await t.ledger.db.close();
});

const raised = (kind: string) => t.alerts.filter((a) => a.kind === kind);

type Row = { hash: string; block_number: string; block_hash: string; final_at: Date | null; last_result: string | null };

async function rowOf(hash: string): Promise<Row | undefined> {
  const [r] = await t.ledger.db.query<Row>(
    'SELECT hash, block_number::text AS block_number, block_hash, final_at, last_result FROM payserv_sent_watch WHERE hash = $1',
    [hash],
  );
  return r;
}

async function statusOf(id: number): Promise<string> {
  const [r] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'none';
}

/** A withdrawal paid on anvil and recorded sent (with its watch row): its id, transaction and where the verdict found it. */
async function sentPayment(userId: number): Promise<{ id: number; hash: string; seen: Placement }> {
  const m = await newMiner(t, userId, '20');
  const id = await request(t, m, { amount: '1' });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  const r = await approveWithdrawal(t.ps, id, caller);
  expect(r.reply).toBe('SENDING');
  await mine(url, confirmations);
  expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
  const row = await rowOf(r.txHash as string);
  if (!row) throw new Error('no watch row');
  return { id, hash: row.hash, seen: { blockNumber: Number(row.block_number), blockHash: row.block_hash } };
}

/** The real driver, with watch() answering as given: the chain's word stood in for. */
function answering(d: ChainDriver, watch: (hash: string) => Watch): ChainDriver {
  return driverWith(d, { watch: async (hash: string) => watch(hash) });
}

const useDriver = (d: ChainDriver) => (t.ps.drivers as Map<string, ChainDriver>).set('ETH', d);

describePerDataPath('sent payments watched to finality on anvil', () => {
  it('"unknown" changes nothing: the placement stays, the row is not final, payouts stay enabled', async () => {
    const p = await sentPayment(4001);
    useDriver(answering(driver, () => ({ kind: 'unknown', reason: 'the node does not serve this receipt' })));
    const r = await monitor.tick();
    expect(r.finality).toMatchObject({ asked: 1, unknown: 1, final: 0, gone: 0 });
    const row = await rowOf(p.hash);
    expect(row).toMatchObject({ block_number: String(p.seen.blockNumber), block_hash: p.seen.blockHash, final_at: null });
    expect(row?.last_result).toMatch(/^unknown: the node does not serve/);
    expect(t.ps.state.enabled).toBe(true);
    expect(t.alerts).toEqual([]);
  });

  it('a payment settles, then is final at finality_depth and is no longer watched (the real watch)', async () => {
    const p = await sentPayment(4101);
    expect((await monitor.tick()).finality).toMatchObject({ asked: 1, settling: 1, final: 0 });
    expect((await rowOf(p.hash))?.final_at).toBeNull();
    await mine(url, FINALITY);
    expect((await monitor.tick()).finality).toMatchObject({ asked: 1, final: 1 });
    expect((await rowOf(p.hash))?.final_at).toBeInstanceOf(Date);
    expect((await monitor.tick()).finality).toMatchObject({ asked: 0 });
    expect(t.alerts).toEqual([]);
  });

  it('a sent payment whose block is reverted away is gone: fail-stop and payment_reorged with the proof, once; never paid again (the real watch)', async () => {
    const snapshot = await anvilRpc(url, 'evm_snapshot');
    const p = await sentPayment(4201);
    await anvilRpc(url, 'evm_revert', [snapshot]);
    await dropTransaction(url, p.hash).catch(() => undefined);
    // Past the highest head seen before, so that the node is not taken for one far behind.
    await mine(url, 2 * confirmations + 4);
    expect((await monitor.tick()).finality).toMatchObject({ gone: 1 });
    expect(t.ps.state.enabled).toBe(false);
    expect(raised('fail_stop')).toHaveLength(1);
    expect(raised(ALERT.reorged)).toHaveLength(1);
    expect(raised(ALERT.reorged)[0]?.details).toMatchObject({ tx: p.hash, withdrawals: [p.id], proof: expect.any(String) as unknown });
    await monitor.tick();
    expect(raised('fail_stop')).toHaveLength(1);
    expect(raised(ALERT.reorged)).toHaveLength(1);
    expect(await statusOf(p.id)).toBe('sent');
  });

  it('gone: payouts stop first, then payment_reorged names the withdrawals and the proof; once per episode; nothing pays it again', async () => {
    const p = await sentPayment(4301);
    const proof = `block ${p.seen.blockNumber} is now 0x${'ab'.repeat(32)}, and no block holds ${p.hash}`;
    useDriver(answering(driver, () => ({ kind: 'gone', proof })));
    await monitor.tick();
    expect(t.ps.state.enabled).toBe(false);
    expect(t.ps.state.status().reason).toMatch(/is gone from the chain before it was final/);
    expect(raised(ALERT.reorged)).toHaveLength(1);
    expect(raised(ALERT.reorged)[0]?.details).toMatchObject({ tx: p.hash, withdrawals: [p.id], proof, coin: 'ETH' });
    await monitor.tick();
    expect(raised(ALERT.reorged)).toHaveLength(1);
    expect(raised('fail_stop')).toHaveLength(1);
    expect((await rowOf(p.hash))?.last_result).toBe(`gone: ${proof}`);
    // sent is final for payserv: an operator enabling payouts again cannot have it paid again.
    t.ps.state.enable('operator');
    expect((await resendWithdrawal(t.ps, p.id, caller)).reply).toBe('ERROR');
    expect(await statusOf(p.id)).toBe('sent');
    // Mined again elsewhere: the episode ends, and the row is watched from its new place.
    const moved = { blockNumber: p.seen.blockNumber + 3, blockHash: `0x${'cd'.repeat(32)}` };
    useDriver(answering(driver, () => ({ kind: 'settling', confirmations: 5, block: moved, reverted: false })));
    expect((await monitor.tick()).finality).toMatchObject({ settling: 1, moved: 1 });
    expect(await rowOf(p.hash)).toMatchObject({ block_number: String(moved.blockNumber), block_hash: moved.blockHash, final_at: null });
    expect(t.logs.some((l) => l.includes('moved by a reorg'))).toBe(true);
  });

  it('a forged watch row the chain calls gone stops payouts as tampering, and names no withdrawal as undone', async () => {
    const p = await sentPayment(4401);
    const forged = `0x${'ee'.repeat(32)}`;
    await t.ledger.db.query(
      `INSERT INTO payserv_sent_watch (hash, coin_id, withdrawal_ids, block_number, block_hash, sent_at)
      SELECT $1, coin_id, withdrawal_ids, block_number, block_hash, sent_at FROM payserv_sent_watch WHERE hash = $2`,
      [forged, p.hash],
    );
    useDriver(
      answering(driver, (hash) =>
        hash === forged
          ? { kind: 'gone', proof: 'not in any block' }
          : { kind: 'settling', confirmations: 13, block: p.seen, reverted: false },
      ),
    );
    await monitor.tick();
    expect(t.ps.state.enabled).toBe(false);
    expect(t.ps.state.status().reason).toMatch(/no withdrawal's signed history records it sent.*forged/);
    expect(raised(ALERT.reorged)).toEqual([]);
  });

  it('a malformed watch row (its CHECK dropped by the attacker) fails-stop naming the row', async () => {
    const p = await sentPayment(4501);
    await t.ledger.db.exec('ALTER TABLE payserv_sent_watch DROP CONSTRAINT payserv_sent_watch_block_hash_check');
    await t.ledger.db.query("UPDATE payserv_sent_watch SET block_hash = 'not a hash' WHERE hash = $1", [p.hash]);
    const r = await monitor.tick();
    expect(r.failed).toEqual(['finality']);
    expect(t.ps.state.enabled).toBe(false);
    expect(t.ps.state.status().reason).toContain(`payserv_sent_watch ${p.hash}: block_hash "not a hash" is not a block hash`);
  });

  it('a stale payment whose replacement cannot outbid within the fee cap alerts fee_cap once per attempt (the real driver at its cap)', async () => {
    const m = await newMiner(t, 4601, '20');
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    await setAutomine(url, false);
    const sent = await approveWithdrawal(t.ps, id, caller);
    const [stored] = await t.ledger.db.query<{ raw: string }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [sent.txHash]);
    const bid = parseTransaction(stored?.raw as Hex);
    // The cap is now the attempt's own bid, and it is stale at once: no replacement can outbid it within the cap.
    const atCap = new EvmDriver(
      ETH_SETTINGS(url, {
        maxFeePerGas: bid.maxFeePerGas as bigint,
        maxPriorityFeePerGas: bid.maxPriorityFeePerGas ?? 0n,
        replaceAfterMs: 1,
      }),
      await loadHotKey(t.ledger.stateDir, 'ETH'),
      { storage: driverStorage(t.ps.db, t.ps.trust), stateDir: t.ledger.stateDir, log: t.ps.log, journal: t.ps.journal },
    );
    useDriver(atCap);
    for (let i = 0; i < 2; i++) expect((await checkWithdrawal(t.ps, id, caller)).message).toMatch(/not replaced/);
    expect(raised(ALERT.feeCap)).toHaveLength(1);
    expect(raised(ALERT.feeCap)[0]?.details).toMatchObject({ withdrawal: id, tx: sent.txHash, coin: 'ETH' });
    expect(t.ps.state.enabled).toBe(true);
    // Mined at its bid after all: sent once, the one attempt.
    await mine(url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
  });
});
