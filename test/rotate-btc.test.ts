// A hot-wallet rotation of a Bitcoin-family coin (LTC) on a real litecoind regtest node: the payment in
// flight settles first, every confirmed non-coinbase output of the old wallet swept by one transaction to
// the next key's address, final, then payouts from the new wallet; a crash between the sweep's record and
// its broadcast sends the same bytes; a database attacker deleting the in-flight payment's reservations
// cannot hurry the sweep; an output of the old wallet not yet input_confirmations deep holds the sweep until it
// is, and is swept with the others (never left behind).
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import { BtcDriver, type BtcSettings } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { parseRawTx } from '../src/chains/btc/rawtx.js';
import { fromHex, hashToDisplayHex } from '../src/chains/zcash/bytes.js';
import type { ChainDriver } from '../src/chains/driver.js';
import { createHotKey, loadHotKey, nextHotKeyPath } from '../src/keys/hot-wallet.js';
import { approveWithdrawal, checkWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { RotatingDriver, rotationStep } from '../src/payserv/rotation.js';
import { describePerDataPath } from './support/backend.js';
import { driverDeps, LTC_SETTINGS } from './support/chain-settings.js';
import { litecoindForFile, type Litecoind } from './support/litecoind.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { processedTo, sweepKilledBeforeBroadcast, sweepOf, utxoRotationSeed } from './support/rotation.js';

const NET = preset('LTC-regtest');
/** The seeded coin's confirmations (src/writer/seed.ts). */
const CONFIRMATIONS = 6;
const FINALITY = 3;
const litecoind = litecoindForFile();
let node: Litecoind;
let t: TestPayserv;
let old: BtcDriver;
let next: BtcDriver;
let rotating: RotatingDriver;

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));
const setDriver = (d: ChainDriver) => (t.ps.drivers as Map<string, ChainDriver>).set('LTC', d);

/** The node's unspent outputs of an address, "txid:vout". */
async function unspent(address: string): Promise<string[]> {
  const r = (await node.rpc('scantxoutset', ['start', [`addr(${address})`]])) as { unspents: Array<{ txid: string; vout: number }> };
  return r.unspents.map((u) => `${u.txid}:${u.vout}`).sort();
}

/** payserv on the old wallet (two funded outputs and an immature coinbase one), the next key made beside it. */
async function setup(settings: Partial<BtcSettings> = {}): Promise<void> {
  node = await litecoind();
  t = await testPayserv({
    seed: utxoRotationSeed('LTC', 23),
    drivers: async (deps) => {
      await createHotKey(deps.stateDir, 'LTC');
      old = new BtcDriver(LTC_SETTINGS(node.url, settings), await loadHotKey(deps.stateDir, 'LTC'), driverDeps(deps));
      for (const sat of [200_000_000n, 100_000_000n]) await node.fund(old.address, sat);
      const path = nextHotKeyPath(deps.stateDir, 'LTC');
      await createHotKey(deps.stateDir, 'LTC', path);
      next = new BtcDriver(LTC_SETTINGS(node.url), await loadHotKey(deps.stateDir, 'LTC', path), driverDeps(deps));
      await old.start();
      await next.start();
      return new Map([['LTC', old]]);
    },
  });
  await node.mine(1, old.address);
  rotating = new RotatingDriver(old, next, { stateDir: t.ledger.stateDir, confirmations: CONFIRMATIONS, finality: FINALITY });
}

afterEach(async () => {
  await t.ledger.db.close();
});

