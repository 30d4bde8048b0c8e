// Autopay as a mode of payserv, driven by the operator's pscli: runs every interval once payouts are
// enabled, a halt shown by `pscli status`, and `RESOLVE_PAYOUT=1 pscli autopay run` / `pscli resolve`
// printing its decisions in the manner of the source document.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAddress } from 'viem/accounts';
import type { Hex } from 'viem';
import { afterEach, expect, it } from 'vitest';
import { mine, setAutomine, setBalance } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import { loadConfig } from '../src/config/load.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { createLogger } from '../src/log/index.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { startPayserv, type RunningPayserv } from '../src/app/service.js';
import { loadCoins } from '../src/store/reads.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { creditBlock } from '../src/writer/blocks.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, minedCount } from './support/chains.js';
import { payservData } from './support/dbgw.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { ethAddress, newBlockHash } from './support/miners.js';
import { runPscli } from './support/pscli.js';
import { startRpcProxy, type RpcProxy } from './support/rpc-proxy.js';
import { until } from './support/spawn.js';

const anvil = anvilForFile();
let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
let proxy: RpcProxy | undefined;
afterEach(async () => {
  await running?.stop();
  await proxy?.stop();
  await l?.db.close();
  running = undefined;
  l = undefined;
});

describePerDataPath('autopay in payserv, with pscli', { timeout: 120_000 }, () => {
  it('pays every interval once enabled; a lost reply halts the coin, pscli status says so, RESOLVE_PAYOUT=1 settles it', async () => {
    const { url } = await anvil();
    await setAutomine(url, true);
    proxy = await startRpcProxy(url);
    l = await testLedger({
      users: 0,
      blocks: 0,
      withdrawals: 0,
      coins: ['ETH'],
      minersPerBlock: 1,
      declineShare: 0,
      corrections: 0,
      seed: 3,
    });
    await createHotKey(l.stateDir, 'ETH');
    const hot = privateKeyToAddress(`0x${Buffer.from(await loadHotKey(l.stateDir, 'ETH')).toString('hex')}` as Hex);
    await setBalance(url, hot, 10n ** 20n);
    // A withdrawal is `sending` before its broadcast (written ahead): wait for the chain, not the status, before mining on.
    const mined = (n: number) => until(`${n} transfers mined`, async () => (await minedCount(url, hot)) === n, 30_000, 200);
    const eth = (await loadCoins(l.db)).find((c) => c.tag === 'ETH') as Signed<Coin>;
    const miners: Array<{ id: number; address: string }> = [];
    for (const id of [7001, 7002, 7003]) {
      const w = await addWallet(l.db, { userId: id, coinId: eth.id, address: ethAddress() });
      await signWallet(l.db, l.signers.admin, w.id);
      miners.push({ id, address: w.address });
    }
    const credit = (ids: number[]) =>
      creditBlock(l!.db, l!.signers.admin, eth, {
        blockHash: newBlockHash(),
        shares: ids.map((userId) => ({ userId, amount: parseAmount('2') })),
        poolFee: parseAmount('0.01'),
      });
    await credit(miners.map((m) => m.id));
    await l.checkpointAll();

    writeFileSync(
      join(l.stateDir, 'payserv.toml'),
      [
        '[rpc]',
        'port = 0',
        '[coins.ETH]',
        'chain = "evm"',
        `node_url = "${proxy.url}"`,
        'chain_id = 31337',
        'min_peers = 0',
        '[policy.ETH]',
        'amount_max = "100"',
        'user_daily_max = "1000"',
        'coin_daily_max = "10000"',
        'wallet_age_hours_min = 0',
        '[autopay]',
        'enabled = true',
        'interval_s = 1',
        'require_peers = 0',
        'max_per_run = 10',
        '[autopay.coins.ETH]',
        'threshold = "1"',
        '',
      ].join('\n'),
    );
    const config = await loadConfig('payserv', join(l.stateDir, 'payserv.toml'), { stateDir: l.stateDir, env: {} });
    running = await startPayserv(config, createLogger('payserv', 'silent'), await payservData(l.db, l.stateDir));
    writeFileSync(join(l.stateDir, 'pscli.toml'), `[payserv]\nport = ${running.server.port}\n`);
    const env = { PAYSERV_STATE_DIR: l.stateDir };
    const pscli = (argv: string[], e: Record<string, string> = {}) => runPscli(argv, { ...env, ...e });
    // Resolve refuses while a run of the coin is in progress (every second here): asked again between runs.
    const betweenRuns = async (argv: string[], e: Record<string, string> = {}) => {
      let r = await pscli(argv, e);
      for (let i = 0; i < 200 && /run of ETH is in progress/.test(r.stderr); i++) {
        await new Promise((ok) => setTimeout(ok, 100));
        r = await pscli(argv, e);
      }
      return r;
    };
    const status = async () =>
      JSON.parse((await pscli(['--json', 'autopay', 'status'])).stdout) as {
        coins: Array<{ coin: string; state: string; reason: string | null; last_run: { paid: { count: number } } | null }>;
      };

    // Disabled: runs skip, nothing is requested.
    await until('a run while disabled', async () => (await status()).coins[0]?.last_run !== null, 20_000, 200);
    expect(await l.db.query('SELECT id FROM finances_withdrawal_transaction')).toEqual([]);

    expect((await pscli(['enable'])).code).toBe(EXIT.OK);
    await until(
      'the three miners are requested and sent',
      async () => (await l!.db.query("SELECT id FROM finances_withdrawal_transaction WHERE status = 'sending'")).length === 3,
      30_000,
      200,
    );
    await mined(3);
    await mine(url, 12);
    await until(
      'recorded sent by a later run',
      async () => (await l!.db.query("SELECT id FROM finances_withdrawal_transaction WHERE status = 'sent'")).length === 3,
      30_000,
      200,
    );
    const value = toBaseUnits(sub(parseAmount('2'), eth.withdrawalFee), 18);
    for (const m of miners) expect(await balanceOf(url, m.address)).toBe(value);

    // The next payment's reply is lost after the node took it: the coin halts.
    proxy.dropReplyTo('eth_sendRawTransaction');
    await credit([miners[0]!.id]);
    await until('halted', async () => (await status()).coins[0]?.state === 'halted', 30_000, 200);
    const st = await pscli(['status']);
    expect(st.code).toBe(EXIT.PROBLEMS);
    expect(st.stdout).toMatch(/^autopay ETH HALTED: payouts of ETH are halted since .*outcome unknown.*run `pscli resolve --coin ETH`/m);
    // Halted: a second credit is not paid meanwhile.
    await credit([miners[1]!.id]);
    await new Promise((r) => setTimeout(r, 2_500));
    expect((await l.db.query('SELECT id FROM finances_withdrawal_transaction')).length).toBe(4);

    await mined(4);
    await mine(url, 12);
    const res = await betweenRuns(['autopay', 'run', '--coin', 'eth'], { RESOLVE_PAYOUT: '1' });
    expect(res.code).toBe(EXIT.OK);
    const lines = res.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Paid: withdrawal \\d+, 2 ETH to ${miners[0]!.address} in 0x[0-9a-f]{64}: recorded sent$`));
    expect(lines.slice(1)).toEqual(['Payouts unlocked', 'Now you have to run autopay with RESOLVE_PAYOUT=0 for a normal run']);
    // Unlocked: the next runs pay the second credit, and the first miner once only.
    await until(
      'the second credit is paid',
      async () => (await l!.db.query("SELECT id FROM finances_withdrawal_transaction WHERE status IN ('sending', 'sent')")).length === 5,
      30_000,
      200,
    );
    await mined(5);
    await mine(url, 12);
    await until(
      'all sent',
      async () => (await l!.db.query("SELECT id FROM finances_withdrawal_transaction WHERE status <> 'sent'")).length === 0,
      30_000,
      200,
    );
    expect(await balanceOf(url, miners[0]!.address)).toBe(2n * value);
    expect(await balanceOf(url, miners[1]!.address)).toBe(2n * value);
    expect(await balanceOf(url, miners[2]!.address)).toBe(value);
    expect((await betweenRuns(['resolve', '--coin', 'ETH'])).stdout.trim()).toBe('No pending payments to resolve');
    expect(await l.check('balanceerrors')).toEqual([]);

    // Bad input names what is wrong and changes nothing.
    const count = async () => (await l!.db.query('SELECT id, status FROM finances_withdrawal_transaction ORDER BY id')).length;
    const before = await count();
    const unknown = await betweenRuns(['resolve', '--coin', 'NOPE']);
    expect([unknown.code, unknown.stdout]).toEqual([EXIT.USAGE, '']); // an unknown coin is usage, wherever found
    expect(unknown.stderr).toMatch(/payserv refused Autopay\.Resolve: unknown_coin: unknown coin "NOPE" \(code -32010\)/); // as every method's unknown_coin
    const unpaid = await pscli(['autopay', 'run', '--coin', 'ZEC']);
    expect(unpaid).toMatchObject({ code: EXIT.PROBLEMS, stdout: '' });
    expect(unpaid.stderr).toMatch(
      /^pscli: autopay is disabled for ZEC: payserv\.toml has no \[autopay\.coins\.ZEC\] threshold \(autopay pays ETH\): nothing was run\n$/,
    );
    expect(await count()).toBe(before);
    // Not halted by the bad input: idle, or running the timer's next interval (under load a run may be in progress).
    await until('the coin idle between runs', async () => (await status()).coins[0]?.state === 'idle', 30_000, 100);
  });

  it('refuses an autopay coin payserv does not pay on-chain, naming it', async () => {
    l = await testLedger(null);
    writeFileSync(
      join(l.stateDir, 'payserv.toml'),
      ['[rpc]', 'port = 0', '[autopay]', 'enabled = true', '[autopay.coins.ZEC]', 'threshold = "1"', ''].join('\n'),
    );
    const config = await loadConfig('payserv', join(l.stateDir, 'payserv.toml'), { stateDir: l.stateDir, env: {} });
    await expect(startPayserv(config, createLogger('payserv', 'silent'), await payservData(l.db, l.stateDir))).rejects.toThrow(
      /\[autopay\.coins\.ZEC\]: ZEC has no \[coins\.ZEC\] chain settings/,
    );
  });
});
