// The MiningCore adapter at each window between a ledger write and MiningCore's, against MiningCore's tables in
// a real PostgreSQL, anvil and the intake in process. A process death is the adapter's MiningCore connection cut
// at the exact statement (test/support/drop-proxy.ts, killed) and the adapter abandoned; the restart is a new
// adapter with nothing in memory (its cursor back at from_block_id). Also MiningCore's database dropping the
// connection mid-import while the adapter lives on. Afterwards: one credit per block, one payments row per sent
// withdrawal, MiningCore's balances equal to the ledger's and the chain's. Also the adapters' one intake call.
import type { Hex } from 'viem';
import { beforeEach, expect, it, onTestFinished } from 'vitest';
import { runAutopay } from '../src/autopay/run.js';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { dispatchIntake } from '../src/intake/handlers.js';
import { startIntake, type RunningIntake } from '../src/intake/service.js';
import { type Logger } from '../src/log/index.js';
import { formatAmount, parseAmount, sub, sum, toBaseUnits } from '../src/money/amount.js';
import type { AutopaySettings } from '../src/payserv/policy.js';
import { startMiningcoreAdapter, type MiningcoreAdapter, type MiningcoreSettings } from '../src/pools/miningcore/adapter.js';
import { BALANCE_RESET_USAGE } from '../src/pools/miningcore/usage.js';
import { AdapterBug, intakeCall } from '../src/pools/intake-call.js';
import { derivedUserId } from '../src/pools/user-id.js';
import { describeOncePerSuite } from './support/backend.js';
import { anvilForFile, balanceOf } from './support/chains.js';
import { dropProxy, pgText, type DropMode, type DropProxy } from './support/drop-proxy.js';
import { amt, coinByTag, ethAddress } from './support/miners.js';
import { creditConfirmedBlock, miningcoreDbForFile } from './support/miningcore-db.js';
import { type TestPayserv } from './support/payserv.js';
import { adapterPayserv, ethIntakeToml, intakeConfig, keptLog } from './support/pool-adapter.js';

const anvil = anvilForFile();
const mcDb = miningcoreDbForFile();
const POOL_ID = 'eth1';
const POOL = ethAddress();
const FEE = ethAddress();
const SETTINGS: AutopaySettings = { threshold: amt('0.5'), requirePeers: 0, maxPerRun: 100 };
const ADAPTER: MiningcoreSettings = {
  pool_id: POOL_ID,
  coin: 'ETH',
  interval_s: 3600,
  fee_address: [FEE],
  from_block_id: 0,
  minimum_payment: '1000000',
};

let url: string;
let t: TestPayserv;
let intake: RunningIntake;
let log: Logger;
let logs: Array<Record<string, unknown>>;
/** The adapter "process" running now: its own proxy to MiningCore's database. */
let proc: { proxy: DropProxy; adapter: MiningcoreAdapter } | null = null;

beforeEach(async () => {
  url = (await anvil()).url;
  await mcDb.empty();
  t = await adapterPayserv(url);
  await coinByTag(t, 'ETH');
  const config = await intakeConfig(t.ledger.stateDir, ethIntakeToml(url, POOL));
  logs = [];
  log = keptLog(logs);
  intake = await startIntake(config, log, t.ledger.db);
  onTestFinished(async () => {
    await kill();
    await intake.stop();
    await t.ledger.db.close();
  });
});

/** A new adapter process: nothing in memory, MiningCore's database through a fresh proxy (armed by `arm`); its first interval done. */
async function start(arm?: (proxy: DropProxy) => void): Promise<{ proxy: DropProxy; adapter: MiningcoreAdapter }> {
  const proxy = await dropProxy(Number(new URL(mcDb.url).port || 5432), pgText);
  arm?.(proxy);
  const proxied = new URL(mcDb.url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  proc = { proxy, adapter: startMiningcoreAdapter(intake.intake, ADAPTER, proxied.toString(), log) };
  await proc.adapter.tick();
  return proc;
}

/** The process is gone: its connections cut, its interval in flight abandoned. */
async function kill(): Promise<void> {
  if (!proc) return;
  await proc.proxy.kill();
  await proc.adapter.stop();
  proc = null;
}

/** A block mined to the pool on anvil, confirmed and credited by MiningCore. */
async function mcBlock(credits: ReadonlyArray<readonly [string, string]>): Promise<string> {
  await anvilRpc(url, 'anvil_setCoinbase', [POOL]);
  await mine(url, 1);
  const b = (await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex; number: Hex };
  await mine(url, 12);
  const height = BigInt(b.number);
  await creditConfirmedBlock(mcDb.pool, POOL_ID, { height, hash: b.hash }, [FEE, '0.01'], credits);
  return b.hash;
}

const userOf = (address: string) => derivedUserId(`miningcore:${POOL_ID}`, 'ETH', address);
/** The block's miner credits in the ledger. */
const creditsOf = async (hash: string) =>
  (
    await t.ledger.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM finances_user_balance_transaction WHERE block_hash = $1 AND type = 'block'",
      [hash.toLowerCase()],
    )
  )[0]!.n;
