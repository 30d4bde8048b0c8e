// The ledger intake (issue 16 item 1) over real mutual TLS, on a real database and a real anvil: each
// write, each bad input refused with its code and nothing written, retries answered without a second
// write, identities other than the pool's back end refused, and blocks credited only once the chain
// shows them canonical, matured, mined to the pool and paying the income; the credits then verify.
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { privateKeyToAccount, generatePrivateKey } from 'viem/accounts';
import { getAddress, type Hex } from 'viem';
import { parseAmount } from '../src/money/amount.js';
import { describe, expect, it, onTestFinished } from 'vitest';
import { INTAKE_REFUSED, INTAKE_VERSION } from '../src/api/intake.js';
import { RPC, RpcError } from '../src/api/jsonrpc.js';
import { loadConfig } from '../src/config/index.js';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { startIntake } from '../src/intake/service.js';
import { createLogger } from '../src/log/index.js';
import type { TlsIdentity } from '../src/pki/roles.js';
import { RpcClient } from '../src/rpc/client.js';
import { anvilForFile, zcashAddress, zcashStandinForFile } from './support/chains.js';
import { testLedger, type TestLedger } from './support/ledger.js';
import { tlsOf } from './support/spawn.js';

const anvil = anvilForFile();
const ZPOOL = zcashAddress();
const ZOTHER = zcashAddress();
const zcashNode = zcashStandinForFile({ miner: [{ address: ZOTHER, zatoshi: 156_250_000n }] });
const POOL = privateKeyToAccount(generatePrivateKey()).address;
const OTHER = privateKeyToAccount(generatePrivateKey()).address;
const FEE_USER = 1;
const ALICE = 1001;
const BOB = 1002;
const ALICE_ADDRESS = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();

interface Fixture {
  l: TestLedger;
  url: string;
  logs: Array<Record<string, unknown>>;
  /** Every alert raised so far has been stored and hooked. */
  alertsSettled(): Promise<void>;
  client(identity?: TlsIdentity): RpcClient;
  call<T = Record<string, unknown>>(method: Parameters<RpcClient['call']>[0], params?: Record<string, unknown>): Promise<T>;
}

async function fixture(
  o: { review?: 'auto' | 'manual'; creditsMax?: number; zcash?: string; firstHeight?: number; webhook?: string } = {},
): Promise<Fixture> {
  const { url } = await anvil();
  const l = await testLedger(null);
  const file = join(l.stateDir, 'intake.toml');
  writeFileSync(
    file,
    `[rpc]
port = 0
[intake]
credits_per_block_max = ${o.creditsMax ?? 10}
[wallets]
review = "${o.review ?? 'auto'}"
${o.webhook ? `[alerts]\nwebhook_url = "${o.webhook}"\n` : ''}[coins.ETH]
chain = "eth"
first_height = ${o.firstHeight ?? 0}
node_url = "${url}"
chain_id = 31337
pool_address = "${POOL}"
issuance = "2"
timeout_ms = 5000
${o.zcash ? `[coins.ZEC]\nchain = "zcash"\nfirst_height = 0\nnode_url = "${o.zcash}"\npool_address = "${ZPOOL}"\ntimeout_ms = 5000\n` : ''}`,
  );
  const config = await loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: l.stateDir } });
  const logs: Array<Record<string, unknown>> = [];
  const log = createLogger('intake', 'info', { write: (s: string) => void logs.push(JSON.parse(s) as Record<string, unknown>) });
  const running = await startIntake(config, log, l.db);
  const clients: RpcClient[] = [];
  onTestFinished(async () => {
    for (const c of clients) c.close();
    await running.stop();
    await l.db.close();
  });
  const client = (identity: TlsIdentity = 'backend') => {
    const c = new RpcClient({
      host: '127.0.0.1',
      port: running.server.port,
      tls: tlsOf(l.stateDir, identity),
      serverIdentity: 'intake',
      timeoutMs: 30_000,
    });
    clients.push(c);
    return c;
  };
  const backend = client();
  return { l, url, logs, alertsSettled: () => running.intake.alerts.settled(), client, call: (m, p) => backend.call(m, p) };
}

/** The RpcError a call is refused with. */
async function refused(p: Promise<unknown>): Promise<RpcError> {
  const e = await p.then(
    () => expect.fail('expected a refusal'),
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RpcError);
  return e as RpcError;
}

