// The miners' API (issue 17 item 3) over real mutual TLS, on a real database and a real anvil: a miner's
// payments sent by payserv's payment engine, read back in MiningCore's shape, equal the ledger and the
// chain (hashes, amounts, confirmations from the node); pages; an unknown miner or pool; a row planted or
// changed by SQL refused as integrity, never shown; every identity but the pool's back end refused.
import { describe, expect, it } from 'vitest';
import { getAddress, type Hex } from 'viem';
import type { MinerPayment, MinerStats, PaymentsPage } from '../src/api/miners.js';
import { RPC, RpcError } from '../src/api/jsonrpc.js';
import { anvilRpc, mine } from '../src/devnet/anvil.js';
import { add, formatAmount, parseAmount, sub, toBaseUnits, ZERO, type Amount } from '../src/money/amount.js';
import type { TlsIdentity } from '../src/pki/roles.js';
import { RpcClient } from '../src/rpc/client.js';
import { ethAddress } from './support/miners.js';
import { tlsOf } from './support/spawn.js';
import { errorCode, minersBench, paymentsPath, POOL } from './support/miners-intake.js';

const w = minersBench();

/** A JSON-RPC client with `identity`'s certificate. */
const rpcAs = (identity: TlsIdentity) =>
  new RpcClient({
    host: '127.0.0.1',
    port: w.intake.server.port,
    tls: tlsOf(w.t.ledger.stateDir, identity),
    serverIdentity: 'intake',
    timeoutMs: 30_000,
  });

/** What the chain says of a transaction: its recipient, value (wei) and confirmations now. */
async function onChain(hash: string): Promise<{ to: string; value: bigint; confirmations: number }> {
  const { url } = w;
  const tx = (await anvilRpc(url, 'eth_getTransactionByHash', [hash])) as { to: Hex; value: Hex; blockNumber: Hex };
  const head = BigInt((await anvilRpc(url, 'eth_blockNumber')) as Hex);
  return { to: getAddress(tx.to), value: BigInt(tx.value), confirmations: Number(head - BigInt(tx.blockNumber) + 1n) };
}

async function ledgerRow(id: number): Promise<{ tx_hash: string; amount: string; fee: string; status: string }> {
  const [r] = await w.t.ledger.db.query<{ tx_hash: string; amount: string; fee: string; status: string }>(
    'SELECT tx_hash, amount::text, fee::text, status FROM finances_withdrawal_transaction WHERE id = $1',
    [id],
  );
  if (!r) throw new Error(`no withdrawal ${id}`);
  return r;
}

