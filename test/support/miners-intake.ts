// The miners' API world for its tests: an intake serving MiningCore's miner routes over mutual TLS, and one
// MiningCore miner on anvil whose payments payserv sent (three final, the newest broadcast and mined, not yet final).
import { writeFileSync } from 'node:fs';
import { request as httpsGet } from 'node:https';
import { join } from 'node:path';
import { afterEach, beforeEach, expect } from 'vitest';
import { getAddress } from 'viem';
import { startIntakeWithPools, type RunningIntakeWithPools } from '../../src/cli/intake.js';
import { loadConfig } from '../../src/config/index.js';
import { mine } from '../../src/devnet/anvil.js';
import { createLogger } from '../../src/log/index.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../../src/payserv/payouts.js';
import type { TlsIdentity } from '../../src/pki/roles.js';
import { derivedUserId } from '../../src/pools/user-id.js';
import { clientTlsOptions } from '../../src/rpc/tls.js';
import { anvilForFile } from './chains.js';
import { ethAddress, newMiner, request, type Miner } from './miners.js';
import { ethPayserv, type TestPayserv } from './payserv.js';
import { tlsOf } from './spawn.js';

const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 7 };
export const POOL = 'eth1';
export const TX_LINK = 'https://etherscan.io/tx/{hash}';
export const ADDRESS_LINK = 'https://etherscan.io/address/{address}';
const caller = 'test';

/** The miner's withdrawals in the order they were made, and what each paid. */
export type Paid = Array<{ id: number; amount: string }>;

export interface Reply<T> {
  status: number;
  body: T;
}

/** A GET over mutual TLS with `identity`'s certificate, as the pool's back end (or its proxy) would send it. */
export function intakeGet<T = unknown>(port: number, stateDir: string, path: string, identity: TlsIdentity = 'backend'): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(
      { host: '127.0.0.1', port, path, method: 'GET', ...clientTlsOptions(tlsOf(stateDir, identity), 'intake') },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as T }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export const errorCode = (r: Reply<unknown>) => (r.body as { error?: { data?: { code?: string } } }).error?.data?.code;
export const paymentsPath = (address: string, q = '') => `/api/pools/${POOL}/miners/${address}/payments${q}`;

/** The intake with the miners' API for pool POOL (and `byid`, keyed by user id) on payserv's state directory. */
export async function startMinersIntake(t: TestPayserv, url: string): Promise<RunningIntakeWithPools> {
  const file = join(t.ledger.stateDir, 'intake.toml');
  writeFileSync(
    file,
    `[rpc]
port = 0
[coins.ETH]
chain = "eth"
first_height = 0
node_url = "${url}"
chain_id = 31337
pool_address = "${ethAddress()}"
issuance = "2"
timeout_ms = 5000
[miners.pools.${POOL}]
coin = "ETH"
tx_link = "${TX_LINK}"
address_link = "${ADDRESS_LINK}"
[miners.pools.byid]
coin = "ETH"
users = "id"
`,
  );
  const config = await loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: t.ledger.stateDir } });
  return startIntakeWithPools(config, createLogger('intake', 'silent'), undefined, t.ledger.db);
}

/** A request of `amount` from the miner, processed and approved: broadcast (SENDING); recorded in `paid`. */
export async function payMiner(t: TestPayserv, miner: Miner, paid: Paid, amount: string): Promise<number> {
  const id = await request(t, miner, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
  paid.push({ id, amount });
  return id;
}

/** payserv on anvil at `url` and its MiningCore miner, paid 1.25, 0.5 and 2 (final) and 0.75 (sending); the intake not started. */
export async function minersWorld(url: string): Promise<{ t: TestPayserv; miner: Miner; paid: Paid }> {
  const t = await ethPayserv(url, { seed: SEED });
  // A MiningCore miner: the ledger user is the one the adapter derives from the pool, the coin and the address.
  const address = getAddress(ethAddress());
  const miner = await newMiner(t, derivedUserId(`miningcore:${POOL}`, 'ETH', address), '20', { address });
  const paid: Paid = [];
  for (const amount of ['1.25', '0.5', '2']) await payMiner(t, miner, paid, amount);
  await mine(url, 12);
  for (const { id } of paid) expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
  // The newest is broadcast and mined, not yet final: shown as sending.
  await payMiner(t, miner, paid, '0.75');
  return { t, miner, paid };
}

/** A miners' API world for each test of a file (minersWorld on the file's anvil, the intake started): filled in by minersBench's hooks. */
export interface MinersBench {
  t: TestPayserv;
  url: string;
  intake: RunningIntakeWithPools;
  miner: Miner;
  /** The miner's withdrawals in the order they were made, and what each paid. */
  paid: Paid;
  /** A GET of the intake over mutual TLS (intakeGet), as `identity` (default the pool's back end). */
  get: <T = unknown>(path: string, identity?: TlsIdentity) => Promise<Reply<T>>;
}

/** Call at a file's top level: one anvil for the file, a new minersWorld and its intake for each test, stopped and closed after. */
export function minersBench(): MinersBench {
  const anvil = anvilForFile();
  const b = {
    get: <T = unknown>(path: string, identity?: TlsIdentity) => intakeGet<T>(b.intake.server.port, b.t.ledger.stateDir, path, identity),
  } as MinersBench;
  beforeEach(async () => {
    b.url = (await anvil()).url;
    ({ t: b.t, miner: b.miner, paid: b.paid } = await minersWorld(b.url));
    b.intake = await startMinersIntake(b.t, b.url);
  });
  afterEach(async () => {
    await b.intake.stop();
    await b.t.ledger.db.close();
  });
  return b;
}
