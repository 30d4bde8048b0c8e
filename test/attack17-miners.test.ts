// Attack (issue 17): the miners API against a database attacker who rolls the account back.
// payments sent by payserv's payment engine, read back in MiningCore's shape, equal the ledger and the
// chain (hashes, amounts, confirmations from the node); pages; an unknown miner or pool; a row planted or
// changed by SQL refused as integrity, never shown; every identity but the pool's back end refused.
import { writeFileSync } from 'node:fs';
import { request as httpsGet } from 'node:https';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getAddress, type Hex } from 'viem';
import type { MinerPayment, MinerStats, PaymentsPage } from '../src/api/miners.js';
import { RPC, RpcError } from '../src/api/jsonrpc.js';
import { startIntakeWithPools, type RunningIntakeWithPools } from '../src/cli/intake.js';
import { loadConfig } from '../src/config/index.js';
import { anvilRpc, mine, setAutomine } from '../src/devnet/anvil.js';
import { createLogger } from '../src/log/index.js';
import { add, formatAmount, parseAmount, sub, toBaseUnits, ZERO, type Amount } from '../src/money/amount.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import type { TlsIdentity } from '../src/pki/roles.js';
import { derivedUserId } from '../src/pools/user-id.js';
import { RpcClient } from '../src/rpc/client.js';
import { clientTlsOptions } from '../src/rpc/tls.js';
import { anvilForFile, ethDriver } from './support/chains.js';
import { ethAddress, newMiner, request, type Miner } from './support/miners.js';
import { testPayserv, type TestPayserv } from './support/payserv.js';
import { tlsOf } from './support/spawn.js';

const anvil = anvilForFile();
const SEED = { users: 3, blocks: 1, withdrawals: 0, coins: ['ETH'], minersPerBlock: 1, declineShare: 0, corrections: 0, seed: 7 };
const POOL = 'eth1';
const TX_LINK = 'https://etherscan.io/tx/{hash}';
const ADDRESS_LINK = 'https://etherscan.io/address/{address}';
const caller = 'test';

let t: TestPayserv;
let url: string;
let intake: RunningIntakeWithPools;
let miner: Miner;
/** The miner's withdrawals in the order they were made, and what each paid. */
let paid: Array<{ id: number; amount: string }>;

interface Reply<T> {
  status: number;
  body: T;
}

