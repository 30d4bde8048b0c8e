// attack17b: restore of an OLD backup after more payments (README "Backup and restore"): a backup taken by payserv while autopay pays on anvil,
// restored onto a fresh state directory and an empty database; the checks are clean, payserv started on
// the restored pair settles the payments in flight at the backup and pays the rest, each payee exactly
// once on the chain; a backup mixing two moments, or with a file changed, is refused and changes nothing.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAddress } from 'viem/accounts';
import type { Hex } from 'viem';
import { afterEach, describe, expect, it } from 'vitest';
import { mine, setAutomine, setBalance } from '../src/devnet/anvil.js';
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
import { tmpStateDir } from './support/tmp.js';

const anvil = anvilForFile();
const MINERS = 12;
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

describe('attack17b: restore of an old backup', { timeout: 240_000 }, () => {
  it('an older backup restored after more payments were made: nobody is paid twice (or payserv refuses)', async () => {
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
      seed: 17,
    });
    const ledger = l;
    await createHotKey(ledger.stateDir, 'ETH');
    const hot = privateKeyToAddress(`0x${Buffer.from(await loadHotKey(ledger.stateDir, 'ETH')).toString('hex')}` as Hex);
    await setBalance(url, hot, 10n ** 20n);
    const eth = (await loadCoins(ledger.db)).find((c) => c.tag === 'ETH') as Signed<Coin>;
    const payees: string[] = [];
    const ids: number[] = [];
    for (let i = 0; i < MINERS; i++) {
      const w = await addWallet(ledger.db, { userId: 8001 + i, coinId: eth.id, address: ethAddress() });
      await signWallet(ledger.db, ledger.signers.admin, w.id);
      payees.push(w.address);
      ids.push(8001 + i);
    }
    await creditBlock(ledger.db, ledger.signers.admin, eth, {
      blockHash: newBlockHash(),
      shares: ids.map((userId) => ({ userId, amount: parseAmount('2') })),
      poolFee: parseAmount('0.01'),
    });
    await ledger.checkpointAll();
    running = await start(ledger.stateDir, ledger.db, url);
    const env = { PAYSERV_STATE_DIR: ledger.stateDir };
    // The OLD backup, before any payment.
    const old = await runPscli(['--json', 'backup'], env);
    expect(old.code, old.stderr).toBe(EXIT.OK);
    const oldPath = (JSON.parse(old.stdout) as { path: string }).path;
    expect((await runPscli(['enable'], env)).code).toBe(EXIT.OK);
    await until(
      'every miner paid on the old host',
      async () => {
        await mine(url, 12);
        const s = await statuses(ledger.db);
        return s.length === MINERS && s.every((x) => x === 'sent');
      },
      90_000,
      500,
    );
    await runPscli(['disable'], env);
    await running.stop();
    running = undefined;
    expect([...(await paidOnChain(url, payees)).values()]).toEqual(payees.map(() => 1));

    // The host is lost; an operator restores the (only, older) backup onto a fresh host.
    const ws = await pscliWorkspace(drop);
    const pscli = (argv: string[]) => runPscli(argv, { ...ws.env, PAYSERV_STATE_DIR: ws.stateDir });
    const r = await pscli(['restore', '--from', oldPath, '--payserv-state-dir', ws.stateDir]);
    console.log('restore:', r.code, r.stdout, r.stderr);
    if (r.code !== EXIT.OK) return; // refused: held
    const checks = await pscli(['checkbalanceerrors', '--payserv-state-dir', ws.stateDir]);
    console.log('checks on the restored pair:', checks.code, JSON.stringify(checks.stdout), checks.stderr);
    restored = await openDatabase((await loadConfig('pscli', undefined, { stateDir: ws.stateDir, env: ws.env })).database, ws.stateDir);
    const db = restored;
    running = await start(ws.stateDir, db, url, ws.env.DATABASE_URL);
    const en = await runPscli(['enable'], { PAYSERV_STATE_DIR: ws.stateDir });
    console.log('enable on the restored host:', en.code, en.stdout, en.stderr);
    if (en.code === EXIT.OK) {
      await until(
        'autopay ran on the restored host',
        async () => {
          await mine(url, 12);
          const s = await statuses(db);
          return s.length === MINERS && s.every((x) => x === 'sent');
        },
        60_000,
        500,
      ).catch(() => undefined);
    }
    const after = await paidOnChain(url, payees);
    console.log('payments per payee on chain:', [...after.values()]);
    const alerts = await db.query<{ kind: string; reason: string }>(`SELECT kind, reason FROM payserv_alerts ORDER BY id`);
    console.log('alerts on the restored host:', alerts);
    expect([...after.values()]).toEqual(payees.map(() => 1));
  });
});
