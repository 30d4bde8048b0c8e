// A hot-wallet rotation of Zcash on the node stand-in (which verifies every signature, input, fee and
// expiry): the payment in flight settles first, every free output of the old wallet (never its coinbase)
// swept by one transaction to the next key's address, final, then payouts from the new wallet; a crash
// between the sweep's record and its broadcast sends the same bytes; a database attacker deleting the
// in-flight payment's reservations cannot hurry the sweep, and a host record steered elsewhere is refused.
import { writeFileSync } from 'node:fs';
import { afterEach, expect, it } from 'vitest';
import { ZcashDriver } from '../src/chains/zcash/driver.js';
import { parseTx } from '../src/chains/zcash/tx.js';
import { fromHex } from '../src/chains/zcash/bytes.js';
import type { ChainDriver } from '../src/chains/driver.js';
import type { ZcashStandin } from '../src/devnet/zcash-standin.js';
import { createHotKey, loadHotKey, nextHotKeyPath } from '../src/keys/hot-wallet.js';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { readSweep, RotatingDriver, RotationError, rotationPath, rotationStep } from '../src/payserv/rotation.js';
import { describePerDataPath } from './support/backend.js';
import { driverDeps } from './support/chain-settings.js';
import { ZEC_SETTINGS, zcashAddress, zcashDriver, zcashStandinForFile } from './support/chains.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { processedTo, sweepKilledBeforeBroadcast, sweepOf, utxoRotationSeed } from './support/rotation.js';

const standin = zcashStandinForFile();
const CONFIRMATIONS = 10;
const FINALITY = 3;
let node: ZcashStandin;
let t: TestPayserv;
let old: ZcashDriver;
let next: ZcashDriver;
let rotating: RotatingDriver;
let coinbase: string;

const setDriver = (d: ChainDriver) => (t.ps.drivers as Map<string, ChainDriver>).set('ZEC', d);

/** payserv on the old wallet (two funded outputs and a coinbase one), the next key made beside it. */
async function setup(): Promise<void> {
  node = await standin();
  t = await testPayserv({
    seed: utxoRotationSeed('ZEC', 21),
    drivers: async (deps) => {
      old = await zcashDriver(node, deps, { fund: [2_000_000_000n, 1_000_000_000n] });
      const path = nextHotKeyPath(deps.stateDir, 'ZEC');
      await createHotKey(deps.stateDir, 'ZEC', path);
      next = new ZcashDriver(ZEC_SETTINGS(node.url), await loadHotKey(deps.stateDir, 'ZEC', path), driverDeps(deps));
      await next.start();
      return new Map([['ZEC', old]]);
    },
  });
  coinbase = (await node.mineCoinbase(old.address, 625_000_000n)).txid;
  rotating = new RotatingDriver(old, next, { stateDir: t.ledger.stateDir, confirmations: CONFIRMATIONS, finality: FINALITY });
}

afterEach(async () => {
  await t.ledger.db.close();
});

/** A payment from the old wallet in the node's mempool, then payserv restarted on the rotation. */
async function inFlight(): Promise<{ id: number; hash: string }> {
  const { id } = await processedTo(t, 'ZEC', zcashAddress());
  const r = await approveWithdrawal(t.ps, id, 'test');
  expect(r.reply).toBe('SENDING');
  setDriver(rotating);
  return { id, hash: r.txHash as string };
}

