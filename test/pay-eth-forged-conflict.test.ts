// A node that forges the proof of failure of an Ethereum payment that is mined (the twin of
// pay-btc-forged-conflict.test.ts). A payment is recorded failed by nonce when the block that used the hot wallet's
// nonce holds a transaction of it that is none of our attempts. The block's JSON names the sender (`from`): here a
// lying node drops our mined payment's receipt and transaction, and lists in its place a transaction signed by a
// stranger's key with our `from` and nonce. The sender is recovered from the signature over its signed fields (which
// must hash to its hash): not the hot wallet's, so no proof. Promises: never send_error, paid once; once the node
// tells the truth, recorded sent.
import { expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { keccak256, parseTransaction, toHex, type Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { mine } from '../src/devnet/anvil.js';
import { approveWithdrawal, checkWithdrawal, processWithdrawal } from '../src/payserv/payouts.js';
import { parseAmount, sub, toBaseUnits } from '../src/money/amount.js';
import { startMitm } from './attack14-helpers.js';
import { describePerDataPath } from './support/backend.js';
import { anvilForFile, balanceOf, ethDriver } from './support/chains.js';
import { newMiner, request } from './support/miners.js';
import { testPayserv } from './support/payserv.js';

const anvil = anvilForFile();
const confirmations = 12;

describePerDataPath('a node forging the transaction that used our nonce', () => {
  it('a transaction listed with our sender and nonce but not signed by the hot wallet is no proof: never send_error; truth: SENT once', async () => {
    const a = await anvil();
    const mitm = await startMitm(a.url);
    const t = await testPayserv({ drivers: async (deps) => new Map([['ETH', await ethDriver(mitm.url, deps)]]) });
    try {
      const m = await newMiner(t, 1801, '20');
      const id = await request(t, m, { amount: '1' });
      expect((await processWithdrawal(t.ps, id, 'test')).reply).toBe('PENDING');
      const r = await approveWithdrawal(t.ps, id, 'test');
      expect(r.reply).toBe('SENDING');
      const ours = (r.txHash as string).toLowerCase();
      await mine(a.url, confirmations + 1);
      const value = toBaseUnits(sub(parseAmount('1'), m.coin.withdrawalFee), 18);
      expect(await balanceOf(a.url, m.address)).toBe(value);

      // The forged transaction: our attempt's fields, another recipient, signed by a stranger's key.
      const [row] = await t.ledger.db.query<{ raw: string }>('SELECT raw FROM payserv_chain_txs WHERE hash = $1', [r.txHash]);
      const fields = parseTransaction(row?.raw as Hex);
      const stranger = privateKeyToAccount(`0x${randomBytes(32).toString('hex')}`);
      const to = `0x${randomBytes(20).toString('hex')}` as Hex;
      const raw = await stranger.signTransaction({
        ...fields,
        r: undefined,
        s: undefined,
        v: undefined,
        yParity: undefined,
        to,
        value: 1n,
      } as never);
      const x = parseTransaction(raw);
      const forgedHash = keccak256(raw);
      // The block's JSON: our transaction replaced by the forged one, `from` still the hot wallet (the lie).
      const lieBlocks = async () => {
        const real = (await fetch(a.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getTransactionByHash', params: [ours] }),
        }).then((res) => res.json())) as { result: { blockNumber: string } & Record<string, unknown> };
        const block = (await fetch(a.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_getBlockByNumber', params: [real.result.blockNumber, true] }),
        }).then((res) => res.json())) as { result: { transactions: Array<Record<string, unknown>> } & Record<string, unknown> };
        const forged = {
          ...real.result,
          hash: forgedHash,
          to,
          value: '0x1',
          r: x.r,
          s: x.s,
          v: toHex(x.v ?? BigInt(x.yParity ?? 0)),
          yParity: toHex(x.yParity ?? 0),
        };
        const lied = {
          ...block.result,
          transactions: block.result.transactions.map((tx) => (String(tx.hash).toLowerCase() === ours ? forged : tx)),
        };
        mitm.rule((method, params) => {
          if ((method === 'eth_getTransactionReceipt' || method === 'eth_getTransactionByHash') && String(params[0]).toLowerCase() === ours)
            return { result: null };
          if (method === 'eth_getBlockByNumber' && params[0] === real.result.blockNumber && params[1] === true) return { result: lied };
          return null;
        });
      };
      await lieBlocks();

      const c = await checkWithdrawal(t.ps, id, 'test');
      expect(c.reply, c.message).toBe('SENDING');
      expect(c.message).toContain(`the node shows ${forgedHash}`);
      expect(c.message).toContain("not signed by the hot wallet's key");
      const [w] = await t.ledger.db.query<{ status: string }>('SELECT status FROM finances_withdrawal_transaction WHERE id = $1', [id]);
      expect(w?.status).toBe('sending');

      mitm.rule(null);
      expect((await checkWithdrawal(t.ps, id, 'test')).reply).toBe('SENT');
      expect(await balanceOf(a.url, m.address)).toBe(value);
    } finally {
      await mitm.stop();
      await t.ledger.db.close();
    }
  });
});
