// Ethereum payouts against a real node (anvil): Approve pays on-chain under the write-ahead rule, Check
// asks the chain. Each story ends with exactly one transfer per withdrawal of amount − fee, or with none
// and the withdrawal in send_error / send_retry, and with clean checks.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { getAddress, parseTransaction, type Hex } from 'viem';
import { anvilRpc, dropTransaction, mine, setAutomine, setBalance, startAnvil } from '../src/devnet/anvil.js';
import { EvmDriver } from '../src/chains/eth/driver.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ETH_SETTINGS, ethDriver, minedCount } from './support/chains.js';
import { REJECTER_RUNTIME_CODE, deployRejecter } from './support/contracts.js';
import { ethAddress, newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';
import { driverStorage } from '../src/app/drivers.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let proxy: RpcProxy;
let url: string;

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 5 };

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  proxy = await startRpcProxy(url);
  t = await testPayserv({
    seed: SEED,
    drivers: async (deps) => {
      driver = await ethDriver(proxy.url, deps);
      return new Map([['ETH', driver]]);
    },
  });
});

afterEach(async () => {
  await proxy.stop();
  await t.ledger.db.close();
});

const caller = 'test';
const confirmations = 12;

/** A processed (pending) ETH request of `amount` to a fresh address (or `address`), and the value it must pay (amount − fee, in wei). */
async function pendingRequest(userId: number, amount = '1', address?: string): Promise<{ id: number; m: Miner; value: bigint }> {
  const m = await newMiner(t, userId, '20', address ? { address } : {});
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 18) };
}

async function expectClean(): Promise<void> {
  expect(await t.ledger.check('balanceerrors')).toEqual([]);
}

async function statusOf(id: number): Promise<{ status: string; tx_hash: string | null }> {
  const [r] = await t.ledger.db.query<{ status: string; tx_hash: string | null }>(
    'SELECT status, tx_hash FROM finances_withdrawal_transaction WHERE id = $1',
    [id],
  );
  if (!r) throw new Error(`no withdrawal ${id}`);
  return r;
}

