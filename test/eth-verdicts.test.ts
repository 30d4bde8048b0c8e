// Issue 14 on anvil: the chain's word, proven. A payment is recorded failed only with proof read in one
// verdict with the chain's identity; a node that lies by omission, lags, or sits on another chain
// decides nothing; the fee mode is checked against the node; a contract recipient gets a gas margin.
import { afterEach, beforeEach, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { parseTransaction, type Hex } from 'viem';
import { privateKeyToAccount, privateKeyToAddress } from 'viem/accounts';
import { anvilRpc, dropTransaction, mine, setAutomine, setBalance, startAnvil, type Anvil } from '../src/devnet/anvil.js';
import { EvmDriver } from '../src/chains/eth/driver.js';
import { ChainIdentityError, type Attempt } from '../src/chains/driver.js';
import { loadHotKey } from '../src/keys/hot-wallet.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal, resendWithdrawal } from '../src/payserv/payouts.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ETH_SETTINGS, ethClient, ethDriver } from './support/chains.js';
import { deployRiser } from './support/contracts.js';
import { ethAddress, newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';
import { driverStorage } from '../src/app/drivers.js';

const anvil = anvilForFile();
let t: TestPayserv;
let driver: EvmDriver;
let proxy: RpcProxy;
let url: string;
const extra: Anvil[] = [];

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 14 };
const caller = 'test';
const confirmations = 12;

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
  await Promise.all(extra.splice(0).map((a) => a.stop()));
  await t.ledger.db.close();
});

async function otherAnvil(opts: Parameters<typeof startAnvil>[0] = {}): Promise<Anvil> {
  const a = await startAnvil(opts);
  extra.push(a);
  return a;
}

