// The miners' API's rules, free of I/O: MiningCore's GET paths as methods and params, the payment and
// stats shapes with exact amounts beside MiningCore's numbers, and its configuration's checks.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MINERS_ACL, MINERS_METHODS, minersRoute } from '../../src/api/miners.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import type { StatusSignature, Withdrawal } from '../../src/ledger/records.js';
import { parseAmount } from '../../src/money/amount.js';
import { explorerLink, PaymentTally, paymentOf, statsOf, utcDayStart, type MinersPool } from '../../src/miners/payments.js';
import { TLS_IDENTITIES } from '../../src/pki/roles.js';
import { tmpStateDir } from '../support/tmp.js';

const route = (path: string) => minersRoute(new URL(path, 'https://intake'));
const POOL: MinersPool = { id: 'eth1', coin: 'ETH', users: 'miningcore', txLink: 'https://x.io/tx/{hash}' };
const HASH = `0x${'12'.repeat(32)}`;

function withdrawal(id: number, status: Withdrawal['status'], amount: string, at: string): [Withdrawal, StatusSignature[]] {
  const when = new Date(at);
  const w: Withdrawal = {
    id,
    userId: 7,
    coinId: 1,
    walletId: 1,
    address: '0xabc',
    prevId: id - 1,
    amount: parseAmount(amount),
    fee: parseAmount('0.001'),
    debitBefore: parseAmount('0'),
    parentId: null,
    createdAt: when,
    status,
    statusSeq: 1,
    txHash: status === 'sending' || status === 'sent' ? HASH : null,
    txFee: null,
    comment: '',
    updatedAt: when,
  };
  const entry = (seq: number, s: Withdrawal['status'], txHash: string | null): StatusSignature => ({
    withdrawalId: id,
    seq,
    status: s,
    txHash,
    txFee: null,
    comment: '',
    createdAt: when,
    sigKeyId: null,
    signature: null,
  });
  return [w, [entry(0, 'processing', null), entry(1, status, w.txHash)]];
}

describe("the miners' API paths", () => {
  it("maps MiningCore's GET paths to methods, paging from the query", () => {
    expect(route('/api/pools/eth1/miners/0xAb/payments?page=2&pageSize=30')).toMatchObject({
      method: 'Miners.Payments',
      params: { pool: 'eth1', address: '0xAb', page: 2, pageSize: 30 },
    });
    expect(route('/api/pools/eth1/miners/0xAb')).toMatchObject({ method: 'Miners.Get', params: { pool: 'eth1', address: '0xAb' } });
    const v1 = route('/api/pools/eth1/miners/0xAb/payments');
    const v2 = route('/api/v2/pools/eth1/miners/0xAb/payments');
    const page = { result: [1], success: true, pageCount: 1 };
    expect(v1?.present(page)).toEqual([1]);
    expect(v2?.present(page)).toEqual(page);
    for (const p of ['/api/pools', '/api/v2/pools/eth1/miners/0xAb', '/api/pools/eth1/miners/0xAb/blocks', '/'])
      expect(route(p), p).toBeNull();
  });

  it('passes a malformed page through for the params check to name, which bounds the page size', () => {
    const params = route('/api/pools/eth1/miners/0xAb/payments?page=x&pageSize=1e3')?.params;
    expect(params).toMatchObject({ page: 'x', pageSize: '1e3' });
    expect(MINERS_METHODS['Miners.Payments'].safeParse(params).success).toBe(false);
    const ok = MINERS_METHODS['Miners.Payments'].parse({ pool: 'eth1', address: '0xAb' });
    expect(ok).toMatchObject({ page: 0, pageSize: 15 });
    expect(MINERS_METHODS['Miners.Payments'].safeParse({ ...ok, pageSize: 101 }).success).toBe(false);
    expect(MINERS_METHODS['Miners.Get'].safeParse({ pool: 'eth1', address: 'a b' }).success).toBe(false);
  });

  it('admits the pool back end alone', () => {
    for (const id of TLS_IDENTITIES) expect(MINERS_ACL[id]('Miners.Get')).toBe(id === 'backend');
  });
});

