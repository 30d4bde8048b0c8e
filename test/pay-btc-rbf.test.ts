// Fee bumps by replacement (BIP125) on real litecoind regtest nodes: a payment stuck at the floor fee rate
// (no blocks mined) is replaced by Check once stale, on a node started with -mempoolreplacement=1. Whichever
// of the two the chain mines is the payment: sent once, one output per withdrawal, the recorded fee the mined
// one's. A crash between the replacement's write-ahead and its broadcast pays once; a node that refuses
// replacement (Litecoin's default) refuses the bump before anything is stored, and the payment waits. A
// batch's replacement is recorded for all its withdrawals at once: each sent once, whichever attempt is mined.
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { afterEach, expect, it } from 'vitest';
import { p2wpkhAddress } from '../src/chains/btc/address.js';
import type { BtcDriver } from '../src/chains/btc/driver.js';
import { preset } from '../src/chains/btc/network.js';
import { BtcNode } from '../src/chains/btc/node.js';
import { parseAmount, sub, toBaseUnits, type Amount } from '../src/money/amount.js';
import { runAutopay } from '../src/autopay/run.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, sendCoin } from '../src/payserv/payouts.js';
import { feeShares } from '../src/payserv/payments/value.js';
import { withdrawalLock } from '../src/payserv/locks.js';
import { describePerDataPath } from './support/backend.js';
import { litecoindForFile, ltcDriver, txFee, type Litecoind } from './support/litecoind.js';
import { newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';

const NET = preset('LTC-regtest');
const COIN = 100_000_000n;
const SEED = { users: 1, blocks: 1, withdrawals: 0, coins: ['LTC'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 17 };
const caller = 'test';
const AUTO = {
  amountMax: parseAmount('100'),
  userDailyMax: parseAmount('1000'),
  coinDailyMax: parseAmount('100000'),
  walletAgeHoursMin: 0,
};
/** The seeded coin's confirmations (src/writer/seed.ts, a coin without defaults). */
const confirmations = 6;
const AUTOPAY: AutopaySettings = { threshold: parseAmount('1'), requirePeers: 0, maxPerRun: 50 };

const replacing = litecoindForFile({ mempoolReplacement: true });
const refusing = litecoindForFile();
let node: Litecoind;
let client: BtcNode;
let t: TestPayserv;
let driver: BtcDriver;
let nextUser = 7000;

// replace_after_s 0: every Check of a payment in the mempool finds it stale. The regtest node has no
// estimate: the first attempt pays the floor, 1 per vbyte.
const RBF = { feeBump: 'rbf', replaceAfterMs: 0 } as const;

async function setup(
  on: () => Promise<Litecoind>,
  o: { auto?: boolean; feeRateMax?: bigint; replaceAfterMs?: number } = {},
): Promise<void> {
  node = await on();
  client = new BtcNode({ url: node.url, timeoutMs: 10_000 });
  t = await testPayserv({
    seed: SEED,
    ...(o.auto ? { policies: { LTC: AUTO } } : {}),
    drivers: async (deps) => {
      driver = await ltcDriver(node, deps, [5n * COIN], {
        ...RBF,
        feeRateMax: o.feeRateMax ?? 100n,
        ...(o.replaceAfterMs === undefined ? {} : { replaceAfterMs: o.replaceAfterMs }),
      });
      return new Map([['LTC', driver]]);
    },
  });
}

afterEach(async () => {
  t.ps.faults = undefined;
  client?.close();
  await t?.ledger.db.close();
});

const freshAddress = () => p2wpkhAddress(NET, secp256k1.getPublicKey(secp256k1.utils.randomPrivateKey(), true));

interface Sending {
  id: number;
  m: Miner;
  value: bigint;
  first: string;
  fee: bigint;
  inputs: string[];
  /** The first attempt's bytes (the node forgets them once replaced). */
  raw: string;
}

async function processed(): Promise<{ id: number; m: Miner }> {
  const m = await newMiner(t, nextUser++, '20', { tag: 'LTC', address: freshAddress() });
  const id = await request(t, m, { amount: '1' });
  expect(['PENDING', 'APPROVED']).toContain((await processWithdrawal(t.ps, id, caller)).reply);
  return { id, m };
}

/** A withdrawal approved and sent: its first attempt in the node's mempool, with that attempt's fee. */
async function sending(): Promise<Sending> {
  const { id, m } = await processed();
  const r = await approveWithdrawal(t.ps, id, caller);
  expect(r.reply).toBe('SENDING');
  const first = r.txHash as string;
  const entry = await client.getMempoolEntry(first);
  expect(entry).not.toBeNull();
  const value = toBaseUnits(sub(parseAmount('1'), m.coin.withdrawalFee), 8);
  return { id, m, value, first, fee: entry?.fees.base ?? 0n, inputs: (await inputsOf(first)) ?? [], raw: await rawOf(first) };
}

const inputsOf = async (hash: string) => (await client.getRawTransaction(hash))?.vin.map((i) => `${i.txid}:${i.vout}`);
const mempool = async () => (await node.rpc('getrawmempool')) as string[];
const rawOf = async (hash: string) => (await client.getRawTransaction(hash))?.hex as string;

/** What the chain's UTXO set holds for an address: its outputs' values. */
async function paidTo(address: string): Promise<bigint[]> {
  return (await client.scanTxOutSet([`addr(${address})`])).unspents.map((u) => u.amount);
}

/** The withdrawal's row: status, transaction and recorded fee in base units. */
async function row(id: number): Promise<{ status: string; tx_hash: string; fee: string }> {
  const [r] = await t.ledger.db.query<{ status: string; tx_hash: string; fee: string }>(
    'SELECT status, tx_hash, round(tx_fee * 100000000)::text AS fee FROM finances_withdrawal_transaction WHERE id = $1',
    [id],
  );
  return r as { status: string; tx_hash: string; fee: string };
}

const storedAttempts = async () =>
  (await t.ledger.db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs ORDER BY hash')).map((r) => r.hash);

/** Check until stale replaced: the replacement's hash, its fee, and that it spends the same inputs and pays the same output. */
async function replaced(p: Sending): Promise<{ hash: string; fee: bigint }> {
  const r = await checkWithdrawal(t.ps, p.id, caller);
  expect(r.reply).toBe('SENDING');
  const hash = r.txHash as string;
  expect(hash).not.toBe(p.first);
  expect(await mempool()).toEqual([hash]);
  expect(await inputsOf(hash)).toEqual(p.inputs);
  // The original, replaced, is gone from the node (evicted, never mined).
  expect(await client.getRawTransaction(p.first)).toBeNull();
  const outs = (await client.getRawTransaction(hash))?.vout ?? [];
  expect(outs.filter((o) => o.scriptPubKey.addresses?.includes(p.m.address)).map((o) => o.value)).toEqual([p.value]);
  expect(outs.filter((o) => !o.scriptPubKey.addresses?.includes(p.m.address)).map((o) => o.scriptPubKey.addresses)).toEqual([
    [driver.address],
  ]);
  const fee = (await client.getMempoolEntry(hash))?.fees.base ?? 0n;
  expect(fee).toBeGreaterThan(p.fee);
  return { hash, fee };
}

/** Mined under the confirmations: Check records it sent by `hash` with `fee`, one output to the withdrawal's address. */
async function minedSentOnce(p: Sending, hash: string, fee: bigint): Promise<void> {
  await node.mine(confirmations);
  expect(await checkWithdrawal(t.ps, p.id, caller)).toMatchObject({ reply: 'SENT', txHash: hash });
  expect(await row(p.id)).toEqual({ status: 'sent', tx_hash: hash, fee: fee.toString() });
  expect(await paidTo(p.m.address)).toEqual([p.value]);
  expect(await t.ledger.check('balanceerrors')).toEqual([]);
}

interface Batch {
  reqs: Array<{ id: number; m: Miner }>;
  first: string;
  fee: bigint;
  inputs: string[];
  raw: string;
}

/** Three withdrawals paid by SendCoin in one transaction, in the node's mempool. */
async function batch(): Promise<Batch> {
  const reqs = [await processed(), await processed(), await processed()];
  const r = await sendCoin(t.ps, 'LTC', caller);
  expect(r.results.map((x) => x.reply)).toEqual(['SENDING', 'SENDING', 'SENDING']);
  const first = r.results[0]?.txHash as string;
  expect(new Set(r.results.map((x) => x.txHash))).toEqual(new Set([first]));
  const fee = (await client.getMempoolEntry(first))?.fees.base ?? 0n;
  return { reqs, first, fee, inputs: (await inputsOf(first)) ?? [], raw: await rawOf(first) };
}

/** The withdrawals stored for an attempt. */
/** The withdrawals a stored attempt pays, in its order (BIGINT[]: strings from pg, numbers from PGlite). */
const attemptIds = async (hash: string) =>
  (
    await t.ledger.db.query<{ ids: (number | string)[] }>('SELECT withdrawal_ids AS ids FROM payserv_chain_txs WHERE hash = $1', [hash])
  )[0]?.ids.map(Number);

/** A mined transaction's fee: its inputs' values less its outputs'. */
const feeOf = (hash: string): Promise<bigint | null> => txFee(client, hash);

/** Every withdrawal of the batch Checked: sent by `hash`, its fee share recorded, one output to its address on the chain. */
async function allSentOnce(b: Batch, hash: string, fee: bigint): Promise<void> {
  for (const q of b.reqs) {
    expect(await checkWithdrawal(t.ps, q.id, caller)).toMatchObject({ reply: 'SENT', txHash: hash });
    expect(await row(q.id)).toMatchObject({ status: 'sent', tx_hash: hash });
    expect(await paidTo(q.m.address)).toEqual([toBaseUnits(sub(parseAmount('1'), q.m.coin.withdrawalFee), 8)]);
  }
  await expectSharedExactly(
    b.reqs.map((q) => q.id),
    fee,
  );
  expect(await t.ledger.check('balanceerrors')).toEqual([]);
}

/** The recorded fees of a payment's withdrawals are its fee's shares, one each, summing to the fee exactly. */
async function expectSharedExactly(ids: readonly number[], fee: bigint): Promise<void> {
  const recorded = await Promise.all(ids.map(async (id) => BigInt((await row(id)).fee as string)));
  const shares = feeShares(fee, ids.length, 8).map((s) => toBaseUnits(s as Amount, 8));
  const sorted = (xs: bigint[]) => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  expect(sorted(recorded)).toEqual(sorted(shares));
  expect(recorded.reduce((a, x) => a + x, 0n)).toBe(fee);
}

describePerDataPath('fee bumps by replacement (BIP125) on litecoind regtest', { timeout: 120_000 }, () => {
  it('a stuck payment replaced twice, the last replacement mined: sent once, one output, the fee the replacement paid', async () => {
    await setup(replacing);
    const p = await sending();
    const once = await replaced(p);
    // Still stale: replaced again, outbidding the first replacement (same inputs, same output).
    const bump = await replaced({ ...p, first: once.hash, fee: once.fee });
    expect(await storedAttempts()).toEqual([p.first, once.hash, bump.hash].sort());
    await node.mine(confirmations);
    const r = await checkWithdrawal(t.ps, p.id, caller);
    expect([r.reply, r.txHash]).toEqual(['SENT', bump.hash]);
    expect(await row(p.id)).toEqual({ status: 'sent', tx_hash: bump.hash, fee: bump.fee.toString() });
    expect(await paidTo(p.m.address)).toEqual([p.value]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('the original mined instead of its replacement: sent once by the original, its fee recorded', async () => {
    await setup(replacing);
    const p = await sending();
    const bump = await replaced(p);
    // A miner that took the original (generateblock mines it although the mempool holds the replacement).
    await node.generateBlock([p.raw]);
    expect(await mempool()).toEqual([]);
    await node.mine(confirmations - 1);
    const r = await checkWithdrawal(t.ps, p.id, caller);
    expect([r.reply, r.txHash]).toEqual(['SENT', p.first]);
    expect(await row(p.id)).toEqual({ status: 'sent', tx_hash: p.first, fee: p.fee.toString() });
    expect(await client.getRawTransaction(bump.hash)).toBeNull();
    expect(await paidTo(p.m.address)).toEqual([p.value]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('a crash between the replacement write-ahead and its broadcast: the next Check sends it, one payment', async () => {
    await setup(replacing);
    const p = await sending();
    let stored: string | null = null;
    t.ps.faults = {
      async at(point, info) {
        if (point !== 'payment.committed' || info.hash === p.first) return;
        stored = info.hash ?? null;
        throw new Error('simulated crash: payserv killed after the replacement was stored');
      },
    };
    await checkWithdrawal(t.ps, p.id, caller).catch((e: unknown) => e);
    t.ps.faults = undefined;
    expect(stored).not.toBeNull();
    const hash = stored as unknown as string;
    expect((await row(p.id)).tx_hash).toBe(hash);
    expect(await storedAttempts()).toEqual([p.first, hash].sort());
    // The node never heard of the replacement: it still holds the original.
    expect(await mempool()).toEqual([p.first]);
    const r = await checkWithdrawal(t.ps, p.id, caller);
    expect([r.reply, r.txHash]).toEqual(['SENDING', hash]);
    expect(await mempool()).toEqual([hash]);
    await node.mine(confirmations);
    expect(await checkWithdrawal(t.ps, p.id, caller)).toMatchObject({ reply: 'SENT', txHash: hash });
    expect(await paidTo(p.m.address)).toEqual([p.value]);
    expect(await storedAttempts()).toHaveLength(2);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('created_at backdated a day by a database attacker: no replacement before replace_after_s of the signed time, then one; sent once', async () => {
    const HOUR = 3_600_000;
    await setup(replacing, { replaceAfterMs: HOUR });
    const p = await sending();
    // The attacker makes every stored attempt look a day old (the column is nobody's signature).
    const backdate = () => t.ledger.db.query("UPDATE payserv_chain_txs SET created_at = created_at - interval '1 day'");
    await backdate();
    for (let i = 0; i < 3; i++) {
      const r = await checkWithdrawal(t.ps, p.id, caller);
      expect([r.reply, r.txHash]).toEqual(['SENDING', p.first]);
    }
    // No fee burnt: nothing replaced, nothing stored, the node holds the first attempt at its first fee.
    expect(await storedAttempts()).toEqual([p.first]);
    expect(await mempool()).toEqual([p.first]);
    expect((await client.getMempoolEntry(p.first))?.fees.base).toBe(p.fee);
    // replace_after_s of the signed sending entry's time passes: replaced once.
    const later = new Date(Date.now() + HOUR + 60_000);
    t.ps.now = () => later;
    const once = await replaced(p);
    // The replacement's row backdated too: it is not replaced again before its own replace_after_s.
    await backdate();
    expect(await checkWithdrawal(t.ps, p.id, caller)).toMatchObject({ reply: 'SENDING', txHash: once.hash });
    expect(await storedAttempts()).toEqual([p.first, once.hash].sort());
    expect(await mempool()).toEqual([once.hash]);
    await minedSentOnce(p, once.hash, once.fee);
  });

  it('a stale batch of 3 replaced for all 3 at once, the replacement mined: each sent once by it, with its share of its fee', async () => {
    await setup(replacing, { auto: true });
    const b = await batch();
    const r = await checkWithdrawal(t.ps, (b.reqs[0] as { id: number }).id, caller);
    expect(r.reply).toBe('SENDING');
    const hash = r.txHash as string;
    expect(hash).not.toBe(b.first);
    expect(await mempool()).toEqual([hash]);
    expect(await inputsOf(hash)).toEqual(b.inputs);
    // One stored attempt naming all 3; every withdrawal's signed history names it.
    expect(await attemptIds(hash)).toEqual(b.reqs.map((q) => q.id));
    for (const q of b.reqs) expect((await row(q.id)).tx_hash).toBe(hash);
    const fee = (await client.getMempoolEntry(hash))?.fees.base ?? 0n;
    expect(fee).toBeGreaterThan(b.fee);
    await node.mine(confirmations);
    await allSentOnce(b, hash, fee);
  });

  it('a stale batch of 3 replaced, the original mined: each sent once by the original, with its share of its fee', async () => {
    await setup(replacing, { auto: true });
    const b = await batch();
    const r = await checkWithdrawal(t.ps, (b.reqs[1] as { id: number }).id, caller);
    expect(r.txHash).not.toBe(b.first);
    expect(await mempool()).toEqual([r.txHash]);
    await node.generateBlock([b.raw]);
    expect(await mempool()).toEqual([]);
    await node.mine(confirmations - 1);
    await allSentOnce(b, b.first, b.fee);
    expect(await client.getRawTransaction(r.txHash as string)).toBeNull();
  });

  it("a crash between a batch replacement's write-ahead and its broadcast: another withdrawal's Check sends it, each paid once", async () => {
    await setup(replacing, { auto: true });
    const b = await batch();
    let stored: string | null = null;
    t.ps.faults = {
      async at(point, info) {
        if (point !== 'payment.committed' || info.hash === b.first) return;
        stored = info.hash ?? null;
        throw new Error('simulated crash: payserv killed after the replacement was stored');
      },
    };
    await checkWithdrawal(t.ps, (b.reqs[0] as { id: number }).id, caller).catch((e: unknown) => e);
    t.ps.faults = undefined;
    expect(stored).not.toBeNull();
    const hash = stored as unknown as string;
    for (const q of b.reqs) expect((await row(q.id)).tx_hash).toBe(hash);
    expect(t.ps.journal.get(hash)?.attempt.withdrawals.map(([id]) => id)).toEqual(b.reqs.map((q) => q.id));
    expect(await mempool()).toEqual([b.first]);
    // The node does not know the newest attempt: it is sent again (the same bytes), not replaced anew.
    expect(await checkWithdrawal(t.ps, (b.reqs[2] as { id: number }).id, caller)).toMatchObject({ reply: 'SENDING', txHash: hash });
    expect(await mempool()).toEqual([hash]);
    expect(await storedAttempts()).toEqual([b.first, hash].sort());
    await node.mine(confirmations);
    await allSentOnce(b, hash, (await feeOf(hash)) ?? 0n);
  });

  it('a stale batch with another of its withdrawals busy in another call: nothing stored, nothing changed, replaced once it is free', async () => {
    await setup(replacing, { auto: true });
    const b = await batch();
    const [a, busy] = b.reqs.map((q) => q.id) as [number, number];
    const r = await t.ps.locks.with(withdrawalLock(busy), 'another call', () => checkWithdrawal(t.ps, a, caller));
    expect(r).toMatchObject({ reply: 'SENDING', txHash: b.first });
    expect(r.message).toMatch(/another withdrawal of the batch is being handled, replacement deferred/);
    expect(await storedAttempts()).toEqual([b.first]);
    for (const q of b.reqs) expect((await row(q.id)).tx_hash).toBe(b.first);
    expect(await mempool()).toEqual([b.first]);
    const again = await checkWithdrawal(t.ps, a, caller);
    expect(again.txHash).not.toBe(b.first);
    for (const q of b.reqs) expect((await row(q.id)).tx_hash).toBe(again.txHash);
  });

  it("autopay's batch replaced for all its withdrawals by autopay's own Checks, the last replacement mined: each paid once", async () => {
    await setup(replacing, { auto: true });
    t.ps = { ...t.ps, signers: { ...t.ps.signers, autopay: t.ledger.signers.autopay } };
    const miners = [];
    for (let i = 0; i < 3; i++) miners.push(await newMiner(t, nextUser++, '1.5', { tag: 'LTC', address: freshAddress() }));
    const run = await runAutopay(t.ps, 'LTC', AUTOPAY, 'first run');
    expect([run.outcome, run.paid.count]).toEqual(['done', 3]);
    const [first] = await mempool();
    expect(await attemptIds(first as string)).toEqual([...run.paid.withdrawals].sort((a, b) => a - b));
    // The next run Checks each in flight: stale each time, the batch is replaced whole, each replacement outbidding the last.
    expect((await runAutopay(t.ps, 'LTC', AUTOPAY, 'stale')).confirmed).toEqual([]);
    const [last] = await mempool();
    expect(last).not.toBe(first);
    for (const id of run.paid.withdrawals) expect((await row(id)).tx_hash).toBe(last);
    await node.mine(confirmations);
    expect((await runAutopay(t.ps, 'LTC', AUTOPAY, 'settle')).confirmed.sort()).toEqual([...run.paid.withdrawals].sort());
    for (const id of run.paid.withdrawals) expect(await row(id)).toMatchObject({ status: 'sent', tx_hash: last });
    await expectSharedExactly(run.paid.withdrawals, (await feeOf(last as string)) ?? 0n);
    for (const m of miners) expect(await paidTo(m.address)).toEqual([toBaseUnits(sub(parseAmount('1.5'), m.coin.withdrawalFee), 8)]);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('a replacement the ceiling does not allow: not stored, fee_cap alerted, the payment waits and is sent once', async () => {
    // The first attempt pays the floor, 1 per vbyte, which is also the ceiling: no replacement can outbid it.
    await setup(replacing, { feeRateMax: 1n });
    const p = await sending();
    const r = await checkWithdrawal(t.ps, p.id, caller);
    expect(r.reply).toBe('SENDING');
    expect(r.message).toMatch(/not replaced: a replacement must pay at least \d+, above fee_rate_max 1/);
    expect(t.alerts.map((a) => a.kind)).toEqual(['fee_cap']);
    expect(await storedAttempts()).toEqual([p.first]);
    expect(await mempool()).toEqual([p.first]);
    await node.mine(confirmations);
    expect(await checkWithdrawal(t.ps, p.id, caller)).toMatchObject({ reply: 'SENT', txHash: p.first });
    expect(await paidTo(p.m.address)).toEqual([p.value]);
  });

  it('a node that refuses replacement (Litecoin default): the bump is refused before anything is stored, the payment waits and is sent', async () => {
    await setup(refusing);
    const p = await sending();
    const r = await checkWithdrawal(t.ps, p.id, caller);
    expect(r.reply).toBe('SENDING');
    expect(r.message).toMatch(/not replaced: .*txn-mempool-conflict/);
    expect(await storedAttempts()).toEqual([p.first]);
    expect(await mempool()).toEqual([p.first]);
    await minedSentOnce(p, p.first, p.fee);
  });
});
