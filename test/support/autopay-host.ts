// A payserv host paying a pool's miners by autopay on anvil, for the backup tests: its configuration, its
// start on a state directory and database, the pool (one block credited to each miner), and the chain's count.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privateKeyToAddress } from 'viem/accounts';
import type { Hex } from 'viem';
import { afterEach, expect } from 'vitest';
import { setAutomine, setBalance } from '../../src/devnet/anvil.js';
import { loadConfig, type Env } from '../../src/config/load.js';
import type { Db } from '../../src/db/db.js';
import { openDatabase } from '../../src/db/open.js';
import { createHotKey, loadHotKey } from '../../src/keys/hot-wallet.js';
import type { Coin, Signed } from '../../src/ledger/records.js';
import { createLogger } from '../../src/log/index.js';
import { parseAmount } from '../../src/money/amount.js';
import { startPayserv, type RunningPayserv } from '../../src/app/service.js';
import { loadCoins } from '../../src/store/reads.js';
import { addWallet, signWallet } from '../../src/writer/wallets.js';
import { creditBlock } from '../../src/writer/blocks.js';
import { EXIT } from '../../src/cli/exit.js';
import { ethClient } from './chains.js';
import { runPscli } from './pscli.js';
import { until } from './spawn.js';
import type { TestDatabase } from './db.js';
import { payservData } from './dbgw.js';
import { emptySeed, testLedger, type TestLedger } from './ledger.js';
import { ethAddress, newBlockHash } from './miners.js';

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

/** payserv on `stateDir` and `db`, paying on `url`; `dbUrl`: a database not from freshDb (the restored one), for dbgw to be handed. */
export async function startAutopayHost(stateDir: string, db: Db, url: string, dbUrl?: string): Promise<RunningPayserv> {
  writeFileSync(join(stateDir, 'payserv.toml'), payservToml(url));
  const config = await loadConfig('payserv', join(stateDir, 'payserv.toml'), { stateDir, env: {} });
  const r = await startPayserv(config, createLogger('payserv', 'silent'), await payservData(db, stateDir, dbUrl));
  writeFileSync(join(stateDir, 'pscli.toml'), `[payserv]\nport = ${r.server.port}\n`);
  return r;
}

/** A ledger with `miners` ETH miners (users from `firstUser`), each credited 2 ETH, and a funded hot wallet. */
export async function autopayPool(
  url: string,
  o: { miners: number; firstUser: number; seed: number },
): Promise<{ ledger: TestLedger; key: Hex; hot: Hex; payees: string[] }> {
  const ledger = await testLedger(emptySeed(o.seed));
  await createHotKey(ledger.stateDir, 'ETH');
  const key = `0x${Buffer.from(await loadHotKey(ledger.stateDir, 'ETH')).toString('hex')}` as Hex;
  const hot = privateKeyToAddress(key);
  await setBalance(url, hot, 10n ** 20n);
  const eth = (await loadCoins(ledger.db)).find((c) => c.tag === 'ETH') as Signed<Coin>;
  const payees: string[] = [];
  const ids: number[] = [];
  for (let i = 0; i < o.miners; i++) {
    const w = await addWallet(ledger.db, { userId: o.firstUser + i, coinId: eth.id, address: ethAddress() });
    await signWallet(ledger.db, ledger.signers.admin, w.id);
    payees.push(w.address);
    ids.push(o.firstUser + i);
  }
  await creditBlock(ledger.db, ledger.signers.admin, eth, {
    blockHash: newBlockHash(),
    shares: ids.map((userId) => ({ userId, amount: parseAmount('2') })),
    poolFee: parseAmount('0.01'),
  });
  await ledger.checkpointAll();
  return { ledger, key, hot, payees };
}

/** Mined transactions to each address, read block by block from the chain. */
export async function paidOnChain(url: string, addresses: string[]): Promise<Map<string, number>> {
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

export const statuses = async (db: Db) =>
  (await db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction')).map((r) => r.status);

/** What a backup test leaves behind: the pool's ledger, the host running, the restored database, the databases to drop. */
export interface AutopayRun {
  l?: TestLedger;
  running?: RunningPayserv;
  restored?: Db;
  drop: TestDatabase[];
}

/** An AutopayRun emptied after each test of the file: the host stopped, the databases closed or dropped. */
export function autopayRunClosedAfterEach(): AutopayRun {
  const h: AutopayRun = { drop: [] };
  afterEach(async () => {
    await h.running?.stop();
    await h.restored?.close();
    await h.l?.db.close();
    for (const t of h.drop.splice(0)) await t.drop();
    h.running = undefined;
    h.restored = undefined;
    h.l = undefined;
  });
  return h;
}

/** autopayPool on `url` with automine off (payments wait in the mempool) and its host started; both kept in `h`. */
export async function startAutopayPool(h: AutopayRun, url: string, o: { miners: number; firstUser: number; seed: number }) {
  await setAutomine(url, false);
  const pool = await autopayPool(url, o);
  h.l = pool.ledger;
  const running = await startAutopayHost(pool.ledger.stateDir, pool.ledger.db, url);
  h.running = running;
  return { ...pool, running };
}

/** The database of the pair `pscli restore` wrote into workspace `ws`, opened as pscli would; kept in `h`. */
export async function openRestored(h: AutopayRun, ws: { stateDir: string; env: Env }): Promise<Db> {
  const config = await loadConfig('pscli', undefined, { stateDir: ws.stateDir, env: ws.env });
  h.restored = await openDatabase(config.database, ws.stateDir);
  return h.restored;
}

/** Waits (30 s at most) until the withdrawals' statuses count as `want` says (a status not named: any count). */
export async function untilStatusCounts(db: Db, want: Record<string, number>): Promise<void> {
  const counted = async () => {
    const s = await statuses(db);
    return Object.entries(want).every(([status, n]) => s.filter((x) => x === status).length === n);
  };
  await until(`statuses ${JSON.stringify(want)}`, counted, 30_000, 200);
}

/** `pscli --json backup` on the host whose environment is `env`, which must succeed: the backup's directory. */
export async function takeBackup(env: Env): Promise<string> {
  const r = await runPscli(['--json', 'backup'], env);
  expect(r.code, r.stderr).toBe(EXIT.OK);
  return (JSON.parse(r.stdout) as { path: string }).path;
}