describe("the miners' API shapes", () => {
  it('a payment: MiningCore numbers, exact strings beside, links filled', () => {
    const [w, h] = withdrawal(3, 'sent', '1.123456789012345678', '2026-01-02T03:04:05.000Z');
    expect(paymentOf(POOL, w, h, 5)).toEqual({
      coin: 'ETH',
      address: '0xabc',
      amount: Number('1.122456789012345678'),
      transactionConfirmationData: HASH,
      transactionInfoLink: `https://x.io/tx/${HASH}`,
      created: '2026-01-02T03:04:05.000Z',
      amountExact: '1.122456789012345678',
      fee: '0.001',
      txFee: null,
      confirmations: 5,
      withdrawalId: 3,
      status: 'sent',
    });
    expect(() => paymentOf(POOL, withdrawal(4, 'pending', '1', '2026-01-02T00:00:00Z')[0], [], null)).toThrow(/not a payment/);
  });

  it('stats: sent payments totalled, today from midnight UTC, sending counted in flight only', () => {
    const t = new PaymentTally(utcDayStart(new Date('2026-01-02T12:00:00Z')));
    for (const [w, h] of [
      withdrawal(1, 'sent', '1', '2026-01-01T23:59:59Z'),
      withdrawal(2, 'sent', '2', '2026-01-02T00:00:00Z'),
      withdrawal(3, 'declined', '5', '2026-01-02T01:00:00Z'),
      withdrawal(4, 'sending', '3', '2026-01-02T02:00:00Z'),
    ])
      t.add(w, h);
    expect(statsOf(POOL, parseAmount('0.5'), t)).toMatchObject({
      totalPaidExact: '2.998',
      todayPaidExact: '1.999',
      pendingBalanceExact: '0.5',
      pendingBalance: 0.5,
      paymentsInFlight: 1,
      lastPayment: '2026-01-02T02:00:00.000Z',
      lastPaymentLink: `https://x.io/tx/${HASH}`,
    });
    expect(t.count).toBe(3);
  });

  it('an explorer link fills its placeholder, escaped; none configured, none given', () => {
    expect(explorerLink('https://e.io/a/{address}?x=1', 'address', 't1/x')).toBe('https://e.io/a/t1%2Fx?x=1');
    expect(explorerLink(undefined, 'hash', HASH)).toBeUndefined();
  });
});

describe("the miners' API configuration", () => {
  async function load(text: string) {
    const dir = await tmpStateDir();
    const file = join(dir, 'intake.toml');
    await writeFile(file, text);
    return loadConfig('intake', file, { env: { PAYSERV_STATE_DIR: dir } });
  }

  it('takes a pool with its links; defaults users to miningcore', async () => {
    const c = await load('[miners.pools.eth1]\ncoin = "ETH"\ntx_link = "https://etherscan.io/tx/{hash}"\n');
    expect(c.miners.pools.eth1).toEqual({ coin: 'ETH', users: 'miningcore', tx_link: 'https://etherscan.io/tx/{hash}' });
  });

  it('names a bad link, users word or pool id', async () => {
    for (const [text, key] of [
      ['[miners.pools.eth1]\ncoin = "ETH"\ntx_link = "http://e.io/tx/{hash}"', 'tx_link'],
      ['[miners.pools.eth1]\ncoin = "ETH"\ntx_link = "https://e.io/tx/{address}"', 'tx_link'],
      ['[miners.pools.eth1]\ncoin = "ETH"\naddress_link = "https://e.io/{address}/{address}"', 'address_link'],
      ['[miners.pools.eth1]\ncoin = "ETH"\nusers = "wallet"', 'users'],
      ['[miners.pools."a b"]\ncoin = "ETH"', 'miners.pools'],
    ] as const) {
      const e = await load(text).catch((err: unknown) => err);
      expect(e, text).toBeInstanceOf(ConfigError);
      expect((e as Error).message, text).toContain(key);
    }
  });
});