const incomes = async () =>
  (await t.ledger.db.query<{ n: number }>("SELECT count(*)::int AS n FROM finances_proxypool_transactions WHERE kind = 'block'"))[0]!.n;
const mcRows = mcDb.rows;
const pay = async (holder: string) => {
  expect((await runAutopay(t.ps, 'ETH', SETTINGS, holder)).outcome).toBe('done');
  await mine(url, 12);
  expect((await runAutopay(t.ps, 'ETH', SETTINGS, `${holder} settle`)).outcome).toBe('done');
};
/** The first chunk with `then` once one with `first` went by: the COMMIT of a write-back, not of the thresholds' transaction. */
const after = (first: string, then: string) => {
  let seen = false;
  return (chunk: string) => (seen ||= chunk.includes(first)) && chunk.includes(then);
};
/** The nth chunk (from arming) whose SQL includes `text`. */
const nth = (text: string, n = 1) => {
  let seen = 0;
  return (chunk: string) => chunk.includes(text) && ++seen === n;
};

/** MiningCore's tables against the ledger and the chain: one payments row and one reset per sent withdrawal. */
async function expectAgreement(miners: readonly string[], blocks: number): Promise<void> {
  expect(await incomes()).toBe(blocks);
  for (const address of miners) {
    const sent = await t.ledger.db.query<{ amount: string; fee: string; tx_hash: string }>(
      "SELECT amount::text, fee::text, tx_hash FROM finances_withdrawal_transaction WHERE user_id = $1 AND status = 'sent'",
      [userOf(address)],
    );
    expect(sent.length, address).toBeGreaterThan(0);
    const payments = await mcRows<{ amount: string; tx: string }>(
      'SELECT amount::text, transactionconfirmationdata AS tx FROM payments WHERE poolid = $1 AND address = $2',
      [POOL_ID, address],
    );
    expect(payments.map((p) => [p.tx, formatAmount(parseAmount(p.amount))]).sort(), address).toEqual(
      sent.map((w) => [w.tx_hash, formatAmount(parseAmount(w.amount))]).sort(),
    );
    const [resets] = await mcRows<{ n: number }>('SELECT count(*)::int AS n FROM balance_changes WHERE address = $1 AND usage = $2', [
      address,
      BALANCE_RESET_USAGE,
    ]);
    expect(resets!.n).toBe(sent.length);
    const [bal] = await mcRows<{ amount: string }>('SELECT amount::text FROM balances WHERE poolid = $1 AND address = $2', [
      POOL_ID,
      address,
    ]);
    const ledger = (await dispatchIntake(intake.intake, 'Balance.Get', { user: userOf(address), coin: 'ETH' })) as { balance: string };
    expect(formatAmount(parseAmount(bal!.amount)), address).toBe(formatAmount(parseAmount(ledger.balance)));
    const onChain = sum(sent.map((w) => sub(parseAmount(w.amount), parseAmount(w.fee))));
    expect(await balanceOf(url, address), address).toBe(toBaseUnits(onChain, 18));
  }
}

