// A payment in flight on anvil when the payserv host's local state was lost (journal, checkpoints, nonce cache, chain
// pins, audit head): after two operators' rebaseline the payment shows as journal_unrecorded, Check settles it from
// the chain with the same transaction, and the miner is paid exactly once.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { setAutomine, mine } from '../src/devnet/anvil.js';
import { enablePayouts, rebaselineCall } from '../src/payserv/admin.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { PAID, rebaselineGate, restartedEth, restartPayserv } from './attack-helpers.js';
import { describePerDataPath } from './support/backend.js';
import { balanceOf, minedCount } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { ethBench } from './support/payserv.js';

const bench = ethBench(23);

describePerDataPath('rebaseline with a payment in flight (anvil)', () => {
  it('the payment sent before the loss is settled from the chain after the rebaseline, never paid again', async () => {
    const { t, url } = bench;
    const m = await newMiner(t, 7100);
    const id = await request(t, m, { amount: '1' });
    expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
    await setAutomine(url, false);
    expect((await approveWithdrawal(t.ps, id, 'test')).reply).toBe('SENDING');
    await t.ps.journal.close();
    for (const p of ['checkpoints', 'journal', 'audit', 'nonces', 'chains'])
      rmSync(join(t.ledger.stateDir, p), { recursive: true, force: true });

    const ps = await restartPayserv(t, async (deps) => new Map([['ETH', await restartedEth(url, deps)]]));
    await rebaselineGate(t, ps);
    expect(ps.rebaseline?.required).toMatch(/local-state.json records user_checkpoints, coin_checkpoints.* as written/);
    await expect(enablePayouts(ps, 'alice')).rejects.toMatchObject({ data: { code: 'rebaseline_required' } });
    expect(await checkWithdrawal(ps, id, 'alice')).toMatchObject({ reply: 'ERROR', code: 'disabled' });

    expect(await rebaselineCall(ps, 'alice', 'disk died')).toMatchObject({ reply: 'CONFIRMED' });
    expect(await rebaselineCall(ps, 'bob', 'agreed')).toMatchObject({ reply: 'REBASELINED' });
    // The payment in flight is one this host's (new) journal never recorded: the chain decides it.
    expect((await t.ledger.problems('balanceerrors')).map((p) => p.code)).toEqual(['journal_unrecorded']);
    await enablePayouts(ps, 'alice');

    // Not mined yet: Check leaves it sending (the same stored transaction, nothing new signed).
    expect((await checkWithdrawal(ps, id, 'alice')).reply).toBe('SENDING');
    await mine(url, 12);
    expect((await checkWithdrawal(ps, id, 'alice')).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(PAID);
    expect(await minedCount(url, (ps.drivers.get('ETH') as { address: string }).address)).toBe(1);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
    expect(ps.state.enabled).toBe(true);
  });
});
