// A hot wallet's spends that payserv has no record of (README, Unknown spends from the hot wallet): an older
// backup restored after more payments, and the hot wallet's key used outside payserv. Nothing is paid twice.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAccount, privateKeyToAddress } from 'viem/accounts';
import type { Hex } from 'viem';
import { afterEach, describe, expect, it } from 'vitest';
import { anvilRpc, mine, setAutomine, setBalance } from '../src/devnet/anvil.js';
import { EXIT } from '../src/cli/exit.js';
import { loadConfig } from '../src/config/load.js';
import type { Db } from '../src/db/db.js';
import { openDatabase } from '../src/db/open.js';
import { createHotKey, loadHotKey } from '../src/keys/hot-wallet.js';
import type { Coin, Signed } from '../src/ledger/records.js';
import { createLogger } from '../src/log/index.js';
import { parseAmount } from '../src/money/amount.js';
import { startPayserv, type RunningPayserv } from '../src/app/service.js';
import { loadCoins } from '../src/store/reads.js';
import { addWallet, signWallet } from '../src/writer/wallets.js';
import { creditBlock } from '../src/writer/blocks.js';
import type { TestDatabase } from './support/db.js';
import { anvilForFile, ethClient } from './support/chains.js';
import { payservData } from './support/dbgw.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { ethAddress, newBlockHash } from './support/miners.js';
import { runPscli } from './support/pscli.js';
import { pscliWorkspace } from './support/pscli-world.js';
import { until } from './support/spawn.js';

const anvil = anvilForFile();
const MINERS = 9;
let l: TestLedger | undefined;
let running: RunningPayserv | undefined;
let restored: Db | undefined;
const drop: TestDatabase[] = [];
afterEach(async () => {
  await running?.stop();
  await restored?.close();
  await l?.db.close();
  for (const t of drop.splice(0)) await t.drop();
  running = undefined;
  restored = undefined;
  l = undefined;
});

const payservToml = (url: string) =>
  [
    '[rpc]',
    'port = 0',
    '[coins.ETH]',
    'chain = "evm"',
    `node_url = "${url}"`,
    'chain_id = 31337',
    'min_peers = 0',
    '[policy.ETH]',
    'amount_max = "100"',
    'user_daily_max = "1000"',
    'coin_daily_max = "10000"',
    'wallet_age_hours_min = 0',
    '[autopay]',
    'enabled = true',
    'interval_s = 4',
    'require_peers = 0',
    'max_per_run = 3',
    '[autopay.coins.ETH]',
    'threshold = "1"',
    '',
  ].join('\n');

/** `dbUrl`: a database not from freshDb (the restored one), for dbgw to be handed. */
async function start(stateDir: string, db: Db, url: string, dbUrl?: string): Promise<RunningPayserv> {
  writeFileSync(join(stateDir, 'payserv.toml'), payservToml(url));
  const config = await loadConfig('payserv', join(stateDir, 'payserv.toml'), { stateDir, env: {} });
  const r = await startPayserv(config, createLogger('payserv', 'silent'), await payservData(db, stateDir, dbUrl));
  writeFileSync(join(stateDir, 'pscli.toml'), `[payserv]\nport = ${r.server.port}\n`);
  return r;
}

/** Mined transactions to each address, read block by block from the chain. */
async function paidOnChain(url: string, addresses: string[]): Promise<Map<string, number>> {
  const c = ethClient(url);
  const count = new Map(addresses.map((a) => [a.toLowerCase(), 0]));
  const head = await c.getBlockNumber();
  for (let n = 0n; n <= head; n++) {
    const b = await c.getBlock({ blockNumber: n, includeTransactions: true });
    for (const tx of b.transactions) {
      const to = tx.to?.toLowerCase();
      if (to && count.has(to)) count.set(to, (count.get(to) ?? 0) + 1);
    }
  }
  return count;
}

