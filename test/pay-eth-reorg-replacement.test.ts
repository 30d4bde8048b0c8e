// The Ethereum twin of test/pay-btc-reorg-replacement.test.ts (issue 18, finding 4): a stale payment P1 is replaced
// by P1' (the same nonce, to, value and data, higher fees). The miner takes P1; it is buried and the withdrawal
// recorded `sent` by P1, watched. A reorg: the branch without P1 wins, and mines P1' at that nonce instead (its bytes
// were broadcast; anyone may send them again). The miner is paid once, by P1'. P1 has no receipt and its block is gone:
// before the fix the watch said gone (payment_reorged, fail-stop, instructions that lead to paying by hand). The watch
// now finds the transaction that used P1's nonce, pays what P1 pays and succeeded: the payment stands, followed there.
import { afterEach, expect, it } from 'vitest';
import type { Hex } from 'viem';
import { anvilRpc, dropTransaction, mine, setAutomine } from '../src/devnet/anvil.js';
import { Monitor } from '../src/payserv/monitor.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { getWithdrawalWithHistory } from '../src/store/reads.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const anvil = anvilForFile();
const caller = 'test';
const confirmations = 12;
const FINALITY = 40;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 18 };
let t: TestPayserv | null = null;

afterEach(async () => {
  await t?.ledger.db.close();
  t = null;
});

describePerDataPath('Ethereum: a reorg that mines the payment s own replacement after it was recorded sent', () => {
  it('the replacement at the same nonce mined instead of the original: not gone, no payment_reorged, paid once', async () => {
    const url = (await anvil()).url;
    await setAutomine(url, false);
    const tp = (t = await testPayserv({ seed: SEED, drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]) }));
    const m = await newMiner(tp, 1801, '20');
    const id = await request(tp, m, { amount: '1' });
    expect((await processWithdrawal(tp.ps, id, caller)).reply).toBe('PENDING');
    const first = await approveWithdrawal(tp.ps, id, caller);
    expect(first.reply).toBe('SENDING');
    const p1 = first.txHash as string;
    // The replacement time passes: Check replaces P1 by P1'.
    const later = new Date(Date.now() + 2 * 3_600_000);
    tp.ps.now = () => later;
    const bumped = await checkWithdrawal(tp.ps, id, caller);
    const p2 = bumped.txHash as string;
    expect(p2).not.toBe(p1);
    const raw = async (h: string) =>
      (await tp.ledger.db.query<{ raw: Hex }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [h]))[0]?.raw as Hex;
    const [raw1, raw2] = [await raw(p1), await raw(p2)];

    // A miner takes the original; buried; recorded sent by P1 and watched.
    const snapshot = await anvilRpc(url, 'evm_snapshot');
    await dropTransaction(url, p2);
    await anvilRpc(url, 'eth_sendRawTransaction', [raw1]);
    await mine(url, confirmations);
    expect((await checkWithdrawal(tp.ps, id, caller)).txHash).toBe(p1);
    const monitor = new Monitor(tp.ps, {
      intervalMs: 60_000,
      stuckAfterMs: 3_600_000,
      nodeUnhealthyAfterMs: 600_000,
      finality: new Map([['ETH', FINALITY]]),
    });
    expect((await monitor.tick()).finality).toMatchObject({ settling: 1 });

    // The reorg: the branch without P1 wins and mines P1' at the same nonce, past the highest head seen before.
    await anvilRpc(url, 'evm_revert', [snapshot]);
    await dropTransaction(url, p1).catch(() => undefined);
    await dropTransaction(url, p2).catch(() => undefined);
    await anvilRpc(url, 'eth_sendRawTransaction', [raw2]);
    await mine(url, 2 * confirmations + 4);
    expect(await anvilRpc(url, 'eth_getTransactionReceipt', [p1])).toBeNull();
    expect(await balanceOf(url, m.address)).toBeGreaterThan(0n);
    const paid = await balanceOf(url, m.address);

    const watched = async () =>
      (
        await tp.ledger.db.query<{ final_at: Date | null; last_result: string }>(
          'SELECT final_at, last_result FROM payserv_sent_watch WHERE hash = $1',
          [p1],
        )
      )[0];
    expect((await monitor.tick()).finality).toMatchObject({ settling: 1, moved: 1, gone: 0 });
    expect(tp.alerts.map((a) => a.kind)).not.toContain('payment_reorged');
    expect(tp.ps.state.enabled).toBe(true);
    expect((await watched())?.last_result).toContain(`mined as ${p2}`);
    expect(tp.logs.some((l) => l.includes('another transaction of the same payment') && l.includes(p2))).toBe(true);
    await mine(url, FINALITY);
    expect((await monitor.tick()).finality).toMatchObject({ final: 1 });
    expect((await watched())?.final_at).toBeInstanceOf(Date);
    expect(tp.ps.state.enabled).toBe(true);

    // Paid once, recorded sent by P1 as the signed ledger has it; nothing pays again.
    const history = (await getWithdrawalWithHistory(tp.ps.db, id))?.history ?? [];
    expect(history.filter((e) => e.status === 'sent').map((e) => e.txHash)).toEqual([p1]);
    expect(await balanceOf(url, m.address)).toBe(paid);
    expect(await anvilRpc(url, 'txpool_content')).toMatchObject({ pending: {} });
  });
});