async function pendingRequest(userId: number, amount = '1', address?: string): Promise<{ id: number; m: Miner; value: bigint }> {
  const m = await newMiner(t, userId, '20', address ? { address } : {});
  const id = await request(t, m, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  return { id, m, value: toBaseUnits(sub(parseAmount(amount), m.coin.withdrawalFee), 18) };
}

async function statusOf(id: number): Promise<string> {
  const [r] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
  return r?.status ?? 'none';
}

/** The hot wallet's key used outside payserv: a transfer at `nonce` to `to`. */
async function sendOutside(nonce: number, to: Hex, value: bigint): Promise<Hex> {
  const key = await loadHotKey(t.ledger.stateDir, 'ETH');
  const account = privateKeyToAccount(`0x${Buffer.from(key).toString('hex')}`);
  const raw = await account.signTransaction({
    chainId: 31337,
    nonce,
    to,
    value,
    gas: 21_000n,
    maxFeePerGas: 10n ** 11n,
    maxPriorityFeePerGas: 10n ** 9n,
    type: 'eip1559',
  });
  return (await anvilRpc(url, 'eth_sendRawTransaction', [raw])) as Hex;
}

async function attemptsOf(hash: string): Promise<Attempt[]> {
  const rows = await t.ledger.db.query<{ hash: string; raw: string; created_at: Date }>(
    'SELECT hash, raw, created_at FROM payserv_chain_txs WHERE hash = $1',
    [hash],
  );
  return rows.map((r) => ({ hash: r.hash, raw: r.raw, signedAt: new Date(r.created_at) }));
}

describePerDataPath("the chain's word on Ethereum (issue 14)", () => {
  it('our nonce used by a transaction found in its block and none of ours: SEND_ERROR naming it; Resend pays once', async () => {
    const { id, m, value } = await pendingRequest(1401);
    await setAutomine(url, false);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const nonce = Number(parseTransaction((await attemptsOf(r.txHash as string))[0]?.raw as Hex).nonce);
    await dropTransaction(url, r.txHash as string);
    const other = await sendOutside(nonce, ethAddress() as Hex, 1n);
    await mine(url, confirmations);
    const failed = await checkWithdrawal(t.ps, id, caller);
    expect(failed.reply).toBe('SEND_ERROR');
    expect(failed.message).toContain(other);
    expect(await balanceOf(url, m.address)).toBe(0n);
    await setAutomine(url, true);
    expect((await resendWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(value);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('not deep enough yet: the consuming transaction has fewer blocks than the confirmations, so nothing is decided', async () => {
    const { id } = await pendingRequest(1402);
    await setAutomine(url, false);
    const r = await approveWithdrawal(t.ps, id, caller);
    const nonce = Number(parseTransaction((await attemptsOf(r.txHash as string))[0]?.raw as Hex).nonce);
    await dropTransaction(url, r.txHash as string);
    await sendOutside(nonce, ethAddress() as Hex, 1n);
    await mine(url, confirmations - 2);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    expect(await statusOf(id)).toBe('sending');
  });

  it('a contract recipient whose cost rises before mining: the bare estimate reverts, the configured margin is mined', async () => {
    const key = `0x${randomBytes(32).toString('hex')}` as Hex;
    await setBalance(url, privateKeyToAddress(key), 10n ** 18n);
    const results: string[] = [];
    for (const margin of [0, 25]) {
      const riser = await deployRiser(url, key);
      await anvilRpc(url, 'anvil_setStorageAt', [riser, '0x0', `0x${(10).toString(16).padStart(64, '0')}`]);
      driver = await ethDriver(
        proxy.url,
        { db: t.ps.db, trust: t.ps.trust, stateDir: t.ledger.stateDir, log: t.ps.log, journal: t.ps.journal },
        { settings: { gasLimitMarginPercent: margin } },
      ).catch(async () => {
        // The key file exists: a second driver of the same wallet with another margin.
        const d = new EvmDriver(ETH_SETTINGS(proxy.url, { gasLimitMarginPercent: margin }), await loadHotKey(t.ledger.stateDir, 'ETH'), {
          storage: driverStorage(t.ps.db, t.ps.trust),
          stateDir: t.ledger.stateDir,
          log: t.ps.log,
          journal: t.ps.journal,
        });
        await d.start();
        return d;
      });
      t.ps.drivers = new Map([['ETH', driver]]);
      const { id } = await pendingRequest(1410 + margin, '1', riser);
      await setAutomine(url, false);
      const r = await approveWithdrawal(t.ps, id, caller);
      expect(r.reply).toBe('SENDING');
      // Between the estimate and the block: the recipient now loops 40 times, not 10.
      await anvilRpc(url, 'anvil_setStorageAt', [riser, '0x0', `0x${(40).toString(16).padStart(64, '0')}`]);
      await mine(url, confirmations);
      await setAutomine(url, true);
      results.push((await checkWithdrawal(t.ps, id, caller)).reply);
      const gas = parseTransaction((await attemptsOf(r.txHash as string))[0]?.raw as Hex).gas as bigint;
      if (margin) expect(gas > 21_000n + 2_100n).toBe(true);
    }
    expect(results).toEqual(['SEND_ERROR', 'SENT']);
  });

  it('EIP-1559 configured on a chain without a base fee, or legacy on one with it: refused at start, naming the key', async () => {
    const etc = await otherAnvil({ hardfork: 'berlin', chainId: 61 });
    const on = new EvmDriver(ETH_SETTINGS(etc.url, { chainId: 61, eip1559: true }), randomBytes(32), {
      storage: driverStorage(t.ps.db, t.ps.trust),
      stateDir: t.ledger.stateDir,
      log: t.ps.log,
      journal: t.ps.journal,
    });
    await expect(on.start()).rejects.toThrow(
      /eip1559 = true, but the node's blocks carry no base fee.*set eip1559 = false in \[coins\.ETH\]/,
    );
    const off = new EvmDriver(ETH_SETTINGS(url, { eip1559: false }), randomBytes(32), {
      storage: driverStorage(t.ps.db, t.ps.trust),
      stateDir: t.ledger.stateDir,
      log: t.ps.log,
      journal: t.ps.journal,
    });
    await expect(off.start()).rejects.toThrow(/eip1559 = false, but the node's chain has a base fee/);
  });

  it('a type-2 transaction a legacy chain refused: the replacement is a legacy one, mined, paid once', async () => {
    const etc = await otherAnvil({ hardfork: 'berlin', chainId: 61 });
    const deps = { storage: driverStorage(t.ps.db, t.ps.trust), stateDir: t.ledger.stateDir, log: t.ps.log, journal: t.ps.journal };
    const key = randomBytes(32);
    // Misconfigured and never started (start would refuse it): it signs type 2.
    const wrong = new EvmDriver(ETH_SETTINGS(etc.url, { chainId: 61, eip1559: true, replaceAfterMs: 0 }), key, deps);
    await setBalance(etc.url, wrong.address, 10n ** 20n);
    t.ps.drivers = new Map([['ETH', wrong]]);
    const { id, m, value } = await pendingRequest(1420);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    expect(parseTransaction((await attemptsOf(r.txHash as string))[0]?.raw as Hex).type).toBe('eip1559');
    expect(await balanceOf(etc.url, m.address)).toBe(0n);
    // The operator sets eip1559 = false: the stale attempt is replaced by a legacy transaction.
    const right = new EvmDriver(ETH_SETTINGS(etc.url, { chainId: 61, eip1559: false, replaceAfterMs: 0 }), key, deps);
    await right.start();
    t.ps.drivers = new Map([['ETH', right]]);
    const replaced = await checkWithdrawal(t.ps, id, caller);
    expect(replaced.reply).toBe('SENDING');
    expect(replaced.txHash).not.toBe(r.txHash);
    expect(parseTransaction((await attemptsOf(replaced.txHash as string))[0]?.raw as Hex).type).toBe('legacy');
    await mine(etc.url, confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(etc.url, m.address)).toBe(value);
  });

  it('a replacement the fee cap does not allow waits and says so (atCap)', async () => {
    const { id } = await pendingRequest(1430);
    await setAutomine(url, false);
    const capped = new EvmDriver(ETH_SETTINGS(proxy.url, { replaceAfterMs: 0 }), await loadHotKey(t.ledger.stateDir, 'ETH'), {
      storage: driverStorage(t.ps.db, t.ps.trust),
      stateDir: t.ledger.stateDir,
      log: t.ps.log,
      journal: t.ps.journal,
    });
    t.ps.drivers = new Map([['ETH', capped]]);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const [latest] = await attemptsOf(r.txHash as string);
    const tx = parseTransaction(latest?.raw as Hex);
    // The cap is now the attempt's own max fee: no replacement can outbid it within the cap.
    const atCap = new EvmDriver(
      ETH_SETTINGS(proxy.url, { maxFeePerGas: tx.maxFeePerGas as bigint, maxPriorityFeePerGas: tx.maxPriorityFeePerGas ?? 0n }),
      await loadHotKey(t.ledger.stateDir, 'ETH'),
      { storage: driverStorage(t.ps.db, t.ps.trust), stateDir: t.ledger.stateDir, log: t.ps.log, journal: t.ps.journal },
    );
    const s = await t.ps.db.transaction((db) => atCap.replace(db, latest as Attempt));
    expect(s).toMatchObject({ kind: 'wait', atCap: true });
    await setAutomine(url, true);
  });

  it('the node restarted on a fresh chain with the same chain id: every verdict is refused as another chain, nothing decided', async () => {
    const { id } = await pendingRequest(1440);
    await setAutomine(url, false);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    const fresh = await otherAnvil({ chainId: 31337, genesisTimestamp: 1_000_000 });
    // The hot wallet has used many nonces there: without the identity check its nonce would look used.
    const attempts = await attemptsOf(r.txHash as string);
    const other = new EvmDriver(ETH_SETTINGS(fresh.url), await loadHotKey(t.ledger.stateDir, 'ETH'), {
      storage: driverStorage(t.ps.db, t.ps.trust),
      stateDir: t.ledger.stateDir,
      log: t.ps.log,
      journal: t.ps.journal,
    });
    await expect(other.verdict(attempts, { now: new Date(), confirmations })).rejects.toThrow(ChainIdentityError);
    await expect(other.verdict(attempts, { now: new Date(), confirmations })).rejects.toThrow(/genesis block is .*, not /);
    await expect(other.health()).rejects.toThrow(ChainIdentityError);
    expect(await statusOf(id)).toBe('sending');
    await setAutomine(url, true);
  });

  it('a reorg after the confirmations: watch says gone, with the block that replaced ours; before it, settling then final', async () => {
    const { id } = await pendingRequest(1450);
    const snap = await anvilRpc(url, 'evm_snapshot');
    const r = await approveWithdrawal(t.ps, id, caller);
    await mine(url, confirmations);
    const sent = await checkWithdrawal(t.ps, id, caller);
    expect(sent.reply).toBe('SENT');
    const receipt = await ethClient(url).getTransactionReceipt({ hash: r.txHash as Hex });
    const seen = { blockNumber: Number(receipt.blockNumber), blockHash: receipt.blockHash };
    expect(await driver.watch(r.txHash as string, seen, { finality: 64 })).toMatchObject({ kind: 'settling', block: seen });
    expect(await driver.watch(r.txHash as string, seen, { finality: confirmations })).toMatchObject({ kind: 'final' });
    // The blocks are replaced by others (deeper than the confirmations), without our transaction.
    await anvilRpc(url, 'evm_revert', [snap]);
    await mine(url, confirmations + 3);
    const gone = await driver.watch(r.txHash as string, seen, { finality: 64 });
    expect(gone.kind).toBe('gone');
    expect(gone.kind === 'gone' && gone.proof).toContain(seen.blockHash);
  });

  it('a reorg before the confirmations: the transaction the node lost is rebroadcast, paid once', async () => {
    const { id, m, value } = await pendingRequest(1460);
    const snap = await anvilRpc(url, 'evm_snapshot');
    const r = await approveWithdrawal(t.ps, id, caller);
    await mine(url, 2);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await anvilRpc(url, 'evm_revert', [snap]);
    await mine(url, 1);
    expect(await balanceOf(url, m.address)).toBe(0n);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    await mine(url, confirmations);
    const done = await checkWithdrawal(t.ps, id, caller);
    expect(done.reply).toBe('SENT');
    expect(done.txHash).toBe(r.txHash);
    expect(await balanceOf(url, m.address)).toBe(value);
  });
  it('receipts lost (a node beyond its receipt window): the mined payment stays SENDING, never SEND_ERROR; receipts back: SENT once', async () => {
    const { id, m, value } = await pendingRequest(1470);
    const r = await approveWithdrawal(t.ps, id, caller);
    await mine(url, confirmations);
    proxy.nullResults('eth_getTransactionReceipt', true);
    const blind = await checkWithdrawal(t.ps, id, caller);
    expect(blind.reply).toBe('SENDING');
    expect(blind.message).toMatch(/serves no receipt/);
    // The node forgets the transaction too: the nonce is used, and the block that used it holds ours.
    proxy.nullResults('eth_getTransactionByHash', true);
    const blinder = await checkWithdrawal(t.ps, id, caller);
    expect(blinder.reply).toBe('SENDING');
    expect(blinder.message).toMatch(new RegExp(`${r.txHash as string} is in block \\d+ but the node serves no receipt`));
    expect(await statusOf(id)).toBe('sending');
    proxy.nullResults('eth_getTransactionReceipt', false);
    proxy.nullResults('eth_getTransactionByHash', false);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(value);
    expect(await t.ledger.check('balanceerrors')).toEqual([]);
  });

  it('a lagging node: nothing decided while it lags, SENT once it catches up', async () => {
    const { id, m, value } = await pendingRequest(1480);
    await approveWithdrawal(t.ps, id, caller);
    await mine(url, confirmations - 3);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    // Deep enough on the chain; the node answers from 2 blocks after ours, then from before it.
    await mine(url, 5);
    proxy.lag(confirmations);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    proxy.lag(confirmations + 5);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
    expect(await statusOf(id)).toBe('sending');
    proxy.lag(0);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(value);
  });

  it("the node switched to another chain where the hot wallet's nonce is higher: nothing decided, nothing credited back; back on ours: SENT once", async () => {
    const { id, m, value } = await pendingRequest(1490);
    await setAutomine(url, false);
    const r = await approveWithdrawal(t.ps, id, caller);
    expect(r.reply).toBe('SENDING');
    for (const other of [await otherAnvil({ chainId: 999 }), await otherAnvil({ chainId: 31337, genesisTimestamp: 2_000_000 })]) {
      await anvilRpc(other.url, 'anvil_setNonce', [driver.address, '0x40']);
      await mine(other.url, confirmations + 5);
      proxy.retarget(other.url);
      const c = await checkWithdrawal(t.ps, id, caller);
      expect(c.reply).toBe('SENDING');
      expect(c.message).toMatch(other.chainId === 999 ? /chain 999/ : /genesis/);
      expect(await statusOf(id)).toBe('sending');
      proxy.retarget(url);
    }
    await mine(url, confirmations);
    await setAutomine(url, true);
    expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
    expect(await balanceOf(url, m.address)).toBe(value);
  });
  it('the node switched to another chain between payments: nothing is signed from it (no nonce taken from its count)', async () => {
    const fresh = await otherAnvil({ chainId: 31337, genesisTimestamp: 3_000_000 });
    await anvilRpc(fresh.url, 'anvil_setNonce', [driver.address, '0x400']);
    await setBalance(fresh.url, driver.address, 10n ** 21n);
    proxy.retarget(fresh.url);
    const before = await t.ledger.db.query('SELECT next_nonce::text AS next FROM payserv_nonces');
    await expect(t.ps.db.transaction((tx) => driver.sign(tx, [{ withdrawalId: 1, address: ethAddress(), value: 1n }]))).rejects.toThrow(
      ChainIdentityError,
    );
    expect(await t.ledger.db.query('SELECT next_nonce::text AS next FROM payserv_nonces')).toEqual(before);
    proxy.retarget(url);
  });
});