describePerDataPath('pscli hotwallet rotate, Zcash on the stand-in', () => {
  it('the payment in flight settles, one sweep of every free output to the new wallet, final, then payouts from it', async () => {
    await setup();
    const first = await inFlight();
    const waiting = await rotationStep(t.ps, rotating);
    expect(waiting).toMatchObject({ kind: 'waiting' });
    expect(waiting.kind === 'waiting' && waiting.reason).toMatch(/payments from t1\w+ are in flight/);
    expect(sweepOf(t.ledger.stateDir, 'ZEC')).toBeNull();
    const later = await processedTo(t, 'ZEC', zcashAddress());
    const held = await approveWithdrawal(t.ps, later.id, 'test');
    expect(held.reply).toBe('SEND_RETRY');
    expect(held.message).toMatch(/hot wallet rotation/);

    await node.mine(CONFIRMATIONS);
    expect((await checkWithdrawal(t.ps, first.id, 'test')).reply).toBe('SENT');
    const swept = await rotationStep(t.ps, rotating);
    expect(swept).toMatchObject({ kind: 'swept' });
    const record = sweepOf(t.ledger.stateDir, 'ZEC');
    expect(record).toMatchObject({ phase: 'sweeping', from: old.address, to: next.address });
    // Every unspent output of the old wallet but the coinbase one, to one output at the next address.
    const tx = parseTx(fromHex(record?.attempt?.raw ?? '', 'sweep'));
    const unspent = node
      .outputsTo(old.address)
      .filter((o) => o.height !== null && (o.spentBy === null || o.spentBy === record?.attempt?.hash));
    expect(tx.inputs.length).toBe(unspent.length - 1);
    expect(unspent.filter((o) => o.spentBy === null).map((o) => o.txid)).toEqual([coinbase]);
    expect(tx.outputs.length).toBe(1);
    expect(node.mempool()).toEqual([record?.attempt?.hash]);

    await node.mine(1);
    expect(await rotationStep(t.ps, rotating)).toMatchObject({ kind: 'settling' });
    await node.mine(CONFIRMATIONS + FINALITY);
    expect(await rotationStep(t.ps, rotating)).toMatchObject({ kind: 'final', hash: record?.attempt?.hash });
    expect(node.paidTo(next.address)).toBe(BigInt(record?.value ?? '0'));
    // Left in the old wallet: only the coinbase output, never spent.
    expect(
      node
        .outputsTo(old.address)
        .filter((o) => o.spentBy === null)
        .map((o) => o.txid),
    ).toEqual([coinbase]);

    const paid = await resendWithdrawal(t.ps, later.id, 'test');
    expect(paid.reply).toBe('SENDING');
    const payout = node.received().find((x) => x.txid === paid.txHash);
    expect(payout?.tx.inputs.map((i) => i.prevout.index)).toEqual([0]);
    await node.mine(CONFIRMATIONS);
    expect((await checkWithdrawal(t.ps, later.id, 'test')).reply).toBe('SENT');
    expect(node.rejected()).toEqual([]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('dead between the sweep record and its broadcast: the same bytes sent after the restart, one sweep', async () => {
    await setup();
    setDriver(rotating);
    const recorded = await sweepKilledBeforeBroadcast(t, rotating);
    expect(node.mempool()).not.toContain(recorded?.attempt?.hash);

    // The restart: new drivers on the same host state, no fault.
    const again = new RotatingDriver(old, next, { stateDir: t.ledger.stateDir, confirmations: CONFIRMATIONS, finality: FINALITY });
    setDriver(again);
    expect(await rotationStep(t.ps, again)).toMatchObject({ kind: 'settling', hash: recorded?.attempt?.hash });
    expect(node.mempool()).toContain(recorded?.attempt?.hash);
    await node.mine(CONFIRMATIONS + FINALITY);
    expect(await rotationStep(t.ps, again)).toMatchObject({ kind: 'final', hash: recorded?.attempt?.hash });
    expect(node.outputsTo(next.address)).toHaveLength(1);
    expect(node.paidTo(next.address)).toBe(BigInt(recorded?.value ?? '0'));
  });

  it('a database attacker deleting the reservations of the payment in flight: the journal holds them, the sweep waits', async () => {
    await setup();
    const first = await inFlight();
    await t.ledger.db.query('DELETE FROM payserv_utxo_reservations');
    const step = await rotationStep(t.ps, rotating);
    expect(step.kind === 'waiting' && step.reason).toMatch(/are in flight/);
    expect(node.mempool()).toContain(first.hash);
    expect(sweepOf(t.ledger.stateDir, 'ZEC')).toBeNull();
  });

  it('a host record edited to pay another address: refused on read, nothing sent', async () => {
    await setup();
    setDriver(rotating);
    const recorded = await sweepKilledBeforeBroadcast(t, rotating);
    const thief = zcashAddress();
    writeFileSync(rotationPath(t.ledger.stateDir, 'ZEC'), JSON.stringify({ ...recorded, to: thief }));
    await expect(readSweep(rotating)).rejects.toThrow(RotationError);
    await expect(rotationStep(t.ps, rotating)).rejects.toThrow(/not this rotation's/);
    expect(node.mempool()).not.toContain(recorded?.attempt?.hash);
    expect(node.paidTo(thief)).toBe(0n);
    expect(node.paidTo(next.address)).toBe(0n);
  });
});