describePerDataPath('pscli hotwallet rotate, Litecoin on litecoind', () => {
  it('the payment in flight settles, one sweep of every free output to the new wallet, final, then payouts from it', async () => {
    await setup();
    const first = await processedTo(t, 'LTC', freshAddress());
    expect((await approveWithdrawal(t.ps, first.id, 'test')).reply).toBe('SENDING');
    setDriver(rotating);
    const waiting = await rotationStep(t.ps, rotating);
    expect(waiting.kind === 'waiting' && waiting.reason).toMatch(/payments from rltc1\w+ are in flight/);
    expect(sweepOf(t.ledger.stateDir, 'LTC')).toBeNull();
    const later = await processedTo(t, 'LTC', freshAddress());
    const held = await approveWithdrawal(t.ps, later.id, 'test');
    expect(held.reply).toBe('SEND_RETRY');
    expect(held.message).toMatch(/hot wallet rotation/);

    await node.mine(CONFIRMATIONS);
    expect((await checkWithdrawal(t.ps, first.id, 'test')).reply).toBe('SENT');
    const before = await unspent(old.address);
    expect(await rotationStep(t.ps, rotating)).toMatchObject({ kind: 'swept' });
    const record = sweepOf(t.ledger.stateDir, 'LTC');
    expect(record).toMatchObject({ phase: 'sweeping', from: old.address, to: next.address });
    const tx = parseRawTx(fromHex(record?.attempt?.raw ?? '', 'sweep'));
    // Every mature non-coinbase output (the two funded, less the payment, plus its change): all but the coinbase one.
    const spent = tx.inputs.map((i) => `${hashToDisplayHex(i.prevTxid)}:${i.vout}`).sort();
    expect(spent.length).toBe(before.length - 1);
    expect(before.filter((o) => !spent.includes(o))).toHaveLength(1);
    expect(tx.outputs).toHaveLength(1);
    expect(await node.rpc('getrawmempool')).toEqual([record?.attempt?.hash]);

    await node.mine(1);
    expect(await rotationStep(t.ps, rotating)).toMatchObject({ kind: 'settling' });
    await node.mine(CONFIRMATIONS + FINALITY);
    expect(await rotationStep(t.ps, rotating)).toMatchObject({ kind: 'final', hash: record?.attempt?.hash });
    expect(await unspent(next.address)).toEqual([`${record?.attempt?.hash}:0`]);
    expect(tx.outputs[0]?.value).toBe(BigInt(record?.value ?? '0'));
    // Left in the old wallet: only its coinbase output.
    expect(await unspent(old.address)).toEqual(before.filter((o) => !spent.includes(o)));

    const paid = await resendWithdrawal(t.ps, later.id, 'test');
    expect(paid.reply).toBe('SENDING');
    const raw = (await node.rpc('getrawtransaction', [paid.txHash])) as string;
    expect(parseRawTx(fromHex(raw, 'payout')).inputs.map((i) => hashToDisplayHex(i.prevTxid))).toEqual([record?.attempt?.hash]);
    await node.mine(CONFIRMATIONS);
    expect((await checkWithdrawal(t.ps, later.id, 'test')).reply).toBe('SENT');
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('dead between the sweep record and its broadcast: the same bytes sent after the restart, one sweep', async () => {
    await setup();
    setDriver(rotating);
    const recorded = await sweepKilledBeforeBroadcast(t, rotating);
    expect(await node.rpc('getrawmempool')).not.toContain(recorded?.attempt?.hash);

    const again = new RotatingDriver(old, next, { stateDir: t.ledger.stateDir, confirmations: CONFIRMATIONS, finality: FINALITY });
    setDriver(again);
    expect(await rotationStep(t.ps, again)).toMatchObject({ kind: 'settling', hash: recorded?.attempt?.hash });
    expect(await node.rpc('getrawmempool')).toContain(recorded?.attempt?.hash);
    await node.mine(CONFIRMATIONS + FINALITY);
    expect(await rotationStep(t.ps, again)).toMatchObject({ kind: 'final', hash: recorded?.attempt?.hash });
    expect(await unspent(next.address)).toEqual([`${recorded?.attempt?.hash}:0`]);
  });

  it('an output of the old wallet not yet input_confirmations deep: the sweep waits, then sweeps it with the others', async () => {
    await setup({ inputConfirmations: 3 });
    const young = await node.fund(old.address, 50_000_000n, { depth: 1 });
    setDriver(rotating);
    const step = await rotationStep(t.ps, rotating);
    expect(step.kind === 'waiting' && step.reason).toContain(
      `50000000 more in 1 output(s) under input_confirmations = 3, spendable once that deep: ${young.txid}:${young.vout} (1)`,
    );
    expect(sweepOf(t.ledger.stateDir, 'LTC')).toBeNull();
    expect(await node.rpc('getrawmempool')).toEqual([]);

    await node.mine(2);
    expect(await rotationStep(t.ps, rotating)).toMatchObject({ kind: 'swept' });
    const tx = parseRawTx(fromHex(sweepOf(t.ledger.stateDir, 'LTC')?.attempt?.raw ?? '', 'sweep'));
    expect(tx.inputs.map((i) => `${hashToDisplayHex(i.prevTxid)}:${i.vout}`)).toContain(`${young.txid}:${young.vout}`);
    // The two funded outputs and the young one; the coinbase output stays.
    expect(tx.inputs).toHaveLength(3);
  });

  it('a database attacker deleting the reservations of the payment in flight: the journal holds them, the sweep waits', async () => {
    await setup();
    const first = await processedTo(t, 'LTC', freshAddress());
    const r = await approveWithdrawal(t.ps, first.id, 'test');
    expect(r.reply).toBe('SENDING');
    setDriver(rotating);
    await t.ledger.db.query('DELETE FROM payserv_utxo_reservations');
    const step = await rotationStep(t.ps, rotating);
    expect(step.kind === 'waiting' && step.reason).toMatch(/are in flight/);
    expect(sweepOf(t.ledger.stateDir, 'LTC')).toBeNull();
    expect(await node.rpc('getrawmempool')).toEqual([r.txHash]);
  });
});