async function refusedWith(p: Promise<unknown>, code: string): Promise<RpcError> {
  const e = await refused(p);
  expect({ rpc: e.code, code: (e.data as { code?: string } | undefined)?.code, message: e.message }).toMatchObject({
    rpc: INTAKE_REFUSED,
    code,
  });
  return e;
}

const TABLES = [
  'coins_coin',
  'users_userwallets',
  'finances_proxypool_transactions',
  'finances_user_balance_transaction',
  'finances_withdrawal_transaction',
  'finances_withdrawal_signatures',
];

/** Every table's row count: a refusal must leave them all as they were. */
async function counts(l: TestLedger): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = Number((await l.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t}`))[0]!.n);
  return out;
}

async function unchanged(l: TestLedger, fn: () => Promise<unknown>): Promise<void> {
  const before = await counts(l);
  await fn();
  expect(await counts(l)).toEqual(before);
}

const ETH_COIN = { tag: 'ETH', name: 'Ethereum', decimals: 18, fee: '0.001', min: '0.01', feeUser: FEE_USER, confirmations: 3 };

async function mineTo(url: string, miner: string): Promise<Hex> {
  await anvilRpc(url, 'anvil_setCoinbase', [miner]);
  await mine(url, 1);
  return ((await anvilRpc(url, 'eth_getBlockByNumber', ['latest', false])) as { hash: Hex }).hash;
}

/** A block mined to the pool and matured to the coin's 3 confirmations. */
async function poolBlock(url: string): Promise<Hex> {
  const hash = await mineTo(url, POOL);
  await mine(url, 2);
  return hash;
}

const block = (hash: string, credits: Array<[number, string]>, poolFee: string, income: string) => ({
  coin: 'ETH',
  hash,
  income,
  credits: credits.map(([user, amount]) => ({ user, amount })),
  poolFee,
});

// Each test builds a ledger and drives a chain: generous on a shared machine.
describe('the ledger intake over mutual TLS', { timeout: 90_000 }, () => {
  it('registers and signs a coin once; a retry answers it, other fields are a conflict', async () => {
    const f = await fixture();
    const coin = await f.call<{ id: number; already: boolean; confirmations: number }>('Coins.Register', ETH_COIN);
    expect(coin).toMatchObject({ tag: 'ETH', already: false, confirmations: 3, fee: '0.001', feeUser: FEE_USER });
    expect(await f.call('Coins.Register', ETH_COIN)).toMatchObject({ id: coin.id, already: true });
    await unchanged(f.l, async () => {
      const e = await refusedWith(f.call('Coins.Register', { ...ETH_COIN, fee: '0.002' }), 'conflict');
      expect(e.message).toMatch(/fee/);
    });
    const [row] = await f.l.db.query<{ withdrawal_fee: string }>("SELECT withdrawal_fee::text FROM coins_coin WHERE tag = 'ETH'");
    expect(parseAmount(row!.withdrawal_fee)).toBe(parseAmount('0.001'));
    expect(await f.l.check('coins')).toEqual([]);
    // A coin's fee and minimum are amounts of that coin: finer than its decimals is refused, nothing signed.
    await unchanged(f.l, async () => {
      const whole = { ...ETH_COIN, tag: 'WHOLE', name: 'Whole', decimals: 0, fee: '0.5', min: '1' };
      const e = await refusedWith(f.call('Coins.Register', whole), 'bad_amount');
      expect(e.message).toMatch(/withdrawal fee 0\.5 has more than WHOLE's 0 decimal places/);
      await refusedWith(f.call('Coins.Register', { ...whole, fee: '1', min: '0.1' }), 'bad_amount');
    });
    // Bad params are named, before any work.
    const bad = await refused(f.call('Coins.Register', { ...ETH_COIN, decimals: 21 }));
    expect(bad.code).toBe(RPC.INVALID_PARAMS);
    expect(bad.message).toMatch(/params\.decimals/);
    // Text PostgreSQL cannot store as sent (NUL), or would store as another (a lone surrogate as U+FFFD): bad params, named.
    await unchanged(f.l, async () => {
      for (const name of ['Eth\u0000ereum', 'Eth\ud800', '\udc00Eth']) {
        const e = await refused(f.call('Coins.Register', { ...ETH_COIN, tag: 'TXT', name }));
        expect({ code: e.code, message: e.message }).toMatchObject({
          code: RPC.INVALID_PARAMS,
          message: expect.stringMatching(/params\.name: text without NUL/),
        });
      }
    });
    // A surrogate pair (a character past U+FFFF) is text like any other: stored and retried as sent.
    const emoji = { ...ETH_COIN, tag: 'EMO', name: 'Eth \u{1F4B0}' };
    expect(await f.call('Coins.Register', emoji)).toMatchObject({ name: 'Eth \u{1F4B0}', already: false });
    expect(await f.call('Coins.Register', emoji)).toMatchObject({ already: true });
  });

  it('registers wallets signed at once (review auto), validated per coin, once per address; retires them one-way', async () => {
    const f = await fixture();
    await f.call('Coins.Register', ETH_COIN);
    const w = await f.call<{ id: number; reviewed: boolean; already: boolean }>('Wallets.Register', {
      user: ALICE,
      coin: 'ETH',
      address: ALICE_ADDRESS,
    });
    expect(w).toMatchObject({ user: ALICE, coin: 'ETH', reviewed: true, already: false, active: true, deleted: false });
    await unchanged(f.l, async () => {
      expect(await f.call('Wallets.Register', { user: ALICE, coin: 'ETH', address: ALICE_ADDRESS })).toMatchObject({
        id: w.id,
        already: true,
      });
      // The same EVM address in its EIP-55 spelling is the same wallet.
      expect(await f.call('Wallets.Register', { user: ALICE, coin: 'ETH', address: getAddress(ALICE_ADDRESS) })).toMatchObject({
        id: w.id,
        already: true,
      });
      await refusedWith(f.call('Wallets.Register', { user: ALICE, coin: 'ETH', address: '0x1234' }), 'invalid_address');
      await refusedWith(f.call('Wallets.Register', { user: ALICE, coin: 'DOGE', address: ALICE_ADDRESS }), 'unknown_coin');
      await refusedWith(f.call('Wallets.Retire', { wallet: 999_999, how: 'deleted' }), 'unknown_wallet');
    });
    expect(await f.call('Wallets.Retire', { wallet: w.id, how: 'deleted' })).toMatchObject({ id: w.id, deleted: true, reviewed: true });
    await refusedWith(f.call('Wallets.Sign', { wallet: w.id }), 'wallet_deleted');
    // The address again is a new wallet, reviewed anew; the deleted one stays deleted.
    const again = await f.call<{ id: number }>('Wallets.Register', { user: ALICE, coin: 'ETH', address: ALICE_ADDRESS });
    expect(again.id).not.toBe(w.id);
    expect(await f.l.check('wallets')).toEqual([]);
  });

  it('with review manual, a wallet is unsigned until Wallets.Sign, and no withdrawal goes to it before', async () => {
    const f = await fixture({ review: 'manual' });
    await f.call('Coins.Register', ETH_COIN);
    const w = await f.call<{ id: number }>('Wallets.Register', { user: ALICE, coin: 'ETH', address: ALICE_ADDRESS });
    expect(w).toMatchObject({ reviewed: false });
    await unchanged(f.l, () =>
      refusedWith(f.call('Withdrawals.Request', { key: 'w-1', wallet: w.id, amount: '0.1' }), 'wallet_not_reviewed'),
    );
    expect(await f.call('Wallets.Sign', { wallet: w.id })).toMatchObject({ id: w.id, reviewed: true });
    expect(await f.l.check('wallets')).toEqual([]);
  });

  it('refuses bad blocks naming what is wrong, with nothing written', async () => {
    const f = await fixture({ creditsMax: 3 });
    await f.call('Coins.Register', ETH_COIN);
    await f.call('Coins.Register', { ...ETH_COIN, tag: 'ZEC', name: 'Zcash', decimals: 8 });
    const hash = await poolBlock(f.url);
    await unchanged(f.l, async () => {
      const sum = await refusedWith(
        f.call(
          'Blocks.Credit',
          block(
            hash,
            [
              [ALICE, '1'],
              [BOB, '0.4'],
            ],
            '0.1',
            '1.6',
          ),
        ),
        'sum_mismatch',
      );
      expect(sum.message).toMatch(/1\.5.*1\.6/);
      expect(sum.data).toMatchObject({ credited: '1.5', income: '1.6' });
      const four: Array<[number, string]> = [
        [ALICE, '0.1'],
        [BOB, '0.1'],
        [1003, '0.1'],
        [1004, '0.1'],
      ];
      await refusedWith(f.call('Blocks.Credit', block(hash, four, '0', '0.4')), 'too_many_credits');
      await refusedWith(
        f.call(
          'Blocks.Credit',
          block(
            hash,
            [
              [ALICE, '0.1'],
              [ALICE, '0.1'],
            ],
            '0',
            '0.2',
          ),
        ),
        'duplicate_user',
      );
      await refusedWith(f.call('Blocks.Credit', block(hash, [[FEE_USER, '0.1']], '0', '0.1')), 'duplicate_user');
      await refusedWith(f.call('Blocks.Credit', block(hash, [[ALICE, '0']], '0.1', '0.1')), 'bad_amount');
      const huge = '9'.repeat(30);
      await refusedWith(
        f.call(
          'Blocks.Credit',
          block(
            hash,
            [
              [ALICE, huge],
              [BOB, huge],
            ],
            '0',
            huge,
          ),
        ),
        'bad_amount',
      );
      await refusedWith(
        f.call('Blocks.Credit', block(hash, [[ALICE, '0.0000000000000000001']], '0', '0.0000000000000000001')),
        'bad_amount',
      );
      await refusedWith(f.call('Blocks.Credit', { ...block(hash, [[ALICE, '1']], '0', '1'), coin: 'DOGE' }), 'unknown_coin');
      await refusedWith(f.call('Blocks.Credit', { ...block(hash, [[ALICE, '1']], '0', '1'), coin: 'ZEC' }), 'no_reward_check');
      const malformed = await refused(f.call('Blocks.Credit', { ...block(hash, [[ALICE, '1']], '0', '1'), income: 1 }));
      expect(malformed.code).toBe(RPC.INVALID_PARAMS);
      expect(malformed.message).toMatch(/params\.income/);
    });
  });

  it('refuses a block the chain does not show, shows unmatured, mined elsewhere, or short of the income; alerts the forged ones', async () => {
    const f = await fixture();
    await f.call('Coins.Register', ETH_COIN);
    await unchanged(f.l, async () => {
      await refusedWith(f.call('Blocks.Credit', block(`0x${'cd'.repeat(32)}`, [[ALICE, '1']], '0', '1')), 'block_unknown');
      const foreign = await mineTo(f.url, OTHER);
      await mine(f.url, 3);
      await refusedWith(f.call('Blocks.Credit', block(foreign, [[ALICE, '1']], '0', '1')), 'block_wrong_miner');
      const young = await mineTo(f.url, POOL);
      await refusedWith(f.call('Blocks.Credit', block(young, [[ALICE, '1']], '0', '1')), 'block_immature');
      await mine(f.url, 2);
      // anvil pays nothing itself: the configured issuance (2 ETH) and no tips are the block's reward.
      const short = await refusedWith(
        f.call(
          'Blocks.Credit',
          block(
            young,
            [
              [ALICE, '2'],
              [BOB, '0.000000000000000001'],
            ],
            '0',
            '2.000000000000000001',
          ),
        ),
        'reward_short',
      );
      expect(short.message).toMatch(/less than/);
    });
    // Each refusal logged at warn; each block alerted through the alert sink: its row, its error line.
    expect(f.logs.filter((l) => l.level === 40 && l.alert === 'block_forged').map((l) => l.code)).toEqual([
      'block_unknown',
      'block_wrong_miner',
      'reward_short',
    ]);
    await f.alertsSettled();
    const stored = await f.l.db.query<{ kind: string; code: string }>(
      "SELECT kind, details->>'code' AS code FROM payserv_alerts ORDER BY id",
    );
    expect(stored).toEqual([
      { kind: 'block_forged', code: 'block_unknown' },
      { kind: 'block_forged', code: 'block_wrong_miner' },
      { kind: 'block_forged', code: 'reward_short' },
    ]);
    expect(f.logs.filter((l) => l.level === 50 && (l.alert as { kind?: string } | undefined)?.kind === 'block_forged')).toHaveLength(3);
  });

  it("refuses a real block of the pool below the coin's first_height (paid by the pool's own payer) or at another height than the pool says; alerts both", async () => {
    // The file's anvil is shared: the switch is 10 blocks above where it stands now.
    const first = Number(await anvilRpc((await anvil()).url, 'eth_blockNumber', [])) + 10;
    const f = await fixture({ firstHeight: first });
    await f.call('Coins.Register', ETH_COIN);
    const heightOf = async (hash: Hex) => Number(((await anvilRpc(f.url, 'eth_getBlockByHash', [hash, false])) as { number: Hex }).number);
    const old = await poolBlock(f.url);
    expect(await heightOf(old)).toBeLessThan(first);
    await mine(f.url, 10);
    const fresh = await poolBlock(f.url);
    const height = await heightOf(fresh);
    expect(height).toBeGreaterThanOrEqual(first);
    await unchanged(f.l, async () => {
      const e = await refusedWith(f.call('Blocks.Credit', block(old, [[ALICE, '1']], '0', '1')), 'block_before_start');
      expect(e.message).toMatch(`height ${await heightOf(old)}, below first_height ${first}`);
      const moved = await refusedWith(
        f.call('Blocks.Credit', { ...block(fresh, [[ALICE, '1']], '0', '1'), height: height + 1000 }),
        'block_height_mismatch',
      );
      expect(moved.message).toMatch(`the pool says height ${height + 1000}, the chain has the block at ${height}`);
    });
    expect(await f.call('Blocks.Credit', { ...block(fresh, [[ALICE, '1']], '0', '1'), height })).toMatchObject({ already: false });
    const alerts = f.logs.filter((l) => l.level === 40 && l.alert === 'block_forged').map((l) => l.code);
    expect(alerts).toEqual(['block_before_start', 'block_height_mismatch']);
  });

  it('credits a checked block once: the credits verify, a retry answers the same income, other credits are a conflict', async () => {
    const f = await fixture();
    await f.call('Coins.Register', ETH_COIN);
    const hash = await poolBlock(f.url);
    const credit = block(
      hash,
      [
        [ALICE, '1.2'],
        [BOB, '0.6'],
      ],
      '0.2',
      '2',
    );
    const first = await f.call<{ incomeId: number; already: boolean; credits: number }>('Blocks.Credit', credit);
    expect(first).toMatchObject({ already: false, credits: 3 });
    await unchanged(f.l, async () => {
      expect(await f.call('Blocks.Credit', credit)).toMatchObject({ already: true, incomeId: first.incomeId });
      // The same block in another spelling (no 0x, upper case) is the same block.
      expect(await f.call('Blocks.Credit', { ...credit, hash: hash.slice(2).toUpperCase() })).toMatchObject({ already: true });
      await refusedWith(
        f.call(
          'Blocks.Credit',
          block(
            hash,
            [
              [ALICE, '1.3'],
              [BOB, '0.5'],
            ],
            '0.2',
            '2',
          ),
        ),
        'conflict',
      );
    });
    expect(await f.call('Balance.Get', { user: ALICE, coin: 'ETH' })).toMatchObject({ balance: '1.2', credits: '1.2', debits: '0' });
    expect(await f.call('Balance.Get', { user: BOB, coin: 'ETH' })).toMatchObject({ balance: '0.6' });
    expect(await f.call('Balance.Get', { user: FEE_USER, coin: 'ETH' })).toMatchObject({ balance: '0.2' });
    await refusedWith(f.call('Balance.Get', { user: 4242, coin: 'ETH' }), 'unknown_user');
    expect(await f.l.check('balances')).toEqual([]);
    expect(await f.l.check('proxypools')).toEqual([]);
    expect(f.logs.some((l) => l.msg === 'block credited' && l.block === hash.toLowerCase())).toBe(true);
  });

  it('requests withdrawals signed by autopay, once per key; refuses what the balance, the coin or the wallet do not allow', async () => {
    const f = await fixture();
    await f.call('Coins.Register', ETH_COIN);
    const w = await f.call<{ id: number }>('Wallets.Register', { user: ALICE, coin: 'ETH', address: ALICE_ADDRESS });
    await f.call('Blocks.Credit', block(await poolBlock(f.url), [[ALICE, '1']], '0', '1'));
    const req = { key: 'pool:req-1', wallet: w.id, amount: '0.4' };
    const first = await f.call<{ id: number; already: boolean }>('Withdrawals.Request', req);
    expect(first).toMatchObject({ already: false, status: 'processing', amount: '0.4', fee: '0.001', key: 'pool:req-1', user: ALICE });
    await unchanged(f.l, async () => {
      expect(await f.call('Withdrawals.Request', req)).toMatchObject({ id: first.id, already: true });
      await refusedWith(f.call('Withdrawals.Request', { ...req, amount: '0.5' }), 'conflict');
      const short = await refusedWith(f.call('Withdrawals.Request', { ...req, key: 'pool:req-2', amount: '0.7' }), 'balance_short');
      expect(short.data).toMatchObject({ balance: '0.6' });
      await refusedWith(f.call('Withdrawals.Request', { ...req, key: 'pool:req-3', amount: '0.001' }), 'below_minimum');
      await refusedWith(f.call('Withdrawals.Request', { ...req, key: 'pool:req-4', fee: '0.0001' }), 'below_fee');
      await refusedWith(f.call('Withdrawals.Request', { ...req, key: 'pool:req-5', wallet: 999_999 }), 'unknown_wallet');
      // 19 decimals of an 18-decimal coin: no chain could pay it, so it is never signed into the ledger.
      const fine = await refusedWith(
        f.call('Withdrawals.Request', { ...req, key: 'pool:req-8', amount: '0.0100000000000000001' }),
        'bad_amount',
      );
      expect(fine.message).toMatch(/0\.0100000000000000001 has more than ETH's 18 decimal places/);
      await refusedWith(f.call('Withdrawals.Request', { ...req, key: 'pool:req-9', fee: '0.0010000000000000001' }), 'bad_amount');
    });
    // The key is signed into the request: the comment of its autopay-signed first status entry.
    const [sig] = await f.l.db.query<{ comment: string }>(
      'SELECT comment FROM finances_withdrawal_signatures WHERE withdrawal_id = $1 AND seq = 0',
      [first.id],
    );
    expect(sig!.comment).toBe('intake:pool:req-1');
    expect(await f.call('Balance.Get', { user: ALICE, coin: 'ETH' })).toMatchObject({ balance: '0.6', debits: '0.4' });
    // Two racing calls under one new key make one request.
    const racing = { key: 'pool:req-6', wallet: w.id, amount: '0.1' };
    const [a, b] = await Promise.all([
      f.call<{ id: number }>('Withdrawals.Request', racing),
      f.call<{ id: number }>('Withdrawals.Request', racing),
    ]);
    expect(a.id).toBe(b.id);
    expect(await f.call('Balance.Get', { user: ALICE, coin: 'ETH' })).toMatchObject({ balance: '0.5' });
    await f.call('Wallets.Retire', { wallet: w.id, how: 'inactive' });
    await unchanged(f.l, () => refusedWith(f.call('Withdrawals.Request', { ...req, key: 'pool:req-7', amount: '0.1' }), 'wallet_deleted'));
    expect(await f.l.check('balances')).toEqual([]);
  });

  it('credits a block of 2000 miners in one call (a body above 64 KiB) and reads a database edit of a coin or a wallet as tampering', async () => {
    const f = await fixture({ creditsMax: 2000 });
    await f.call('Coins.Register', ETH_COIN);
    const w = await f.call<{ id: number }>('Wallets.Register', { user: ALICE, coin: 'ETH', address: ALICE_ADDRESS });
    const miners = Array.from({ length: 2000 }, (_, i): [number, string] => [ALICE + i, '0.001']);
    expect(await f.call('Blocks.Credit', block(await poolBlock(f.url), miners, '0', '2'))).toMatchObject({ already: false, credits: 2000 });
    expect(await f.call('Balance.Get', { user: ALICE + 1999, coin: 'ETH' })).toMatchObject({ balance: '0.001' });
    // The site's database edits a reviewed wallet's address: no request goes to it.
    const thief = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
    await f.l.db.query('UPDATE users_userwallets SET address = $1 WHERE id = $2', [thief, w.id]);
    await unchanged(f.l, () => refusedWith(f.call('Withdrawals.Request', { key: 'k1', wallet: w.id, amount: '0.001' }), 'integrity'));
    // And a coin's confirmations lowered behind the admin's back: no block is credited against it.
    await f.l.db.query("UPDATE coins_coin SET confirmations = 0 WHERE tag = 'ETH'");
    const young = await mineTo(f.url, POOL);
    await unchanged(f.l, () => refusedWith(f.call('Blocks.Credit', block(young, [[BOB, '1']], '0', '1')), 'integrity'));
  });

  it('credits a Zcash block once the node stand-in shows its coinbase paying the pool, matured; refuses a young, foreign or over-claimed one', async () => {
    const n = await zcashNode();
    const f = await fixture({ zcash: n.url });
    await f.call('Coins.Register', { ...ETH_COIN, tag: 'ZEC', name: 'Zcash', decimals: 8, fee: '0.0001', min: '0.001', confirmations: 10 });
    const b = await n.mineTo([{ address: ZPOOL, zatoshi: 125_000_000n }]);
    const credit = {
      ...block(
        b.hash,
        [
          [ALICE, '1'],
          [BOB, '0.2'],
        ],
        '0.05',
        '1.25',
      ),
      coin: 'ZEC',
    };
    // 10 confirmations for the coin, but a coinbase matures only at 100.
    await n.mine(50);
    await unchanged(f.l, () => refusedWith(f.call('Blocks.Credit', credit), 'block_immature'));
    await n.mine(49);
    expect(await f.call('Blocks.Credit', credit)).toMatchObject({ already: false, credits: 3 });
    expect(await f.call('Blocks.Credit', credit)).toMatchObject({ already: true });
    expect(await f.call('Balance.Get', { user: ALICE, coin: 'ZEC' })).toMatchObject({ balance: '1' });
    const smaller = await n.mineTo([{ address: ZPOOL, zatoshi: 100_000_000n }]);
    const foreign = await n.mineTo([{ address: ZOTHER, zatoshi: 156_250_000n }]);
    await n.mine(100);
    await unchanged(f.l, async () => {
      const over = { ...block(smaller.hash, [[ALICE, '1.00000001']], '0', '1.00000001'), coin: 'ZEC' };
      await refusedWith(f.call('Blocks.Credit', over), 'reward_short');
      await refusedWith(f.call('Blocks.Credit', { ...block(foreign.hash, [[ALICE, '1']], '0', '1'), coin: 'ZEC' }), 'block_wrong_miner');
    });
    expect(await f.l.check('balances')).toEqual([]);
  });

  it('answers only the pool back end: pscli, payserv and dbgw certificates are refused before any work', async () => {
    const f = await fixture();
    expect(await f.call('Utils.Version')).toEqual(INTAKE_VERSION);
    expect(await f.call('Utils.Status')).toMatchObject({ component: 'intake', database: 'ok', review: 'auto', rewardChecks: ['ETH'] });
    await unchanged(f.l, async () => {
      for (const id of ['pscli', 'payserv', 'dbgw'] as const) {
        const e = await refused(f.client(id).call('Coins.Register', ETH_COIN));
        expect(e.code).toBe(RPC.FORBIDDEN);
        expect(e.data).toMatchObject({ code: 'forbidden' });
        expect(e.message).toBe(`forbidden: ${id} may not call Coins.Register`);
      }
    });
  });
});

/** A local webhook receiver: every alert POSTed to it, parsed. */
async function webhookReceiver(): Promise<{
  url: string;
  received: Array<{ kind: string; reason: string; details: Record<string, unknown> }>;
}> {
  const received: Array<{ kind: string; reason: string; details: Record<string, unknown> }> = [];
  const s = createServer((req, res) => {
    const body: Buffer[] = [];
    req.on('data', (d: Buffer) => body.push(d));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(body).toString('utf8')) as (typeof received)[number]);
      res.end('ok');
    });
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  onTestFinished(() => new Promise<void>((done) => s.close(() => done())));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/hook`, received };
}