describe("the miners' API", () => {
  it('the payment history equals the ledger and the chain, newest first, in MiningCore shape with exact amounts beside', async () => {
    const { url, miner, paid, get } = w;
    const r = await get<MinerPayment[]>(paymentsPath(miner.address, '?page=0&pageSize=15'));
    expect(r.status).toBe(200);
    expect(r.body.map((p) => p.withdrawalId)).toEqual(paid.map((p) => p.id).reverse());
    for (const p of r.body) {
      const row = await ledgerRow(p.withdrawalId);
      const exact = sub(parseAmount(row.amount), parseAmount(row.fee));
      const chain = await onChain(row.tx_hash);
      expect(p).toMatchObject({
        coin: 'ETH',
        address: miner.address,
        addressInfoLink: `https://etherscan.io/address/${miner.address}`,
        transactionConfirmationData: row.tx_hash,
        transactionInfoLink: `https://etherscan.io/tx/${row.tx_hash}`,
        amountExact: formatAmount(exact),
        amount: Number(formatAmount(exact)),
        fee: formatAmount(parseAmount(row.fee)),
        status: row.status,
        confirmations: chain.confirmations,
      });
      expect(typeof p.amount).toBe('number');
      expect(new Date(p.created).toISOString()).toBe(p.created);
      // The chain paid exactly the amount shown, to the address shown.
      expect(chain.to).toBe(miner.address);
      expect(chain.value).toBe(toBaseUnits(exact, 18));
    }
    expect(r.body.map((p) => p.status)).toEqual(['sending', 'sent', 'sent', 'sent']);
    // The oldest were confirmed 12 blocks ago; the newest has only its own block.
    expect(r.body[0]?.confirmations).toBe(1);
    expect(r.body[3]?.confirmations).toBeGreaterThanOrEqual(13);
    await mine(url, 2);
    const later = await get<MinerPayment[]>(paymentsPath(miner.address));
    expect(later.body[0]?.confirmations).toBe(3);
  });

  it("the miner's stats: the verified balance, sent payments totalled exactly, the last payment linked", async () => {
    const { miner, paid, get } = w;
    const r = await get<MinerStats>(`/api/pools/${POOL}/miners/${miner.address}`);
    expect(r.status).toBe(200);
    const fee = miner.coin.withdrawalFee;
    const debits = paid.reduce<Amount>((s, p) => add(s, parseAmount(p.amount)), ZERO);
    const sent = paid.slice(0, 3).reduce<Amount>((s, p) => add(s, sub(parseAmount(p.amount), fee)), ZERO);
    const newest = await ledgerRow(paid[3]!.id);
    expect(r.body).toMatchObject({
      coin: 'ETH',
      pendingShares: 0,
      pendingBalanceExact: formatAmount(sub(parseAmount('20'), debits)),
      pendingBalance: Number(formatAmount(sub(parseAmount('20'), debits))),
      totalPaidExact: formatAmount(sent),
      totalPaid: Number(formatAmount(sent)),
      todayPaidExact: formatAmount(sent),
      paymentsInFlight: 1,
      lastPaymentLink: `https://etherscan.io/tx/${newest.tx_hash}`,
      performanceSamples: [],
    });
    expect(Date.parse(r.body.lastPayment as string)).toBeLessThanOrEqual(Date.now());
  });

  it('pages: v2 gives the page count, pages partition the history, the page size is bounded', async () => {
    const { miner, paid, get } = w;
    const ids = paid.map((p) => p.id).reverse();
    const v2 = (q: string) => get<PaymentsPage>(`/api/v2/pools/${POOL}/miners/${miner.address}/payments${q}`);
    const first = await v2('?page=0&pageSize=3');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ success: true, pageCount: 2 });
    expect(first.body.result.map((p) => p.withdrawalId)).toEqual(ids.slice(0, 3));
    expect((await v2('?page=1&pageSize=3')).body.result.map((p) => p.withdrawalId)).toEqual(ids.slice(3));
    expect((await v2('?page=2&pageSize=3')).body).toMatchObject({ result: [], pageCount: 2 });
    // MiningCore's defaults: page 0 of 15.
    expect((await v2('')).body.result).toHaveLength(4);
    for (const [q, param] of [
      ['?pageSize=101', 'params.pageSize'],
      ['?pageSize=0', 'params.pageSize'],
      ['?page=-1', 'params.page'],
      ['?page=abc', 'params.page'],
    ] as const) {
      const bad = await v2(q);
      expect(bad.status, q).toBe(400);
      expect(errorCode(bad), q).toBe('bad_params');
      expect(JSON.stringify(bad.body), q).toContain(param);
    }
  });

  it('the same answers over JSON-RPC; a pool numbering its users by id reads the same account', async () => {
    const { miner, paid, get } = w;
    const c = rpcAs('backend');
    try {
      const page = await c.call<PaymentsPage>('Miners.Payments', { pool: POOL, address: miner.address, pageSize: 2 });
      expect(page.pageCount).toBe(2);
      expect(page.result.map((p) => p.withdrawalId)).toEqual([paid[3]!.id, paid[2]!.id]);
      const byId = await c.call<MinerStats>('Miners.Get', { pool: 'byid', address: String(miner.userId) });
      expect(byId.totalPaidExact).toBe((await get<MinerStats>(`/api/pools/${POOL}/miners/${miner.address}`)).body.totalPaidExact);
    } finally {
      c.close();
    }
  });

  it('an unknown miner, pool or path: 404 naming it, nothing made up', async () => {
    const { miner, get } = w;
    const stranger = getAddress(ethAddress());
    const m = await get(paymentsPath(stranger));
    expect(m.status).toBe(404);
    expect(errorCode(m)).toBe('unknown_user');
    expect(JSON.stringify(m.body)).toContain(stranger);
    const s = await get(`/api/pools/${POOL}/miners/${stranger}`);
    expect([s.status, errorCode(s)]).toEqual([404, 'unknown_user']);
    const p = await get(`/api/pools/nosuch/miners/${miner.address}/payments`);
    expect([p.status, errorCode(p)]).toEqual([404, 'unknown_pool']);
    const notId = await get(`/api/pools/byid/miners/${miner.address}`);
    expect([notId.status, errorCode(notId)]).toEqual([404, 'unknown_user']);
    expect((await get('/api/pools')).status).toBe(404);
  });

  it('a payment row planted by SQL is refused as integrity on both paths, and no payment is shown', async () => {
    const { t, miner, paid, get } = w;
    const [last] = await t.ledger.db.query<{ amount: string }>('SELECT amount::text FROM finances_withdrawal_transaction WHERE id = $1', [
      paid[3]!.id,
    ]);
    await t.ledger.db.query(
      `INSERT INTO finances_withdrawal_transaction (id, user_id, coin_id, wallet_id, address, prev_id, amount, fee, debit_before, status, status_seq, tx_hash, comment, created_at, updated_at)
       SELECT (SELECT max(id) + 1 FROM finances_withdrawal_transaction), user_id, coin_id, wallet_id, address, id, 5, fee, debit_before + $2::numeric, 'sent', 0, $3, '', now(), now()
         FROM finances_withdrawal_transaction WHERE id = $1`,
      [paid[3]!.id, last!.amount, `0x${'ab'.repeat(32)}`],
    );
    for (const path of [
      paymentsPath(miner.address),
      `/api/v2/pools/${POOL}/miners/${miner.address}/payments`,
      `/api/pools/${POOL}/miners/${miner.address}`,
    ]) {
      const r = await get(path);
      expect(r.status, path).toBe(409);
      expect(errorCode(r), path).toBe('integrity');
      expect(JSON.stringify(r.body)).not.toContain('ab'.repeat(32));
    }
  });

  it("a sent payment's amount raised by SQL is refused as integrity", async () => {
    const { t, miner, paid, get } = w;
    // An attacker with the database's owner rights gets past the append-only triggers.
    await t.ledger.db.exec(
      `ALTER TABLE finances_withdrawal_transaction DISABLE TRIGGER USER; UPDATE finances_withdrawal_transaction SET amount = amount + 1 WHERE id = ${paid[0]!.id}`,
    );
    const r = await get(paymentsPath(miner.address));
    expect([r.status, errorCode(r)]).toEqual([409, 'integrity']);
  });

  it('every identity but the pool back end is refused (403 forbidden) on the GET paths and over JSON-RPC', async () => {
    const { miner, get } = w;
    for (const identity of ['pscli', 'payserv', 'dbgw', 'intake'] as const) {
      const r = await get(paymentsPath(miner.address), identity);
      expect([r.status, errorCode(r)], identity).toEqual([403, 'forbidden']);
      const c = rpcAs(identity);
      try {
        const e = await c.call('Miners.Get', { pool: POOL, address: miner.address }).catch((err: unknown) => err);
        expect(e).toBeInstanceOf(RpcError);
        expect((e as RpcError).code).toBe(RPC.FORBIDDEN);
      } finally {
        c.close();
      }
    }
  });
});