/** A GET over mutual TLS with `identity`'s certificate, as the pool's back end (or its proxy) would send it. */
function get<T = unknown>(path: string, identity: TlsIdentity = 'backend'): Promise<Reply<T>> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(
      {
        host: '127.0.0.1',
        port: intake.server.port,
        path,
        method: 'GET',
        ...clientTlsOptions(tlsOf(t.ledger.stateDir, identity), 'intake'),
      },
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

/** A JSON-RPC client with `identity`'s certificate. */
const rpcAs = (identity: TlsIdentity) =>
  new RpcClient({
    host: '127.0.0.1',
    port: intake.server.port,
    tls: tlsOf(t.ledger.stateDir, identity),
    serverIdentity: 'intake',
    timeoutMs: 30_000,
  });

const errorCode = (r: Reply<unknown>) => (r.body as { error?: { data?: { code?: string } } }).error?.data?.code;
const paymentsPath = (address: string, q = '') => `/api/pools/${POOL}/miners/${address}/payments${q}`;

async function startMinersIntake(): Promise<void> {
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
  intake = await startIntakeWithPools(config, createLogger('intake', 'silent'), undefined, t.ledger.db);
}

/** A request of `amount` from the miner, processed and approved: broadcast (SENDING). */
async function pay(amount: string): Promise<number> {
  const id = await request(t, miner, { amount });
  expect((await processWithdrawal(t.ps, id, caller)).reply).toBe('PENDING');
  expect((await approveWithdrawal(t.ps, id, caller)).reply).toBe('SENDING');
  paid.push({ id, amount });
  return id;
}

beforeEach(async () => {
  url = (await anvil()).url;
  await setAutomine(url, true);
  t = await testPayserv({ seed: SEED, drivers: async (deps) => new Map([['ETH', await ethDriver(url, deps)]]) });
  // A MiningCore miner: the ledger user is the one the adapter derives from the pool, the coin and the address.
  const address = getAddress(ethAddress());
  miner = await newMiner(t, derivedUserId(`miningcore:${POOL}`, 'ETH', address), '20', { address });
  paid = [];
  for (const amount of ['1.25', '0.5', '2']) await pay(amount);
  await mine(url, 12);
  for (const { id } of paid) expect((await checkWithdrawal(t.ps, id, caller)).reply).toBe('SENT');
  // The newest is broadcast and mined, not yet final: shown as sending.
  await pay('0.75');
  await startMinersIntake();
});

afterEach(async () => {
  await intake.stop();
  await t.ledger.db.close();
});

describe('attack17 miners API', () => {
  it('R1: the newest payment deleted by SQL (row and its signatures): the older history and a higher balance are served as verified', async () => {
    const before = await get<MinerStats>(`/api/pools/${POOL}/miners/${miner.address}`);
    expect(before.status).toBe(200);
    const newest = paid[3]!.id;
    await t.ledger.db.transaction(async (tx) => {
      await tx.query('ALTER TABLE finances_withdrawal_signatures DISABLE TRIGGER USER');
      await tx.query('ALTER TABLE finances_withdrawal_transaction DISABLE TRIGGER USER');
      await tx.query('DELETE FROM finances_withdrawal_signatures WHERE withdrawal_id = $1', [newest]);
      await tx.query('DELETE FROM finances_withdrawal_transaction WHERE id = $1', [newest]);
      await tx.query('ALTER TABLE finances_withdrawal_signatures ENABLE TRIGGER USER');
      await tx.query('ALTER TABLE finances_withdrawal_transaction ENABLE TRIGGER USER');
    });
    const after = await get<MinerStats>(`/api/pools/${POOL}/miners/${miner.address}`);
    const page = await get<MinerPayment[]>(paymentsPath(miner.address));
    console.log('R1 before', before.body.pendingBalanceExact, before.body.paymentsInFlight, 'after', after.status, after.body.pendingBalanceExact, after.body.paymentsInFlight, 'payments', page.body.length);
    // Expected: integrity (409). Actual: 200, the 0.75 payment (on chain) gone, the balance 0.75 higher.
    expect(after.status).toBe(200);
    expect(page.status).toBe(200);
    expect(page.body.map((p) => p.withdrawalId)).not.toContain(newest);
    expect(parseAmount(after.body.pendingBalanceExact)).toEqual(add(parseAmount(before.body.pendingBalanceExact), parseAmount('0.75')));
  });

  it('R2: a sent payment rolled back to its signed sending state: shown as in flight, not in totalPaid', async () => {
    const oldest = paid[0]!.id;
    const before = await get<MinerStats>(`/api/pools/${POOL}/miners/${miner.address}`);
    const [last] = await t.ledger.db.query<{ seq: number }>('SELECT max(seq)::int AS seq FROM finances_withdrawal_signatures WHERE withdrawal_id = $1', [oldest]);
    const [prev] = await t.ledger.db.query<{ status: string; tx_hash: string | null; tx_fee: string | null; comment: string }>(
      'SELECT status, tx_hash, tx_fee::text, comment FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 AND seq = $2',
      [oldest, last!.seq - 1],
    );
    console.log('R2 prev entry', prev);
    await t.ledger.db.transaction(async (tx) => {
      await tx.query('ALTER TABLE finances_withdrawal_signatures DISABLE TRIGGER USER');
      await tx.query('ALTER TABLE finances_withdrawal_transaction DISABLE TRIGGER USER');
      await tx.query('DELETE FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 AND seq = $2', [oldest, last!.seq]);
      await tx.query('UPDATE finances_withdrawal_transaction SET status = $2, status_seq = $3, tx_hash = $4, tx_fee = $5, comment = $6 WHERE id = $1', [
        oldest, prev!.status, last!.seq - 1, prev!.tx_hash, prev!.tx_fee, prev!.comment,
      ]);
      await tx.query('ALTER TABLE finances_withdrawal_signatures ENABLE TRIGGER USER');
      await tx.query('ALTER TABLE finances_withdrawal_transaction ENABLE TRIGGER USER');
    });
    const after = await get<MinerStats>(`/api/pools/${POOL}/miners/${miner.address}`);
    console.log('R2 status', after.status, 'totalPaid', before.body.totalPaidExact, '->', after.body.totalPaidExact, 'inFlight', before.body.paymentsInFlight, '->', after.body.paymentsInFlight);
    expect(after.status).toBe(200);
    expect(after.body.paymentsInFlight).toBe(before.body.paymentsInFlight + 1);
  });

  it('B1: bad paging input refused 400 naming the parameter', async () => {
    for (const q of ['?page=-1', '?page=1000001', '?pageSize=0', '?pageSize=101', '?page=1.5', '?page=1e3', '?page=0x10', '?page=%20', '?pageSize=99999999999999999999']) {
      const r = await get(paymentsPath(miner.address, q));
      console.log('B1', q, r.status, JSON.stringify(r.body).slice(0, 160));
      expect(r.status).toBe(400);
    }
    const huge = await get(paymentsPath(miner.address, '?page=1000000&pageSize=100'));
    console.log('B1 huge', huge.status, JSON.stringify(huge.body).slice(0, 100));
    expect(huge.status).toBe(200);
    const odd = await get(`/api/pools/${POOL}/miners/${'%ZZ'}/payments`);
    console.log('B1 %ZZ', odd.status, JSON.stringify(odd.body).slice(0, 200));
    expect(odd.status).toBeLessThan(500);
  });
});