/** A row in one of the ledger's tables, planted by hand as a database attacker would: any signature, no signer. */
async function plant(l: TestLedger, table: string, row: Record<string, unknown>): Promise<void> {
  const cols = Object.keys(row);
  await l.db.query(`INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => `$${i + 1}`).join(', ')})`, Object.values(row));
}

const FORGED_SIG = { sig_key_id: 'forged', signature: Buffer.from('not a signature') };

describe('the intake answers "already" only from rows that verify', { timeout: 90_000 }, () => {
  it('refuses integrity, nothing written, when a retry finds a planted block, request or wallet; honest retries answer already', async () => {
    const hook = await webhookReceiver();
    const f = await fixture({ webhook: hook.url });
    const coin = await f.call<{ id: number }>('Coins.Register', ETH_COIN);
    const w = await f.call<{ id: number; address: string }>('Wallets.Register', { user: ALICE, coin: 'ETH', address: ALICE_ADDRESS });
    const honest = block(await poolBlock(f.url), [[ALICE, '1']], '0', '1');
    const credited = await f.call<{ incomeId: number }>('Blocks.Credit', honest);
    const req = { key: 'pool:honest', wallet: w.id, amount: '0.1' };
    const requested = await f.call<{ id: number }>('Withdrawals.Request', req);

    // A real block of the pool, not credited yet: an income and a credit planted under its hash.
    const real = await poolBlock(f.url);
    const now = new Date();
    const rowOf = { coin_id: coin.id, prev_id: 900_000, block_hash: real.toLowerCase(), amount: '1', balance_before: '0', created_at: now };
    await plant(f.l, 'finances_proxypool_transactions', { id: 900_001, ...rowOf, kind: 'block', credit_count: 1, ...FORGED_SIG });
    await plant(f.l, 'finances_user_balance_transaction', { id: 900_001, user_id: BOB, ...rowOf, type: 'block', ...FORGED_SIG });
    // A request under the key the pool is about to use, of another account (so Alice's own account still verifies).
    const key = 'pool:planted';
    const planted = { id: 900_001, user_id: BOB, coin_id: coin.id, wallet_id: w.id, address: w.address, prev_id: 900_000 };
    await plant(f.l, 'finances_withdrawal_transaction', {
      ...planted,
      amount: '0.1',
      fee: '0.001',
      debit_before: '0',
      created_at: now,
      status: 'processing',
      status_seq: 0,
      comment: `intake:${key}`,
      updated_at: now,
    });
    await plant(f.l, 'finances_withdrawal_signatures', {
      withdrawal_id: 900_001,
      seq: 0,
      status: 'processing',
      comment: `intake:${key}`,
      created_at: now,
      ...FORGED_SIG,
    });
    // A "reviewed" wallet of Bob's at the address the pool is about to register.
    const bobAddress = privateKeyToAccount(generatePrivateKey()).address.toLowerCase();
    await plant(f.l, 'users_userwallets', {
      user_id: BOB,
      coin_id: coin.id,
      address: bobAddress,
      created_at: now,
      updated_at: now,
      signed_at: now,
      ...FORGED_SIG,
    });

    await unchanged(f.l, async () => {
      const b = await refusedWith(f.call('Blocks.Credit', block(real, [[BOB, '1']], '0', '1')), 'integrity');
      expect(b.message).toMatch(/its rows in the ledger do not verify: pool income 900001: .*credit 900001: /);
      // Other credits than the planted ones: still integrity, not conflict.
      await refusedWith(f.call('Blocks.Credit', block(real, [[ALICE, '1']], '0', '1')), 'integrity');
      const r = await refusedWith(f.call('Withdrawals.Request', { key, wallet: w.id, amount: '0.1' }), 'integrity');
      expect(r.message).toMatch(/request key pool:planted \(withdrawal 900001\): .*status entry 0/);
      await refusedWith(f.call('Wallets.Register', { user: BOB, coin: 'ETH', address: bobAddress }), 'integrity');
      // Honest retries are answered as before.
      expect(await f.call('Blocks.Credit', honest)).toMatchObject({ already: true, incomeId: credited.incomeId });
      expect(await f.call('Withdrawals.Request', req)).toMatchObject({ already: true, id: requested.id });
      expect(await f.call('Wallets.Register', { user: ALICE, coin: 'ETH', address: ALICE_ADDRESS })).toMatchObject({
        already: true,
        id: w.id,
      });
      expect(await f.call('Coins.Register', ETH_COIN)).toMatchObject({ already: true });
    });
    // Each refusal at error level; an alert through the hook once per call and reason.
    expect(f.logs.filter((l) => l.level === 50 && l.alert === 'intake_integrity').map((l) => l.method)).toEqual([
      'Blocks.Credit',
      'Blocks.Credit',
      'Withdrawals.Request',
      'Wallets.Register',
    ]);
    await f.call('Wallets.Register', { user: BOB, coin: 'ETH', address: bobAddress }).catch(() => undefined);
    await f.alertsSettled();
    // The two block calls found the same planted rows: one alert; a refusal asked again is not alerted again.
    expect(hook.received.map((a) => `${a.kind} ${String(a.details.method)}`).sort()).toEqual([
      'intake_integrity Blocks.Credit',
      'intake_integrity Wallets.Register',
      'intake_integrity Withdrawals.Request',
    ]);
  });

  it('alerts a forged block through the [alerts] webhook once, however often it is asked; refused and logged at warn each time', async () => {
    const hook = await webhookReceiver();
    const f = await fixture({ webhook: hook.url });
    await f.call('Coins.Register', ETH_COIN);
    const forged = `0x${'ab'.repeat(32)}`;
    await unchanged(f.l, async () => {
      for (let i = 0; i < 2; i++) await refusedWith(f.call('Blocks.Credit', block(forged, [[ALICE, '1']], '0', '1')), 'block_unknown');
      // Another spelling of the same hash is the same block.
      await refusedWith(f.call('Blocks.Credit', block(forged.slice(2).toUpperCase(), [[ALICE, '1']], '0', '1')), 'block_unknown');
    });
    expect(f.logs.filter((l) => l.level === 40 && l.alert === 'block_forged' && l.block === forged)).toHaveLength(3);
    await f.alertsSettled();
    expect(hook.received).toEqual([
      expect.objectContaining({
        kind: 'block_forged',
        details: expect.objectContaining({ block: forged, code: 'block_unknown', coin: 'ETH' }),
      }),
    ]);
    expect(await f.l.db.query("SELECT kind FROM payserv_alerts WHERE kind = 'block_forged'")).toHaveLength(1);
  });
});
