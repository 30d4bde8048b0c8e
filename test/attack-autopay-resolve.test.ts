// Outside tester. Autopay: payserv crashes at 'payment.committed' in a run (signed bytes stored, nothing
// journaled or broadcast). The database attacker captures the stored bytes, cuts the withdrawal's history
// back to `approved`, deletes the stored row. After the restart, resolve finds "no transaction was ever
// signed" for the run's own approved request and credits it back; the attacker broadcasts the captured
// transaction: the user is paid on-chain AND has the amount back in their balance (the next run pays it again).
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { Hex } from 'viem';
import { mine, setAutomine } from '../src/devnet/anvil.js';
import type { EvmDriver } from '../src/chains/eth/driver.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { resolveCoin } from '../src/autopay/resolve.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import type { Payserv } from '../src/payserv/context.js';
import { asAttacker, restoreRow, STATUS_SIGNATURES, WITHDRAWALS } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethClient, ethDriver, minedCount } from './support/chains.js';
import { amt, coinByTag, ethAddress, newBlockHash, wallet } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { creditBlock } from '../src/writer/blocks.js';
import { restartedEth, restartPayserv } from './attack-helpers.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let url: string;
let eth: Signed<Coin>;
const SETTINGS: AutopaySettings = { threshold: amt('1'), requirePeers: 0, maxPerRun: 100 };
const GENEROUS = { amountMax: amt('1000'), userDailyMax: amt('10000'), coinDailyMax: amt('100000'), walletAgeHoursMin: 0 };

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({
    seed: { users: 0, blocks: 0, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 31 },
    policies: { ETH: GENEROUS },
    drivers: async (deps) => {
      driver = await ethDriver(url, deps);
      return new Map([['ETH', driver]]);
    },
  });
  t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
  eth = await coinByTag(t, 'ETH');
});
afterEach(async () => {
  await t.ledger.db.close();
});

type Row = Record<string, unknown>;

// Was a break (now held): checks clean after the restart; resolve answers "no transaction was ever signed for it
// (approved); credited back" and writes reversal row (-2 ETH, parent_id = the withdrawal); the attacker
// broadcasts the captured transaction (nonce 0, explained gap), 1.9995 ETH arrives; the next autopay run
// pays the restored 2 ETH again: the user received 3.999 ETH on-chain for 2 ETH earned, hot wallet 2
// mined txs, payserv enabled throughout, no alert.
describePerDataPath('autopay crash at payment.committed, attempt erased, resolve, captured bytes broadcast', () => {
  it('never pays and credits back the same withdrawal', async () => {
    const userId = 9501;
    const w = await wallet(t, userId, eth, { address: ethAddress() });
    await creditBlock(t.ledger.db, t.ledger.signers.admin, eth, {
      blockHash: newBlockHash(),
      shares: [{ userId, amount: amt('2') }],
      poolFee: amt('0.01'),
    });
    let captured: Row | undefined;
    t.ps.faults = {
      async at(p, info) {
        if (p === 'payment.committed' && !captured) {
          captured = (
            await t.ledger.db.query<Row>('SELECT * FROM payserv_chain_txs WHERE $1 = ANY(withdrawal_ids)', [info.withdrawals[0]])
          )[0];
          throw new Error('simulated crash after the write-ahead commit');
        }
      },
    };
    const r1 = await runAutopay(t.ps, 'ETH', SETTINGS, 'run 1').catch((e: unknown) => ({ outcome: 'threw', reason: String(e) }));
    console.log('run 1:', r1.outcome, (r1 as { reason?: string }).reason);
    expect(captured).toBeDefined();
    const id = Number((captured!.withdrawal_ids as unknown[])[0]);
    const sigs = await t.ledger.db.query<Row>(`SELECT seq, status FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 ORDER BY seq`, [id]);
    console.log('history:', sigs);
    const approvedSeq = sigs.find((s) => s.status === 'approved')!.seq as number;
    const approvedRow = (
      await t.ledger.db.query<Row>(
        `SELECT w.*, s.status AS s_status, s.tx_hash AS s_tx_hash, s.comment AS s_comment, s.created_at AS s_created_at FROM ${WITHDRAWALS} w, ${STATUS_SIGNATURES} s WHERE w.id = $1 AND s.withdrawal_id = w.id AND s.seq = $2`,
        [id, approvedSeq],
      )
    )[0];
    // Cut back to the approved entry (the row made to say what that entry says), stored attempt deleted.
    await asAttacker(t.ledger.db, [
      [
        `UPDATE ${WITHDRAWALS} w SET status = s.status, status_seq = s.seq, tx_hash = s.tx_hash, tx_fee = s.tx_fee, comment = s.comment, updated_at = s.created_at
         FROM ${STATUS_SIGNATURES} s WHERE w.id = $1 AND s.withdrawal_id = w.id AND s.seq = $2`,
        [id, approvedSeq],
      ],
      [`DELETE FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1 AND seq > $2`, [id, approvedSeq]],
      ['DELETE FROM payserv_chain_txs WHERE hash = $1', [captured!.hash]],
    ]);
    void approvedRow;
    void restoreRow;

    let ps: Payserv;
    try {
      ps = await restartPayserv(t, async (deps) => new Map([['ETH', await restartedEth(url, deps)]]));
    } catch (e) {
      console.log('restart refused:', String(e));
      return;
    }
    ps = { ...ps, signers: { ...ps.signers, autopay: t.ledger.signers.autopay }, policies: t.ps.policies };
    const problems = await t.ledger.check('balanceerrors');
    if (problems.length > 0) {
      console.log('checks found:', problems);
      return;
    }
    ps.state.enable('operator');
    const res = await resolveCoin(ps, 'ETH', 'operator');
    console.log('resolve:', JSON.stringify(res.resolutions), 'enabled', ps.state.enabled);
    await ethClient(url)
      .request({ method: 'eth_sendRawTransaction', params: [captured!.raw as Hex] })
      .catch((e: unknown) => console.log('attacker broadcast:', String(e)));
    await mine(url, 12);
    let r2: unknown = null;
    if (ps.state.enabled) {
      r2 = await runAutopay(ps, 'ETH', SETTINGS, 'run 2');
      await mine(url, 12);
    }
    const reversals = await t.ledger.db.query<Row>(`SELECT id, amount::text FROM ${WITHDRAWALS} WHERE parent_id = $1`, [id]);
    console.log(
      'run 2:',
      JSON.stringify(r2),
      'reversals',
      reversals,
      'paid on chain',
      await balanceOf(url, w.address),
      'mined',
      await minedCount(url, driver.address),
      'enabled',
      ps.state.enabled,
    );
    // Safe: the withdrawal paid on-chain is never credited back, and the user's 2 ETH leave at most once.
    const onChain = await balanceOf(url, w.address);
    expect(onChain > 0n && reversals.length > 0).toBe(false);
    expect(onChain).toBeLessThanOrEqual(1_999_500_000_000_000_000n);
  });
});
