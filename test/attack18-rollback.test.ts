// Outsider attack (issue 18, round 2): a database attacker rolls a Bitcoin-family payment back after its
// broadcast, and asks for it again.
//
// The payment P1 is approved, written ahead and broadcast (in the node's mempool). The attacker (SQL only)
// then makes the database look as before the Approve: the withdrawal's signed history cut back to its last
// entry before `sending` (every row left validly signed), P1's payserv_chain_txs row and its input
// reservations deleted. P1 is still on its way to the chain; a second payment would spend other UTXOs of the
// wallet (it holds two), so the node would take both.
//
// The promise asserted: Approve, SendCoin and Resend pay nothing again (the host's journal knows P1); the miner is paid once.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { asAttacker, cutHistory, STATUS_SIGNATURES } from './support/attacker.js';
import { describePerDataPath } from './support/backend.js';
import { litecoindForFile, ltcDriver, type Litecoind } from './support/litecoind.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 27 };
const caller = 'test';
const confirmations = 6;

const litecoind = litecoindForFile();
let node: Litecoind;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;

afterEach(async () => {
  client?.close();
  await t?.ledger.db.close();
});

describePerDataPath('attack 18: a Bitcoin-family payment rolled back after its broadcast', () => {
  it('history cut back, stored attempt and reservations deleted: nothing is paid again', async () => {
    node = await litecoind();
    client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
    t = await testPayserv({
      seed: SEED,
      drivers: async (deps) => {
        driver = await ltcDriver(node, deps, [COIN, COIN]);
        return new Map([['LTC', driver]]);
      },
    });
    const address = p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));
    const m = await newMiner(t, 9600, '20', { tag: 'LTC', address });
    const id = await request(t, m, { amount: '0.2' });
    expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
    const [before] = await t.ledger.db.query<{ seq: number }>(
      `SELECT max(seq)::int AS seq FROM ${STATUS_SIGNATURES} WHERE withdrawal_id = $1`,
      [id],
    );
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const p1 = r.txHash as string;
    expect(await node.rpc('getrawmempool')).toEqual([p1]);

    await asAttacker(t.ledger.db, [
      ...cutHistory(id, before?.seq as number),
      [`DELETE FROM payserv_utxo_reservations WHERE spent_by = $1`, [p1]],
      [`DELETE FROM payserv_chain_txs WHERE hash = $1`, [p1]],
    ]);

    const outcomes: string[] = [];
    for (const [name, call] of [
      ['Approve', () => approveWithdrawal(t.ps, id, caller)],
      ['SendCoin', async () => (await sendCoin(t.ps, 'LTC', caller)).results[0] ?? { reply: 'none', message: '' }],
      ['Resend', () => resendWithdrawal(t.ps, id, caller)],
      ['Check', () => checkWithdrawal(t.ps, id, caller)],
    ] as const) {
      const o = await call().catch((e: unknown) => ({ reply: 'threw', message: (e as Error).message }));
      outcomes.push(`${name}: ${o.reply} ${o.message ?? ''}`);
    }
    console.log(
      `attack18-rollback: ${outcomes.join(' | ')}; payouts enabled: ${t.ps.state.enabled}; alerts ${JSON.stringify(t.alerts.map((a) => a.kind))}`,
    );
    await node.mine(confirmations);
    const paid = (await client.scanTxOutSet([`addr(${address})`])).unspents;
    expect(paid.map((u) => u.txid)).toEqual([p1]);
    expect(t.ps.state.enabled).toBe(false);
  });
});