describeOncePerSuite('the MiningCore adapter killed between a ledger write and MiningCore’s, then restarted', () => {
  it('(c) after a block’s ledger credit, before the next interval; after payserv recorded a payment sent, before and after its write-back commit', async () => {
    const [a, b] = [ethAddress(), ethAddress()];
    const first = await mcBlock([
      [a, '0.6'],
      [b, '0.7'],
    ]);
    const second = await mcBlock([[a, '0.4']]);
    // (c) The first block credited in the ledger; the process dies as it reads the second block's credits.
    let p = await start((x) => x.dropAt(nth('FROM balance_changes', 2), 'request', 'die'));
    expect(p.proxy.dropped()).toBe(1);
    await kill();
    expect([await creditsOf(first), await creditsOf(second)]).toEqual([2, 0]);
    // The restart begins at from_block_id again: the first block's Blocks.Credit answers already, the second is imported.
    p = await start();
    expect([await creditsOf(first), await creditsOf(second)]).toEqual([2, 1]);

    // payserv pays; the process dies as its write-back transaction begins (MiningCore has nothing), then, for the
    // next payments, as its COMMIT reaches MiningCore and the reply is lost (MiningCore has them, the adapter never learned).
    for (const [mode, round] of [
      ['request', 0],
      ['reply', 1],
    ] as Array<[DropMode, number]>) {
      if (round > 0) {
        await mcBlock([
          [a, '0.55'],
          [b, '0.6'],
        ]);
        await p.adapter.tick();
      }
      await pay(`round ${round}`);
      const before = (await mcRows<{ n: number }>('SELECT count(*)::int AS n FROM payments'))[0]!.n;
      p.proxy.dropAt(mode === 'request' ? nth('pg_advisory_xact_lock') : after('INSERT INTO payments', 'COMMIT'), mode, 'die');
      await p.adapter.tick();
      expect(p.proxy.dropped()).toBe(1);
      await kill();
      const written = (await mcRows<{ n: number }>('SELECT count(*)::int AS n FROM payments'))[0]!.n;
      expect(written - before, mode).toBe(mode === 'request' ? 0 : 1);
      p = await start();
    }
    await expectAgreement([a, b], 3);
  });
});

describeOncePerSuite('the MiningCore adapter when MiningCore’s database drops the connection mid-import', () => {
  it('a block whose credits were being read waits and is imported next interval, once; the blocks after it too', async () => {
    const a = ethAddress();
    const p = await start();
    for (const mode of ['request', 'reply'] as const) {
      const hashes = [await mcBlock([[a, '0.3']]), await mcBlock([[a, '0.2']])];
      p.proxy.dropAt(nth('FROM balance_changes'), mode);
      await p.adapter.tick();
      expect(p.proxy.dropped(), mode).toBe(mode === 'request' ? 1 : 2);
      expect(await creditsOf(hashes[0]!), mode).toBe(0);
      expect(logs.some((l) => l.msg === 'miningcore block not imported yet: retried next interval' && l.block === hashes[0])).toBe(true);
      await p.adapter.tick();
      for (const h of hashes) expect(await creditsOf(h), mode).toBe(1);
    }
    expect(await incomes()).toBe(4);
    await pay('paid');
    await p.adapter.tick();
    await expectAgreement([a], 4);
  });
});

describeOncePerSuite('one intake call for both adapters (src/pools/intake-call.ts)', () => {
  it('a refusal is an answer with its code; parameters the schema rejects are an AdapterBug; a MiningCore value the intake would not take is a format problem', async () => {
    expect(await intakeCall(intake.intake, 'Balance.Get', { user: userOf(ethAddress()), coin: 'ETH' })).toMatchObject({
      ok: false,
      code: 'unknown_user',
    });
    await expect(
      intakeCall(intake.intake, 'Blocks.Credit', {
        coin: 'ETH',
        hash: '0x12',
        income: '1',
        credits: [{ user: 1, amount: '1' }],
        poolFee: '0',
      }),
    ).rejects.toThrow(AdapterBug);
    // MiningCore credits an address longer than any the intake registers: the block is refused and alerted, never a bug.
    const long = `0x${'ab'.repeat(80)}`;
    const hash = await mcBlock([[long, '0.5']]);
    const p = await start();
    expect(p.proxy.dropped()).toBe(0);
    expect(await creditsOf(hash)).toBe(0);
    expect(logs.find((l) => l.alert === 'block_refused' && l.block === hash)?.reason).toMatch(
      /^balance_changes\.address: not 1 to 128 characters/,
    );
    expect(logs.some((l) => l.msg === 'miningcore adapter step failed: retried next interval')).toBe(false);
  });
});