const statuses = async (db: Db) =>
  (await db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction')).map((r) => r.status);

describe('spends from the hot wallet that payserv has no record of', { timeout: 180_000 }, () => {
  it('an older backup restored after more payments: payserv refuses to start naming the unknown nonces; the key used outside: payouts fail-stop', async () => {
    const { url } = await anvil();
    await setAutomine(url, false);
    l = await testLedger({
      users: 0,
      blocks: 0,
      withdrawals: 0,
      coins: ['ETH'],
      minersPerBlock: 1,
      declineShare: 0,
      corrections: 0,
      seed: 21,
    });
    const ledger = l;
    await createHotKey(ledger.stateDir, 'ETH');
    const key = `0x${Buffer.from(await loadHotKey(ledger.stateDir, 'ETH')).toString('hex')}` as Hex;
    const hot = privateKeyToAddress(key);
    await setBalance(url, hot, 10n ** 20n);
    const eth = (await loadCoins(ledger.db)).find((c) => c.tag === 'ETH') as Signed<Coin>;
    const payees: string[] = [];
    const ids: number[] = [];
    for (let i = 0; i < MINERS; i++) {
      const w = await addWallet(ledger.db, { userId: 8101 + i, coinId: eth.id, address: ethAddress() });
      await signWallet(ledger.db, ledger.signers.admin, w.id);
      payees.push(w.address);
      ids.push(8101 + i);
    }
    await creditBlock(ledger.db, ledger.signers.admin, eth, {
      blockHash: newBlockHash(),
      shares: ids.map((userId) => ({ userId, amount: parseAmount('2') })),
      poolFee: parseAmount('0.01'),
    });
    await ledger.checkpointAll();
    running = await start(ledger.stateDir, ledger.db, url);
    const env = { PAYSERV_STATE_DIR: ledger.stateDir };
    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    // Three in flight (nonces 0..2): the backup. Then three more sent (nonces 3..5), payouts stopped, all six mined.
    await until('three in flight', async () => (await statuses(ledger.db)).filter((s) => s === 'sending').length === 3, 30_000, 200);
    const taken = await runPscli(['--json', 'backup'], env);
    expect(taken.code, taken.stderr).toBe(EXIT.OK);
    const old = (JSON.parse(taken.stdout) as { path: string }).path;
    await mine(url, 12);
    await until(
      'three sent, three more in flight',
      async () => {
        const s = await statuses(ledger.db);
        return s.filter((x) => x === 'sent').length === 3 && s.filter((x) => x === 'sending').length === 3;
      },
      30_000,
      200,
    );
    expect((await runPscli(['disable'], env)).code).toBe(EXIT.OK);
    await running.stop();
    running = undefined;
    await mine(url, 12);
    const paid = [...(await paidOnChain(url, payees)).values()];
    expect(paid.every((n) => n <= 1)).toBe(true);
    const paidCount = paid.filter((n) => n === 1).length;
    expect(paidCount).toBe(6);

    // The older pair restored (whole and signed: the restore finds nothing wrong with it).
    const ws = await pscliWorkspace(drop);
    const r = await runPscli(['restore', '--from', old, '--payserv-state-dir', ws.stateDir], { ...ws.env, PAYSERV_STATE_DIR: ws.stateDir });
    expect(r.code, r.stderr).toBe(EXIT.OK);
    restored = await openDatabase((await loadConfig('pscli', undefined, { stateDir: ws.stateDir, env: ws.env })).database, ws.stateDir);
    const db = restored;
    // The withdrawals paid after the backup look unpaid in it: payserv must not start paying from it.
    await expect(start(ws.stateDir, db, url, ws.env.DATABASE_URL)).rejects.toThrow(
      new RegExp(`hot wallet ${hot} used nonces 3\\.\\.${paidCount - 1} on the chain.*nonce 3 0x[0-9a-f]{64} to 0x`, 'i'),
    );
    expect((await statuses(db)).filter((s) => s === 'sent' || s === 'sending')).toHaveLength(3);
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(paid);

    // The honest host restarts cleanly; the key used outside payserv (the nonce after its last): the next payout fail-stops.
    running = await start(ledger.stateDir, ledger.db, url);
    const account = privateKeyToAccount(key);
    await anvilRpc(url, 'eth_sendRawTransaction', [
      await account.signTransaction({
        chainId: 31337,
        nonce: paidCount,
        to: ethAddress() as Hex,
        value: 1n,
        gas: 21_000n,
        maxFeePerGas: 10n ** 11n,
        maxPriorityFeePerGas: 10n ** 9n,
        type: 'eip1559',
      }),
    ]);
    await mine(url, 1);
    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    const live = running;
    await until('payouts fail-stopped', async () => live.ps.state.failStopped, 30_000, 200);
    expect(live.ps.state.status().reason).toMatch(new RegExp(`used nonces ${paidCount}\\.\\.${paidCount} on the chain`));
    await mine(url, 12);
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(paid);
  });
});