describePerDataPath('Ethereum payouts on anvil', () => {
  it('a single payout: SENDING at once, SENT after the confirmations, exactly amount − fee to the wallet', async () => {
    // An EIP-55 (mixed-case) address, as wallets usually carry.
    const { id, m, value } = await pendingRequest(2001, '1.25', getAddress(ethAddress()));
    const before = await minedCount(url, driver.address);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(r.txHash).toMatch(/^0x[0-9a-f]{64}$/);
    // Stored before it was broadcast: bytes, hash, nonce, what it pays.
    const [row] = await t.ledger.db.query<{ raw: string; nonce: string; withdrawal_ids: number[] }>(
      'SELECT raw, nonce::text, withdrawal_ids FROM payserv_chain_txs WHERE hash = $1',
      [r.txHash],
    );
    expect(row?.withdrawal_ids.map(Number)).toEqual([id]);
    expect(row?.nonce).toBe(String(before));
    const early = await checkWithdrawal(t.ps, id, caller);
    expect(early.reply).toBe('SENDING');
    expect(early.message).toMatch(/1 of 12 confirmations/);
    await mine(url, confirmations);
    const done = await checkWithdrawal(t.ps, id, caller);
    expect(done.reply).toBe('SENT');
    expect(done.txHash).toBe(r.txHash);
    expect(await balanceOf(url, m.address)).toBe(value);
    expect(await minedCount(url, driver.address)).toBe(before + 1);
    await expectClean();
  });

  it('a batch of approvals: one transfer each, consecutive nonces, all sent', async () => {
    const reqs = [];
    for (let i = 0; i < 5; i++) reqs.push(await pendingRequest(2100 + i, `0.${i + 2}`));
    const before = await minedCount(url, driver.address);
    for (const q of reqs) expect((await approveWithdrawal(t.ps, q.id, caller)).reply).toBe('SENDING');
    await mine(url, confirmations);
    for (const q of reqs) expect((await checkWithdrawal(t.ps, q.id, caller)).reply).toBe('SENT');
    for (const q of reqs) expect(await balanceOf(url, q.m.address)).toBe(q.value);
    expect(await minedCount(url, driver.address)).toBe(before + reqs.length);
    const nonces = await t.ledger.db.query<{ nonce: string }>('SELECT nonce::text FROM payserv_chain_txs ORDER BY nonce');
    expect(nonces.map((n) => Number(n.nonce))).toEqual(reqs.map((_, i) => before + i));
    await expectClean();
  });

  it('the node accepts the transaction and the reply is lost: SENDING, and Check finds it paid once', async () => {
    const { id, m, value } = await pendingRequest(2201);
    proxy.dropReplyTo('eth_sendRawTransaction');
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(r.message).toMatch(/outcome unknown/);
    // A second Approve is refused: the withdrawal is sending, nothing is signed again.
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('ERROR');
    await mine(url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(value);
    expect(Number((await t.ledger.db.query<{ n: number }>('SELECT count(*)::bigint AS n FROM payserv_chain_txs'))[0]?.n)).toBe(1);
    await expectClean();
  });

  it('a transaction the node dropped is rebroadcast (the same bytes) and paid once', async () => {
    const { id, m, value } = await pendingRequest(2301);
    await setAutomine(url, false);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    await dropTransaction(url, r.txHash as string);
    const again = await checkWithdrawal(t.ps, id, caller);
    expect(again.reply).toBe('SENDING');
    expect(again.message).toMatch(/unknown to the node, rebroadcast/);
    await mine(url, confirmations);
    const done = await checkWithdrawal(t.ps, id, caller);
    expect(done.reply).toBe('SENT');
    expect(done.txHash).toBe(r.txHash);
    expect(await balanceOf(url, m.address)).toBe(value);
    await expectClean();
  });

  it('a stale payment is replaced with higher fees; when the original is the one mined, it is recognised and paid once', async () => {
    const { id, m, value } = await pendingRequest(2401);
    await setAutomine(url, false);
    const first = await approveWithdrawal(t.ps, id, caller);
    expect(first.reply).toBe('SENDING');
    // The replacement time passes.
    const later = new Date(Date.now() + 2 * 3_600_000);
    t.ps.now = () => later;
    const bumped = await checkWithdrawal(t.ps, id, caller);
    expect(bumped.reply).toBe('SENDING');
    expect(bumped.txHash).not.toBe(first.txHash);
    const rows = await t.ledger.db.query<{ hash: string; raw: string; nonce: string }>(
      'SELECT hash, raw, nonce::text FROM payserv_chain_txs ORDER BY created_at',
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]?.nonce).toBe(rows[1]?.nonce);
    const [a, b] = rows.map((x) => driver.decode(x.raw));
    expect(a?.outputs).toEqual(b?.outputs);
    // The original wins the race: the replacement leaves the pool, the original is mined.
    await dropTransaction(url, bumped.txHash as string);
    await anvilRpc(url, 'eth_sendRawTransaction', [rows[0]?.raw as Hex]);
    await mine(url, confirmations);
    const done = await checkWithdrawal(t.ps, id, caller);
    expect(done.reply).toBe('SENT');
    expect(done.txHash).toBe(first.txHash);
    expect(await balanceOf(url, m.address)).toBe(value);
    await expectClean();
  });

  it('created_at backdated a day by a database attacker: the payment is not replaced (its signed entry is minutes old), sent once', async () => {
    const { id, m, value } = await pendingRequest(2451);
    await setAutomine(url, false);
    const first = await approveWithdrawal(t.ps, id, caller);
    expect(first.reply).toBe('SENDING');
    await t.ledger.db.query("UPDATE payserv_chain_txs SET created_at = created_at - interval '1 day'");
    const r = await checkWithdrawal(t.ps, id, caller);
    expect([r.reply, r.txHash]).toEqual(['SENDING', first.txHash]);
    expect(await t.ledger.db.query<{ hash: string }>('SELECT hash FROM payserv_chain_txs')).toEqual([{ hash: first.txHash }]);
    await mine(url, confirmations);
    expect(await checkWithdrawal(t.ps, id, caller)).toMatchObject({ reply: 'SENT', txHash: first.txHash });
    expect(await balanceOf(url, m.address)).toBe(value);
    await expectClean();
  });

  it('a recipient that rejects value: SEND_ERROR with nothing sent, the hot wallet untouched', async () => {
    const key = `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')}` as Hex;
    const { privateKeyToAddress } = await import('viem/accounts');
    await setBalance(url, privateKeyToAddress(key), 10n ** 18n);
    const rejecter = await deployRejecter(url, key);
    const { id } = await pendingRequest(2501, '1', rejecter);
    const hot = await balanceOf(url, driver.address);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SEND_ERROR');
    expect(r.message).toMatch(/rejects the payment/);
    expect(await balanceOf(url, driver.address)).toBe(hot);
    expect(await balanceOf(url, rejecter)).toBe(0n);
    expect((await statusOf(id)).status).toBe('send_error');
    await expectClean();
  });

  it('a transaction that reverts on chain (receipt status 0): SEND_ERROR, nothing paid; Resend proves it failed before paying anew', async () => {
    const address = ethAddress();
    const { id } = await pendingRequest(2601, '1', address);
    await setAutomine(url, false);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    // The recipient becomes a contract that rejects value before the block is mined.
    await anvilRpc(url, 'anvil_setCode', [address, REJECTER_RUNTIME_CODE]);
    await mine(url, confirmations);
    const failed = await checkWithdrawal(t.ps, id, caller);
    expect(failed.reply).toBe('SEND_ERROR');
    expect(failed.message).toMatch(/receipt status 0/);
    expect(await balanceOf(url, address)).toBe(0n);
    // Resend: the earlier payment is still proved failed; the recipient still rejects, so nothing is sent.
    const again = await resendWithdrawal(t.ps, id, caller);
    expect(again.reply).toBe('SEND_ERROR');
    expect(await balanceOf(url, address)).toBe(0n);
    await expectClean();
  });

  it('the node down during Check: SENDING, nothing changed; back up: SENT', async () => {
    const { id, m, value } = await pendingRequest(2701);
    expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, confirmations);
    proxy.down(true);
    const r = await checkWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(r.message).toMatch(/node unreachable/);
    expect((await statusOf(id)).status).toBe('sending');
    proxy.down(false);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(value);
    await expectClean();
  });

  it('a hot wallet short of value + gas: SEND_RETRY, nothing signed; funded, Resend pays once', async () => {
    const { id, m, value } = await pendingRequest(2801, '3');
    await setBalance(url, driver.address, value);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SEND_RETRY');
    expect(r.message).toMatch(/hot wallet short/);
    expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toHaveLength(0);
    await setBalance(url, driver.address, 10n ** 20n);
    expect((await resendWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(value);
    await expectClean();
  });

  it('fees above the configured cap: the payment waits (SEND_RETRY)', async () => {
    await anvilRpc(url, 'anvil_setNextBlockBaseFeePerGas', ['0x' + (900n * 10n ** 9n).toString(16)]);
    await mine(url, 1);
    const { id } = await pendingRequest(2901);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SEND_RETRY');
    expect(r.message).toMatch(/cap/);
    expect(await t.ledger.db.query('SELECT hash FROM payserv_chain_txs')).toHaveLength(0);
  });

  it('a chain without EIP-1559 (ETC style): a legacy transaction under the gas price cap, paid once', async () => {
    const etc = await startAnvil({ hardfork: 'berlin', chainId: 61 });
    try {
      const legacy = new EvmDriver({ ...ETH_SETTINGS(etc.url, { chainId: 61, eip1559: false }) }, randomBytes(32), {
        storage: driverStorage(t.ledger.db, t.ledger.trust),
        stateDir: t.ledger.stateDir,
        log: t.ps.log,
        journal: t.ps.journal,
      });
      await setBalance(etc.url, legacy.address, 10n ** 20n);
      await legacy.start();
      t.ps.drivers = new Map([['ETH', legacy]]);
      const { id, m, value } = await pendingRequest(3001);
      const r = await approveWithdrawal(t.ps, id, caller);
      expect(r.reply).toBe('SENDING');
      const [row] = await t.ledger.db.query<{ raw: string }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [r.txHash]);
      expect(parseTransaction(row?.raw as Hex).type).toBe('legacy');
      await mine(etc.url, confirmations);
      expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
      expect(await balanceOf(etc.url, m.address)).toBe(value);
    } finally {
      await etc.stop();
    }
  });

  it('the node is not the configured chain: the driver refuses to start', async () => {
    const wrong = new EvmDriver({ ...driverSettings(), chainId: 1 }, new Uint8Array(32).fill(7), {
      storage: driverStorage(t.ledger.db, t.ledger.trust),
      stateDir: t.ledger.stateDir,
      log: t.ps.log,
      journal: t.ps.journal,
    });
    await expect(wrong.start()).rejects.toThrow(/the node is chain 31337, the configuration says 1/);
  });
});

function driverSettings() {
  return ETH_SETTINGS(url, { maxFeePerGas: 10n ** 12n, maxPriorityFeePerGas: 10n ** 9n, replaceAfterMs: 1000 });
}
